package arm

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// IdentitySupport says whether a type takes an "identity" block and how it
// spells the combined type (ACR writes "SystemAssigned, UserAssigned").
type IdentitySupport int

const (
	IdentityNone IdentitySupport = iota
	IdentityStandard
	IdentityACR
)

// Identity is the ManagedServiceIdentity block (arm-and-rbac.md §2).
type Identity struct {
	Type                   string                           `json:"type"`
	PrincipalID            string                           `json:"principalId,omitempty"`
	TenantID               string                           `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserAssignedIdentity `json:"userAssignedIdentities,omitempty"`
}

// UserAssignedIdentity is one entry of userAssignedIdentities.
type UserAssignedIdentity struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// Identity type spellings.
const (
	IdentityTypeNone       = "None"
	IdentityTypeSystem     = "SystemAssigned"
	IdentityTypeUser       = "UserAssigned"
	IdentityTypeSystemUser = "SystemAssigned,UserAssigned"
)

// NormalizeIdentityType maps any accepted spelling to the canonical one
// ("" for an unknown type).
func NormalizeIdentityType(t string) string {
	s := strings.ToLower(strings.ReplaceAll(t, " ", ""))
	switch s {
	case "", "none":
		return IdentityTypeNone
	case "systemassigned":
		return IdentityTypeSystem
	case "userassigned":
		return IdentityTypeUser
	case "systemassigned,userassigned", "userassigned,systemassigned":
		return IdentityTypeSystemUser
	}
	return ""
}

// HasSystem / HasUser report the parts of a normalised type.
func HasSystem(t string) bool { return t == IdentityTypeSystem || t == IdentityTypeSystemUser }
func HasUser(t string) bool   { return t == IdentityTypeUser || t == IdentityTypeSystemUser }

// UAIAssignAction is what attaching a user-assigned identity needs on that
// identity (rule RBAC-3), checked literally as the rule writes it.
const UAIAssignAction = "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"

// applyIdentity processes the identity block of a write (issue 5): a
// system-assigned identity gets a principal when it appears and loses it when
// it goes; user-assigned identities must exist and the caller must hold the
// assign action on each newly attached one (RBAC-3). Responses carry
// principalId/tenantId and each UAI's principalId/clientId.
func (s *Server) applyIdentity(ctx context.Context, tx store.Tx, t *ResourceType, w *Write) error {
	nu, old := w.New, w.Old
	if t.Identity == IdentityNone {
		nu.Identity = nil
		return nil
	}
	var oldID *Identity
	if old != nil {
		oldID = old.Identity
	}
	if nu.Identity == nil {
		if w.IsPatch || oldID == nil {
			nu.Identity = oldID
			return nil
		}
		nu.Identity = &Identity{Type: IdentityTypeNone}
	}
	typ := NormalizeIdentityType(nu.Identity.Type)
	if typ == "" {
		return Errorf(http.StatusBadRequest, "InvalidIdentityType",
			"The identity type '%s' is not supported. Use None, SystemAssigned, UserAssigned or 'SystemAssigned,UserAssigned'.", nu.Identity.Type)
	}
	oldType := IdentityTypeNone
	if oldID != nil {
		oldType = NormalizeIdentityType(oldID.Type)
	}
	// System-assigned.
	switch {
	case HasSystem(typ) && HasSystem(oldType) && oldID.PrincipalID != "":
		nu.Identity.PrincipalID, nu.Identity.TenantID = oldID.PrincipalID, oldID.TenantID
	case HasSystem(typ):
		p := &directory.Principal{TenantID: w.TenantID, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity,
			DisplayName: s.saiName(w.ID), AppID: uuid.NewString(), ResourceID: w.ID.String(), SystemAssigned: true}
		if err := directory.CreatePrincipal(ctx, tx, p); err != nil {
			return err
		}
		nu.Identity.PrincipalID, nu.Identity.TenantID = p.ObjectID, p.TenantID
	default:
		nu.Identity.PrincipalID, nu.Identity.TenantID = "", ""
		if HasSystem(oldType) && oldID.PrincipalID != "" {
			if err := s.deletePrincipal(ctx, tx, oldID.PrincipalID); err != nil {
				return err
			}
		}
	}
	// User-assigned.
	if !HasUser(typ) {
		if len(nu.Identity.UserAssignedIdentities) > 0 {
			return Errorf(http.StatusBadRequest, "InvalidIdentityType",
				"userAssignedIdentities were given but the identity type is '%s'; use 'UserAssigned' or 'SystemAssigned,UserAssigned'.", nu.Identity.Type)
		}
		nu.Identity.UserAssignedIdentities = nil
	} else {
		if len(nu.Identity.UserAssignedIdentities) == 0 {
			return Errorf(http.StatusBadRequest, "BadRequest", "The identity type '%s' needs at least one entry in userAssignedIdentities.", nu.Identity.Type)
		}
		had := map[string]bool{}
		if oldID != nil {
			for k := range oldID.UserAssignedIdentities {
				had[strings.ToLower(k)] = true
			}
		}
		out := map[string]*UserAssignedIdentity{}
		for k := range nu.Identity.UserAssignedIdentities {
			uid, err := ParseID(k)
			if err != nil || !strings.EqualFold(uid.TypeName(), "Microsoft.ManagedIdentity/userAssignedIdentities") {
				return Errorf(http.StatusBadRequest, "InvalidIdentity", "'%s' is not a user-assigned identity resource ID.", k)
			}
			rec, err := tx.Get(ctx, KindResource, uid.Key())
			if errors.Is(err, store.ErrNotFound) {
				return Errorf(http.StatusBadRequest, "FailedIdentityOperation", "Resource '%s' was not found: the user-assigned identity must exist before it is attached.", k)
			}
			if err != nil {
				return err
			}
			uai, err := DecodeResource(rec.Value)
			if err != nil {
				return err
			}
			if !had[strings.ToLower(k)] {
				if err := w.Call.Authorize(UAIAssignAction, uai.ID); err != nil {
					return err // rule RBAC-3
				}
			}
			out[k] = &UserAssignedIdentity{PrincipalID: uai.StringProp("principalId"), ClientID: uai.StringProp("clientId")}
		}
		nu.Identity.UserAssignedIdentities = out
	}
	if typ == IdentityTypeSystemUser && t.Identity == IdentityACR {
		nu.Identity.Type = "SystemAssigned, UserAssigned"
	} else {
		nu.Identity.Type = typ
	}
	return nil
}

// saiName is the display name of a system-assigned identity's principal:
// the resource name, or /<workspace>/<childType>/<name> for workspace
// children (rule CMP-5).
func (s *Server) saiName(id ID) string {
	if len(id.Names) > 1 {
		return "/" + strings.Join(id.Names[:1], "") + "/" + strings.ToLower(id.Types[len(id.Types)-1]) + "/" + id.Name()
	}
	return id.Name()
}

func (s *Server) deletePrincipal(ctx context.Context, tx store.Tx, objectID string) error {
	if s.cfg.PrincipalCleanup != nil {
		if err := s.cfg.PrincipalCleanup(ctx, tx, objectID); err != nil {
			return err
		}
	}
	if err := directory.DeletePrincipal(ctx, tx, objectID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// SystemPrincipalID returns the resource's system-assigned principal ("" if none).
func (r *Resource) SystemPrincipalID() string {
	if r.Identity == nil || !HasSystem(NormalizeIdentityType(r.Identity.Type)) {
		return ""
	}
	return r.Identity.PrincipalID
}
