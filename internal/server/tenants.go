package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// tenantsPath is amlid's own API for creating more tenants (Azure has no
// public one): POST /amlid/tenants with an ARM token of a directory
// administrator. Tests of rule ID-4 need a second tenant with its own
// subscription and an administrator to act in it.
const tenantsPath = "amlid/tenants"

var tenantNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)

type tenantRequest struct {
	DisplayName string `json:"displayName"`
}

// serveTenants creates a tenant with a subscription and an administrator
// service principal (directory administrator, Owner of the subscription),
// and answers their IDs and the administrator's secret (shown once).
func (s *Server) serveTenants(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		arm.WriteError(w, arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "Create a tenant with POST /amlid/tenants."))
		return
	}
	caller, err := s.armAuthn.Authenticate(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	ctx := r.Context()
	if p, err := s.Directory.Principal(ctx, caller.ObjectID); err != nil || !p.DirectoryAdmin {
		arm.WriteError(w, arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
			"The client '%s' is not a directory administrator (Global Administrator): only one may create tenants. Run the command as the bootstrap admin (eval \"$(amlid env)\").", caller.ObjectID))
		return
	}
	body, err := arm.ReadBody(r)
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	var req tenantRequest
	if len(body) > 0 {
		if err := arm.DecodeJSON(body, &req); err != nil {
			arm.WriteError(w, arm.AsError(err))
			return
		}
	}
	if req.DisplayName == "" {
		req.DisplayName = "tenant-" + uuid.NewString()[:8]
	}
	if !tenantNameRE.MatchString(req.DisplayName) {
		arm.WriteError(w, arm.Errorf(http.StatusBadRequest, "InvalidDisplayName",
			"The tenant name '%s' is not valid: 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit.", req.DisplayName))
		return
	}
	now := time.Now().UTC()
	domainLabel := strings.ToLower(strings.NewReplacer(" ", "", ".", "", "_", "").Replace(req.DisplayName))
	t := directory.Tenant{ID: uuid.NewString(), DisplayName: req.DisplayName, DefaultDomain: domainLabel + uuid.NewString()[:4] + ".onmicrosoft.com", Created: now}
	sub := directory.Subscription{ID: uuid.NewString(), TenantID: t.ID, DisplayName: req.DisplayName + " subscription", State: "Enabled"}
	secret := directory.NewSecret()
	admin := &directory.Principal{ObjectID: uuid.NewString(), TenantID: t.ID, Type: directory.TypeServicePrincipal,
		Subtype: directory.SubtypeApplication, DisplayName: req.DisplayName + "-admin", AppID: uuid.NewString(), DirectoryAdmin: true,
		Secrets: []directory.SecretCredential{newSecretCredential(secret, now)}}
	err = s.Store.Tx(ctx, func(tx store.Tx) error {
		tb, _ := json.Marshal(t)
		if _, err := tx.Create(ctx, store.Record{Kind: directory.KindTenant, Key: t.ID, Value: tb}); err != nil {
			return err
		}
		sb, _ := json.Marshal(sub)
		if _, err := tx.Create(ctx, store.Record{Kind: directory.KindSubscription, Key: sub.ID, Parent: t.ID, Value: sb}); err != nil {
			return err
		}
		if err := directory.CreatePrincipal(ctx, tx, admin); err != nil {
			return err
		}
		return s.Authz.Grant(ctx, tx, admin.ObjectID, directory.TypeServicePrincipal, catalog.Owner.ID, "/subscriptions/"+sub.ID)
	})
	if err != nil {
		arm.WriteError(w, arm.AsError(err))
		return
	}
	s.log.Info("tenant created", "tenant", t.ID, "subscription", sub.ID, "admin", admin.ObjectID, "by", caller.ObjectID)
	arm.WriteJSON(w, http.StatusCreated, map[string]any{
		"tenantId": t.ID, "displayName": t.DisplayName, "defaultDomain": t.DefaultDomain, "subscriptionId": sub.ID,
		"admin": map[string]any{"appId": admin.AppID, "objectId": admin.ObjectID, "password": secret},
	})
}
