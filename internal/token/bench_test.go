package token

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Run: go test -run '^$' -bench . -benchtime 3s ./internal/token/
//
// BenchmarkClientCredentials measures client-credentials requests/s over
// keep-alive TLS with parallel clients; "cached" is the default (tokens
// reused per client and resource, as Entra does), "uncached" signs every
// token (Config.DisableTokenCache). BenchmarkRS256Sign is the raw signing
// rate the uncached figure is bounded by.

func benchEnv(b *testing.B, opts ...envOpt) *env {
	opts = append(opts, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // keep the formatting cost, drop the bytes
	})
	return newEnv(b, nil, opts...)
}

func BenchmarkClientCredentials(b *testing.B) {
	for _, bc := range []struct {
		name    string
		nocache bool
	}{{"cached", false}, {"uncached", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEnv(b, func(c *Config) { c.DisableTokenCache = bc.nocache })
			tr := e.srv.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = 64
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			body := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.app.AppID},
				"client_secret": {e.appSecret}, "scope": {storageAud + "/.default"}}.Encode()
			endpoint := e.base + "/" + e.tenant + "/oauth2/v2.0/token"
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(endpoint, "application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

func BenchmarkRS256Sign(b *testing.B) {
	e := benchEnv(b)
	claims := map[string]any{"aud": storageAud, "iss": e.svc.issuerV2(e.tenant), "tid": e.tenant, "oid": e.app.ObjectID,
		"iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "ver": "2.0", "idtyp": "app"}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.svc.sign(claims); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := e.svc.sign(claims); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
	})
}

func BenchmarkVerify(b *testing.B) {
	e := benchEnv(b)
	code, body := e.clientCredentials(e.tenant, e.app.AppID, e.appSecret, storageAud+"/.default")
	if code != 200 {
		b.Fatal(code, body)
	}
	raw := body["access_token"].(string)
	ctx := b.Context()
	for b.Loop() {
		if _, err := e.svc.Verify(ctx, raw, storageAud); err != nil {
			b.Fatal(err)
		}
	}
}
