package access

import (
	"context"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

func init() {
	Rules = append(Rules,
		Rule{ID: "ACR-5", Type: catalog.TypeEnvVersion, Eval: ACR5,
			Summary: "an environment on a private registry's image: as is, each compute pulls it as its identity (AcrPull there); built, the workspace pulls the base with the environment's registry identity, else a workspace connection: a UAI with AcrPull there that the workspace SAI may use (Managed Identity Operator), or admin credentials"},
	)
}

// EnvImage is an environment version's base image and whether amlid builds
// on it (a conda file or a build context) or pulls it as is.
func EnvImage(env *arm.Resource) (image string, built bool) {
	image = env.StringProp("image")
	built = env.StringProp("condaFile") != ""
	if b, ok := env.Prop("build").(map[string]any); ok && b != nil {
		built = true
	}
	return image, built
}

// ImageRegistry splits an image reference's registry host off ("" when the
// reference names none).
func ImageRegistry(image string) string {
	host, _, ok := strings.Cut(image, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return ""
	}
	return host
}

// RegistryByLoginServer finds an amlid registry under the subscription of
// scopeID by its login server.
func RegistryByLoginServer(ctx context.Context, src Source, scopeID, loginServer string) (*arm.Resource, error) {
	l, ok := src.(Lister)
	if !ok || loginServer == "" {
		return nil, ErrNotFound
	}
	id, err := arm.ParseID(scopeID)
	if err != nil {
		return nil, err
	}
	regs, err := l.List(ctx, "/subscriptions/"+id.Subscription, catalog.TypeRegistry)
	if err != nil {
		return nil, err
	}
	for _, r := range regs {
		if strings.EqualFold(r.StringProp("loginServer"), loginServer) {
			return r, nil
		}
	}
	return nil, ErrNotFound
}

// PullCredential is where a managed-environment build's base-image
// credentials come from (rule ACR-5's order).
type PullCredential struct {
	From       string // "registryIdentity", "connection" or "" (none)
	Connection string // the connection's resource ID
	UAI        string // a user-assigned identity's resource ID
	ClientID   string
	Username   string // admin credentials (the password stays sealed)
}

// BuildCredential picks a built environment's base-image credential:
// the environment's registry identity over a workspace connection whose
// target is the image's registry.
func BuildCredential(ctx context.Context, src Source, wsID string, env *arm.Resource) (PullCredential, error) {
	if ri, ok := env.Prop("registryIdentity").(map[string]any); ok {
		rid, _ := ri["resourceId"].(string)
		cid, _ := ri["clientId"].(string)
		if rid != "" {
			return PullCredential{From: "registryIdentity", UAI: rid, ClientID: cid}, nil
		}
	}
	image, _ := EnvImage(env)
	host := ImageRegistry(image)
	l, ok := src.(Lister)
	if !ok || host == "" {
		return PullCredential{}, nil
	}
	conns, err := l.List(ctx, wsID, catalog.TypeConnection)
	if err != nil {
		return PullCredential{}, err
	}
	for _, c := range conns {
		if c.StringProp("category") != "ContainerRegistry" || !strings.EqualFold(c.StringProp("target"), host) {
			continue
		}
		creds, _ := c.Prop("credentials").(map[string]any)
		pc := PullCredential{From: "connection", Connection: c.ID}
		pc.UAI, _ = creds["resourceId"].(string)
		pc.ClientID, _ = creds["clientId"].(string)
		pc.Username, _ = creds["username"].(string)
		return pc, nil
	}
	return PullCredential{}, nil
}

// ACR5 is rule ACR-5 on an environment version whose image lives in an
// amlid registry other than the workspace's own.
func ACR5(ctx context.Context, src Source, env *arm.Resource) (Result, error) {
	var res Result
	image, built := EnvImage(env)
	host := ImageRegistry(image)
	if host == "" {
		return res, nil
	}
	envID, err := arm.ParseID(env.ID)
	if err != nil || len(envID.Names) < 3 {
		return res, err
	}
	wsID := envID.Parent().Parent().String()
	ws, err := src.Get(ctx, wsID)
	if err != nil {
		return res, err
	}
	reg, err := RegistryByLoginServer(ctx, src, wsID, host)
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("Rule ACR-5: environment %s names image %s, whose registry %s is not an amlid registry: amlid cannot pull it.", env.ID, image, host))
		return res, nil
	}
	if strings.EqualFold(reg.ID, ws.StringProp("containerRegistry")) {
		return res, nil // the workspace registry: ACR-2 and EP-3 cover it
	}
	if !built {
		l, ok := src.(Lister)
		if !ok {
			return res, nil
		}
		computes, err := l.List(ctx, wsID, catalog.TypeCompute)
		if err != nil {
			return res, err
		}
		for _, c := range computes {
			id, ok := Acting(c)
			if !ok {
				continue
			}
			if id.TenantID == "" {
				id.TenantID = ws.StringProp("tenantId")
			}
			res.Requirements = append(res.Requirements, rbacReq("ACR-5", env.ID, id, catalog.AcrPull, catalog.RegistryPull, false, reg.ID,
				fmt.Sprintf("compute %s pulls environment image %s as is, as its own identity", c.Name, image)))
		}
		return res, nil
	}
	pc, err := BuildCredential(ctx, src, wsID, env)
	if err != nil {
		return res, err
	}
	switch {
	case pc.UAI != "":
		uai, err := uaiIdentity(ctx, src, pc.UAI, pc.UAI)
		if err != nil {
			err = fmt.Errorf("user-assigned identity %s: %w", pc.UAI, err)
		}
		if err != nil {
			res.Notes = append(res.Notes, "Rule ACR-5: "+err.Error())
			return res, nil
		}
		via := "the environment's registry identity"
		if pc.From == "connection" {
			via = "workspace connection " + pc.Connection
		}
		if ids := Identities(ws); len(ids) > 0 && ids[0].Kind == SystemAssigned {
			sai := ids[0]
			if sai.TenantID == "" {
				sai.TenantID = ws.StringProp("tenantId")
			}
			res.Requirements = append(res.Requirements, rbacReq("ACR-5", env.ID, sai, catalog.ManagedIdentityOperator, catalog.UAIAssign, false, uai.ResourceID,
				"the workspace acts as the UAI to pull the base image, which needs Managed Identity Operator on it"))
		} else {
			res.Notes = append(res.Notes, "Rule ACR-5: workspace "+ws.Name+" has no system-assigned identity to act as the UAI "+pc.UAI+".")
		}
		res.Requirements = append(res.Requirements, rbacReq("ACR-5", env.ID, uai, catalog.AcrPull, catalog.RegistryPull, false, reg.ID,
			fmt.Sprintf("the managed-environment build pulls base image %s as this UAI (named by %s)", image, via)))
	case pc.Username != "":
		// Admin credentials: the registry's admin user (ACR-1) is the check.
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("Rule ACR-5: environment %s builds on private image %s but names no registry credential: add a workspace connection for %s (a UAI, or admin username/password), or a registry identity on the environment.", env.ID, image, host))
	}
	return res, nil
}
