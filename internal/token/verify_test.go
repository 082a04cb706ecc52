package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// appToken gets a client-credentials token through the endpoint.
func (e *env) appToken(t *testing.T, scope string) string {
	t.Helper()
	code, body := e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, scope)
	if code != 200 {
		t.Fatalf("client credentials: %d %v", code, body)
	}
	return body["access_token"].(string)
}

// claimsOf decodes a JWT payload without verifying it.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	p := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m
}

func wantCheck(t *testing.T, err error, check string) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("want a *VerifyError with check %q, got %v", check, err)
	}
	if ve.Check != check {
		t.Fatalf("check %q (%s), want %q", ve.Check, ve.Msg, check)
	}
}

// TestVerifyRefusals is the table of tokens the verifier must refuse.
func TestVerifyRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *Config) { c.TokenLifetime = time.Hour })
	ctx := t.Context()
	good := e.appToken(t, storageAud+"/.default")
	if _, err := e.svc.Verify(ctx, good, storageAud); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	parts := strings.Split(good, ".")
	claims := claimsOf(t, good)
	active, err := e.svc.keys.signing()
	must(t, err)
	kid := active.rec.KID

	// Tokens signed with the service's own key but wrong claims.
	signed := func(mut func(map[string]any)) string {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		mut(c)
		raw, err := e.svc.sign(c)
		must(t, err)
		return raw
	}
	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(active.pub)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	hs256 := func() string {
		h := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`))
		m := hmac.New(sha256.New, pubPEM)
		m.Write([]byte(h + "." + parts[1]))
		return h + "." + parts[1] + "." + b64(m.Sum(nil))
	}()
	foreign := func(kid string) string {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
		must(t, err)
		raw, err := jwt.Signed(sig).Claims(claims).Serialize()
		must(t, err)
		return raw
	}
	tampered := func() string {
		c := claimsOf(t, good)
		c["oid"] = e.user.ObjectID
		b, _ := json.Marshal(c)
		return parts[0] + "." + b64(b) + "." + parts[2]
	}()
	now := time.Now()

	for _, tc := range []struct {
		name, raw, check string
		aud              []string
	}{
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", "algorithm", nil},
		{"alg none with kid", b64([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2], "algorithm", nil},
		{"HS256 keyed with the public key", hs256, "algorithm", nil},
		{"unknown kid", foreign("no-such-kid"), "kid", nil},
		{"foreign key under our kid", foreign(kid), "signature", nil},
		{"tampered payload", tampered, "signature", nil},
		{"garbage", "not.a.jwt", "malformed", nil},
		{"two parts", parts[0] + "." + parts[1], "malformed", nil},
		{"wrong audience", good, "audience", []string{"https://vault.azure.net"}},
		{"audience prefix only", good, "audience", []string{"https://storage.azure.co"}},
		{"no audience given", good, "audience", []string{}},
		{"wrong issuer", signed(func(c map[string]any) { c["iss"] = "https://login.example.com/" + e.tenant + "/v2.0" }), "issuer", nil},
		{"issuer on amlid's host", signed(func(c map[string]any) { c["iss"] = e.base + "/" + e.tenant + "/v2.0" }), "issuer", nil},
		{"issuer of another tenant", signed(func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/" + e.tenant2 + "/v2.0" }), "issuer", nil},
		{"expired", signed(func(c map[string]any) { c["exp"] = now.Add(-6 * time.Minute).Unix() }), "expired", nil},
		{"not yet valid", signed(func(c map[string]any) { c["nbf"] = now.Add(6 * time.Minute).Unix() }), "not_yet_valid", nil},
		{"unknown tenant", signed(func(c map[string]any) {
			c["tid"] = "11111111-1111-1111-1111-111111111111"
			c["iss"] = "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0"
		}), "tenant", nil},
		{"unknown principal", signed(func(c map[string]any) { c["oid"] = "22222222-2222-2222-2222-222222222222" }), "principal", nil},
		{"principal of another tenant", signed(func(c map[string]any) { c["oid"] = e.app2.ObjectID }), "principal", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aud := tc.aud
			if aud == nil {
				aud = []string{storageAud}
			}
			_, err := e.svc.Verify(ctx, tc.raw, aud...)
			wantCheck(t, err, tc.check)
		})
	}

	t.Run("within skew still valid", func(t *testing.T) {
		raw := signed(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })
		if _, err := e.svc.Verify(ctx, raw, storageAud); err != nil {
			t.Fatalf("a token 1 minute past exp is within the 5 minute skew: %v", err)
		}
	})
	t.Run("trailing slash tolerated", func(t *testing.T) {
		if _, err := e.svc.Verify(ctx, good, storageAud+"/"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired by the clock", func(t *testing.T) {
		e2 := newEnv(t, nil, func(c *Config) { c.TokenLifetime = time.Hour })
		raw := e2.appToken(t, storageAud+"/.default")
		e2.clock.Advance(time.Hour + 6*time.Minute)
		_, err := e2.svc.Verify(ctx, raw, storageAud)
		wantCheck(t, err, "expired")
		e2.clock.Set(-10 * time.Minute)
		_, err = e2.svc.Verify(ctx, raw, storageAud)
		wantCheck(t, err, "not_yet_valid")
	})
	t.Run("ID-4 another tenant's token", func(t *testing.T) {
		code, body := e.clientCredentials(e.tenant2, e.app2.AppID, e.app2Secret, storageAud+"/.default")
		if code != 200 {
			t.Fatalf("%d %v", code, body)
		}
		raw := body["access_token"].(string)
		c, err := e.svc.Verify(ctx, raw, storageAud)
		must(t, err) // a valid token …
		if c.TenantID != e.tenant2 {
			t.Fatalf("tid %s", c.TenantID)
		}
		_, err = e.svc.VerifyForTenant(ctx, raw, e.tenant, storageAud) // … but not for tenant 1's resources
		wantCheck(t, err, "tenant")
		if !strings.Contains(err.Error(), "ID-4") {
			t.Fatalf("error does not cite rule ID-4: %v", err)
		}
		if _, err := e.svc.VerifyForTenant(ctx, raw, e.tenant2, storageAud); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("deleted principal", func(t *testing.T) {
		e2 := newEnv(t, nil)
		raw := e2.appToken(t, storageAud+"/.default")
		must(t, e2.dir.DeletePrincipal(ctx, e2.app.ObjectID))
		_, err := e2.svc.Verify(ctx, raw, storageAud)
		wantCheck(t, err, "principal")
		code, body := e2.clientCredentials(e2.tenant, e2.app.AppID, e2.appSecret, storageAud+"/.default")
		if code != 400 || body["error"] != "unauthorized_client" || !strings.HasPrefix(body["error_description"].(string), "AADSTS700016:") {
			t.Fatalf("deleted app signs in: %d %v", code, body)
		}
	})
	t.Run("disabled principal", func(t *testing.T) {
		e2 := newEnv(t, nil)
		raw := e2.appToken(t, storageAud+"/.default")
		_, err := e2.dir.UpdatePrincipal(ctx, e2.app.ObjectID, func(p *directory.Principal) error { p.Disabled = true; return nil })
		must(t, err)
		_, err = e2.svc.Verify(ctx, raw, storageAud)
		wantCheck(t, err, "principal")
	})
}

// TestTokenEndpointErrors: AADSTS JSON for client mistakes, never 5xx.
func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	// A second secret, disabled.
	disabledSecret := directory.NewSecret()
	e.note(disabledSecret)
	_, err := e.dir.UpdatePrincipal(ctx, e.app.ObjectID, func(p *directory.Principal) error {
		p.Secrets = append(p.Secrets, directory.SecretCredential{KeyID: "k2", Hash: directory.HashSecret(disabledSecret), Disabled: true})
		p.Secrets = append(p.Secrets, directory.SecretCredential{KeyID: "k3", Hash: directory.HashSecret("expired-" + disabledSecret), EndTime: time.Now().Add(-time.Hour)})
		return nil
	})
	must(t, err)
	disabledUserPw := "pw-" + disabledSecret
	disabledUser := &directory.Principal{TenantID: e.tenant, Type: directory.TypeUser, UPN: "bob@contoso.test", Disabled: true,
		Password: &directory.SecretCredential{Hash: directory.HashPasswordWithIterations(disabledUserPw, 1000)}}
	must(t, e.dir.CreatePrincipal(ctx, disabledUser))

	v2 := "/" + e.tenant + "/oauth2/v2.0/token"
	cc := func(id, secret, scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {scope}}
	}
	pw := func(user, pass string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID}, "username": {user}, "password": {pass}, "scope": {armAudience + "/.default"}}
	}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		err    string
		aadsts int
	}{
		{"wrong client secret", v2, cc(e.app.AppID, "wrong", storageAud+"/.default"), 401, "invalid_client", 7000215},
		{"disabled client secret", v2, cc(e.app.AppID, disabledSecret, storageAud+"/.default"), 401, "invalid_client", 7000215},
		{"expired client secret", v2, cc(e.app.AppID, "expired-"+disabledSecret, storageAud+"/.default"), 401, "invalid_client", 7000222},
		{"unknown client", v2, cc("33333333-3333-3333-3333-333333333333", "x", storageAud+"/.default"), 400, "unauthorized_client", 700016},
		{"app of another tenant", v2, cc(e.app2.AppID, e.app2Secret, storageAud+"/.default"), 400, "unauthorized_client", 700016},
		{"unknown tenant", "/44444444-4444-4444-4444-444444444444/oauth2/v2.0/token", cc(e.app.AppID, e.appSecret, storageAud+"/.default"), 400, "invalid_request", 90002},
		{"unknown domain", "/nowhere.test/oauth2/v2.0/token", cc(e.app.AppID, e.appSecret, storageAud+"/.default"), 400, "invalid_request", 90002},
		{"missing scope", v2, cc(e.app.AppID, e.appSecret, ""), 400, "invalid_request", 900144},
		{"missing resource (v1)", "/" + e.tenant + "/oauth2/token", cc(e.app.AppID, e.appSecret, ""), 400, "invalid_request", 900144},
		{"resource on v2", v2, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID}, "client_secret": {e.appSecret}, "resource": {storageAud}}, 400, "invalid_request", 901002},
		{"client credentials without .default", v2, cc(e.app.AppID, e.appSecret, storageAud+"/user_impersonation"), 400, "invalid_scope", 1002012},
		{"two resources", v2, cc(e.app.AppID, e.appSecret, storageAud+"/.default https://vault.azure.net/.default"), 400, "invalid_scope", 28000},
		{"missing client_id", v2, url.Values{"grant_type": {"client_credentials"}, "scope": {storageAud + "/.default"}}, 400, "invalid_request", 900144},
		{"client credentials without secret", v2, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID}, "scope": {storageAud + "/.default"}}, 401, "invalid_client", 7000218},
		{"unsupported grant", v2, url.Values{"grant_type": {"implicit"}, "client_id": {e.app.AppID}, "code": {"x"}}, 400, "unsupported_grant_type", 70003},
		{"unknown authorization code", v2, url.Values{"grant_type": {"authorization_code"}, "client_id": {e.app.AppID}, "code": {"x"}}, 400, "invalid_grant", 70008},
		{"missing grant", v2, url.Values{"client_id": {e.app.AppID}}, 400, "invalid_request", 900144},
		{"bad password", v2, pw(e.user.UPN, "wrong"), 400, "invalid_grant", 50126},
		{"unknown user", v2, pw("nobody@contoso.test", "x"), 400, "invalid_grant", 50034},
		{"disabled user", v2, pw(disabledUser.UPN, disabledUserPw), 400, "invalid_grant", 50057},
		{"bad refresh token", v2, url.Values{"grant_type": {"refresh_token"}, "client_id": {azCLIClientID}, "refresh_token": {"nope"}, "scope": {storageAud + "/.default"}}, 400, "invalid_grant", 9002313},
		{"bad device code", v2, url.Values{"grant_type": {grantDeviceCode}, "client_id": {azCLIClientID}, "device_code": {"nope"}}, 400, "invalid_grant", 70000},
		{"bad assertion", v2, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID}, "client_assertion_type": {clientAssertionType}, "client_assertion": {"x.y.z"}, "scope": {storageAud + "/.default"}}, 401, "invalid_client", 50027},
		// Only resources amlid serves or the tenant registers (issue 15, hole 4).
		{"made-up resource", v2, cc(e.app.AppID, e.appSecret, "https://made-up.example/.default"), 400, "invalid_resource", 500011},
		{"made-up resource (v1)", "/" + e.tenant + "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID}, "client_secret": {e.appSecret}, "resource": {"https://made-up.example"}}, 400, "invalid_resource", 500011},
		{"served host as a prefix", v2, cc(e.app.AppID, e.appSecret, "https://management.azure.com.evil.test/.default"), 400, "invalid_resource", 500011},
		{"account host under another domain", v2, cc(e.app.AppID, e.appSecret, "https://acct.blob.core.windows.net.evil.test/.default"), 400, "invalid_resource", 500011},
		{"account host with a path", v2, cc(e.app.AppID, e.appSecret, "https://acct.blob.core.windows.net/x/.default"), 400, "invalid_resource", 500011},
		{"app of another tenant as resource", v2, cc(e.app.AppID, e.appSecret, "api://"+e.app2.AppID+"/.default"), 400, "invalid_resource", 500011},
		{"unknown app ID as resource", v2, cc(e.app.AppID, e.appSecret, "55555555-5555-5555-5555-555555555555/.default"), 400, "invalid_resource", 500011},
		{"made-up resource for a user", v2, url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID}, "username": {e.user.UPN}, "password": {e.userPassword}, "scope": {"https://made-up.example/.default"}}, 400, "invalid_resource", 500011},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.post(tc.path, tc.form)
			if code != tc.status || body["error"] != tc.err {
				t.Fatalf("%d %v; want %d %s", code, body, tc.status, tc.err)
			}
			codes, _ := body["error_codes"].([]any)
			desc, _ := body["error_description"].(string)
			if len(codes) != 1 || int(codes[0].(float64)) != tc.aadsts || !strings.HasPrefix(desc, "AADSTS") {
				t.Fatalf("error_codes %v / description %q; want AADSTS%d", codes, desc, tc.aadsts)
			}
			for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
				if s, _ := body[k].(string); s == "" {
					t.Fatalf("no %s in %v", k, body)
				}
			}
		})
	}
	t.Run("not a form", func(t *testing.T) {
		resp, err := e.srv.Client().Post(e.base+v2, "application/json", strings.NewReader(`{}`))
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("authorize refuses an unknown client", func(t *testing.T) {
		resp, err := e.srv.Client().Get(e.base + "/" + e.tenant + "/oauth2/v2.0/authorize?client_id=x&redirect_uri=https://x.example/")
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "AADSTS700016") {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("correlation id echoed", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.base+v2, strings.NewReader(cc(e.app.AppID, "wrong", storageAud+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("client-request-id", "5c8b7a7e-0d4b-4d3a-9a3f-0c2c9b6f1a11")
		resp, err := e.srv.Client().Do(req)
		must(t, err)
		defer resp.Body.Close()
		var body map[string]any
		must(t, json.NewDecoder(resp.Body).Decode(&body))
		if body["correlation_id"] != "5c8b7a7e-0d4b-4d3a-9a3f-0c2c9b6f1a11" {
			t.Fatalf("correlation_id %v", body["correlation_id"])
		}
	})
}

// TestServedResources: the token endpoint issues tokens for every resource
// amlid serves (in the forms clients ask for), for registered applications
// of the tenant, and for the configured extras (issue 15, hole 4).
func TestServedResources(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *Config) {
		c.Resources = []string{"https://127.0.0.1:8443"}
		c.ResourcePrefixes = []string{"https://127.0.0.1:8444"}
	})
	for _, scope := range []string{
		"https://management.azure.com/.default", "https://management.core.windows.net//.default",
		"https://graph.microsoft.com/.default", "https://GRAPH.microsoft.com//.default", graphAppID + "/.default",
		"https://storage.azure.com/.default", "https://acct1.blob.core.windows.net/.default", "https://acct1.dfs.core.windows.net/.default",
		"https://vault.azure.net/.default", "https://containerregistry.azure.net/.default", "https://ml.azure.com/.default",
		"api://" + e.app.AppID + "/.default", e.app.AppID + "/.default",
		"https://127.0.0.1:8443/.default", "https://127.0.0.1:8444/acct1/.default",
	} {
		if code, body := e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, scope); code != 200 {
			t.Errorf("%s: %d %v", scope, code, body)
		}
	}
	for _, scope := range []string{"https://127.0.0.1:8444/.default", "https://127.0.0.1:8444/a/b/.default", "https://127.0.0.1:8445/.default"} {
		if code, body := e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, scope); code != 400 || body["error"] != "invalid_resource" {
			t.Errorf("%s: %d %v", scope, code, body)
		}
	}
}
