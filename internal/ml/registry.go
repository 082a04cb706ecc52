package ml

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// EnsureRegistry returns the workspace's container registry, creating it
// on this first need when the workspace has none (rule WS-7): amlid creates
// it as the resource provider (no caller RBAC), with the admin user enabled,
// next to the workspace, records it in properties.containerRegistry and
// gives the workspace's system-assigned identity Contributor on it.
func (p *Provider) EnsureRegistry(ctx context.Context, workspaceID string) (string, error) {
	ws, err := LoadResource(ctx, p.Store, workspaceID)
	if err != nil {
		return "", fmt.Errorf("workspace %s: %w", workspaceID, err)
	}
	if r := ws.StringProp("containerRegistry"); r != "" {
		return r, nil
	}
	id, err := arm.ParseID(ws.ID)
	if err != nil {
		return "", err
	}
	tenant := ws.StringProp("tenantId")
	rid := id.ResourceGroupID() + "/providers/Microsoft.ContainerRegistry/registries/" + dependentName(id)
	if _, _, err := p.ARM.Do(ctx, arm.SystemCaller(tenant), http.MethodPut, rid+"?api-version="+apiRegistry, map[string]any{
		"location": ws.Location, "sku": map[string]any{"name": "Basic"},
		"properties": map[string]any{"adminUserEnabled": true}, // rule WS-7
		"tags":       map[string]any{"createdBy": "amlid workspace " + ws.Name},
	}); err != nil {
		return "", dependentError("container registry", rid, err)
	}
	err = p.UpdateResourceTx(ctx, ws.ID, func(tx store.Tx, cur *arm.Resource) error {
		if cur.StringProp("containerRegistry") != "" { // a concurrent first need won
			rid = cur.StringProp("containerRegistry")
			return nil
		}
		cur.SetProp("containerRegistry", rid)
		if pid := cur.SystemPrincipalID(); pid != "" {
			return p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", catalog.Contributor.ID, rid)
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return p.EnsureRegistry(ctx, workspaceID)
	}
	if err != nil {
		return "", err
	}
	p.Log().Info("created the workspace's container registry on first need (rule WS-7)", "workspace", ws.ID, "registry", rid)
	return rid, nil
}

// TrustedService reports whether a managed identity is an Azure ML
// workspace's system-assigned identity: the trusted Azure service that a
// storage account's network rules let through when bypass contains
// AzureServices (rule DS-8).
func (p *Provider) TrustedService(ctx context.Context, miResourceID string) bool {
	id, err := arm.ParseID(miResourceID)
	if err != nil || !arm.EqualFoldAny(id.TypeName(), WorkspaceType) || len(id.Names) != 1 {
		return false
	}
	_, err = LoadResource(ctx, p.Store, id.String())
	return err == nil
}
