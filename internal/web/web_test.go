package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/testenv"
	"github.com/amlid/amlid/internal/web"
)

// env is the shared in-process harness plus the page's helpers.
type env struct {
	*testenv.Env
	t    testing.TB
	srv  *server.Server
	base string
	sub  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	te := testenv.New(t, testenv.Options{})
	return &env{Env: te, t: t, srv: te.S, base: te.URL(), sub: te.Sub()}
}

// arm sends an ARM request as the bootstrap admin.
func (e *env) arm(method, path, apiVersion string, body any) map[string]any {
	e.t.Helper()
	st, out := e.ARM(e.Admin, method, path, apiVersion, body)
	if st >= 300 {
		e.t.Fatalf("%s %s: %d %v", method, path, st, out)
	}
	return out
}

func (e *env) rg(name string) string {
	id := "/subscriptions/" + e.sub + "/resourceGroups/" + name
	e.arm("PUT", id, "2021-04-01", map[string]any{"location": "eastus"})
	return id
}

// uai creates a user-assigned identity and returns its ID and principal ID.
func (e *env) uai(rg, name string) (string, string) {
	id := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	out := e.arm("PUT", id, "2023-01-31", map[string]any{"location": "eastus"})
	return id, out["properties"].(map[string]any)["principalId"].(string)
}

func (e *env) user(name, password string) *directory.Principal {
	e.t.Helper()
	p := &directory.Principal{TenantID: e.srv.Bootstrap.TenantID, Type: directory.TypeUser, DisplayName: name, UPN: strings.ToLower(name) + "@amlid.onmicrosoft.com",
		Password: &directory.SecretCredential{KeyID: "k", Hash: directory.HashPasswordWithIterations(password, 1000)}}
	if err := e.srv.Directory.CreatePrincipal(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) group(name string, members ...string) string {
	e.t.Helper()
	p := &directory.Principal{TenantID: e.srv.Bootstrap.TenantID, Type: directory.TypeGroup, DisplayName: name, Members: members}
	if err := e.srv.Directory.CreatePrincipal(context.Background(), p); err != nil {
		e.t.Fatal(err)
	}
	return p.ObjectID
}

func (e *env) grant(pid, ptype string, role catalog.Role, scope string) {
	e.t.Helper()
	if err := e.srv.Store.Tx(context.Background(), func(tx store.Tx) error {
		return e.srv.Authz.Grant(context.Background(), tx, pid, ptype, role.ID, scope)
	}); err != nil {
		e.t.Fatal(err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: e.Transport(), Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, c: c}
}

func (b *browser) get(path string) (int, http.Header, string) {
	b.e.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.e.base + path
	}
	resp, err := b.c.Get(u)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// signIn goes through /login, the authorize form and the callback.
func (b *browser) signIn(upn, password string) {
	t := b.e.t
	t.Helper()
	st, h, _ := b.get(web.Prefix + "/login")
	if st != 302 {
		t.Fatalf("login: %d", st)
	}
	authorize := h.Get("Location")
	st, _, body := b.get(authorize)
	m, a := csrfRE.FindStringSubmatch(body), actionRE.FindStringSubmatch(body)
	if st != 200 || m == nil || a == nil {
		t.Fatalf("authorize form: %d %s", st, body)
	}
	resp, err := b.c.PostForm(b.e.base+html.UnescapeString(a[1]), url.Values{"csrf": {html.UnescapeString(m[1])}, "login": {upn}, "passwd": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.Contains(cb, web.Prefix+"/callback?code=") {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, cb)
	}
	st, h, body = b.get(cb)
	if st != 302 || h.Get("Location") != web.Prefix+"/" {
		t.Fatalf("callback: %d %s", st, body)
	}
}

func (b *browser) graph() (int, map[string]any, string) {
	st, _, body := b.get(web.Prefix + "/api/graph")
	var v map[string]any
	json.Unmarshal([]byte(body), &v)
	return st, v, body
}

// A Reader of one resource group sees that group: its resources, the
// assignments there and above, and those principals; nothing of another
// group, in the page's data or its who-can API. Unauthenticated, forged and
// expired sessions get the sign-in page (or 401 on the API); sign-out needs
// the CSRF token; the page's app refuses an unregistered redirect URI.
func TestReaderOfOneGroupAndSessionRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rgA, rgB := e.rg("team-a"), e.rg("team-b")
	idA, pidA := e.uai(rgA, "id-a")
	idB, pidB := e.uai(rgB, "id-b")
	e.grant(pidA, "ServicePrincipal", catalog.StorageBlobDataReader, rgA)
	e.grant(pidB, "ServicePrincipal", catalog.AcrPull, rgB)
	carol := e.user("Carol", "Carol-pass-1")
	e.grant(carol.ObjectID, "User", catalog.Reader, rgA)
	secret := e.user("Bob", "Bob-pass-1") // assigned only in team-b
	e.grant(secret.ObjectID, "User", catalog.Contributor, rgB)
	// Groups: Erin reaches team-a through one, Frank team-b through another.
	erin, frank := e.user("Erin", "Erin-pass-1"), e.user("Frank", "Frank-pass-1")
	ga, gb := e.group("readers-a", erin.ObjectID), e.group("writers-b", frank.ObjectID)
	e.grant(ga, "Group", catalog.Reader, rgA)
	e.grant(gb, "Group", catalog.Contributor, rgB)

	b := e.browser()
	// Unauthenticated: the sign-in page, and 401 from the API.
	st, _, body := b.get(web.Prefix + "/")
	if st != 200 || !strings.Contains(body, `id="signin"`) || strings.Contains(body, "app.js") {
		t.Fatalf("unauthenticated page: %d %s", st, body)
	}
	if st, _, _ := b.graph(); st != 401 {
		t.Fatalf("unauthenticated api: %d", st)
	}

	b.signIn(carol.UPN, "Carol-pass-1")
	st, _, body = b.get(web.Prefix + "/")
	if st != 200 || !strings.Contains(body, "app.js") || !strings.Contains(body, "Carol") {
		t.Fatalf("page: %d %s", st, body)
	}
	st, v, raw := b.graph()
	if st != 200 {
		t.Fatalf("graph: %d %s", st, raw)
	}
	low := strings.ToLower(raw)
	for _, want := range []string{strings.ToLower(rgA), strings.ToLower(idA), pidA, carol.ObjectID, "storage blob data reader", "owner", ga, erin.ObjectID} {
		if !strings.Contains(low, strings.ToLower(want)) {
			t.Errorf("the reader's view lacks %s", want)
		}
	}
	for _, hidden := range []string{"team-b", strings.ToLower(idB), pidB, secret.ObjectID, "bob", "acrpull", gb, "writers-b", frank.ObjectID, "frank"} {
		if strings.Contains(low, strings.ToLower(hidden)) {
			t.Errorf("the reader of team-a sees %q:\n%s", hidden, raw)
		}
	}
	for _, p := range v["principals"].([]any) {
		pm := p.(map[string]any)
		if pm["id"] == erin.ObjectID && fmt.Sprint(pm["memberOf"]) != "["+ga+"]" {
			t.Errorf("Erin's groups: %v", pm)
		}
	}
	// The subscription itself is above Carol's reach: shown only as the
	// scope of the inherited Owner assignment, not as a readable scope.
	for _, s := range v["scopes"].([]any) {
		if strings.EqualFold(s.(map[string]any)["type"].(string), "Microsoft.Resources/subscriptions") {
			t.Errorf("a reader of one group sees the subscription as a scope: %v", s)
		}
	}
	// who-can: the group she reads, yes; the other, 404 as if absent.
	st, _, body = b.get(web.Prefix + "/api/who-can?" + url.Values{"scope": {rgA}, "action": {catalog.BlobRead}, "dataAction": {"true"}}.Encode())
	if st != 200 || !strings.Contains(body, pidA) {
		t.Fatalf("who-can on team-a: %d %s", st, body)
	}
	st, _, body = b.get(web.Prefix + "/api/who-can?" + url.Values{"scope": {rgB}, "action": {catalog.RegistryPull}}.Encode())
	if st != 404 || strings.Contains(body, pidB) {
		t.Fatalf("who-can on team-b: %d %s", st, body)
	}

	// A forged session cookie: the sign-in page, 401 from the API.
	forged := e.browser()
	u, _ := url.Parse(e.base + web.Prefix + "/")
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: strings.Repeat("A", 43)}})
	if st, _, body := forged.get(web.Prefix + "/"); st != 200 || !strings.Contains(body, `id="signin"`) {
		t.Fatalf("forged cookie page: %d %s", st, body)
	}
	forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: strings.Repeat("A", 43)}})
	if st, _, _ := forged.graph(); st != 401 {
		t.Fatalf("forged cookie api: %d", st)
	}

	// Sign-out without the CSRF token is refused; with it the session ends.
	req, _ := http.NewRequest("POST", e.base+web.Prefix+"/logout", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("logout without csrf: %d", resp.StatusCode)
	}
	_, _, page := b.get(web.Prefix + "/")
	csrf := csrfRE.FindStringSubmatch(page)
	req, _ = http.NewRequest("POST", e.base+web.Prefix+"/logout", strings.NewReader(url.Values{"csrf": {html.UnescapeString(csrf[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = b.c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-origin logout: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", e.base+web.Prefix+"/logout", strings.NewReader(url.Values{"csrf": {html.UnescapeString(csrf[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = b.c.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if st, _, _ := b.graph(); st != 401 {
		t.Fatalf("after logout: %d", st)
	}

	// An expired session is refused (and deleted).
	b2 := e.browser()
	b2.signIn(carol.UPN, "Carol-pass-1")
	recs, err := e.srv.Store.List(context.Background(), web.KindSession, store.ListOptions{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("sessions: %v %d", err, len(recs))
	}
	var s map[string]any
	json.Unmarshal(recs[0].Value, &s)
	s["expires"] = time.Now().Add(-time.Minute)
	nb, _ := json.Marshal(s)
	if _, err := store.Put(context.Background(), e.srv.Store, store.Record{Kind: web.KindSession, Key: recs[0].Key, Parent: recs[0].Parent, Value: nb}, ""); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := b2.graph(); st != 401 {
		t.Fatalf("expired session: %d", st)
	}
	if st, _, body := b2.get(web.Prefix + "/"); st != 200 || !strings.Contains(body, `id="signin"`) {
		t.Fatalf("expired session page: %d", st)
	}

	// The page's app accepts only its registered redirect URI.
	st, h, _ := b2.get(web.Prefix + "/login")
	evil := strings.Replace(h.Get("Location"), url.QueryEscape(web.RedirectURI(e.base)), url.QueryEscape("https://evil.example/callback"), 1)
	st, h, body = b2.get(evil)
	if st != 400 || h.Get("Location") != "" || !strings.Contains(body, "AADSTS50011") {
		t.Fatalf("unregistered redirect: %d %s", st, body)
	}
	// A callback with a state this browser did not start is refused.
	if st, _, body := e.browser().get(web.Prefix + "/callback?code=x&state=y"); st != 401 || !strings.Contains(body, "did not start it") {
		t.Fatalf("foreign callback: %d %s", st, body)
	}
}

// seedLarge writes n principals (users, service principals, groups) and m
// role assignments spread over 50 resource groups, straight into the store.
func seedLarge(t testing.TB, e *env, n, m int) *directory.Principal {
	ctx := context.Background()
	var rgs []string
	for i := range 50 {
		rgs = append(rgs, e.rg(fmt.Sprintf("rg-%02d", i)))
	}
	roles := []catalog.Role{catalog.Reader, catalog.Contributor, catalog.StorageBlobDataReader, catalog.AcrPull, catalog.KeyVaultSecretsUser, catalog.Owner}
	var ids []string
	err := e.srv.Store.Tx(ctx, func(tx store.Tx) error {
		for i := range n {
			typ := []string{directory.TypeUser, directory.TypeServicePrincipal, directory.TypeGroup}[i%3]
			p := &directory.Principal{TenantID: e.srv.Bootstrap.TenantID, Type: typ, DisplayName: fmt.Sprintf("%s-%04d", strings.ToLower(typ), i)}
			if typ == directory.TypeUser {
				p.UPN = fmt.Sprintf("user%04d@amlid.onmicrosoft.com", i)
			}
			if typ == directory.TypeServicePrincipal {
				p.AppID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				p.Subtype = directory.SubtypeApplication
			}
			if err := directory.CreatePrincipal(ctx, tx, p); err != nil {
				return err
			}
			ids = append(ids, p.ObjectID)
		}
		for j := range m {
			pid := ids[j%n]
			typ := []string{directory.TypeUser, directory.TypeServicePrincipal, directory.TypeGroup}[(j%n)%3]
			role := roles[(j/n)%len(roles)]
			scope := rgs[(j*7+j/n)%len(rgs)]
			if err := e.srv.Authz.Grant(ctx, tx, pid, typ, role.ID, scope); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	viewer := e.user("Viewer", "Viewer-pass-1")
	e.grant(viewer.ObjectID, "User", catalog.Reader, "/subscriptions/"+e.sub)
	return viewer
}

// BenchmarkPageData: the page's data for 1,000 principals and 10,000 role
// assignments, served to a subscription Reader (issue 22: < 200 ms).
//
//	go test ./internal/web -run '^$' -bench PageData -benchtime 20x
func BenchmarkPageData(b *testing.B) {
	e := newEnv(b)
	viewer := seedLarge(b, e, 1000, 10000)
	br := e.browser()
	br.signIn(viewer.UPN, "Viewer-pass-1")
	st, v, _ := br.graph()
	if st != 200 || len(v["assignments"].([]any)) < 10000 || len(v["principals"].([]any)) < 1000 {
		b.Fatalf("graph: %d, %d assignments, %d principals", st, len(v["assignments"].([]any)), len(v["principals"].([]any)))
	}
	var build float64
	for b.Loop() {
		st, h, _ := br.get(web.Prefix + "/api/graph")
		if st != 200 {
			b.Fatal(st)
		}
		var ms float64
		fmt.Sscanf(h.Get("Server-Timing"), "build;dur=%g", &ms)
		build += ms
	}
	b.ReportMetric(build/float64(b.N), "build-ms/op")
}

// The event stream says "change" when an assignment changes, and does not
// hold the server's drain when amlid stops with a page open.
func TestEventsOnChangeAndShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rg := e.rg("live")
	_, pid := e.uai(rg, "worker")
	dana := e.user("Dana", "Dana-pass-1")
	e.grant(dana.ObjectID, "User", catalog.Reader, rg)
	b := e.browser()
	b.signIn(dana.UPN, "Dana-pass-1")
	resp, err := b.c.Get(e.base + web.Prefix + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(prefix string) {
		t.Helper()
		for l := range lines {
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
		t.Fatalf("the stream ended before %q", prefix)
	}
	next("event: hello")
	e.grant(pid, "ServicePrincipal", catalog.AcrPull, rg)
	next("event: change")
	// A membership change counts too: it changes who reaches what.
	e.group("on-call", dana.ObjectID)
	next("event: change")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("shutdown with an open event stream: %v", err)
	}
	for range lines { // the stream ends with the server
	}
}
