// Package identity is amlid's managed-identity resource provider
// (Microsoft.ManagedIdentity): user-assigned identities as standalone
// resources whose principals live in the directory (rule ID-1).
package identity

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// UAIType is the type name of user-assigned identities.
const UAIType = "Microsoft.ManagedIdentity/userAssignedIdentities"

// PrincipalCleanup is called inside the transaction that deletes a
// managed identity's principal (RBAC deletes the principal's role
// assignments through it).
type PrincipalCleanup func(ctx context.Context, tx store.Tx, objectID string) error

// Provider declares the Microsoft.ManagedIdentity types.
type Provider struct {
	// Cleanup hooks run when a principal is deleted.
	Cleanup []PrincipalCleanup
}

// Register declares userAssignedIdentities on reg.
func (p *Provider) Register(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    "Microsoft.ManagedIdentity",
		Path:         "userAssignedIdentities",
		APIVersions:  []string{"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30", "2025-01-31-preview"},
		Tracked:      true,
		CreateStatus: http.StatusCreated,
		Name: arm.NameRule{Min: 3, Max: 128, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`),
			Hint: "letters, digits, hyphens and underscores, starting with a letter or digit"},
		Validate:     p.validate,
		BeforeCommit: p.beforeCommit,
		BeforeDelete: p.beforeDelete,
	})
}

// validate keeps the read-only identity properties stable: principalId,
// clientId and tenantId are set once at creation and never change.
func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	scope, _ := props["isolationScope"].(string)
	if v, ok := props["isolationScope"]; ok && v != nil {
		if _, isStr := v.(string); !isStr || !arm.EqualFoldAny(scope, "None", "Regional") {
			return arm.Errorf(http.StatusBadRequest, "InvalidRequestContent", "properties.isolationScope must be 'None' or 'Regional'.")
		}
	}
	if w.Old != nil {
		for _, k := range []string{"tenantId", "principalId", "clientId"} {
			props[k] = w.Old.Prop(k)
		}
	} else {
		props["tenantId"] = w.TenantID
		props["principalId"] = uuid.NewString()
		props["clientId"] = uuid.NewString()
	}
	if scope == "" {
		props["isolationScope"] = "None"
	}
	delete(props, "provisioningState")
	return nil
}

func (p *Provider) beforeCommit(ctx context.Context, tx store.Tx, w *arm.Write) error {
	if w.Old != nil {
		return nil
	}
	return directory.CreatePrincipal(ctx, tx, &directory.Principal{
		ObjectID:    w.New.StringProp("principalId"),
		TenantID:    w.New.StringProp("tenantId"),
		Type:        directory.TypeServicePrincipal,
		Subtype:     directory.SubtypeManagedIdentity,
		DisplayName: w.New.Name,
		AppID:       w.New.StringProp("clientId"),
		ResourceID:  w.New.ID,
	})
}

func (p *Provider) beforeDelete(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	return p.DeletePrincipal(ctx, tx, r.StringProp("principalId"))
}

// DeletePrincipal removes a managed identity's principal and runs the
// cleanup hooks (role assignments).
func (p *Provider) DeletePrincipal(ctx context.Context, tx store.Tx, objectID string) error {
	if objectID == "" {
		return nil
	}
	for _, c := range p.Cleanup {
		if err := c(ctx, tx, objectID); err != nil {
			return err
		}
	}
	if err := directory.DeletePrincipal(ctx, tx, objectID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
