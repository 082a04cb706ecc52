package hostport

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/netorigin"
	"github.com/amlid/amlid/internal/tlsca"
)

// Requests tunnelled for a CONNECT that carries a workload's proxy
// credential carry the workload's origin; the shared credential and no
// credential carry none; an unknown workload credential opens no tunnel;
// a header in the request cannot set it.
func TestProxyTagsWorkloadOrigin(t *testing.T) {
	ca, err := tlsca.LoadOrCreate(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{})
	defer p.Shutdown(context.Background())
	p.SetIssuer(ca.IssueLeaf)
	p.SetRouter(func(n azurehost.Name) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o, ok := netorigin.From(r.Context()); ok {
				io.WriteString(w, "from "+o.ResourceID)
				return
			}
			io.WriteString(w, "public")
		}), nil
	})
	known := strings.Repeat("a1", 32)
	p.SetOrigins(func(pass string) (netorigin.Origin, bool) {
		if pass == known {
			return netorigin.Origin{ResourceID: "/computes/c1", Workload: "wl-1"}, true
		}
		return netorigin.Origin{}, false
	})
	port, err := p.ListenProxy(0)
	if err != nil {
		t.Fatal(err)
	}
	get := func(user *url.Userinfo) (string, error) {
		proxy := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port), User: user}
		cl := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		req, _ := http.NewRequest(http.MethodGet, "https://acct.blob.core.windows.net/c/b", nil)
		req.Header.Set("X-Amlid-Origin", "/computes/c1") // not a way in
		resp, err := cl.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	for _, tc := range []struct {
		name string
		user *url.Userinfo
		want string
		fail string
	}{
		{"workload credential", url.UserPassword(azurehost.ProxyUser, known), "from /computes/c1", ""},
		{"shared credential", url.UserPassword(azurehost.ProxyUser, "hostnames"), "public", ""},
		{"no credential", nil, "public", ""},
		{"other user with the workload's password", url.UserPassword("someone", known), "public", ""},
		{"unknown workload credential", url.UserPassword(azurehost.ProxyUser, strings.Repeat("b2", 32)), "", "knows no running workload"},
	} {
		got, err := get(tc.user)
		switch {
		case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
			t.Errorf("%s: got %q, %v; want a refused CONNECT (%s)", tc.name, got, err, tc.fail)
		case tc.fail == "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
