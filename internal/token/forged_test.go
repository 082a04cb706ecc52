package token_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// Azure role GUIDs the table grants to its control principal.
const (
	roleBlobReader     = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	roleKVSecretsUser  = "4633458b-17de-408a-b874-0445c86b69e6"
	armScope           = "https://management.azure.com/.default"
	storageScope       = "https://storage.azure.com/.default"
	vaultScope         = "https://vault.azure.net/.default"
	mlScope            = "https://ml.azure.com/.default"
	graphScope         = "https://graph.microsoft.com/.default"
	forgedTableVersion = "2021-08-06"
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// world is a whole amlid in process with one of each plane's resources.
type world struct {
	t        *testing.T
	s        *server.Server
	http     *http.Client
	blobURL  string // …/<account>/<container>?restype=container&comp=list
	dfsURL   string // …/<account>/<file system>?resource=filesystem (list paths)
	vaultURL string // https://host:port
	acrHost  string
	scoreURL string
	msiURL   string // a workload's token endpoint
	msiSec   string
}

type sp struct{ tenant, appID, secret, oid string }

func (w *world) newSP(tenant, name string) sp {
	secret := directory.NewSecret()
	p := &directory.Principal{TenantID: tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
		DisplayName: name, AppID: uuid.NewString(),
		Secrets: []directory.SecretCredential{{KeyID: uuid.NewString(), Hint: directory.SecretHint(secret), Hash: directory.HashSecret(secret),
			StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(24 * time.Hour)}}}
	if err := w.s.Directory.CreatePrincipal(context.Background(), p); err != nil {
		w.t.Fatal(err)
	}
	return sp{tenant, p.AppID, secret, p.ObjectID}
}

func (w *world) token(c sp, scope string) string {
	w.t.Helper()
	resp, err := w.http.PostForm(w.s.State.AuthorityHost+"/"+c.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {c.appID}, "client_secret": {c.secret}, "scope": {scope}})
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		w.t.Fatalf("token for %s: %d %v", scope, resp.StatusCode, m)
	}
	return tok
}

func (w *world) arm(method, path, api string, body any) map[string]any {
	w.t.Helper()
	admin := sp{w.s.Bootstrap.TenantID, w.s.Bootstrap.ClientID, w.s.Bootstrap.ClientSecret, w.s.Bootstrap.ObjectID}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.s.State.ARMURL+path+"?api-version="+api, rd)
	req.Header.Set("Authorization", "Bearer "+w.token(admin, armScope))
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		w.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func (w *world) grant(oid, role, scope string) {
	err := w.s.Store.Tx(context.Background(), func(tx store.Tx) error {
		return w.s.Authz.Grant(context.Background(), tx, oid, directory.TypeServicePrincipal, role, scope)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func newWorld(t *testing.T) *world {
	s, err := server.Start(context.Background(), server.Options{DataDir: t.TempDir(), Store: "memory:", Port: -1, MSIPort: -1, BlobPort: -1,
		ResourcePortBase: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	w := &world{t: t, s: s, http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.CertPool()}}}}
	sub := s.Bootstrap.SubscriptionID
	rg := "/subscriptions/" + sub + "/resourceGroups/forged"
	w.arm("PUT", rg, "2021-04-01", map[string]any{"location": "eastus"})
	// Blob: an account and a container the admin may read.
	acct := rg + "/providers/Microsoft.Storage/storageAccounts/forgedacct"
	w.arm("PUT", acct, "2022-09-01", map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}})
	w.arm("PUT", acct+"/blobServices/default/containers/data", "2022-09-01", map[string]any{})
	w.grant(s.Bootstrap.ObjectID, roleBlobReader, acct)
	w.blobURL = s.Storage.BlobEndpoint("forgedacct") + "data?restype=container&comp=list"
	if !strings.HasSuffix(s.Storage.BlobEndpoint("forgedacct"), "/") {
		w.blobURL = s.Storage.BlobEndpoint("forgedacct") + "/data?restype=container&comp=list"
	}
	// ADLS Gen2 (DFS): a hierarchical-namespace account, a file system the
	// admin may read.
	lake := rg + "/providers/Microsoft.Storage/storageAccounts/forgedlake"
	w.arm("PUT", lake, "2022-09-01", map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"},
		"properties": map[string]any{"isHnsEnabled": true}})
	w.arm("PUT", lake+"/blobServices/default/containers/lakefs", "2022-09-01", map[string]any{})
	w.grant(s.Bootstrap.ObjectID, roleBlobReader, lake)
	w.dfsURL = strings.TrimSuffix(s.Storage.BlobEndpoint("forgedlake"), "/") + "/lakefs?resource=filesystem&recursive=false"
	// Key Vault (RBAC model) the admin may read.
	vault := rg + "/providers/Microsoft.KeyVault/vaults/forgedkv"
	w.arm("PUT", vault, "2022-07-01", map[string]any{"location": "eastus", "properties": map[string]any{"tenantId": s.Bootstrap.TenantID,
		"sku": map[string]any{"family": "A", "name": "standard"}, "enableRbacAuthorization": true}})
	w.vaultURL = strings.TrimSuffix(w.arm("GET", vault, "2022-07-01", nil)["properties"].(map[string]any)["vaultUri"].(string), "/")
	w.grant(s.Bootstrap.ObjectID, roleKVSecretsUser, vault)
	// A container registry.
	reg := rg + "/providers/Microsoft.ContainerRegistry/registries/forgedacr"
	w.arm("PUT", reg, "2022-02-01-preview", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}})
	w.acrHost = w.arm("GET", reg, "2022-02-01-preview", nil)["properties"].(map[string]any)["loginServer"].(string)
	// An aad_token online endpoint (rule EP-6) of a workspace.
	ws := rg + "/providers/Microsoft.MachineLearningServices/workspaces/forgedws"
	w.arm("PUT", ws, "2024-04-01", map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"}, "properties": map[string]any{}})
	ep := ws + "/onlineEndpoints/forgedep"
	w.arm("PUT", ep, "2024-04-01", map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"authMode": "AADToken"}})
	w.scoreURL = w.arm("GET", ep, "2024-04-01", nil)["properties"].(map[string]any)["scoringUri"].(string)
	// A workload of the endpoint on the managed-identity endpoints.
	wl, err := s.Workloads.Register(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	w.msiURL, w.msiSec = msi.Endpoint(s.State.MSIURL, wl.ID), wl.Secret
	return w
}

// plane is one protocol surface and how it answers a bearer credential.
type plane struct {
	name  string
	scope string // the audience a legitimate token is asked for
	// call presents raw (host, when set, overrides the Host header).
	call func(w *world, raw, host string) (int, http.Header, []byte)
	// shape reports whether body is the plane's error format.
	shape func(body []byte) bool
	// rbac: the plane decides by role, so a valid token of a principal
	// without one is refused.
	rbac bool
}

func do(w *world, req *http.Request, host string) (int, http.Header, []byte) {
	if host != "" {
		req.Host = host
	}
	resp, err := w.http.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func bearer(method, u, raw string, body io.Reader) *http.Request {
	req, _ := http.NewRequest(method, u, body)
	req.Header.Set("Authorization", "Bearer "+raw)
	return req
}

func jsonErrorCode(b []byte) bool {
	var m struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	return json.Unmarshal(b, &m) == nil && m.Error.Code != ""
}

var planes = []plane{
	{name: "ARM", scope: armScope, rbac: true, shape: jsonErrorCode,
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			return do(w, bearer("GET", w.s.State.ARMURL+"/subscriptions/"+w.s.Bootstrap.SubscriptionID+"/resourcegroups?api-version=2021-04-01", raw, nil), host)
		}},
	{name: "Graph", scope: graphScope, rbac: true, shape: jsonErrorCode,
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			body := `{"displayName":"g","mailEnabled":false,"securityEnabled":true,"mailNickname":"g"}`
			req := bearer("POST", w.s.State.GraphURL+"/v1.0/groups", raw, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return do(w, req, host)
		}},
	{name: "Blob", scope: storageScope, rbac: true,
		shape: func(b []byte) bool {
			var e struct {
				XMLName xml.Name `xml:"Error"`
				Code    string   `xml:"Code"`
			}
			return xml.Unmarshal(b, &e) == nil && e.Code != ""
		},
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			req := bearer("GET", w.blobURL, raw, nil)
			req.Header.Set("x-ms-version", forgedTableVersion)
			return do(w, req, host)
		}},
	{name: "DFS (ADLS Gen2)", scope: storageScope, rbac: true, shape: jsonErrorCode,
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			req := bearer("GET", w.dfsURL, raw, nil)
			req.Header.Set("x-ms-version", forgedTableVersion)
			return do(w, req, host)
		}},
	{name: "Key Vault", scope: vaultScope, rbac: true, shape: jsonErrorCode,
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			return do(w, bearer("GET", w.vaultURL+"/secrets?api-version=7.4", raw, nil), host)
		}},
	{name: "ACR exchange", scope: armScope,
		shape: func(b []byte) bool {
			var m struct {
				Errors []struct {
					Code string `json:"code"`
				} `json:"errors"`
			}
			return json.Unmarshal(b, &m) == nil && len(m.Errors) > 0 && m.Errors[0].Code != ""
		},
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			form := url.Values{"grant_type": {"access_token"}, "service": {w.acrHost}, "access_token": {raw}}
			req, _ := http.NewRequest("POST", "https://"+w.acrHost+"/oauth2/exchange", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return do(w, req, host)
		}},
	{name: "managed identity (token as secret)", scope: storageScope,
		shape: func(b []byte) bool {
			var m map[string]string
			return json.Unmarshal(b, &m) == nil && m["error"] != "" && m["error_description"] != ""
		},
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			req, _ := http.NewRequest("GET", w.msiURL+"?api-version=2019-08-01&resource="+url.QueryEscape("https://storage.azure.com/"), nil)
			req.Header.Set("X-IDENTITY-HEADER", raw)
			req.Header.Set("Metadata", "true")
			req.Header.Set("Authorization", "Bearer "+raw)
			return do(w, req, host)
		}},
	{name: "aad_token scoring", scope: mlScope, rbac: true,
		shape: func(b []byte) bool {
			var m map[string]string
			return json.Unmarshal(b, &m) == nil && m["message"] != ""
		},
		call: func(w *world, raw, host string) (int, http.Header, []byte) {
			req := bearer("POST", w.scoreURL, raw, strings.NewReader(`{"x":1}`))
			req.Header.Set("Content-Type", "application/json")
			return do(w, req, host)
		}},
}

// TestForgedTokensEveryPlane is issue 15's table: each forged or misused
// token against every plane is refused with that plane's error shape, and
// none answers 5xx. A control row (the legitimate token) must pass.
func TestForgedTokensEveryPlane(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	admin := sp{w.s.Bootstrap.TenantID, w.s.Bootstrap.ClientID, w.s.Bootstrap.ClientSecret, w.s.Bootstrap.ObjectID}
	kid := token.ActiveKIDForTest(w.s.Tokens)
	// A principal with no role anywhere, one that will be deleted, and one
	// of a second tenant.
	nobody := w.newSP(w.s.Bootstrap.TenantID, "nobody")
	doomed := w.newSP(w.s.Bootstrap.TenantID, "doomed")
	tenant2 := uuid.NewString()
	if err := w.s.Directory.PutTenant(ctx, directory.Tenant{ID: tenant2, DisplayName: "other", DefaultDomain: "other.test", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	foreigner := w.newSP(tenant2, "foreigner")
	w.grant(foreigner.oid, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "/subscriptions/"+w.s.Bootstrap.SubscriptionID) // even Owner: ID-4 first
	doomedTok := map[string]string{}
	for _, p := range planes {
		doomedTok[p.scope] = w.token(doomed, p.scope)
	}
	if err := w.s.Directory.DeletePrincipal(ctx, doomed.oid); err != nil {
		t.Fatal(err)
	}
	atk, _ := rsa.GenerateKey(rand.Reader, 2048)
	atkCert := func() string {
		tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tpl, tpl, &atk.PublicKey, atk)
		return base64.StdEncoding.EncodeToString(der)
	}()
	pubPEM := func() []byte {
		resp, err := w.http.Get(w.s.State.AuthorityHost + "/" + admin.tenant + "/discovery/v2.0/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		json.NewDecoder(resp.Body).Decode(&set)
		for _, k := range set.Keys {
			if k.KeyID == kid {
				der, _ := x509.MarshalPKIXPublicKey(k.Key)
				return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			}
		}
		t.Fatal("the signing key is not in the JWKS")
		return nil
	}()
	// signRS256 signs header+claims with the attacker's key.
	signAtk := func(hdr map[string]any, claims map[string]any) string {
		h, _ := json.Marshal(hdr)
		c, _ := json.Marshal(claims)
		in := b64url(h) + "." + b64url(c)
		sum := sha256.Sum256([]byte(in))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, atk, 5 /* crypto.SHA256 */, sum[:])
		return in + "." + b64url(sig)
	}
	claimsOf := func(raw string) map[string]any {
		p := strings.Split(raw, ".")
		b, _ := base64.RawURLEncoding.DecodeString(p[1])
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	ours := func(raw string, mut func(map[string]any)) string {
		c := claimsOf(raw)
		mut(c)
		s, err := token.SignForTest(w.s.Tokens, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now().Unix()
	other := map[string]string{armScope: storageScope, graphScope: armScope, storageScope: vaultScope, vaultScope: storageScope, mlScope: armScope}
	hostOf := func(scope string) string {
		u, _ := url.Parse(strings.TrimSuffix(scope, "/.default"))
		return u.Host
	}

	type tcase struct {
		name string
		mk   func(p plane, good string) (raw, host string)
		rbac bool // only meaningful where the plane decides by role
	}
	cases := []tcase{
		{name: "alg none", mk: func(_ plane, g string) (string, string) {
			return b64url([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(g, ".")[1] + ".", ""
		}},
		{name: "alg none keeping the signature", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			return b64url([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + p[1] + "." + p[2], ""
		}},
		{name: "HS256 keyed with the public key", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			h := b64url([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`))
			m := hmac.New(sha256.New, pubPEM)
			m.Write([]byte(h + "." + p[1]))
			return h + "." + p[1] + "." + b64url(m.Sum(nil)), ""
		}},
		{name: "unknown kid", mk: func(_ plane, g string) (string, string) {
			return signAtk(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "attacker-kid"}, claimsOf(g)), ""
		}},
		{name: "attacker key under our kid", mk: func(_ plane, g string) (string, string) {
			return signAtk(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claimsOf(g)), ""
		}},
		{name: "jku header", mk: func(_ plane, g string) (string, string) {
			return signAtk(map[string]any{"alg": "RS256", "kid": "attacker-kid", "jku": "https://attacker.example/keys"}, claimsOf(g)), ""
		}},
		{name: "x5u header", mk: func(_ plane, g string) (string, string) {
			return signAtk(map[string]any{"alg": "RS256", "kid": "attacker-kid", "x5u": "https://attacker.example/cert.pem"}, claimsOf(g)), ""
		}},
		{name: "embedded jwk header", mk: func(_ plane, g string) (string, string) {
			jwk, _ := json.Marshal(jose.JSONWebKey{Key: &atk.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
			var m map[string]any
			json.Unmarshal(jwk, &m)
			return signAtk(map[string]any{"alg": "RS256", "kid": kid, "jwk": m}, claimsOf(g)), ""
		}},
		{name: "embedded x5c header", mk: func(_ plane, g string) (string, string) {
			return signAtk(map[string]any{"alg": "RS256", "kid": kid, "x5c": []string{atkCert}}, claimsOf(g)), ""
		}},
		{name: "tampered payload", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			c := claimsOf(g)
			c["oid"], c["sub"] = nobody.oid, nobody.oid
			b, _ := json.Marshal(c)
			return p[0] + "." + b64url(b) + "." + p[2], ""
		}},
		{name: "alg switched to RS512 in the header", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			return b64url([]byte(`{"alg":"RS512","typ":"JWT","kid":"`+kid+`"}`)) + "." + p[1] + "." + p[2], ""
		}},
		{name: "expired", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { c["iat"], c["nbf"], c["exp"] = now-7200, now-7200, now-3600 }), ""
		}},
		{name: "nbf ahead", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { c["nbf"], c["exp"] = now+3600, now+7200 }), ""
		}},
		{name: "no exp", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { delete(c, "exp") }), ""
		}},
		{name: "wrong aud (signed)", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { c["aud"] = "https://made-up.example" }), ""
		}},
		{name: "another plane's token", mk: func(p plane, _ string) (string, string) {
			return w.token(admin, other[p.scope]), ""
		}},
		{name: "another plane's token with a spoofed Host", mk: func(p plane, _ string) (string, string) {
			return w.token(admin, other[p.scope]), hostOf(other[p.scope])
		}},
		{name: "wrong iss", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { c["iss"] = "https://attacker.example/" + admin.tenant + "/v2.0" }), ""
		}},
		{name: "iss of another tenant", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) {
				c["iss"] = strings.Replace(c["iss"].(string), admin.tenant, tenant2, 1)
			}), ""
		}},
		{name: "tid rewritten to another tenant", mk: func(_ plane, g string) (string, string) {
			return ours(g, func(c map[string]any) { c["tid"] = tenant2 }), ""
		}},
		{name: "another tenant's principal (ID-4)", mk: func(p plane, _ string) (string, string) {
			return w.token(foreigner, p.scope), ""
		}},
		{name: "deleted principal", mk: func(p plane, _ string) (string, string) {
			return doomedTok[p.scope], ""
		}},
		{name: "principal without the role (RBAC)", rbac: true, mk: func(p plane, _ string) (string, string) {
			return w.token(nobody, p.scope), ""
		}},
		{name: "1 MB token", mk: func(_ plane, _ string) (string, string) {
			return "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("A", 1<<20) + ".sig", ""
		}},
		{name: "two segments", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			return p[0] + "." + p[1], ""
		}},
		{name: "four segments", mk: func(_ plane, g string) (string, string) { return g + ".extra", "" }},
		{name: "payload not base64", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			return p[0] + ".!!!not*base64!!!." + p[2], ""
		}},
		{name: "payload not JSON", mk: func(_ plane, g string) (string, string) {
			p := strings.Split(g, ".")
			return p[0] + "." + b64url([]byte("[1,2")) + "." + p[2], ""
		}},
		{name: "empty", mk: func(_ plane, _ string) (string, string) { return "", "" }},
	}
	for _, p := range planes {
		t.Run(p.name, func(t *testing.T) {
			good := w.token(admin, p.scope)
			if p.name == "managed identity (token as secret)" {
				// Control: the workload's own secret.
				req, _ := http.NewRequest("GET", w.msiURL+"?api-version=2019-08-01&resource="+url.QueryEscape("https://storage.azure.com/"), nil)
				req.Header.Set("X-IDENTITY-HEADER", w.msiSec)
				if st, _, b := do(w, req, ""); st != http.StatusOK {
					t.Fatalf("control: the workload's secret: %d %s", st, b)
				}
			} else if st, _, b := p.call(w, good, ""); st == http.StatusUnauthorized || st == http.StatusForbidden || st >= 500 {
				t.Fatalf("control: the legitimate token is refused: %d %s", st, b)
			}
			for _, c := range cases {
				if c.rbac && !p.rbac {
					continue
				}
				raw, host := c.mk(p, good)
				st, _, body := p.call(w, raw, host)
				switch {
				case st >= 500:
					t.Errorf("%s: %d (5xx) %s", c.name, st, body)
				case st == http.StatusRequestHeaderFieldsTooLarge && len(raw) > 64<<10:
					// net/http's header bound answers before the plane.
				case st < 400:
					t.Errorf("%s: accepted (%d) %.300s", c.name, st, body)
				case st == http.StatusNotFound:
					t.Errorf("%s: 404 is not a refusal of the credential: %.300s", c.name, body)
				case !p.shape(body):
					t.Errorf("%s: %d is not in the plane's error shape: %.300s", c.name, st, body)
				}
			}
		})
	}
}
