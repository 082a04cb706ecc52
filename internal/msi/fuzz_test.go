package msi

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// FuzzRequestTarget: the managed-identity endpoints route on the raw
// request target. Whatever the target, routing never panics, and a target
// routed to a workload contains only the characters of the allow-list
// (no %, \, ., ;) and no doubled slash.
func FuzzRequestTarget(f *testing.F) {
	id := strings.Repeat("a", 64)
	for _, s := range []string{
		"/msi/" + id + "/token?resource=x", "/msi/" + id + "/metadata/identity/oauth2/token", "/msi/" + id + "/../x/token",
		"/msi/" + id + "%2Ftoken", "/msi/" + id + `\token`, "//msi/" + id + "/token", "/metadata/identity/oauth2/token", "*",
		"http://127.0.0.1/msi/" + id + "/token", "/msi/" + id + "/token;x", "/msi/" + id + "/%74oken",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")))
		if err != nil {
			return
		}
		rt, wid, rf := parsePath(req)
		if rf != nil || rt == routeNone {
			return
		}
		path, _, _ := strings.Cut(req.RequestURI, "?")
		if strings.ContainsAny(path, `%\.;`) || strings.Contains(path, "//") {
			t.Fatalf("%q routed (%v, workload %q)", target, rt, wid)
		}
		if wid != "" && strings.ContainsAny(wid, "/%.") {
			t.Fatalf("%q: workload ID %q", target, wid)
		}
	})
}
