package token

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertion builds a client assertion the way MSAL does.
func (e *env) assertion(t testing.TB, aud string, sha256Thumb bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	alg := jose.RS256
	if sha256Thumb {
		s := sha256.Sum256(e.cert.Raw)
		opts = opts.WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(s[:]))
		alg = jose.PS256
	} else {
		s := sha1.Sum(e.cert.Raw)
		opts = opts.WithHeader("x5t", base64.StdEncoding.EncodeToString(s[:]))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: e.certKey}, opts)
	must(t, err)
	now := time.Now()
	raw, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: e.app.AppID, Subject: e.app.AppID, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now), ID: "jti-1"}).Serialize()
	must(t, err)
	e.note(raw)
	return raw
}

// TestLogsHoldNoSecrets runs every flow, good and bad, with the service
// logging to a buffer, then looks for each secret, password, assertion,
// device code and token in the output.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	v2 := "/" + e.tenant + "/oauth2/v2.0/token"
	wrongSecret := "wrong-" + e.appSecret[:20]
	wrongPassword := "wrong-" + e.userPassword
	e.note(wrongSecret, wrongPassword)

	e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, storageAud+"/.default")
	e.clientCredentials(e.tenant, e.app.AppID, wrongSecret, storageAud+"/.default")
	e.clientCredentials("adfs", e.app.AppID, e.appSecret, storageAud+"/.default")
	for _, tc := range []struct {
		aud    string
		sha256 bool
		status int
	}{{e.base + v2, true, 200}, {e.base + v2, false, 200}, {e.base + "/" + e.tenant + "/oauth2/token", false, 200}, {"https://elsewhere/token", false, 401}} {
		code, body := e.post(v2, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID}, "client_assertion_type": {clientAssertionType},
			"client_assertion": {e.assertion(t, tc.aud, tc.sha256)}, "scope": {storageAud + "/.default"}})
		if code != tc.status {
			t.Errorf("assertion aud=%s sha256=%v: %d %v", tc.aud, tc.sha256, code, body)
		}
	}
	_, body := e.post(v2, url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID}, "username": {e.user.UPN},
		"password": {e.userPassword}, "scope": {"api://" + e.app.AppID + "/.default offline_access"}})
	userTok, rt := body["access_token"].(string), body["refresh_token"].(string)
	e.post(v2, url.Values{"grant_type": {"password"}, "client_id": {azCLIClientID}, "username": {e.user.UPN},
		"password": {wrongPassword}, "scope": {storageAud + "/.default"}})
	e.post(v2, url.Values{"grant_type": {"refresh_token"}, "client_id": {azCLIClientID}, "refresh_token": {rt}, "scope": {storageAud + "/.default"}})
	e.post(v2, url.Values{"grant_type": {"refresh_token"}, "client_id": {azCLIClientID}, "refresh_token": {rt + "x"}, "scope": {storageAud + "/.default"}})
	if code, body := e.post(v2, url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"}, "client_id": {e.app.AppID},
		"client_secret": {e.appSecret}, "assertion": {userTok}, "scope": {storageAud + "/.default"}}); code != 200 {
		t.Errorf("OBO: %d %v", code, body)
	}
	e.post(v2, url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"}, "client_id": {e.app.AppID},
		"client_secret": {e.appSecret}, "assertion": {userTok + "x"}, "scope": {storageAud + "/.default"}})
	_, dc := e.post("/"+e.tenant+"/oauth2/v2.0/devicecode", url.Values{"client_id": {azCLIClientID}, "scope": {storageAud + "/.default"}})
	poll := url.Values{"grant_type": {grantDeviceCode}, "client_id": {azCLIClientID}, "device_code": {dc["device_code"].(string)}}
	e.post(v2, poll)
	e.post("/"+e.tenant+"/oauth2/deviceauth?user_code="+dc["user_code"].(string), url.Values{"username": {e.user.UPN}, "password": {wrongPassword}})
	e.post("/"+e.tenant+"/oauth2/deviceauth?user_code="+dc["user_code"].(string), url.Values{"username": {e.user.UPN}, "password": {e.userPassword}})
	if code, body := e.post(v2, poll); code != 200 {
		t.Errorf("device poll after approval: %d %v", code, body)
	}
	mi, err := e.svc.IssueAccessToken(ctx, e.mi, storageAud)
	must(t, err)
	e.note(mi.Token)
	_, _ = e.svc.Verify(ctx, mi.Token, "https://wrong")

	logs := e.logs.String()
	if !strings.Contains(logs, "token issued") || !strings.Contains(logs, "token request refused") {
		t.Fatalf("the flows did not log; log:\n%s", logs)
	}
	e.secrets.CheckLog(t, logs, 20)
}
