package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// scaleEnv is an in-process `amlid up` (SQLite, the default store) and an
// HTTPS client holding the bootstrap admin's ARM token.
type scaleEnv struct {
	s     *server.Server
	c     *http.Client
	token string
	rg    string // /subscriptions/{s}/resourceGroups/scale
}

func startScale(b *testing.B) *scaleEnv {
	b.Helper()
	s, err := server.Start(context.Background(), server.Options{DataDir: b.TempDir(), Port: -1, MSIPort: -1, BlobPort: -1, ResourcePortBase: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	pem, err := os.ReadFile(s.State.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	resp, err := c.PostForm(s.State.AuthorityHost+"/"+s.Bootstrap.TenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.Bootstrap.ClientID}, "client_secret": {s.Bootstrap.ClientSecret},
		"scope": {"https://management.azure.com/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	e := &scaleEnv{s: s, c: c, token: tok.AccessToken, rg: "/subscriptions/" + s.Bootstrap.SubscriptionID + "/resourceGroups/scale"}
	e.do(b, "PUT", e.rg+"?api-version=2021-04-01", `{"location":"eastus"}`, 201)
	return e
}

func (e *scaleEnv) do(b testing.TB, method, path, body string, want int) []byte {
	req, _ := http.NewRequest(method, e.s.State.ARMURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

func (e *scaleEnv) uai(name string) string {
	return e.rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "?api-version=2023-01-31"
}

// seed creates user-assigned identities from..to through ARM, 8 at a time.
func (e *scaleEnv) seed(b *testing.B, from, to int) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				e.do(b, "PUT", e.uai(fmt.Sprintf("uai-%06d", i)), `{"location":"eastus"}`, 201)
			}
		}()
	}
	wg.Wait()
}

// seedBulk adds identities from..to by cloning identity uai-000000's
// records (its resource, its principal and the principal's index entries)
// straight into the store, 20,000 to a transaction: what 100,000 PUTs would
// leave, in seconds instead of minutes. Names, object IDs and client IDs
// are fresh.
func (e *scaleEnv) seedBulk(b *testing.B, from, to int) {
	ctx := context.Background()
	st := e.s.Store
	tmplKey := strings.ToLower(e.rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-000000")
	res, err := st.Get(ctx, arm.KindResource, tmplKey)
	if err != nil {
		b.Fatal(err)
	}
	var r struct {
		Resource struct {
			Properties struct{ PrincipalID, ClientID string }
		}
	}
	json.Unmarshal(res.Value, &r)
	oid, cid := r.Resource.Properties.PrincipalID, r.Resource.Properties.ClientID
	prin, err := st.Get(ctx, directory.KindPrincipal, oid)
	if err != nil {
		b.Fatal(err)
	}
	idx, err := st.List(ctx, directory.KindIndex, store.ListOptions{Parent: oid})
	if err != nil {
		b.Fatal(err)
	}
	for lo := from; lo < to; lo += 20000 {
		err := st.Tx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+20000, to); i++ {
				name := fmt.Sprintf("uai-%06d", i)
				noid, ncid := uuid.NewString(), uuid.NewString()
				rep := strings.NewReplacer("uai-000000", name, oid, noid, cid, ncid)
				clone := func(rec store.Record) store.Record {
					return store.Record{Kind: rec.Kind, Key: rep.Replace(rec.Key), Parent: rep.Replace(rec.Parent), Value: []byte(rep.Replace(string(rec.Value)))}
				}
				for _, rec := range append([]store.Record{res, prin}, idx...) {
					if _, err := tx.Create(ctx, clone(rec)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rss is the resident set of this process (the server and the client), in
// bytes: SQLite's page caches live outside the Go heap.
func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkARMScale measures, at each size in AMLID_BENCH_SIZES (default
// 1000,10000 user-assigned identities in one resource group), the first
// page of the group's identity list, a full paged walk, a GET and a PUT,
// and the live heap per identity. AMLID_BENCH_HEAPPROFILE=file writes the
// heap profile at the largest size.
//
//	go test -run '^$' -bench ARMScale -benchtime 1x ./internal/server/
func BenchmarkARMScale(b *testing.B) {
	sizes := []int{1000, 10000}
	if s := os.Getenv("AMLID_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	e := startScale(b)
	idle := liveHeap()
	idleRSS := rss()
	have := 0
	for _, n := range sizes {
		t0 := time.Now()
		// Through ARM up to AMLID_BENCH_API_SEED (default 10,000), then
		// cloned straight into the store.
		apiMax := 10000
		if v, err := strconv.Atoi(os.Getenv("AMLID_BENCH_API_SEED")); err == nil {
			apiMax = v
		}
		if have < apiMax {
			e.seed(b, have, min(n, apiMax))
			have = min(n, apiMax)
		}
		if have < n {
			e.seedBulk(b, have, n)
		}
		seedTime := time.Since(t0)
		have = n
		list := e.rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31"
		var first, get, put []time.Duration
		for i := range 21 {
			t := time.Now()
			e.do(b, "GET", list, "", 200)
			first = append(first, time.Since(t))
			t = time.Now()
			e.do(b, "GET", e.uai(fmt.Sprintf("uai-%06d", (i*7919)%n)), "", 200)
			get = append(get, time.Since(t))
			t = time.Now()
			e.do(b, "PUT", e.uai(fmt.Sprintf("uai-%06d", (i*7919)%n)), `{"location":"eastus","tags":{"i":"`+strconv.Itoa(i)+`"}}`, 200)
			put = append(put, time.Since(t))
		}
		t := time.Now()
		items := 0
		for path := list; path != ""; {
			var page struct {
				Value    []json.RawMessage
				NextLink string
			}
			json.Unmarshal(e.do(b, "GET", path, "", 200), &page)
			items += len(page.Value)
			path = ""
			if page.NextLink != "" {
				u, _ := url.Parse(page.NextLink)
				path = u.RequestURI()
			}
		}
		walk := time.Since(t)
		if items != n {
			b.Fatalf("walk listed %d of %d", items, n)
		}
		heap := liveHeap()
		perRes := float64(int64(heap)-int64(idle)) / float64(n)
		res := rss()
		fmt.Printf("ARM scale n=%d: first page %.2f ms, walk %.0f ms (%.1f µs/item), GET %.2f ms, PUT %.2f ms, live heap %.1f MB (idle %.1f MB) = %.0f B/identity, RSS %.0f MB (idle %.0f MB) = %.0f B/identity, seeded in %.1f s\n",
			n, ms(median(first)), ms(walk), float64(walk.Microseconds())/float64(n), ms(median(get)), ms(median(put)),
			float64(heap)/1e6, float64(idle)/1e6, perRes, float64(res)/1e6, float64(idleRSS)/1e6, float64(int64(res)-int64(idleRSS))/float64(n), seedTime.Seconds())
		b.ReportMetric(ms(median(first)), fmt.Sprintf("ms-first-page@%d", n))
		b.ReportMetric(perRes, fmt.Sprintf("heapB/identity@%d", n))
	}
	if f := os.Getenv("AMLID_BENCH_HEAPPROFILE"); f != "" {
		var buf bytes.Buffer
		runtime.GC()
		pprof.WriteHeapProfile(&buf)
		os.WriteFile(f, buf.Bytes(), 0o644)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
