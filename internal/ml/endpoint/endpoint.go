package endpoint

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/store"
)

// EndpointKind is the hostport kind of online endpoints: each endpoint
// scores on its own loopback port, as each has its own host name in Azure
// ({endpoint}.{region}.inference.ml.azure.com).
const EndpointKind = "endpoint"

// EndpointType is the online endpoint type name.
const EndpointType = ml.WorkspaceType + "/onlineEndpoints"

func (p *Provider) registerEndpoint(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    ml.Namespace,
		Path:         "workspaces/onlineEndpoints",
		APIVersions:  ml.MLAPIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK,
		Name: arm.NameRule{Min: 3, Max: 32, Pattern: regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`),
			Hint: "letters, digits and hyphens, starting with a letter and ending with a letter or digit"},
		Identity:     arm.IdentityStandard,
		Prepare:      p.prepareEndpoint,
		Validate:     p.validateEndpoint,
		BeforeCommit: p.beforeCommitEndpoint,
		AfterCommit:  p.afterCommitEndpoint,
		Actions: map[string]arm.Action{
			"listKeys":       {Handler: p.endpointListKeys},
			"regenerateKeys": {Handler: p.endpointRegenerateKeys},
			"token":          {Handler: p.endpointToken},
		},
	})
}

// prepareEndpoint gives a new endpoint its workspace's location when the
// request has none, and a system-assigned identity unless it names
// user-assigned ones (rule EP-1).
func (p *Provider) prepareEndpoint(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	if old != nil {
		return nil
	}
	if body["identity"] == nil {
		body["identity"] = map[string]any{"type": arm.IdentityTypeSystem} // rule EP-1
	}
	if l, _ := body["location"].(string); l == "" {
		if ws, err := ml.LoadResource(ctx, p.Store, id.Parent().String()); err == nil {
			body["location"] = ws.Location
		}
	}
	return nil
}

func sameIdentity(a, b *arm.Identity) bool {
	if a == nil || b == nil {
		return a == b
	}
	if arm.NormalizeIdentityType(a.Type) != arm.NormalizeIdentityType(b.Type) || len(a.UserAssignedIdentities) != len(b.UserAssignedIdentities) {
		return false
	}
	for k := range a.UserAssignedIdentities {
		found := false
		for k2 := range b.UserAssignedIdentities {
			if strings.EqualFold(k, k2) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (p *Provider) validateEndpoint(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	props := nu.Properties
	// Rule EP-2: the identity is fixed at creation.
	if old != nil {
		if nu.Identity == nil || w.Body["identity"] == nil {
			nu.Identity = old.Identity
		} else if !sameIdentity(nu.Identity, old.Identity) {
			return arm.Errorf(http.StatusBadRequest, "EndpointIdentityImmutable",
				"Rule EP-2: an online endpoint's identity cannot change after creation (it is '%s'). Delete and recreate the endpoint to use another identity.", old.Identity.Type)
		}
	}
	switch mode, _ := props["authMode"].(string); strings.ToLower(mode) {
	case "", "key":
		props["authMode"] = "Key"
	case "amltoken", "aml_token":
		props["authMode"] = "AMLToken"
	case "aadtoken", "aad_token":
		props["authMode"] = "AADToken"
	default:
		return arm.Errorf(http.StatusBadRequest, "UserError", "properties.authMode must be Key, AMLToken or AADToken (YAML auth_mode: key | aml_token | aad_token), not '%s'.", mode)
	}
	if old != nil {
		for _, k := range []string{"scoringUri", "swaggerUri"} {
			props[k] = old.Prop(k)
		}
	} else {
		delete(props, "scoringUri")
		delete(props, "swaggerUri")
		keys := map[string]any{"primaryKey": ml.RandomKey(), "secondaryKey": ml.RandomKey(), "tokenKey": ml.RandomKey()}
		nu.Internal = map[string]any{"keys": keys}
	}
	// Traffic: deployment name → percent, summing to 0 or 100, naming
	// deployments that exist.
	traffic := map[string]any{}
	if t, ok := props["traffic"].(map[string]any); ok {
		sum := 0.0
		names := []string{}
		for k, v := range t {
			f, ok := v.(float64)
			if !ok || f < 0 || f > 100 || f != float64(int(f)) {
				return arm.Errorf(http.StatusBadRequest, "UserError", "traffic.%s must be a whole percentage from 0 to 100.", k)
			}
			sum += f
			names = append(names, k)
			traffic[k] = f
		}
		if sum != 0 && sum != 100 {
			return arm.Errorf(http.StatusBadRequest, "UserError", "The traffic percentages must add up to 0 or 100, not %v.", sum)
		}
		sort.Strings(names)
		for _, n := range names {
			if traffic[n].(float64) == 0 {
				continue
			}
			if _, err := p.Store.Get(ctx, arm.KindResource, strings.ToLower(nu.ID+"/deployments/"+n)); err != nil && old != nil {
				return arm.Errorf(http.StatusBadRequest, "UserError", "traffic names deployment '%s', which does not exist in endpoint %s.", n, nu.Name)
			} else if err != nil {
				return arm.Errorf(http.StatusBadRequest, "UserError", "A new endpoint has no deployments yet: traffic must be empty (it names '%s').", n)
			}
		}
	}
	props["traffic"] = traffic
	if props["publicNetworkAccess"] == nil {
		props["publicNetworkAccess"] = "Enabled"
	}
	return nil
}

// beforeCommitEndpoint opens the endpoint's scoring port on create, and
// gives a system-assigned identity what Azure gives it: Storage Blob Data
// Reader on the workspace's storage account and AcrPull on its registry
// when that exists (rule EP-3; a registry created later grants AcrPull at
// the first deployment).
func (p *Provider) beforeCommitEndpoint(ctx context.Context, tx store.Tx, w *arm.Write) error {
	nu := w.New
	if w.Old == nil {
		port, err := p.Hosts.Open(EndpointKind, nu.ID, 0)
		if err != nil {
			return err
		}
		base := "https://" + p.Hosts.Host(port)
		nu.Properties["scoringUri"] = base + "/score"
		nu.Properties["swaggerUri"] = base + "/swagger.json"
	}
	if w.Old != nil || nu.SystemPrincipalID() == "" {
		return nil
	}
	ws, err := ml.LoadResource(ctx, tx, w.ID.Parent().String())
	if err != nil {
		return err
	}
	pid := nu.SystemPrincipalID()
	if s := ws.StringProp("storageAccount"); s != "" {
		if err := p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", catalog.StorageBlobDataReader.ID, s); err != nil {
			return err
		}
	}
	if r := ws.StringProp("containerRegistry"); r != "" {
		if err := p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", catalog.AcrPull.ID, r); err != nil {
			return err
		}
		nu.Internal["acrPullGranted"] = r
	}
	return nil
}

func (p *Provider) afterCommitEndpoint(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil {
		p.Hosts.Close(id.String())
	}
}

func endpointKeys(r *arm.Resource) map[string]any {
	k, _ := r.Internal["keys"].(map[string]any)
	if k == nil {
		return map[string]any{}
	}
	return k
}

func (p *Provider) endpointListKeys(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	if !strings.EqualFold(r.StringProp("authMode"), "Key") {
		return 0, nil, arm.Errorf(http.StatusBadRequest, "UserError", "Endpoint %s uses auth_mode %s: it has no keys (use its token).", r.Name, r.StringProp("authMode"))
	}
	k := endpointKeys(r)
	return http.StatusOK, map[string]any{"primaryKey": k["primaryKey"], "secondaryKey": k["secondaryKey"]}, nil
}

func (p *Provider) endpointRegenerateKeys(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	var req struct {
		KeyType  string `json:"keyType"`
		KeyValue string `json:"keyValue"`
	}
	if len(body) > 0 {
		if err := arm.DecodeJSON(body, &req); err != nil {
			return 0, nil, err
		}
	}
	var field string
	switch strings.ToLower(req.KeyType) {
	case "primary":
		field = "primaryKey"
	case "secondary":
		field = "secondaryKey"
	default:
		return 0, nil, arm.Errorf(http.StatusBadRequest, "UserError", "keyType must be Primary or Secondary.")
	}
	val := req.KeyValue
	if val == "" {
		val = ml.RandomKey()
	}
	err := p.UpdateResource(ctx, r.ID, func(cur *arm.Resource) error {
		k := endpointKeys(cur)
		k[field] = val
		cur.Internal["keys"] = k
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// amlTokenTTL is how long an aml_token is valid (Azure: 1 hour... refresh
// after 30 minutes).
const amlTokenTTL = time.Hour

// endpointToken issues an aml_token: an HMAC-signed token bound to the
// endpoint, valid for an hour.
func (p *Provider) endpointToken(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	if !strings.EqualFold(r.StringProp("authMode"), "AMLToken") {
		return 0, nil, arm.Errorf(http.StatusBadRequest, "UserError", "Endpoint %s uses auth_mode %s: use its keys (get-credentials).", r.Name, r.StringProp("authMode"))
	}
	exp := time.Now().Add(amlTokenTTL).UTC()
	tok := signAMLToken(r, exp)
	return http.StatusOK, map[string]any{"accessToken": tok, "tokenType": "Bearer",
		"expiryTimeUtc": exp.Unix(), "refreshAfterTimeUtc": exp.Add(-amlTokenTTL / 2).Unix()}, nil
}

func signAMLToken(r *arm.Resource, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"ep": strings.ToLower(r.ID), "exp": exp.Unix()})
	k, _ := endpointKeys(r)["tokenKey"].(string)
	mac := hmac.New(sha256.New, []byte(k))
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func verifyAMLToken(r *arm.Resource, tok string, now time.Time) error {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return fmt.Errorf("malformed token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return fmt.Errorf("malformed token")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("malformed token")
	}
	k, _ := endpointKeys(r)["tokenKey"].(string)
	mac := hmac.New(sha256.New, []byte(k))
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), got) {
		return fmt.Errorf("the token's signature is not this endpoint's")
	}
	var c struct {
		EP  string `json:"ep"`
		Exp int64  `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || !strings.EqualFold(c.EP, r.ID) {
		return fmt.Errorf("the token is for another endpoint")
	}
	if now.Unix() > c.Exp {
		return fmt.Errorf("the token expired")
	}
	return nil
}
