package compute

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// AKSType is the minimal Microsoft.ContainerService/managedClusters amlid
// declares so a Kubernetes compute has a cluster to attach (rule ACR-3):
// it records whether the cluster runs as a service principal
// (properties.servicePrincipalProfile.clientId) or a managed identity.
const AKSType = "Microsoft.ContainerService/managedClusters"

// RegisterAKS declares managedClusters on reg.
func (p *Provider) RegisterAKS(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:   "Microsoft.ContainerService",
		Path:        "managedClusters",
		APIVersions: []string{"2019-04-01", "2022-09-01", "2023-05-01", "2024-05-01", "2025-01-01"},
		Tracked:     true,
		Name:        arm.NameRule{Min: 1, Max: 63, Pattern: nameRE, Hint: "letters, digits and hyphens, starting with a letter and ending with a letter or digit"},
		Identity:    arm.IdentityStandard,
		Validate:    p.validateAKS,
	})
}

// aksServicePrincipal is the client ID a cluster runs as, "" when it uses a
// managed identity (clientId "msi" or no profile).
func aksServicePrincipal(aks *arm.Resource) string {
	sp, _ := aks.Prop("servicePrincipalProfile").(map[string]any)
	c, _ := sp["clientId"].(string)
	if strings.EqualFold(c, "msi") {
		return ""
	}
	return c
}

func (p *Provider) validateAKS(ctx context.Context, w *arm.Write) error {
	nu := w.New
	sp, _ := nu.Properties["servicePrincipalProfile"].(map[string]any)
	client, _ := sp["clientId"].(string)
	if client != "" && !strings.EqualFold(client, "msi") {
		if _, err := directory.LookupIn(ctx, p.Store, w.TenantID, directory.IndexAppID, client); err != nil {
			return badRequest("servicePrincipalProfile.clientId '%s' is not a service principal of this tenant (create one with amlid ad sp create-for-rbac).", client)
		}
		if nu.Internal == nil {
			nu.Internal = map[string]any{}
		}
		if s, ok := sp["secret"]; ok {
			nu.Internal["servicePrincipalSecret"] = s
			delete(sp, "secret")
		}
		if nu.Identity != nil && arm.NormalizeIdentityType(nu.Identity.Type) != arm.IdentityTypeNone {
			return badRequest("A cluster runs as a service principal (servicePrincipalProfile) or a managed identity (identity), not both.")
		}
	} else {
		nu.Properties["servicePrincipalProfile"] = map[string]any{"clientId": "msi"}
		if nu.Identity == nil || arm.NormalizeIdentityType(nu.Identity.Type) == arm.IdentityTypeNone {
			nu.Identity = &arm.Identity{Type: arm.IdentityTypeSystem} // az aks create's default
		}
	}
	if nu.Properties["kubernetesVersion"] == nil {
		nu.Properties["kubernetesVersion"] = "1.29.0"
	}
	nu.Properties["fqdn"] = strings.ToLower(nu.Name) + ".hcp." + nu.Location + ".azmk8s.io"
	if nu.Properties["dnsPrefix"] == nil {
		nu.Properties["dnsPrefix"] = strings.ToLower(nu.Name)
	}
	return nil
}

// validateKubernetes is rule ACR-3 at attach time: the cluster must exist
// and run as a service principal, not a managed identity.
func (p *Provider) validateKubernetes(ctx context.Context, w *arm.Write, rid string) error {
	aks, err := p.load(ctx, p.Store, rid)
	if errors.Is(err, access.ErrNotFound) {
		return arm.Errorf(http.StatusBadRequest, "BadRequest", "Rule ACR-3: the Kubernetes cluster '%s' to attach was not found (create it with amlid aks create).", rid)
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(aks.Type, AKSType) {
		return badRequest("properties.resourceId '%s' is a %s, not a Kubernetes cluster (%s).", rid, aks.Type, AKSType)
	}
	if aksServicePrincipal(aks) == "" {
		return arm.Errorf(http.StatusBadRequest, "BadRequest",
			"Rule ACR-3: Kubernetes cluster %s uses a managed identity; a bring-your-own cluster attached to a workspace must use a service principal, which amlid grants AcrPull on the workspace registry. Recreate it with: amlid aks create -n %s -g <group> --service-principal <app id> --client-secret <secret>.", aks.Name, aks.Name)
	}
	w.New.Properties["resourceId"] = aks.ID
	return nil
}

// prepareAttach creates the workspace registry on this first need (rule
// WS-7) before a Kubernetes cluster is attached, so its service principal
// can be granted AcrPull on it (ACR-3).
func (p *Provider) prepareAttach(ctx context.Context, id arm.ID, old *arm.Resource, body map[string]any) error {
	props, _ := body["properties"].(map[string]any)
	ct, _ := props["computeType"].(string)
	if old != nil || normComputeType(ct) != Kubernetes {
		return nil
	}
	rid, _ := props["resourceId"].(string)
	if aks, err := p.load(ctx, p.Store, rid); err != nil || aksServicePrincipal(aks) == "" {
		return nil // validate refuses it (ACR-3)
	}
	_, err := p.EnsureRegistry(ctx, id.Parent().String())
	return err
}

// beforeCommitAttached is rule ACR-3: attaching a Kubernetes cluster grants
// its service principal AcrPull on the workspace registry.
func (p *Provider) beforeCommitAttached(ctx context.Context, tx store.Tx, w *arm.Write) error {
	nu := w.New
	if access.ComputeTypeOf(nu) != Kubernetes || w.Old != nil {
		return nil
	}
	aks, err := p.load(ctx, tx, nu.StringProp("resourceId"))
	if err != nil {
		return err
	}
	sp, err := directory.LookupIn(ctx, tx, w.TenantID, directory.IndexAppID, aksServicePrincipal(aks))
	if err != nil {
		return badRequest("Rule ACR-3: the service principal of cluster %s was not found.", aks.Name)
	}
	ws, err := p.load(ctx, tx, w.ID.Parent().String())
	if err != nil {
		return err
	}
	reg := ws.StringProp("containerRegistry")
	if reg == "" {
		return nil
	}
	if err := p.Authz.Grant(ctx, tx, sp.ObjectID, "ServicePrincipal", catalog.AcrPull.ID, reg); err != nil {
		return err
	}
	nu.Internal["acrPullGranted"] = reg
	p.log().Info("granted AcrPull on the workspace registry to the attached cluster's service principal (rule ACR-3)", "compute", nu.ID, "servicePrincipal", sp.AppID)
	return nil
}
