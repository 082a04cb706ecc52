package msi

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/testutil"
)

// BenchmarkCachedTokenRequests measures cached managed-identity token
// requests over loopback HTTP with keep-alive from parallel clients (the
// Azure ML GET form with the secret header): requests/s and p99 latency.
//
//	go test -run '^$' -bench BenchmarkCachedTokenRequests -benchtime 5s ./internal/msi/
func BenchmarkCachedTokenRequests(b *testing.B) {
	e := newEnv(b, func(o *envOptions) { o.quiet = true })
	w := e.register(b, resUAI)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	srv := e.h.Server()
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	url := Endpoint("http://"+ln.Addr().String(), w.ID) + q(storageAud, "clientid", e.uai2.AppID)

	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	get := func() int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("secret", w.Secret)
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != http.StatusOK { // warms the token cache
		b.Fatalf("status %d", s)
	}

	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			if s := get(); s != http.StatusOK {
				b.Errorf("status %d", s)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	testutil.ReportLatencies(b, all)
}
