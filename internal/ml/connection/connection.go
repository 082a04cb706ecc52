// Package connection declares workspace connections (issue 21): the
// registry credentials a managed-environment build uses to pull a private
// base image (rule ACR-5). Two shapes are accepted, as the clients send them:
//
//   - v2 (azure-ai-ml, REST 2022-05-01+): category ContainerRegistry, target
//     the registry's login server, authType UsernamePassword with
//     credentials {username, password}, or ManagedIdentity with
//     credentials {resourceId, clientId};
//   - v1 (azureml-core set_connection): category ACR, authType
//     RegistryConnection, value {"ResourceId": …, "ClientId": …} (an object
//     or its JSON text).
//
// A password is sealed into the resource's internal state (never stored in
// clear, never returned by a GET or list); POST …/listsecrets returns it to
// callers holding workspaces/connections/listsecrets/action.
package connection

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/seal"
	"github.com/amlid/amlid/internal/store"
)

// Provider declares workspaces/connections.
type Provider struct {
	ML     *ml.Provider
	Sealer *seal.Sealer
}

// Register declares the type on reg.
func (p *Provider) Register(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/connections", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK,
		Name: arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`),
			Hint: "letters, digits, '.', '-' and '_', starting with a letter or digit"},
		Validate: p.validate,
		Present:  present,
		ListFilter: func(c *arm.Call, r *arm.Resource) bool {
			cat := c.R.URL.Query().Get("category")
			return cat == "" || strings.EqualFold(normCategory(cat), r.StringProp("category"))
		},
		Actions: map[string]arm.Action{
			"listsecrets": {RBACAction: catalog.ConnectionListSecret, Handler: p.listSecrets},
		},
	})
}

func userErr(format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, "UserError", format, args...)
}

func normCategory(c string) string {
	switch strings.ToLower(strings.ReplaceAll(c, "_", "")) {
	case "acr", "containerregistry":
		return "ContainerRegistry"
	case "pythonfeed":
		return "PythonFeed"
	case "git":
		return "Git"
	}
	return c
}

// Credential is what a connection gives a registry pull (rule ACR-5).
type Credential struct {
	Connection string // the connection's resource ID
	Target     string // the registry login server it is for
	// Identity: a user-assigned identity the workspace acts as.
	UAI, ClientID string
	// Admin credentials (Password read with Secret).
	Username string
}

// IsIdentity says whether the connection names a UAI.
func (c Credential) IsIdentity() bool { return c.UAI != "" }

// CredentialOf reads a stored connection's registry credential.
func CredentialOf(r *arm.Resource) Credential {
	c := Credential{Connection: r.ID, Target: r.StringProp("target")}
	creds, _ := r.Prop("credentials").(map[string]any)
	c.UAI, _ = creds["resourceId"].(string)
	c.ClientID, _ = creds["clientId"].(string)
	c.Username, _ = creds["username"].(string)
	return c
}

const sealAD = "amlid ml connection password\x00"

// validate normalises the body to the v2 shape (keeping a v1 body's
// fields), checks the credential, and seals the password.
func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	if props == nil {
		return userErr("A connection needs properties: category (ContainerRegistry, or v1 ACR), target (the registry's login server), authType and credentials.")
	}
	cat, _ := props["category"].(string)
	if cat == "" {
		return userErr("properties.category is required (ContainerRegistry; azure-ai-ml type container_registry; v1 ACR).")
	}
	props["category"] = normCategory(cat)
	auth, _ := props["authType"].(string)
	creds, _ := props["credentials"].(map[string]any)
	if props["credentials"] != nil && creds == nil {
		return userErr("properties.credentials must be an object, not %T.", props["credentials"])
	}
	if creds == nil {
		creds = map[string]any{}
	}
	// v1: value {"ResourceId", "ClientId"} (or username/password).
	if v, ok := props["value"]; ok && v != nil {
		var val map[string]any
		switch x := v.(type) {
		case string:
			if err := json.Unmarshal([]byte(x), &val); err != nil {
				return userErr("properties.value must be JSON such as {\"ResourceId\": \"<UAI resource ID>\", \"ClientId\": \"<its client ID>\"}: %v", err)
			}
		case map[string]any:
			val = x
		default:
			return userErr("properties.value must be an object or its JSON text, not %T.", v)
		}
		for k, vv := range val {
			switch strings.ToLower(k) {
			case "resourceid":
				creds["resourceId"] = vv
			case "clientid":
				creds["clientId"] = vv
			case "username":
				creds["username"] = vv
			case "password":
				creds["password"] = vv
			}
		}
		delete(props, "value") // the password would otherwise be stored with it
	}
	_, hasPW := creds["password"]
	hasUser := creds["username"] != nil && creds["username"] != ""
	hasUAI := creds["resourceId"] != nil && creds["resourceId"] != ""
	if hasUAI && (hasPW || hasUser) {
		return userErr("Rule ACR-5: connection '%s' names both a user-assigned identity (resourceId) and admin credentials (username/password); a connection takes one of them. Make two connections, or drop one.", w.ID.Name())
	}
	switch strings.ToLower(auth) {
	case "registryconnection", "":
		if hasUAI {
			auth = "ManagedIdentity"
		} else if hasUser {
			auth = "UsernamePassword"
		}
	case "managedidentity":
		auth = "ManagedIdentity"
	case "usernamepassword":
		auth = "UsernamePassword"
	case "none", "pat", "sas", "serviceprincipal":
	default:
		return userErr("Unknown properties.authType '%s': a registry connection uses UsernamePassword (admin credentials), ManagedIdentity (a UAI), or v1 RegistryConnection.", auth)
	}
	props["authType"] = auth
	target, _ := props["target"].(string)
	if props["category"] == "ContainerRegistry" {
		if target == "" {
			return userErr("properties.target is required: the login server of the registry the connection is for (e.g. myacr.azurecr.io).")
		}
		if strings.Contains(target, "/") && !strings.HasPrefix(target, "http") {
			return userErr("properties.target '%s' must be a registry login server (host[:port]), not an image reference.", target)
		}
		props["target"] = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(target, "https://"), "http://"), "/")
	}
	switch auth {
	case "ManagedIdentity":
		rid, _ := creds["resourceId"].(string)
		id, err := arm.ParseID(rid)
		if err != nil || !strings.EqualFold(id.TypeName(), catalog.TypeUserAssignedMI) {
			return userErr("Rule ACR-5: credentials.resourceId must be a user-assigned identity's resource ID (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>), not '%s'.", rid)
		}
		uai, err := ml.LoadResource(ctx, p.ML.Store, id.String())
		if err != nil {
			return userErr("Rule ACR-5: user-assigned identity %s does not exist. Create it (amlid identity create -n %s -g %s) or fix credentials.resourceId.", rid, id.Name(), id.ResourceGroup)
		}
		cid := uai.StringProp("clientId")
		if g, _ := creds["clientId"].(string); g != "" && !strings.EqualFold(g, cid) {
			return userErr("Rule ACR-5: credentials.clientId %s is not the client ID of %s (%s).", g, rid, cid)
		}
		creds["resourceId"], creds["clientId"] = uai.ID, cid
		delete(creds, "password")
		delete(creds, "username")
	case "UsernamePassword":
		if !hasUser {
			return userErr("UsernamePassword credentials need credentials.username (the registry's admin user name).")
		}
		pw, _ := creds["password"].(string)
		delete(creds, "password")
		if pw == "" {
			if w.Old != nil && w.Old.Internal["password"] != nil {
				break // an update keeps the sealed password
			}
			return userErr("UsernamePassword credentials need credentials.password; amlid keeps it sealed and never returns it on GET (POST …/listsecrets does).")
		}
		sealed, err := p.Sealer.Seal([]byte(pw), sealAD+strings.ToLower(w.ID.String()))
		if err != nil {
			return err
		}
		if w.New.Internal == nil {
			w.New.Internal = map[string]any{}
		}
		w.New.Internal["password"] = sealed
	}
	if auth != "UsernamePassword" && w.New.Internal != nil {
		delete(w.New.Internal, "password")
	}
	props["credentials"] = creds
	return nil
}

// present strips any secret from an answer.
func present(_ context.Context, r *arm.Resource) {
	if creds, ok := r.Prop("credentials").(map[string]any); ok {
		delete(creds, "password")
	}
	delete(r.Properties, "value")
}

// Password opens a connection's sealed admin password ("" when none).
func (p *Provider) Password(r *arm.Resource) (string, error) {
	s, _ := r.Internal["password"].(string)
	if s == "" {
		return "", nil
	}
	b, err := p.Sealer.Open(s, sealAD+strings.ToLower(r.ID))
	return string(b), err
}

func (p *Provider) listSecrets(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	out := r.Clone()
	pw, err := p.Password(r)
	if err != nil {
		return 0, nil, err
	}
	if creds, ok := out.Prop("credentials").(map[string]any); ok && pw != "" {
		creds["password"] = pw
	}
	return http.StatusOK, out, nil
}

// ForTarget returns the workspace's container-registry connections whose
// target is loginServer (case-insensitive), in name order.
func ForTarget(ctx context.Context, r store.Reader, workspaceID, loginServer string) ([]*arm.Resource, error) {
	ws, err := arm.ParseID(workspaceID)
	if err != nil {
		return nil, err
	}
	recs, err := r.List(ctx, arm.KindResource, store.ListOptions{Parent: ws.Key()})
	if err != nil {
		return nil, err
	}
	var out []*arm.Resource
	for _, rec := range recs {
		res, err := arm.DecodeResource(rec.Value)
		if err != nil || !strings.EqualFold(res.Type, catalog.TypeConnection) || res.StringProp("category") != "ContainerRegistry" {
			continue
		}
		if strings.EqualFold(res.StringProp("target"), loginServer) {
			out = append(out, res)
		}
	}
	return out, nil
}
