package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is Debian's chromium (scripts/test.sh installs it).
const chromium = "/usr/bin/chromium"

func newChromium(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatal("Debian's chromium is not installed: apt-get install -y chromium (scripts/test.sh does)")
	}
	// amlid's CA is not in this throw-away profile's trust store.
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1980, 1200))
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 4*time.Minute)
	return ctx, func() { tcancel(); cancel(); acancel() }
}

// into runs a that yields a value and stores it in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Do(ctx, into(&png, chromedp.CaptureScreenshot())); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// The page of identities and access in headless Chromium (issue 22): a user
// signs in through amlid's own sign-in form, sees the graph of a workspace
// whose endpoint's identity lacks AcrPull, finds the unmet EP-3 requirement
// and its fix, the fix runs through the CLI, and the requirement turns met
// on the page without a reload.
func TestWebPageInChromium(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "web-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=web-rg", "workspace=web-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "web-rg", "--query", "id", "-o", "tsv"))
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "webreg", "--sku", "Basic"))["id"].(string)
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "web-ws", "--container-registry", reg))
	epID := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "scorer-id"))
	pe := epID["principalId"].(string)
	// The endpoint identity may read the workspace's storage, not pull images.
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pe, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", ws["storage_account"].(string))
	yml := filepath.Join(t.TempDir(), "endpoint.yml")
	os.WriteFile(yml, []byte("name: scorer\nauth_mode: key\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: "+epID["id"].(string)+"\n"), 0o644)
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", yml)
	// Ada reads the group: that is all she needs to see it.
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Ada", "--user-principal-name", "ada@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	ada := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "ada@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", ada, "--assignee-principal-type", "User", "--role", "Reader", "--scope", rgID)
	// Ben reads another group only.
	in.mustCLI(cfg, "group", "create", "-n", "web-other", "-l", "eastus")
	otherID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "web-other", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "identity", "create", "-n", "other-id", "-g", "web-other")
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Ben", "--user-principal-name", "ben@amlid.onmicrosoft.com", "--password", "Other-pass-1")
	ben := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "ben@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", ben, "--assignee-principal-type", "User", "--role", "Reader", "--scope", otherID)

	// amlid open prints the page's URL.
	if u := strings.TrimSpace(in.mustCLI(cfg, "open", "--no-browser")); u != in.State.ARMURL+"/amlid/web/" {
		t.Fatalf("amlid open: %q", u)
	}

	shots := t.TempDir()
	if d := os.Getenv("AMLID_SCREENSHOTS"); d != "" {
		shots = d
	}
	ctx, cancel := newChromium(t)
	defer cancel()
	unmet := `.finding.unmet[data-rule="EP-3"][data-role="AcrPull"]`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(in.State.ARMURL+"/amlid/web/"),
		chromedp.WaitVisible(chromedp.CSS(`a#signin`)),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "1-signin.png")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#login`), "ada@amlid.onmicrosoft.com"),
		chromedp.SendKeys(chromedp.CSS(`#passwd`), "Secr3t-pass!"),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, shots, "2-authorize-form.png")
	var fix, who string
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button#signin`)),
		chromedp.WaitVisible(chromedp.CSS(unmet)),
		into(&who, chromedp.Text(chromedp.CSS(`#me`))),
		into(&fix, chromedp.Text(chromedp.CSS(unmet+` code.fix`))),
		// Select the unmet requirement in the graph: its details show the fix too.
		chromedp.Click(chromedp.CSS(`#svg .req.unmet`)),
		chromedp.WaitVisible(chromedp.CSS(`#details code.fix`)),
		// A marker that a reload would wipe.
		chromedp.Evaluate[chromedp.Void](`window.__noReload = true`),
	); err != nil {
		t.Fatalf("%v\n%s", err, in.Log.String())
	}
	screenshot(t, ctx, shots, "3-unmet-acrpull.png")
	if !strings.Contains(who, "Ada") {
		t.Fatalf("signed in as %q", who)
	}
	if !strings.HasPrefix(fix, "amlid role assignment create") || !strings.Contains(fix, pe) || !strings.Contains(fix, "AcrPull") || !strings.Contains(strings.ToLower(fix), strings.ToLower(reg)) {
		t.Fatalf("fix: %q", fix)
	}
	var graphText string
	if err := chromedp.Do(ctx, into(&graphText, chromedp.Evaluate[string](`document.querySelector('#svg').textContent`))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web-ws", "scorer", "scorer-id", "EP-3", "AcrPull", "Reader @ web-rg"} {
		if !strings.Contains(graphText, want) {
			t.Errorf("the graph lacks %q: %s", want, graphText)
		}
	}

	// "Unmet only" and the rule filter keep the gap and drop what is met.
	var metShown, unmetShown int
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#unmet`)),
		chromedp.Sleep(300*time.Millisecond),
		into(&metShown, chromedp.Evaluate[int](`document.querySelectorAll('.finding.met, #svg .req.met').length`)),
		into(&unmetShown, chromedp.Evaluate[int](`document.querySelectorAll('.finding.unmet').length`)),
		chromedp.Click(chromedp.CSS(`#unmet`)),
		chromedp.Sleep(300*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	if metShown != 0 || unmetShown != 1 {
		t.Fatalf("unmet only: %d met and %d unmet shown", metShown, unmetShown)
	}

	// The fix, through the CLI, as the page wrote it.
	args := splitCommand(fix)
	in.mustCLI(cfg, args[1:]...)
	var noReload bool
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`.finding.met[data-rule="EP-3"][data-role="AcrPull"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#svg .req.met`)),
		into(&noReload, chromedp.Evaluate[bool](`window.__noReload === true`)),
	); err != nil {
		t.Fatalf("the requirement did not turn met: %v", err)
	}
	if !noReload {
		t.Fatal("the page reloaded to show the change")
	}
	var unmetLeft int
	if err := chromedp.Do(ctx, into(&unmetLeft, chromedp.Evaluate[int](`document.querySelectorAll('.finding.unmet').length`))); err != nil {
		t.Fatal(err)
	}
	if unmetLeft != 0 {
		t.Fatalf("%d requirements still unmet", unmetLeft)
	}
	screenshot(t, ctx, shots, "4-met-after-fix.png")

	// Search and "who can" on the registry.
	var rows int
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#q`), "webreg"),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Click(chromedp.CSS(`#svg .scope[data-k$="/registries/webreg"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.whocan`)),
		chromedp.Click(chromedp.CSS(`form.whocan button`)),
		chromedp.WaitVisible(chromedp.CSS(`#whocan-out table`)),
		into(&rows, chromedp.Evaluate[int](`[...document.querySelectorAll('#whocan-out td')].filter(td => td.textContent.includes('scorer-id')).length`)),
	); err != nil {
		t.Fatalf("who-can: %v", err)
	}
	screenshot(t, ctx, shots, "5-who-can-registry.png")
	if rows == 0 {
		t.Fatal("who can pull from the registry does not list the endpoint identity")
	}

	// Sign out, then Ben: his group only, nothing of web-rg.
	var page string
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#logout button`)),
		chromedp.WaitVisible(chromedp.CSS(`#signedout`)),
		chromedp.Click(chromedp.CSS(`a#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#login`), "ben@amlid.onmicrosoft.com"),
		chromedp.SendKeys(chromedp.CSS(`#passwd`), "Other-pass-1"),
		chromedp.Click(chromedp.CSS(`button#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#svg .scope`)),
		chromedp.Sleep(300*time.Millisecond),
		into(&page, chromedp.Evaluate[string](`document.body.textContent`)),
	); err != nil {
		t.Fatalf("Ben's sign-in: %v", err)
	}
	screenshot(t, ctx, shots, "6-reader-of-another-group.png")
	if !strings.Contains(page, "Ben") || !strings.Contains(page, "web-other") || !strings.Contains(page, "other-id") {
		t.Fatalf("Ben's page lacks his group: %s", page)
	}
	for _, hidden := range []string{"web-rg", "web-ws", "scorer", "webreg", "Ada", pe} {
		if strings.Contains(page, hidden) {
			t.Errorf("Ben, a Reader of web-other, sees %q", hidden)
		}
	}
}

// App registrations carry the redirect URIs the authorization-code flow
// checks: set with amlid's CLI (and Debian's az), enforced at /authorize.
func TestAppRedirectURIs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	app := mustJSON(t, in.mustCLI(cfg, "ad", "app", "create", "--display-name", "notebook", "--web-redirect-uris", "https://app.example/cb", "http://localhost/cb"))
	appID := app["appId"].(string)
	in.mustCLI(cfg, "ad", "sp", "create", "--id", appID)
	if got := in.mustCLI(cfg, "ad", "app", "show", "--id", appID, "--query", "web.redirectUris", "-o", "tsv"); !strings.Contains(got, "https://app.example/cb") || !strings.Contains(got, "http://localhost/cb") {
		t.Fatalf("redirect URIs: %q", got)
	}
	c := in.httpClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	authorize := func(redirect string) (int, string) {
		q := url.Values{"client_id": {appID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
		resp, err := c.Get(in.State.ARMURL + "/" + in.State.TenantID + "/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := authorize("https://app.example/cb"); st != 200 || !strings.Contains(body, `id="login"`) {
		t.Fatalf("registered URI: %d %s", st, body)
	}
	if st, _ := authorize("http://localhost:49152/cb"); st != 200 {
		t.Fatalf("loopback URI on another port: %d", st)
	}
	if st, body := authorize("https://evil.example/cb"); st != 400 || !strings.Contains(body, "AADSTS50011") {
		t.Fatalf("unregistered URI: %d %s", st, body)
	}
	in.mustCLI(cfg, "ad", "app", "update", "--id", appID, "--web-redirect-uris", "https://new.example/cb")
	if st, _ := authorize("https://app.example/cb"); st != 400 {
		t.Fatalf("a removed URI still works: %d", st)
	}
	if st, _ := authorize("https://new.example/cb"); st != 200 {
		t.Fatalf("the new URI: %d", st)
	}
	// Debian's az registers one the same way.
	az := newAz(t, in)
	az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", in.State.TenantID)
	azApp := mustJSON(t, az.must(t, "ad", "app", "create", "--display-name", "az-app", "--web-redirect-uris", "https://az.example/cb"))
	got := in.mustCLI(cfg, "ad", "app", "show", "--id", azApp["appId"].(string), "--query", "web.redirectUris[0]", "-o", "tsv")
	if strings.TrimSpace(got) != "https://az.example/cb" {
		t.Fatalf("az's app: %q", got)
	}
}
