package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseScope: scope= and resource= come straight from token requests.
// Parsing never panics; a refusal is a 4xx; an accepted request names one
// resource.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{
		"https://management.core.windows.net//.default", "https://storage.azure.com/.default openid offline_access",
		"User.Read", "openid profile", "api://x/y z", "a/.default b/.default", "/.default", " ", "https://x/.default/.default",
		"https://vault.azure.net/.default https://vault.azure.net/user_impersonation",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (scopeReq, *oauthError){parseScope, parseResource} {
			q, oe := parse(s)
			if oe != nil {
				if oe.Status < 400 || oe.Status >= 500 {
					t.Fatalf("%q: status %d", s, oe.Status)
				}
				continue
			}
			if q.Resource == "" {
				t.Fatalf("%q: accepted without a resource: %+v", s, q)
			}
		}
		_ = normResource(s)
	})
}

// FuzzVerify: whatever arrives as a bearer token, the verifier answers
// without panicking, and accepts nothing but a token the service signed.
func FuzzVerify(f *testing.F) {
	e := newEnv(f, nil)
	good := e.appTokenTB(f, storageAud+"/.default")
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1])
	f.Add(good + "." + parts[2])
	f.Add("a.b.c")
	f.Add("")
	f.Add(strings.Repeat(".", 100))
	want := claimsOfRaw(good)["oid"]
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.svc.Verify(t.Context(), raw, storageAud)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) { // store failures are the only other errors; none here
				t.Fatalf("%q: unexpected error %T: %v", raw, err, err)
			}
			return
		}
		if c.ObjectID != want {
			t.Fatalf("accepted a token for %s: %q", c.ObjectID, raw)
		}
	})
}

func (e *env) appTokenTB(tb testing.TB, scope string) string {
	tb.Helper()
	code, body := e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, scope)
	if code != http.StatusOK {
		tb.Fatalf("client credentials: %d %v", code, body)
	}
	return body["access_token"].(string)
}

func claimsOfRaw(raw string) map[string]any {
	p := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(p[1])
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
