package token

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
)

// TestTokenResponseShape: the fields real clients read (client-protocols §2.3).
func TestTokenResponseShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()

	t.Run("v2 user", func(t *testing.T) {
		scope := "https://management.core.windows.net//.default openid offline_access profile"
		code, body := e.post("/"+e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID},
			"username": {e.user.UPN}, "password": {e.userPassword}, "scope": {scope}, "client_info": {"1"}})
		if code != 200 {
			t.Fatalf("%d %v", code, body)
		}
		if body["token_type"] != "Bearer" || body["scope"] != scope {
			t.Fatalf("token_type/scope: %v", body)
		}
		if _, ok := body["expires_in"].(float64); !ok {
			t.Fatalf("expires_in must be a JSON number: %T", body["expires_in"])
		}
		for _, k := range []string{"access_token", "refresh_token", "id_token", "client_info"} {
			if s, _ := body[k].(string); s == "" {
				t.Fatalf("no %s", k)
			}
		}
		ci := body["client_info"].(string)
		if strings.ContainsAny(ci, "=+/") {
			t.Fatalf("client_info %q must be unpadded base64url", ci)
		}
		b, err := base64.RawURLEncoding.DecodeString(ci)
		must(t, err)
		var info map[string]string
		must(t, json.Unmarshal(b, &info))
		if info["uid"] != e.user.ObjectID || info["utid"] != e.tenant {
			t.Fatalf("client_info %v", info)
		}
		at := claimsOf(t, body["access_token"].(string))
		if at["aud"] != armAudience {
			t.Fatalf("aud %q: must be the scope minus /.default exactly", at["aud"])
		}
		for _, k := range []string{"iss", "iat", "nbf", "exp", "tid", "oid", "sub", "appid", "azp", "appidacr", "idtyp", "ver", "uti", "upn", "preferred_username", "name", "scp", "groups"} {
			if _, ok := at[k]; !ok {
				t.Errorf("access token lacks %s", k)
			}
		}
		hdr := strings.Split(body["access_token"].(string), ".")[0]
		hb, _ := base64.RawURLEncoding.DecodeString(hdr)
		var h map[string]any
		must(t, json.Unmarshal(hb, &h))
		if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] == nil {
			t.Fatalf("header %v", h)
		}
		id := claimsOf(t, body["id_token"].(string))
		if id["aud"] != azCLIClientID || id["preferred_username"] != e.user.UPN || id["oid"] != e.user.ObjectID || id["tid"] != e.tenant ||
			id["name"] != "Alice" || id["iss"] != "https://login.microsoftonline.com/"+e.tenant+"/v2.0" {
			t.Fatalf("id_token %v", id)
		}
		for _, k := range []string{"sub", "exp", "iat", "nbf"} {
			if id[k] == nil {
				t.Fatalf("id_token lacks %s", k)
			}
		}
	})
	t.Run("v1 resource", func(t *testing.T) {
		code, body := e.post("/"+e.tenant+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID},
			"client_secret": {e.appSecret}, "resource": {"https://vault.azure.net"}})
		if code != 200 {
			t.Fatalf("%d %v", code, body)
		}
		on, err := strconv.ParseInt(body["expires_on"].(string), 10, 64)
		must(t, err)
		if _, err := strconv.ParseInt(body["not_before"].(string), 10, 64); err != nil || body["resource"] != "https://vault.azure.net" {
			t.Fatalf("v1 fields %v", body)
		}
		if d := time.Until(time.Unix(on, 0)); d < 55*time.Minute || d > 91*time.Minute {
			t.Fatalf("expires_on in %v: want 60-90 min", d)
		}
		c, err := e.svc.Verify(ctx, body["access_token"].(string), "https://vault.azure.net")
		must(t, err)
		if c.Version != "1.0" || c.Issuer != "https://sts.windows.net/"+e.tenant+"/" {
			t.Fatalf("v1 token ver=%s iss=%s", c.Version, c.Issuer)
		}
	})
	t.Run("client_secret_basic", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {storageAud + "/.default"}}
		req, _ := newFormRequest(e.base+"/"+e.tenant+"/oauth2/v2.0/token", form)
		req.SetBasicAuth(url.QueryEscape(e.app.AppID), url.QueryEscape(e.appSecret))
		resp, err := e.srv.Client().Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestDiscovery: OIDC documents, JWKS, user realm, instance discovery.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ path, iss, tokenEP string }{
		{"/" + e.tenant + "/v2.0/.well-known/openid-configuration", IssuerV2Host + "/" + e.tenant + "/v2.0", e.base + "/" + e.tenant + "/oauth2/v2.0/token"},
		{"/contoso.test/v2.0/.well-known/openid-configuration", IssuerV2Host + "/" + e.tenant + "/v2.0", e.base + "/" + e.tenant + "/oauth2/v2.0/token"},
		{"/" + e.tenant + "/.well-known/openid-configuration", IssuerV1Host + "/" + e.tenant + "/", e.base + "/" + e.tenant + "/oauth2/token"},
		{"/adfs/.well-known/openid-configuration", e.base + "/adfs", e.base + "/adfs/oauth2/token"},
		{"/common/v2.0/.well-known/openid-configuration", IssuerV2Host + "/{tenantid}/v2.0", e.base + "/common/oauth2/v2.0/token"},
		{"/organizations/v2.0/.well-known/openid-configuration", IssuerV2Host + "/{tenantid}/v2.0", e.base + "/organizations/oauth2/v2.0/token"},
	} {
		code, doc := e.get(tc.path)
		if code != 200 || doc["issuer"] != tc.iss || doc["token_endpoint"] != tc.tokenEP || doc["authorization_endpoint"] == nil ||
			doc["device_authorization_endpoint"] == nil {
			t.Fatalf("%s: %d %v", tc.path, code, doc)
		}
		// Every document's jwks_uri serves the keys.
		u, _ := url.Parse(doc["jwks_uri"].(string))
		code, jwks := e.get(u.Path)
		keys, _ := jwks["keys"].([]any)
		if code != 200 || len(keys) == 0 {
			t.Fatalf("%s: %d %v", u.Path, code, jwks)
		}
		k := keys[0].(map[string]any)
		if k["kty"] != "RSA" || k["kid"] == nil || k["use"] != "sig" || k["alg"] != "RS256" || k["x5c"] == nil || k["x5t"] == nil {
			t.Fatalf("jwk %v", k)
		}
	}
	if code, _ := e.get("/55555555-5555-5555-5555-555555555555/v2.0/.well-known/openid-configuration"); code != 400 {
		t.Fatalf("unknown tenant discovery: %d", code)
	}
	code, realm := e.get("/common/UserRealm/alice@contoso.test?api-version=1.0")
	if code != 200 || realm["account_type"] != "Managed" || realm["domain_name"] != "contoso.test" || realm["cloud_instance_name"] == nil || realm["cloud_audience_urn"] == nil {
		t.Fatalf("user realm %d %v", code, realm)
	}
	code, inst := e.get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(e.base+"/"+e.tenant+"/oauth2/v2.0/authorize"))
	if code != 200 || inst["tenant_discovery_endpoint"] != e.base+"/"+e.tenant+"/v2.0/.well-known/openid-configuration" {
		t.Fatalf("instance discovery %d %v", code, inst)
	}
}

func TestOwnsPath(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"/common/oauth2/v2.0/token":                true,
		"/adfs/.well-known/openid-configuration":   true,
		"/t/v2.0/.well-known/openid-configuration": true,
		"/common/discovery/keys":                   true,
		"/common/UserRealm/a@b":                    true,
		"/common/userrealm/a@b":                    true,
		"/subscriptions/x/resourceGroups":          false,
		"/subscriptions":                           false,
		"/tenants":                                 false,
		"/metadata/endpoints":                      false,
		"/providers/Microsoft.Authorization/x":     false,
		"/account/container/oauth2/blob":           false,
		"/common/oauth2/v2.0/devicecode":           true,
		"/common/oauth2/v2.0/token/extra":          false,
		"/common/discovery/v2.0/keys":              true,
		"/oauth2/token":                            false, // ACR's registry token endpoint
		"/oauth2/exchange":                         false,
		"/v2/":                                     false,
		"/secrets/name/":                           false,
		"/metadata/identity/oauth2/token":          false, // IMDS
	} {
		if got := OwnsPath(p); got != want {
			t.Errorf("OwnsPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestManagedIdentityIssuance: IssueAccessToken and its cache.
func TestManagedIdentityIssuance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *Config) { c.TokenLifetime = time.Hour })
	ctx := t.Context()
	t1, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud+"/.default")
	must(t, err)
	e.note(t1.Token)
	c, err := e.svc.Verify(ctx, t1.Token, storageAud)
	must(t, err)
	wantClaims(t, c, e.mi.ObjectID, e.tenant, storageAud, "app")
	if c.MIResourceID != e.mi.ResourceID || c.AppID != e.mi.AppID || c.Version != "1.0" {
		t.Fatalf("xms_mirid=%q appid=%s ver=%s", c.MIResourceID, c.AppID, c.Version)
	}
	t2, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud)
	must(t, err)
	if t2.Token != t1.Token {
		t.Fatal("second request within the lifetime did not get the cached token")
	}
	t3, err := e.svc.IssueAccessToken(ctx, e.mi, "https://vault.azure.net")
	must(t, err)
	if t3.Token == t1.Token {
		t.Fatal("another resource got the same token")
	}
	e.clock.Advance(56 * time.Minute) // 4 minutes left: inside the 5-minute margin
	t4, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud)
	must(t, err)
	if t4.Token == t1.Token || !t4.ExpiresOn.After(t1.ExpiresOn) {
		t.Fatal("a token 4 minutes from expiry was served from the cache")
	}
	if _, err := e.svc.IssueAccessToken(ctx, e.user, storageAud); err == nil {
		t.Fatal("IssueAccessToken accepted a user")
	}
}

// TestClientCredentialsCache: Entra-like reuse of app tokens.
func TestClientCredentialsCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.appToken(t, storageAud+"/.default")
	b := e.appToken(t, storageAud+"/.default")
	if a != b {
		t.Fatal("the same client and resource got a new token")
	}
	if c := e.appToken(t, "https://vault.azure.net/.default"); c == a {
		t.Fatal("another resource got the cached token")
	}
	// The secret is still checked on a cache hit.
	code, _ := e.clientCredentials(e.tenant, e.app.AppID, "wrong", storageAud+"/.default")
	if code != 401 {
		t.Fatalf("wrong secret on a warm cache: %d", code)
	}
	e2 := newEnv(t, nil, func(c *Config) { c.DisableTokenCache = true })
	if e2.appToken(t, storageAud+"/.default") == e2.appToken(t, storageAud+"/.default") {
		t.Fatal("DisableTokenCache still cached")
	}
}

// TestRefreshTokens: redemption, client binding, revocation on password change.
func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	path := "/" + e.tenant + "/oauth2/v2.0/token"
	_, body := e.post(path, url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID},
		"username": {e.user.UPN}, "password": {e.userPassword}, "scope": {armAudience + "/.default offline_access"}})
	rt := body["refresh_token"].(string)
	refresh := func(client, scope string) (int, map[string]any) {
		return e.post(path, url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {rt}, "scope": {scope}})
	}
	code, body := refresh(azCLIClientID, storageAud+"/.default")
	if code != 200 || body["refresh_token"] == nil || body["id_token"] == nil {
		t.Fatalf("%d %v", code, body)
	}
	c, err := e.svc.Verify(ctx, body["access_token"].(string), storageAud)
	must(t, err)
	wantClaims(t, c, e.user.ObjectID, e.tenant, storageAud, "user")
	if code, body := refresh("1950a258-227b-4e31-a9cf-717495945fc2", storageAud+"/.default"); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("another client redeemed the refresh token: %d %v", code, body)
	}
	// v1 form against the same refresh token.
	code, body = e.post("/"+e.tenant+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {azCLIClientID}, "refresh_token": {rt}, "resource": {"https://vault.azure.net"}})
	if code != 200 || body["resource"] != "https://vault.azure.net" {
		t.Fatalf("v1 refresh: %d %v", code, body)
	}
	// Another tenant's endpoint refuses it (ID-4).
	if code, _ := e.post("/"+e.tenant2+"/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {azCLIClientID}, "refresh_token": {rt}, "scope": {storageAud + "/.default"}}); code != 400 {
		t.Fatalf("cross-tenant refresh: %d", code)
	}
	// Changing the password revokes it.
	_, err = e.dir.UpdatePrincipal(ctx, e.user.ObjectID, func(p *directory.Principal) error {
		p.Password.Hash = directory.HashPasswordWithIterations("new password", 1000)
		return nil
	})
	must(t, err)
	if code, body := refresh(azCLIClientID, storageAud+"/.default"); code != 400 || !strings.Contains(body["error_description"].(string), "AADSTS50173") {
		t.Fatalf("refresh after password change: %d %v", code, body)
	}
	// RevokeRefreshTokens removes the records.
	_, body = e.post(path, url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID},
		"username": {e.user.UPN}, "password": {"new password"}, "scope": {armAudience + "/.default"}})
	rt = body["refresh_token"].(string)
	must(t, e.svc.RevokeRefreshTokens(ctx, e.user.ObjectID))
	if code, body := refresh(azCLIClientID, storageAud+"/.default"); code != 400 || !strings.Contains(body["error_description"].(string), "AADSTS9002313") {
		t.Fatalf("refresh after revocation: %d %v", code, body)
	}
}

// TestDeviceCodeRaw: the device flow over plain HTTP with ApproveDeviceCode.
func TestDeviceCodeRaw(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	code, dc := e.post("/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {azCLIClientID}, "scope": {armAudience + "/.default offline_access"}})
	if code != 200 || dc["user_code"] == nil || dc["verification_uri"] == nil || dc["interval"] == nil || dc["expires_in"] == nil || dc["message"] == nil {
		t.Fatalf("%d %v", code, dc)
	}
	poll := func(client string) (int, map[string]any) {
		return e.post("/organizations/oauth2/v2.0/token", url.Values{"grant_type": {grantDeviceCode}, "client_id": {client},
			"device_code": {dc["device_code"].(string)}, "scope": {armAudience + "/.default offline_access"}})
	}
	if code, body := poll(azCLIClientID); code != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("before approval: %d %v", code, body)
	}
	userCode := dc["user_code"].(string)
	if err := e.svc.ApproveDeviceCode(ctx, userCode, e.app.ObjectID); err == nil {
		t.Fatal("a service principal approved a device code")
	}
	if err := e.svc.ApproveDeviceCode(ctx, "NOSUCHCOD", e.user.ObjectID); err == nil {
		t.Fatal("unknown user code approved")
	}
	must(t, e.svc.ApproveDeviceCode(ctx, strings.ToLower(userCode), e.user.ObjectID))
	if code, body := poll("1950a258-227b-4e31-a9cf-717495945fc2"); code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("another client polled: %d %v", code, body)
	}
	code, body := poll(azCLIClientID)
	if code != 200 {
		t.Fatalf("after approval: %d %v", code, body)
	}
	c, err := e.svc.Verify(ctx, body["access_token"].(string), armAudience)
	must(t, err)
	wantClaims(t, c, e.user.ObjectID, e.tenant, armAudience, "user")
	if code, _ := poll(azCLIClientID); code != 400 {
		t.Fatal("a device code was redeemed twice")
	}
	// Approval form with a wrong password.
	_, dc2 := e.post("/"+e.tenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {azCLIClientID}, "scope": {armAudience + "/.default"}})
	code, body = e.post("/"+e.tenant+"/oauth2/deviceauth?user_code="+dc2["user_code"].(string), url.Values{"username": {e.user.UPN}, "password": {"wrong"}})
	if code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("deviceauth with a wrong password: %d %v", code, body)
	}
	// A tenant-2 device code cannot be approved by a tenant-1 user (ID-4).
	_, dc3 := e.post("/"+e.tenant2+"/oauth2/v2.0/devicecode", url.Values{"client_id": {azCLIClientID}, "scope": {armAudience + "/.default"}})
	if err := e.svc.ApproveDeviceCode(ctx, dc3["user_code"].(string), e.user.ObjectID); err == nil || !strings.Contains(err.Error(), "ID-4") {
		t.Fatalf("cross-tenant approval: %v", err)
	}
	// Expiry.
	e.clock.Advance(16 * time.Minute)
	if code, body := e.post("/"+e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"device_code"}, "client_id": {azCLIClientID},
		"device_code": {dc2["device_code"].(string)}}); code != 400 || body["error"] != "expired_token" {
		t.Fatalf("expired device code: %d %v", code, body)
	}
}

// TestKeyRotation: overlap, expiry of the old key, automatic rotation,
// persistence across service instances.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, func(c *Config) { c.TokenLifetime = time.Hour; c.RotationPeriod = 6 * time.Hour })
	ctx := t.Context()
	oldTok, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud)
	must(t, err)
	oldKID := e.svc.JWKS().Keys[0].KeyID

	// A second instance over the same store uses the same key.
	svc2, err := New(ctx, Config{BaseURL: e.base, Store: e.dir.Store(), Now: e.clock.Now, Logger: e.svc.cfg.Logger})
	must(t, err)
	defer svc2.Close()
	if _, err := svc2.Verify(ctx, oldTok.Token, storageAud); err != nil {
		t.Fatalf("second instance: %v", err)
	}

	must(t, e.svc.Rotate(ctx))
	if _, err := e.svc.Verify(ctx, oldTok.Token, storageAud); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	jwks := e.svc.JWKS()
	if len(jwks.Keys) != 2 || jwks.Keys[0].KeyID == oldKID {
		t.Fatalf("JWKS after rotation: %d keys, first %s (old %s)", len(jwks.Keys), jwks.Keys[0].KeyID, oldKID)
	}
	e.svc.InvalidateCache(e.mi.ObjectID)
	newTok, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud)
	must(t, err)
	if kidOf(t, newTok.Token) == oldKID {
		t.Fatal("new token signed by the retired key")
	}
	// The other instance learns the new key from the store on first sight.
	if _, err := svc2.Verify(ctx, newTok.Token, storageAud); err != nil {
		t.Fatalf("second instance, new key: %v", err)
	}

	// Overlap = lifetime (1h) + skew (5m).
	e.clock.Advance(time.Hour + 4*time.Minute)
	if _, err := e.svc.Verify(ctx, oldTok.Token, storageAud); err != nil {
		t.Fatalf("old token inside the overlap: %v", err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err = e.svc.Verify(ctx, oldTok.Token, storageAud)
	wantCheck(t, err, "kid")
	if ks := e.svc.JWKS().Keys; len(ks) != 1 || ks[0].KeyID == oldKID {
		t.Fatalf("JWKS still publishes the expired key: %d keys", len(ks))
	}

	// Automatic rotation: due after RotationPeriod; the expired key is pruned.
	activeKID := e.svc.JWKS().Keys[0].KeyID
	must(t, e.svc.keys.maybeRotate(ctx))
	if e.svc.JWKS().Keys[0].KeyID != activeKID {
		t.Fatal("rotated before the period was over")
	}
	if _, err := e.dir.Store().Get(ctx, KindKey, oldKID); err == nil {
		t.Fatal("the expired key record was not pruned")
	}
	e.clock.Advance(6 * time.Hour)
	must(t, e.svc.keys.maybeRotate(ctx))
	ks := e.svc.JWKS().Keys
	if len(ks) < 1 || ks[0].KeyID == activeKID {
		t.Fatal("no automatic rotation after the period")
	}
	if !slices.ContainsFunc(ks, func(k joseKey) bool { return k.KeyID == activeKID }) {
		t.Fatal("the just-retired key is not published during its overlap")
	}
}
