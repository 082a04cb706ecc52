package web_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/web"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (apt-get install -y chromium; scripts/test.sh does).
const chromiumPath = "/usr/bin/chromium"

// newChromium starts a headless Chromium with a new empty profile. amlid's
// CA is not in Chromium's trust store, so certificate errors are ignored
// for this throw-away profile only.
func newChromium(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatal("Debian's chromium is not installed: apt-get install -y chromium (scripts/test.sh does)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1980, 1100),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	return ctx, func() { tcancel(); cancel(); acancel() }
}

// signInChromium opens the page, follows "Sign in" to amlid's form and
// signs in; it returns when the page has drawn its graph once.
func signInChromium(ctx context.Context, base, upn, password string) error {
	return chromedp.Do(ctx,
		chromedp.Navigate(base+web.Prefix+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a#signin`)),
		chromedp.Click(chromedp.CSS(`a#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#login`), upn),
		chromedp.SendKeys(chromedp.CSS(`#passwd`), password),
		chromedp.Click(chromedp.CSS(`button#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`#svg`)),
		chromedp.Poll[chromedp.Void](`window.__amlid && window.__amlid.renders > 0`, chromedp.WithPollingTimeout(90*time.Second)),
	)
}

// into runs a that yields a value and stores it in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

type drawStats struct {
	Loads    int     `json:"loads"`
	Renders  int     `json:"renders"`
	DrawMs   float64 `json:"drawMs"`
	FetchMs  float64 `json:"fetchMs"`
	ParseMs  float64 `json:"parseMs"`
	ServerMs float64 `json:"serverMs"`
	Nodes    int     `json:"nodes"`
	Edges    int     `json:"edges"`
}

// TestBrowserDrawsLargeGraph measures, in headless Chromium, the page for
// 1,000 principals and 10,000 role assignments: the data served, and the
// graph drawn (issue 22 asks < 200 ms and < 2 s; reported, not asserted).
// It also redraws after a filter, and saves a screenshot.
func TestBrowserDrawsLargeGraph(t *testing.T) {
	e := newEnv(t)
	viewer := seedLarge(t, e, 1000, 10000)
	ctx, cancel := newChromium(t)
	defer cancel()
	if err := signInChromium(ctx, e.base, viewer.UPN, "Viewer-pass-1"); err != nil {
		t.Fatal(err)
	}
	var s drawStats
	var shot []byte
	if err := chromedp.Do(ctx, into(&s, chromedp.Evaluate[drawStats](`window.__amlid`)), into(&shot, chromedp.CaptureScreenshot())); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if d := os.Getenv("AMLID_SCREENSHOTS"); d != "" {
		dir = d
	}
	os.WriteFile(filepath.Join(dir, "large-graph.png"), shot, 0o644)
	t.Logf("1,000 principals / 10,000 assignments, first load (the server's RBAC engine reloads the 10,000 seeded assignments): server built the data in %.0f ms, fetch %.0f ms, JSON parse %.0f ms, drawn in %.0f ms (%d nodes, %d edges); screenshot %s",
		s.ServerMs, s.FetchMs, s.ParseMs, s.DrawMs, s.Nodes, s.Edges, filepath.Join(dir, "large-graph.png"))
	// A second load, as a live update does it.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__amlid.reload()`),
		chromedp.Poll[chromedp.Void](`window.__amlid.renders > 1`),
		into(&s, chromedp.Evaluate[drawStats](`window.__amlid`)),
	); err != nil {
		t.Fatal(err)
	}
	t.Logf("reload: server built the data in %.0f ms, fetch (server + transfer of %d assignments) %.0f ms, JSON parse %.0f ms, drawn in %.0f ms",
		s.ServerMs, 10000, s.FetchMs, s.ParseMs, s.DrawMs)
	if s.Nodes < 11000 {
		t.Fatalf("drew %d nodes, want every principal and assignment: %+v", s.Nodes, s)
	}
	// A filter redraws only what matches.
	var n int
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#q`), "user-0003"),
		chromedp.Poll[chromedp.Void](`window.__amlid.renders > 2`),
		chromedp.Sleep(300*time.Millisecond),
		into(&n, chromedp.Evaluate[int](`document.querySelectorAll('#svg .principal').length`)),
	); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("filter user-0003: %d principals drawn, want 1", n)
	}
}
