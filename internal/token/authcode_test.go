package token

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
)

// pyAuthCode signs in with MSAL Python's auth-code flow: initiate_auth_code_flow
// builds the authorize URL (PKCE S256, state, nonce), a browser stand-in
// (requests) fills amlid's sign-in form, the redirect lands on a real local
// HTTP listener, and acquire_token_by_auth_code_flow redeems the code and
// checks state and nonce itself.
const pyAuthCode = `
import html, json, os, re, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
import msal, requests
got = {}
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        got.update(dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query)))
        self.send_response(200); self.end_headers(); self.wfile.write(b"signed in")
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
redirect = "http://localhost:%d/callback" % srv.server_address[1]
app = msal.PublicClientApplication(os.environ["AMLID_CLIENT_ID"], authority=os.environ["AMLID_HOST"] + "/" + os.environ["AMLID_TENANT"], instance_discovery=False)
flow = app.initiate_auth_code_flow(["https://management.azure.com/.default"], redirect_uri=redirect)
s = requests.Session()
page = s.get(flow["auth_uri"])
assert page.status_code == 200, page.text
csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
action = html.unescape(re.search(r'action="([^"]+)"', page.text).group(1))
r = s.post(urllib.parse.urljoin(flow["auth_uri"], action), data={"csrf": csrf, "login": os.environ["AMLID_USER"], "passwd": os.environ["AMLID_PASSWORD"]})
assert r.status_code == 200 and r.text == "signed in", (r.status_code, r.text[:500])
srv.shutdown()
res = app.acquire_token_by_auth_code_flow(flow, got)
print(json.dumps({"access_token": res.get("access_token"), "claims": res.get("id_token_claims"), "error": res.get("error_description"),
    "code_len": len(got.get("code", "")), "redirect": redirect}))
`

func TestAuthCodeMSALPython(t *testing.T) {
	t.Parallel()
	if exec.Command(debianPython, "-c", "import msal, requests").Run() != nil {
		t.Fatal("python3-msal is not installed: apt-get install -y python3-azure (scripts/test.sh does)")
	}
	e := newEnv(t, nil)
	registerRedirects(t, e, "http://localhost/callback")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "-c", pyAuthCode)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+e.caFile, "AMLID_HOST="+e.base, "AMLID_TENANT="+e.tenant,
		"AMLID_CLIENT_ID="+e.app.AppID, "AMLID_USER="+e.user.UPN, "AMLID_PASSWORD="+e.userPassword)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	var res struct {
		AccessToken string         `json:"access_token"`
		Claims      map[string]any `json:"claims"`
		Error       string         `json:"error"`
	}
	must(t, json.Unmarshal(out, &res))
	if res.AccessToken == "" {
		t.Fatalf("no token: %s", out)
	}
	c, err := e.svc.Verify(t.Context(), res.AccessToken, "https://management.azure.com")
	must(t, err)
	wantClaims(t, c, e.user.ObjectID, e.tenant, "https://management.azure.com", "user")
	if res.Claims["oid"] != e.user.ObjectID || res.Claims["aud"] != e.app.AppID || res.Claims["nonce"] == nil {
		t.Fatalf("id token claims: %v", res.Claims)
	}
	if strings.Contains(e.logs.String(), e.userPassword) {
		t.Fatal("the log holds the password")
	}
}

func registerRedirects(t *testing.T, e *env, uris ...string) {
	t.Helper()
	_, err := e.dir.UpdatePrincipal(t.Context(), e.app.ObjectID, func(p *directory.Principal) error {
		p.RedirectURIs = uris
		return nil
	})
	must(t, err)
}

// authFlow drives the flow by hand: it returns the authorize URL's query.
type authFlow struct {
	e         *env
	c         *http.Client
	verifier  string
	redirect  string
	authorize string
}

func newAuthFlow(t *testing.T, e *env, redirect string) *authFlow {
	jar, _ := cookiejar.New(nil)
	c := e.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	f := &authFlow{e: e, c: c, verifier: randomToken(32), redirect: redirect}
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{"client_id": {e.app.AppID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile https://management.azure.com/.default"},
		"state": {"st-1"}, "nonce": {"n-1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	f.authorize = e.base + "/" + e.tenant + "/oauth2/v2.0/authorize?" + q.Encode()
	return f
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn GETs the form and posts the credentials; it returns the response.
func (f *authFlow) signIn(t *testing.T, authorize, user, password string) *http.Response {
	t.Helper()
	resp, err := f.c.Get(authorize)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize page: %d %s", resp.StatusCode, body)
	}
	resp, err = f.c.PostForm(authorize, url.Values{"csrf": {html.UnescapeString(string(m[1]))}, "login": {user}, "passwd": {password}})
	must(t, err)
	return resp
}

func (f *authFlow) redeem(t *testing.T, code, verifier, redirect string) (int, map[string]any) {
	t.Helper()
	resp, err := f.c.PostForm(f.e.base+"/"+f.e.tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {f.e.app.AppID},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}})
	must(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// The flow's refusals, each with the error a person can act on.
func TestAuthCodeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	registerRedirects(t, e, "https://app.example/cb", "http://localhost/cb")

	// An unregistered redirect URI: an error page, no redirect.
	f := newAuthFlow(t, e, "https://evil.example/cb")
	resp, err := f.c.Get(f.authorize)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "AADSTS50011") {
		t.Fatalf("unregistered redirect: %d %s", resp.StatusCode, body)
	}
	// An unknown client: an error page too.
	resp, err = f.c.Get(strings.Replace(f.authorize, e.app.AppID, "00000000-0000-0000-0000-000000000001", 1))
	must(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "AADSTS700016") {
		t.Fatalf("unknown client: %d %s", resp.StatusCode, body)
	}
	// No PKCE: an error sent back to the (registered) redirect URI.
	f = newAuthFlow(t, e, "https://app.example/cb")
	resp, err = f.c.Get(strings.Replace(f.authorize, "code_challenge=", "x=", 1))
	must(t, err)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, "https://app.example/cb?") || !strings.Contains(loc, "AADSTS9002325") || !strings.Contains(loc, "state=st-1") {
		t.Fatalf("no pkce: %d %s", resp.StatusCode, loc)
	}
	// A loopback redirect URI matches on any port (RFC 8252).
	lf := newAuthFlow(t, e, "http://localhost:51234/cb")
	resp = lf.signIn(t, lf.authorize, e.user.UPN, e.userPassword)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.HasPrefix(loc, "http://localhost:51234/cb?code=") {
		t.Fatalf("loopback: %d %s", resp.StatusCode, loc)
	}
	// A wrong password re-shows the form with the reason.
	resp = f.signIn(t, f.authorize, e.user.UPN, "nope")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "AADSTS50126") {
		t.Fatalf("bad password: %d %s", resp.StatusCode, body)
	}
	// A post without the form's CSRF cookie is refused.
	bare := e.srv.Client()
	bare.CheckRedirect = f.c.CheckRedirect
	resp, err = bare.PostForm(f.authorize, url.Values{"csrf": {"forged"}, "login": {e.user.UPN}, "passwd": {e.userPassword}})
	must(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "expired or was not sent by this page") {
		t.Fatalf("csrf: %d %s", resp.StatusCode, body)
	}

	// The good path: code → tokens with the nonce; the code is single use.
	resp = f.signIn(t, f.authorize, e.user.UPN, e.userPassword)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != 302 || code == "" || loc.Query().Get("state") != "st-1" {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, loc)
	}
	if st, b := f.redeem(t, code, "wrong-verifier-wrong-verifier-wrong-verifier", f.redirect); st != 400 || !strings.Contains(b["error_description"].(string), "AADSTS501481") {
		t.Fatalf("bad verifier: %d %v", st, b)
	}
	// The failed attempt consumed the code (single use, as Entra).
	resp = f.signIn(t, f.authorize, e.user.UPN, e.userPassword)
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	code = loc.Query().Get("code")
	if st, b := f.redeem(t, code, f.verifier, "http://localhost/cb"); st != 400 || !strings.Contains(b["error_description"].(string), "AADSTS50148") {
		t.Fatalf("other redirect: %d %v", st, b)
	}
	resp = f.signIn(t, f.authorize, e.user.UPN, e.userPassword)
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	code = loc.Query().Get("code")
	st, b := f.redeem(t, code, f.verifier, f.redirect)
	if st != 200 || b["id_token"] == nil || b["refresh_token"] == nil {
		t.Fatalf("redeem: %d %v", st, b)
	}
	idc := decodeClaims(t, b["id_token"].(string))
	if idc["nonce"] != "n-1" || idc["aud"] != e.app.AppID || idc["oid"] != e.user.ObjectID {
		t.Fatalf("id token: %v", idc)
	}
	if st, b := f.redeem(t, code, f.verifier, f.redirect); st != 400 || !strings.Contains(b["error_description"].(string), "AADSTS70008") {
		t.Fatalf("replay: %d %v", st, b)
	}
	// An expired code.
	resp = f.signIn(t, f.authorize, e.user.UPN, e.userPassword)
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	e.clock.Advance(DefaultAuthCodeLifetime + time.Second)
	if st, b := f.redeem(t, loc.Query().Get("code"), f.verifier, f.redirect); st != 400 || !strings.Contains(b["error_description"].(string), "AADSTS70008") {
		t.Fatalf("expired: %d %v", st, b)
	}
	e.clock.Set(0)
	if strings.Contains(e.logs.String(), e.userPassword) {
		t.Fatal("the log holds the password")
	}
}

func decodeClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m
}
