package msi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/workload"
	"github.com/google/uuid"
)

func q(resource string, kv ...string) string {
	v := url.Values{"api-version": {"2017-09-01"}, "resource": {resource}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

func tokenURL(e *env, w *workload.Workload) string { return Endpoint(e.base, w.ID) }
func imdsURL(e *env, w *workload.Workload) string  { return AuthorityHost(e.base, w.ID) + IMDSPath }

func secretHdr(w *workload.Workload) map[string]string { return map[string]string{"secret": w.Secret} }
func identityHdr(w *workload.Workload) map[string]string {
	return map[string]string{"X-IDENTITY-HEADER": w.Secret}
}

var metadataHdr = map[string]string{"Metadata": "true"}

// TestResponseShape: the IMDS-shaped body of client-protocols §1.3, for the
// seed's exact request (no api-version, resource with a trailing slash).
func TestResponseShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resUAI)
	before := time.Now().Unix()
	req, _ := http.NewRequest(http.MethodGet, tokenURL(e, w)+"?clientid="+e.uai2.AppID+"&resource=https://storage.azure.com/", nil)
	req.Header.Set("secret", w.Secret)
	req.Header.Set("Metadata", "true")
	resp, err := e.srv.Client().Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	status, body := e.do(t, http.MethodGet, tokenURL(e, w)+"?clientid="+e.uai2.AppID+"&resource=https://storage.azure.com/", secretHdr(w), "")
	if status != 200 {
		t.Fatalf("status %d %v", status, body)
	}
	keys := []string{"access_token", "expires_on", "expires_in", "ext_expires_in", "not_before", "resource", "token_type", "client_id"}
	if len(body) != len(keys) {
		t.Fatalf("fields %v, want exactly %v", body, keys)
	}
	str := map[string]string{}
	for _, k := range keys {
		s, ok := body[k].(string)
		if !ok || s == "" {
			t.Fatalf("%s = %#v, want a non-empty string", k, body[k])
		}
		str[k] = s
	}
	num := func(k string) int64 {
		n, err := strconv.ParseInt(str[k], 10, 64)
		if err != nil {
			t.Fatalf("%s = %q is not an integer string", k, str[k])
		}
		return n
	}
	exp, in, nbf := num("expires_on"), num("expires_in"), num("not_before")
	if num("ext_expires_in") != in || in < 55*60 || in > 90*60 || exp < before+in-5 || exp > time.Now().Unix()+in+5 || nbf > exp || nbf < before-5 {
		t.Fatalf("times: expires_on %d expires_in %d not_before %d (now %d)", exp, in, nbf, before)
	}
	if str["resource"] != "https://storage.azure.com/" || str["token_type"] != "Bearer" || str["client_id"] != e.uai2.AppID {
		t.Fatalf("body %v", str)
	}
	e.verify(t, str["access_token"], "https://storage.azure.com/", e.uai2)

	// "/.default" is stripped for the audience; resource is echoed as sent.
	_, body = e.do(t, http.MethodGet, tokenURL(e, w)+q("https://vault.azure.net/.default"), secretHdr(w), "")
	if body["resource"] != "https://vault.azure.net/.default" {
		t.Fatalf("resource %v", body["resource"])
	}
	e.verify(t, body["access_token"].(string), "https://vault.azure.net", e.uai1)

	// The token service caches per (identity, resource): same token again.
	_, again := e.do(t, http.MethodGet, tokenURL(e, w)+q("https://vault.azure.net/.default"), identityHdr(w), "")
	if again["access_token"] != body["access_token"] {
		t.Fatal("a second request for the same identity and resource got a new token")
	}
	// Duplicated parameters with the same value, and consistent selectors, are fine.
	status, body = e.do(t, http.MethodGet, tokenURL(e, w)+q(storageAud, "clientid", e.uai2.AppID, "object_id", strings.ToUpper(e.uai2.ObjectID), "resource", storageAud), secretHdr(w), "")
	if status != 200 {
		t.Fatalf("status %d %v", status, body)
	}
	e.verify(t, body["access_token"].(string), storageAud, e.uai2)
	// The trailing-slash form msrestazure's App Service mode sends.
	status, body = e.do(t, http.MethodGet, tokenURL(e, w)+"/"+q(storageAud), secretHdr(w), "")
	if status != 200 {
		t.Fatalf("trailing slash: %d %v", status, body)
	}
}

// TestRefuseIdentityNotHeld: rule ID-3, in every form and with every
// selector: 400 invalid_request, no token.
func TestRefuseIdentityNotHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	for _, c := range []struct {
		name   string
		method string
		url    string
		hdr    map[string]string
		body   string
	}{
		{"azureml clientid", "GET", tokenURL(e, w) + q(storageAud, "clientid", e.uai2.AppID), secretHdr(w), ""},
		{"azureml clientid of a stranger", "GET", tokenURL(e, w) + q(storageAud, "clientid", e.stranger.AppID), secretHdr(w), ""},
		{"azureml unknown clientid", "GET", tokenURL(e, w) + q(storageAud, "clientid", uuid.NewString()), secretHdr(w), ""},
		{"appservice client_id", "GET", tokenURL(e, w) + q(storageAud, "client_id", e.uai2.AppID), identityHdr(w), ""},
		{"appservice mi_res_id", "GET", tokenURL(e, w) + q(storageAud, "mi_res_id", e.uai2.ResourceID), identityHdr(w), ""},
		{"appservice object_id", "GET", tokenURL(e, w) + q(storageAud, "object_id", e.uai2.ObjectID), identityHdr(w), ""},
		{"appservice principal_id", "GET", tokenURL(e, w) + q(storageAud, "principal_id", e.uai2.ObjectID), identityHdr(w), ""},
		{"imds client_id", "GET", imdsURL(e, w) + q(storageAud, "client_id", e.uai2.AppID), metadataHdr, ""},
		{"imds msi_res_id", "GET", imdsURL(e, w) + q(storageAud, "msi_res_id", e.stranger.ResourceID), metadataHdr, ""},
		{"cloudshell post client_id", "POST", tokenURL(e, w), metadataHdr, url.Values{"resource": {storageAud}, "client_id": {e.uai2.AppID}}.Encode()},
		{"cloudshell post object_id", "POST", tokenURL(e, w), metadataHdr, url.Values{"resource": {storageAud}, "object_id": {e.uai2.ObjectID}}.Encode()},
		{"cloudshell post msi_res_id", "POST", tokenURL(e, w), metadataHdr, url.Values{"resource": {storageAud}, "msi_res_id": {e.uai2.ResourceID}}.Encode()},
		{"one selector held, one not", "GET", tokenURL(e, w) + q(storageAud, "clientid", e.uai1.AppID, "object_id", e.uai2.ObjectID), secretHdr(w), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.do(t, c.method, c.url, c.hdr, c.body)
			noToken(t, c.name, status, body, http.StatusBadRequest)
			if body["error"] != "invalid_request" || !strings.Contains(body["error_description"].(string), "Identity not found") ||
				!strings.Contains(body["error_description"].(string), "rule ID-3") {
				t.Fatalf("body %v", body)
			}
		})
	}
	t.Run("resource without identities", func(t *testing.T) {
		w := e.register(t, resNone)
		status, body := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
		noToken(t, "no identity", status, body, http.StatusBadRequest)
		status, body = e.do(t, "GET", imdsURL(e, w)+q(storageAud), metadataHdr, "")
		noToken(t, "no identity imds", status, body, http.StatusBadRequest)
	})
	t.Run("identity removed from the resource takes effect at once", func(t *testing.T) {
		res := rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/changing"
		e.res.set(res, e.uai1, e.uai2)
		w := e.register(t, res)
		if status, body := e.do(t, "GET", tokenURL(e, w)+q(storageAud, "clientid", e.uai2.AppID), secretHdr(w), ""); status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		e.res.set(res, e.uai1)
		status, body := e.do(t, "GET", tokenURL(e, w)+q(storageAud, "clientid", e.uai2.AppID), secretHdr(w), "")
		noToken(t, "removed", status, body, http.StatusBadRequest)
	})
	t.Run("disabled identity", func(t *testing.T) {
		p := &directory.Principal{TenantID: e.tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity,
			DisplayName: "off", AppID: uuid.NewString(), ResourceID: rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/off", Disabled: true}
		must(t, e.dir.CreatePrincipal(context.Background(), p))
		res := rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/off"
		e.res.set(res, p)
		w := e.register(t, res)
		status, body := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
		noToken(t, "disabled", status, body, http.StatusBadRequest)
	})
}

// TestRefuseStolenSecret: one workload's secret never opens another's path.
func TestRefuseStolenSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.register(t, resBoth), e.register(t, resUAI)
	for _, c := range []struct {
		name   string
		method string
		hdr    map[string]string
	}{
		{"secret header", "GET", secretHdr(a)},
		{"X-IDENTITY-HEADER", "GET", identityHdr(a)},
		{"both headers, one right one stolen", "GET", map[string]string{"secret": b.Secret, "X-IDENTITY-HEADER": a.Secret}},
		{"POST with a stolen secret", "POST", map[string]string{"Metadata": "true", "secret": a.Secret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body string
			u := tokenURL(e, b) + q(storageAud)
			if c.method == "POST" {
				u, body = tokenURL(e, b), "resource="+url.QueryEscape(storageAud)
			}
			status, m := e.do(t, c.method, u, c.hdr, body)
			noToken(t, c.name, status, m, http.StatusUnauthorized)
		})
	}
	// A's path with A's secret still works (the refusals above are about the binding).
	if status, m := e.do(t, "GET", tokenURL(e, a)+q(storageAud), secretHdr(a), ""); status != 200 {
		t.Fatalf("%d %v", status, m)
	}
}

// TestRefuseGuessedPath: an ID that is not a live workload's gets nothing,
// and unknown ID vs wrong secret are indistinguishable.
func TestRefuseGuessedPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	guessed := strings.Repeat("ab", workload.IDLen/2)
	ids := map[string]string{
		"random":          guessed,
		"upper-cased":     strings.ToUpper(w.ID),
		"truncated":       w.ID[:len(w.ID)-1],
		"extended":        w.ID + "0",
		"one digit off":   w.ID[:len(w.ID)-1] + string("01"[boolInt(w.ID[len(w.ID)-1] == '0')]),
		"the secret":      w.Secret,
		"a workload GUID": uuid.NewString(),
	}
	var bodies []string
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			base := e.base + PathPrefix + id
			status, m := e.do(t, "GET", base+TokenSuffix+q(storageAud), secretHdr(w), "")
			noToken(t, "GET", status, m, http.StatusUnauthorized)
			bodies = append(bodies, fmt.Sprint(m))
			status, m = e.do(t, "POST", base+TokenSuffix, metadataHdr, "resource="+url.QueryEscape(storageAud))
			noToken(t, "POST", status, m, http.StatusBadRequest)
			status, m = e.do(t, "GET", base+IMDSPath+q(storageAud), metadataHdr, "")
			noToken(t, "IMDS", status, m, http.StatusBadRequest)
		})
	}
	// Wrong secret on the real path answers exactly like an unknown path.
	_, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), map[string]string{"secret": strings.Repeat("0", 64)}, "")
	for _, b := range bodies {
		if b != fmt.Sprint(m) {
			t.Fatalf("unknown workload and wrong secret answer differently:\n%s\n%v", b, m)
		}
	}
	// A path reused after its workload ended stays dead; a new registration
	// of the same resource gets a different ID.
	e.reg.Unregister(w.ID)
	w2 := e.register(t, resBoth)
	if w2.ID == w.ID || w2.Secret == w.Secret {
		t.Fatal("credentials reused")
	}
	status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
	noToken(t, "reused path", status, m, http.StatusUnauthorized)
	status, m = e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w2), "")
	noToken(t, "reused path with the new secret", status, m, http.StatusUnauthorized)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRefusePathTricks: the raw request target is matched exactly (the
// aad-pod-identity GHSA-p82q-rxpm-hjpc class). Requests go over raw TCP so
// no client cleans the path first.
func TestRefusePathTricks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.register(t, resBoth), e.register(t, resUAI)
	A, B := a.ID, b.ID
	query := "?api-version=2017-09-01&resource=" + url.QueryEscape(storageAud)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/msi/" + A + "/token", 200}, // control: the harness works
		{"/msi/" + A + "/token/", 200},
		{"/msi/" + A + "/../" + B + "/token", 400},
		{"/msi/" + B + "/token/../../" + A + "/token", 400},
		{"/msi/" + A + "%2Ftoken", 400},
		{"/msi%2F" + A + "%2Ftoken", 400},
		{"/msi/" + A + "/token%2F", 400},
		{"/msi/" + A + "%2f..%2f" + B + "/token", 400},
		{"/msi/" + A + "%5Ctoken", 400},
		{"/msi/" + A + "%5ctoken", 400},
		{"/msi/" + A + `\token`, 400},
		{`/msi\` + A + `/token`, 400},
		{"/msi//" + A + "/token", 400},
		{"//msi/" + A + "/token", 400},
		{"/msi/" + A + "//token", 400},
		{"/msi/" + A + "/token//", 400},
		{"/msi/" + A + "/./token", 400},
		{"/msi/" + A + "/token/.", 400},
		{"/msi/" + A + "/token/..", 400},
		{"/msi/" + A + "/token;x", 400},
		{"/msi/" + A + "/token%00", 400},
		{"/msi/" + A + "/token%20", 400},
		{"/msi/" + A + "/%74oken", 400},
		{"/msi/" + A + "%c0%aftoken", 400},
		{"/msi/" + A + "/metadata//identity/oauth2/token", 400},
		{"/msi/" + A + "/metadata/identity/oauth2/token/../../../../token", 400},
		{"http://127.0.0.1/msi/" + A + "/token", 400},
		{"/msi/" + A + "/token/x", 404},
		{"/msi/" + A + "/tokenx", 404},
		{"/msi/" + A + "/metadata/identity/oauth2/token/", 404},
		{"/MSI/" + A + "/token", 404},
		{"/msi/" + A + "/TOKEN", 404},
		{"/msi/" + A, 404},
		{"/msi/" + A + "/", 404},
		{"/", 404},
	} {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+RedactPath(c.path), func(t *testing.T) {
				var req string
				if method == "GET" {
					req = "GET " + c.path + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\nsecret: " + a.Secret +
						"\r\nX-IDENTITY-HEADER: " + a.Secret + "\r\nMetadata: true\r\nConnection: close\r\n\r\n"
				} else {
					form := "resource=" + url.QueryEscape(storageAud)
					req = "POST " + c.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
						"Content-Length: " + strconv.Itoa(len(form)) + "\r\nConnection: close\r\n\r\n" + form
				}
				status, body := e.raw(t, req)
				if strings.Contains(body, `"access_token"`) != (c.want == 200) || status != c.want {
					t.Fatalf("status %d, want %d; body %s", status, c.want, RedactPath(body))
				}
				if c.want == 200 {
					e.note(body)
				}
			})
		}
	}
}

// TestRefuseMissingSecret: the GET form needs the secret header.
func TestRefuseMissingSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	for name, hdr := range map[string]map[string]string{
		"no header":               nil,
		"Metadata only":           metadataHdr,
		"empty secret":            {"secret": ""},
		"empty X-IDENTITY-HEADER": {"X-IDENTITY-HEADER": ""},
		"whitespace":              {"secret": " "},
		"secret with suffix":      {"secret": w.Secret + "0"},
		"secret prefix":           {"secret": w.Secret[:32]},
	} {
		t.Run(name, func(t *testing.T) {
			status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), hdr, "")
			noToken(t, name, status, m, http.StatusUnauthorized)
			if m["error"] != "invalid_client" || !strings.Contains(m["error_description"].(string), "secret") {
				t.Fatalf("body %v", m)
			}
		})
	}
}

// TestRefuseIMDSWithoutMetadata: IMDS's own answer, also for the POST form.
func TestRefuseIMDSWithoutMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	const want = `{"error":"invalid_request","error_description":"Required metadata header not specified"}`
	for _, c := range []struct {
		name, method, url string
		hdr               map[string]string
	}{
		{"imds no header", "GET", imdsURL(e, w) + q(storageAud), nil},
		{"imds Metadata: false", "GET", imdsURL(e, w) + q(storageAud), map[string]string{"Metadata": "false"}},
		{"imds with the secret but no Metadata", "GET", imdsURL(e, w) + q(storageAud), secretHdr(w)},
		{"imds unknown workload", "GET", e.base + PathPrefix + strings.Repeat("0", 64) + IMDSPath + q(storageAud), nil},
		{"post no header", "POST", tokenURL(e, w), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body string
			if c.method == "POST" {
				body = "resource=" + url.QueryEscape(storageAud)
			}
			req, _ := http.NewRequest(c.method, c.url, strings.NewReader(body))
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := e.srv.Client().Do(req)
			must(t, err)
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || string(got) != want {
				t.Fatalf("%d %s", resp.StatusCode, got)
			}
		})
	}
	t.Run("X-Forwarded-For", func(t *testing.T) {
		h := map[string]string{"Metadata": "true", "X-Forwarded-For": "203.0.113.9"}
		status, m := e.do(t, "GET", imdsURL(e, w)+q(storageAud), h, "")
		noToken(t, "imds", status, m, 400)
		status, m = e.do(t, "POST", tokenURL(e, w), h, "resource="+url.QueryEscape(storageAud))
		noToken(t, "post", status, m, 400)
	})
}

// TestRefuseDeadWorkload: credentials die with the process.
func TestRefuseDeadWorkload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	if status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), ""); status != 200 {
		t.Fatalf("%d %v", status, m)
	}
	e.reg.Unregister(w.ID)
	status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
	noToken(t, "azureml", status, m, http.StatusUnauthorized)
	status, m = e.do(t, "GET", tokenURL(e, w)+q(storageAud), identityHdr(w), "")
	noToken(t, "appservice", status, m, http.StatusUnauthorized)
	status, m = e.do(t, "POST", tokenURL(e, w), metadataHdr, "resource="+url.QueryEscape(storageAud))
	noToken(t, "post", status, m, http.StatusBadRequest)
	status, m = e.do(t, "GET", imdsURL(e, w)+q(storageAud), metadataHdr, "")
	noToken(t, "imds", status, m, http.StatusBadRequest)

	t.Run("resource deleted", func(t *testing.T) {
		w1, w2, other := e.register(t, resUAI), e.register(t, resUAI), e.register(t, resBoth)
		if n := e.reg.UnregisterResource(strings.ToUpper(resUAI)); n != 2 {
			t.Fatalf("UnregisterResource removed %d workloads, want 2", n)
		}
		for _, w := range []*workload.Workload{w1, w2} {
			status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
			noToken(t, "deleted resource", status, m, http.StatusUnauthorized)
		}
		if status, m := e.do(t, "GET", tokenURL(e, other)+q(storageAud), secretHdr(other), ""); status != 200 {
			t.Fatalf("another resource's workload died too: %d %v", status, m)
		}
	})
}

// TestRefuseWrongHeaderName: only "secret" and "X-IDENTITY-HEADER" carry it.
func TestRefuseWrongHeaderName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	for _, name := range []string{"X-Secret", "Secret-Key", "MSI_SECRET", "MSI-Secret", "IDENTITY_HEADER", "X-IDENTITY-SECRET",
		"Identity-Header", "X-MS-Identity-Header", "Authorization", "Metadata", "Cookie"} {
		t.Run(name, func(t *testing.T) {
			status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), map[string]string{name: w.Secret}, "")
			noToken(t, name, status, m, http.StatusUnauthorized)
		})
	}
	t.Run("Authorization Bearer", func(t *testing.T) {
		status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), map[string]string{"Authorization": "Bearer " + w.Secret}, "")
		noToken(t, "bearer", status, m, http.StatusUnauthorized)
	})
	t.Run("secret in the query", func(t *testing.T) {
		status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud, "secret", w.Secret), nil, "")
		noToken(t, "query", status, m, http.StatusUnauthorized)
	})
}

// TestRefuseMalformedRequests: client mistakes are 4xx, never 5xx, never a token.
func TestRefuseMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	for _, c := range []struct {
		name, method, url string
		hdr               map[string]string
		body              string
		want              int
	}{
		{"missing resource", "GET", tokenURL(e, w) + "?api-version=2017-09-01", secretHdr(w), "", 400},
		{"empty resource", "GET", tokenURL(e, w) + q(""), secretHdr(w), "", 400},
		{"blank resource", "GET", tokenURL(e, w) + q("  "), secretHdr(w), "", 400},
		{"missing resource imds", "GET", imdsURL(e, w) + "?api-version=2018-02-01", metadataHdr, "", 400},
		{"missing resource post", "POST", tokenURL(e, w), metadataHdr, form("client_id", e.uai1.AppID), 400},
		{"two resources", "GET", tokenURL(e, w) + q(storageAud, "resource", armAud), secretHdr(w), "", 400},
		{"two client IDs", "GET", tokenURL(e, w) + q(storageAud, "clientid", e.uai1.AppID, "clientid", e.sai.AppID), secretHdr(w), "", 400},
		{"selectors naming different held identities", "GET", tokenURL(e, w) + q(storageAud, "clientid", e.uai1.AppID, "object_id", e.sai.ObjectID), secretHdr(w), "", 400},
		{"query and form disagree", "POST", tokenURL(e, w) + "?resource=" + url.QueryEscape(armAud), metadataHdr, form("resource", storageAud), 400},
		{"bad query escape", "GET", tokenURL(e, w) + "?resource=%zz", secretHdr(w), "", 400},
		{"bad form escape", "POST", tokenURL(e, w), metadataHdr, "resource=%zz", 400},
		{"json body", "POST", tokenURL(e, w), map[string]string{"Metadata": "true", "Content-Type": "application/json"}, `{"resource":"x"}`, 400},
		{"body too large", "POST", tokenURL(e, w), metadataHdr, "resource=" + strings.Repeat("a", DefaultMaxBodyBytes+1), 413},
		{"PUT", "PUT", tokenURL(e, w) + q(storageAud), secretHdr(w), "", 405},
		{"DELETE", "DELETE", tokenURL(e, w) + q(storageAud), secretHdr(w), "", 405},
		{"POST to imds", "POST", imdsURL(e, w), metadataHdr, form("resource", storageAud), 405},
		{"bare IMDS path", "GET", e.base + IMDSPath + q(storageAud), metadataHdr, "", 400},
		{"unknown path", "GET", e.base + "/oauth2/token" + q(storageAud), secretHdr(w), "", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, c.method, c.url, c.hdr, c.body)
			noToken(t, c.name, status, m, c.want)
		})
	}
	t.Run("caller not on loopback", func(t *testing.T) {
		req := httptest.NewRequest("GET", PathPrefix+w.ID+TokenSuffix+q(storageAud), nil)
		req.RemoteAddr = "192.0.2.7:40000"
		req.Header.Set("secret", w.Secret)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "access_token") {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		h, err := New(Config{Registry: e.reg, Tokens: e.svc, AllowRemote: true})
		must(t, err)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("AllowRemote: %d %s", rec.Code, rec.Body.String())
		}
		e.note(rec.Body.String())
	})
}

// TestServerFailuresGiveNoToken: a Resolver or token-service failure is
// amlid's fault (500, generic message), and never yields a token.
func TestServerFailuresGiveNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/flaky"
	e.res.set(res, e.uai1)
	w := e.register(t, res)
	e.res.fail(res, errors.New("arm store unavailable"))
	status, m := e.do(t, "GET", tokenURL(e, w)+q(storageAud), secretHdr(w), "")
	noToken(t, "resolver", status, m, http.StatusInternalServerError)
	if strings.Contains(fmt.Sprint(m), "arm store") {
		t.Fatalf("internal error leaked to the client: %v", m)
	}
	// A principal whose tenant is gone: IssueAccessToken fails.
	ghost := &directory.Principal{ObjectID: uuid.NewString(), TenantID: uuid.NewString(), Type: directory.TypeServicePrincipal,
		Subtype: directory.SubtypeManagedIdentity, AppID: uuid.NewString(), ResourceID: rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ghost"}
	res2 := rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/ghost"
	e.res.set(res2, ghost)
	w2 := e.register(t, res2)
	status, m = e.do(t, "GET", tokenURL(e, w2)+q(storageAud), secretHdr(w2), "")
	noToken(t, "issuer", status, m, http.StatusInternalServerError)
	// Registering for a resource the Resolver does not know fails.
	if _, err := e.reg.Register(context.Background(), rg+"/providers/X/y/nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("Register of an unknown resource: %v", err)
	}
}

// TestResourceEchoedAsJSON: odd resource strings are echoed as valid JSON.
func TestResourceEchoedAsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.register(t, resBoth)
	for _, r := range []string{`https://x.test/a"b\c`, "https://x.test/<é>&\u2028", "https://x.test/\x01tab\t"} {
		status, m := e.do(t, "GET", tokenURL(e, w)+q(r), secretHdr(w), "")
		if status != 200 || m["resource"] != r {
			t.Fatalf("%q: %d %v", r, status, m["resource"])
		}
	}
}

// TestEnvFor: exactly the variables a workload needs, and no secret but its own.
func TestEnvFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sysDefault, uaiDefault := e.register(t, resBoth), e.register(t, resUAI)
	env := EnvFor(sysDefault, e.base+"/")
	want := map[string]string{
		EnvMSIEndpoint:          e.base + "/msi/" + sysDefault.ID + "/token",
		EnvMSISecret:            sysDefault.Secret,
		EnvIdentityEndpoint:     e.base + "/msi/" + sysDefault.ID + "/token",
		EnvIdentityHeader:       sysDefault.Secret,
		EnvPodIdentityAuthority: e.base + "/msi/" + sysDefault.ID,
	}
	if fmt.Sprint(env) != fmt.Sprint(want) {
		t.Fatalf("EnvFor = %v\nwant %v", env, want)
	}
	env = EnvFor(uaiDefault, e.base)
	if env[EnvDefaultIdentityClient] != e.uai1.AppID || len(env) != 6 {
		t.Fatalf("user-assigned default: %v (rule CMP-3)", env)
	}
	list := EnvList(uaiDefault, e.base)
	if len(list) != 6 || !strings.HasPrefix(list[0], "AZURE_POD_IDENTITY_AUTHORITY_HOST=") {
		t.Fatalf("EnvList %v", list)
	}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		if !slicesContains(EnvNames, k) {
			t.Fatalf("%s not in EnvNames", k)
		}
		v = strings.ReplaceAll(strings.ReplaceAll(v, uaiDefault.ID, ""), uaiDefault.Secret, "")
		if strings.Contains(v, sysDefault.ID) || strings.Contains(v, sysDefault.Secret) {
			t.Fatal("another workload's credentials in the env")
		}
	}
	environ := Environ([]string{"PATH=/bin", "MSI_ENDPOINT=http://elsewhere/", "AZURE_CLIENT_ID=x", "IMDS_ENDPOINT=y", "HOME=/root"}, uaiDefault, e.base)
	if fmt.Sprint(environ) != fmt.Sprint(append([]string{"PATH=/bin", "HOME=/root"}, list...)) {
		t.Fatalf("Environ %v", environ)
	}
	if len(EnvFor(nil, e.base)) != 0 {
		t.Fatal("EnvFor(nil)")
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRefuseDuplicates (issue 15): a request that says a thing twice is
// ambiguous and gets no token, whichever copy a parser would pick: two
// secret headers (one stolen), a selector twice with different values,
// query and form naming different identities. (The same value twice names
// one identity and is answered.)
func TestRefuseDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.register(t, resBoth), e.register(t, resUAI)
	raw := func(method, u string, hdr http.Header, body string) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, u, rd)
		req.Header = hdr
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := e.srv.Client().Do(req)
		must(t, err)
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, c := range []struct {
		name, method, url string
		hdr               http.Header
		body              string
	}{
		{"two secret headers, the second stolen", "GET", tokenURL(e, b) + q(storageAud), http.Header{"Secret": {b.Secret, a.Secret}}, ""},
		{"two secret headers, the first stolen", "GET", tokenURL(e, b) + q(storageAud), http.Header{"Secret": {a.Secret, b.Secret}}, ""},
		{"two X-IDENTITY-HEADER", "GET", tokenURL(e, b) + q(storageAud), http.Header{"X-Identity-Header": {a.Secret, b.Secret}}, ""},
		{"client ID held, then not", "GET", tokenURL(e, b) + q(storageAud, "clientid", e.uai2.AppID, "clientid", e.stranger.AppID), http.Header{"Secret": {b.Secret}}, ""},
		{"two object IDs", "GET", tokenURL(e, b) + q(storageAud, "object_id", e.uai2.ObjectID, "object_id", e.stranger.ObjectID), http.Header{"Secret": {b.Secret}}, ""},
		{"two resource IDs", "GET", tokenURL(e, b) + q(storageAud, "mi_res_id", e.uai2.ResourceID, "mi_res_id", e.stranger.ResourceID), http.Header{"Secret": {b.Secret}}, ""},
		{"query and form name different identities", "POST", tokenURL(e, b) + "?client_id=" + e.stranger.AppID, http.Header{"Metadata": {"true"}},
			url.Values{"resource": {storageAud}, "client_id": {e.uai2.AppID}}.Encode()},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, m := raw(c.method, c.url, c.hdr, c.body)
			if status < 400 || status >= 500 || m["access_token"] != nil || m["error"] == nil {
				t.Fatalf("%d %v", status, m)
			}
		})
	}
}
