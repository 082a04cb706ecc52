package workload

import (
	"context"
	"strings"
	"testing"
)

// Each workload has its own proxy credential, distinct from its MSI
// credentials; the registry maps it back while the workload lives, and
// forgets it with Unregister / UnregisterResource.
func TestProxySecret(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	a, err := r.Register(ctx, resSAI)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Register(ctx, resUAI)
	if err != nil {
		t.Fatal(err)
	}
	if !hex64.MatchString(a.ProxySecret) || a.ProxySecret == a.Secret || a.ProxySecret == a.ID || a.ProxySecret == b.ProxySecret {
		t.Fatalf("proxy secret %q", a.ProxySecret)
	}
	for _, tc := range []struct {
		secret string
		want   string
	}{
		{a.ProxySecret, resSAI},
		{b.ProxySecret, resUAI},
		{a.Secret, ""}, // the MSI secret is not a proxy credential
		{a.ID, ""},
		{strings.ToUpper(a.ProxySecret), ""},
		{a.ProxySecret[:63], ""},
		{"", ""},
		{"hostnames", ""},
	} {
		w, ok := r.ByProxySecret(tc.secret)
		if got := ""; ok {
			got = w.ResourceID
			if got != tc.want {
				t.Errorf("ByProxySecret(%.8q…) = %s, want %q", tc.secret, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("ByProxySecret(%.8q…) found nothing, want %s", tc.secret, tc.want)
		}
	}
	if l := r.List(); l[0].ProxySecret != "" {
		t.Fatal("List leaks the proxy secret")
	}
	r.Unregister(a.ID)
	if _, ok := r.ByProxySecret(a.ProxySecret); ok {
		t.Fatal("an ended workload's proxy credential still works")
	}
	r.UnregisterResource(resUAI)
	if _, ok := r.ByProxySecret(b.ProxySecret); ok {
		t.Fatal("a deleted resource's workload's proxy credential still works")
	}
}

func TestProxyEnvFor(t *testing.T) {
	w := &Workload{ProxySecret: strings.Repeat("ab", 32)}
	for _, tc := range []struct {
		proxy string
		w     *Workload
		want  string
	}{
		{"http://127.0.0.1:8090", w, "http://azure:" + w.ProxySecret + "@127.0.0.1:8090"},
		{"http://127.0.0.1:8090", nil, "http://azure:hostnames@127.0.0.1:8090"},
		{"http://127.0.0.1:8090", &Workload{}, "http://azure:hostnames@127.0.0.1:8090"},
		{"http://u:p@127.0.0.1:8090", w, "http://u:p@127.0.0.1:8090"},
	} {
		env := ProxyEnvFor(tc.proxy, tc.w)
		if env["HTTPS_PROXY"] != tc.want || env["https_proxy"] != tc.want || env["NO_PROXY"] != NoProxy {
			t.Errorf("ProxyEnvFor(%s): %v, want HTTPS_PROXY %s", tc.proxy, env, tc.want)
		}
	}
}
