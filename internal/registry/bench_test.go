package registry_test

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// BenchmarkRegistryPull200MB pulls a 200 MB single-layer image and, next
// to it, copies the same bytes over a raw TLS connection on loopback: the
// ratio of the two is the registry's overhead. "ggcr" is the real client
// (it verifies the layer's sha256 while reading), "get" a plain
// authenticated blob GET, "raw-tls" the floor.
func BenchmarkRegistryPull200MB(b *testing.B) {
	const size = 200 << 20
	e := newEnv(b, true)
	ls := e.createRegistry("benchreg1", true)
	pw := e.adminPassword("benchreg1")
	data := make([]byte, size)
	rand.Read(data)
	digest := sha(data)
	_, tok := e.form("https://"+ls+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"benchreg1"}, "password": {pw},
		"scope": {"repository:bench/big:pull,push"}, "service": {ls}})
	bearer := "Bearer " + tok["access_token"].(string)
	if st, _, code, msg := e.raw("POST", "https://"+ls+"/v2/bench/big/blobs/uploads/?digest="+digest, bearer, data, nil); st != 201 {
		b.Fatalf("push layer: %d %s %s", st, code, msg)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest + `"]}}`)
	if st, _, code, msg := e.raw("POST", "https://"+ls+"/v2/bench/big/blobs/uploads/?digest="+sha(cfg), bearer, cfg, nil); st != 201 {
		b.Fatalf("push config: %d %s %s", st, code, msg)
	}
	man := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		sha(cfg), len(cfg), digest, size)
	if st, _, code, msg := e.raw("PUT", "https://"+ls+"/v2/bench/big/manifests/v1", bearer, []byte(man),
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}); st != 201 {
		b.Fatalf("push manifest: %d %s %s", st, code, msg)
	}
	r := ref(b, ls+"/bench/big:v1")
	opts := e.remoteOpts(&authn.Basic{Username: "benchreg1", Password: pw})

	b.Run("ggcr", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			img, err := remote.Image(r, opts...)
			must(b, err)
			ls, err := img.Layers()
			must(b, err)
			rc, err := ls[0].Compressed()
			must(b, err)
			if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
				b.Fatalf("pulled %d bytes: %v", n, err)
			}
			rc.Close()
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			req, _ := http.NewRequest("GET", "https://"+ls+"/v2/bench/big/blobs/"+digest, nil)
			req.Header.Set("Authorization", bearer)
			resp, err := e.http.Do(req)
			must(b, err)
			if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
				b.Fatalf("got %d bytes: %v", n, err)
			}
			resp.Body.Close()
		}
	})
	b.Run("raw-tls", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "layer")
		must(b, os.WriteFile(path, data, 0o600))
		ln, err := tls.Listen("tcp", "127.0.0.1:0", e.ca.TLSConfig())
		must(b, err)
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					f, err := os.Open(path)
					if err != nil {
						return
					}
					defer f.Close()
					io.Copy(c, f)
				}()
			}
		}()
		b.SetBytes(size)
		for b.Loop() {
			c, err := tls.Dial("tcp", ln.Addr().String(), e.ca.ClientTLSConfig())
			must(b, err)
			if n, err := io.Copy(io.Discard, c); err != nil || n != size {
				b.Fatalf("copied %d bytes: %v", n, err)
			}
			c.Close()
		}
	})
}

// BenchmarkRegistryTokenExchange measures /oauth2/exchange (Entra token →
// refresh token: the shared verifier plus one ES256 signature) and
// /oauth2/token (refresh → access token, with the RBAC decision), from
// parallel clients.
func BenchmarkRegistryTokenExchange(b *testing.B) {
	e := newEnv(b, true)
	ls := e.createRegistry("benchreg2", false)
	pusher := e.newApp("pusher", e.tenant)
	e.grant(pusher.objectID, roleAcrPush, e.registryPath("benchreg2"))
	entra := e.token(pusher, armScope)
	exch := url.Values{"grant_type": {"access_token"}, "service": {ls}, "tenant": {e.tenant}, "access_token": {entra}}.Encode()
	rt := e.exchange(ls, pusher)
	tokf := url.Values{"grant_type": {"refresh_token"}, "service": {ls}, "scope": {"repository:app:pull,push"}, "refresh_token": {rt}}.Encode()
	post := func(b *testing.B, path, body string) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := e.http.Post("https://"+ls+path, "application/x-www-form-urlencoded", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("%s: %d", path, resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("exchange", func(b *testing.B) { post(b, "/oauth2/exchange", exch) })
	b.Run("token", func(b *testing.B) { post(b, "/oauth2/token", tokf) })
}
