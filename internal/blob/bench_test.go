package blob_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/storetest"
	"github.com/amlid/amlid/internal/testenv"
)

// BenchmarkBlobVsAzurite measures, with one client (azblob) and the same
// workloads, Azurite and amlid (shared key, and bearer tokens + RBAC):
//
//   - large: a BENCH_LARGE_MIB blob uploaded in 8 MiB blocks (4 at a
//     time), then downloaded in 8 MiB ranges (4 at a time), in MB/s;
//   - small: 4 KiB Put Blob + Get Blob pairs from 16 goroutines, in
//     pairs/s.
//
// scripts/bench-blob.sh installs Azurite and runs it:
//
//	AZURITE_BLOB=/path/to/azurite-blob go test ./internal/blob/ -run '^$' -bench BlobVsAzurite -benchtime 1x
//
// Without AZURITE_BLOB only amlid is measured. AMLID_TEST_STORE=sqlite
// puts amlid's metadata in SQLite (the `amlid up` default) instead of
// memory.
func BenchmarkBlobVsAzurite(b *testing.B) {
	largeMiB := envInt("BENCH_LARGE_MIB", 512)
	smallOps := envInt("BENCH_SMALL_OPS", 4000)
	rounds := envInt("BENCH_ROUNDS", 3)
	// One download buffer for every server, touched once so page faults
	// are not measured.
	dlBuf := make([]byte, int64(largeMiB)<<20)
	for i := 0; i < len(dlBuf); i += 4096 {
		dlBuf[i] = 1
	}
	type row struct {
		name              string
		up, down, smallPS float64
	}
	var rows []row
	run := func(name string, c *azblob.Client) {
		// Best of rounds: the machine may be shared.
		var up, down, ps float64
		for r := 0; r < rounds; r++ {
			u, d := benchLarge(b, c, dlBuf)
			up, down = max(up, u), max(down, d)
			ps = max(ps, benchSmall(b, c, smallOps))
		}
		rows = append(rows, row{name, up, down, ps})
		unit := strings.NewReplacer(" ", "", "(", "", ")", "", "+", "").Replace(name)
		b.ReportMetric(up, unit+"-upload-MB/s")
		b.ReportMetric(down, unit+"-download-MB/s")
		b.ReportMetric(ps, unit+"-4KiB-pairs/s")
	}
	for b.Loop() {
		rows = nil
		if bin := os.Getenv("AZURITE_BLOB"); bin != "" {
			run("azurite (shared key)", startAzurite(b, bin))
		}
		e := testenv.NewStorage(b, testenv.Options{Quiet: true})
		e.CreateAccount("bench", nil)
		key := e.AccountKey("bench")
		run("amlid shared key", keyClient(b, e, "bench", key))
		w := e.NewApp("bench-writer", e.Tenant())
		e.Grant(w.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("bench"))
		run("amlid bearer + RBAC", tokenClient(b, e, w, "bench"))
	}
	store := os.Getenv("AMLID_TEST_STORE")
	switch store {
	case "", "memory":
		store = "memory (store/memory, `amlid up --store memory`)"
	case "sqlite":
		store = "SQLite (the `amlid up` default)"
	case "memidx":
		store = "memidx (storetest.KindStore: store/memory indexed by kind, a proposed fix, not shipped)"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBlob benchmark: %d MiB blob (8 MiB blocks, 4 parallel), %d x 4 KiB put+get (16 parallel), best of %d rounds; amlid store: %s\n", largeMiB, smallOps, rounds, store)
	fmt.Fprintf(&sb, "%-24s %14s %16s %18s\n", "server", "upload MB/s", "download MB/s", "4 KiB put+get/s")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-24s %14.0f %16.0f %18.0f\n", r.name, r.up, r.down, r.smallPS)
	}
	if len(rows) == 3 {
		az := rows[0]
		for _, r := range rows[1:] {
			fmt.Fprintf(&sb, "%-24s %13.1fx %15.1fx %17.1fx   (vs Azurite)\n", r.name, r.up/az.up, r.down/az.down, r.smallPS/az.smallPS)
		}
	}
	if n := len(rows); n >= 2 {
		k, t := rows[n-2], rows[n-1]
		fmt.Fprintf(&sb, "%-24s %13.0f%% %15.0f%% %17.0f%%   (bearer + RBAC vs shared key)\n", "RBAC overhead", 100*(1-t.up/k.up), 100*(1-t.down/k.down), 100*(1-t.smallPS/k.smallPS))
	}
	b.Log(sb.String())
	fmt.Print(sb.String())
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchLarge(b *testing.B, c *azblob.Client, buf []byte) (upMBs, downMBs float64) {
	size := int64(len(buf))
	ctx := context.Background()
	cont := fmt.Sprintf("large%d", time.Now().UnixNano())
	if _, err := c.CreateContainer(ctx, cont, nil); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := c.UploadStream(ctx, cont, "big", stream(11, size), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4}); err != nil {
		b.Fatal(err)
	}
	upMBs = float64(size) / 1e6 / time.Since(start).Seconds()
	start = time.Now()
	n, err := c.DownloadBuffer(ctx, cont, "big", buf, &azblob.DownloadBufferOptions{BlockSize: 8 << 20, Concurrency: 4})
	if err != nil || n != size {
		b.Fatalf("download: %d bytes, %v", n, err)
	}
	downMBs = float64(size) / 1e6 / time.Since(start).Seconds()
	_, _ = c.DeleteContainer(ctx, cont, nil)
	return upMBs, downMBs
}

func benchSmall(b *testing.B, c *azblob.Client, ops int) float64 {
	ctx := context.Background()
	cont := fmt.Sprintf("small%d", time.Now().UnixNano())
	if _, err := c.CreateContainer(ctx, cont, nil); err != nil {
		b.Fatal(err)
	}
	data := streamBytes(12, 4096)
	// Warm up connections and token caches.
	for i := 0; i < 32; i++ {
		if _, err := c.UploadBuffer(ctx, cont, "warm", data, nil); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(ops) {
					return
				}
				name := "obj-" + strconv.FormatInt(i, 10)
				if _, err := c.UploadBuffer(ctx, cont, name, data, nil); err != nil {
					failed.Store(err)
					return
				}
				resp, err := c.DownloadStream(ctx, cont, name, nil)
				if err != nil {
					failed.Store(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != 4096 {
					failed.Store(fmt.Errorf("short read %d", n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	ps := float64(ops) / time.Since(start).Seconds()
	_, _ = c.DeleteContainer(ctx, cont, nil)
	return ps
}

// Azurite's well-known development account.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startAzurite runs azurite-blob over HTTPS (the same CA as amlid's
// listener) on a free port with its data on disk, and stops it with the
// benchmark.
func startAzurite(b *testing.B, bin string) *azblob.Client {
	env := testenv.NewStorage(b, testenv.Options{Quiet: true}) // for its CA and client transport
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := b.TempDir()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--location", dir,
		"--cert", filepath.Join(env.S.CA.Dir, "server.pem"), "--key", filepath.Join(env.S.CA.Dir, "server-key.pem"),
		"--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start azurite: %v", err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/" + azuriteAccount + "/"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := env.HTTP.Get(url + "?comp=list")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("azurite did not start: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		b.Fatal(err)
	}
	o := env.ClientOptions()
	o.Retry = policy.RetryOptions{MaxRetries: 1}
	c, err := azblob.NewClientWithSharedKeyCredential(url, cred, &azblob.ClientOptions{ClientOptions: o})
	if err != nil {
		b.Fatal(err)
	}
	_ = http.MethodGet
	return c
}

// BenchmarkSmallAuth is one 4 KiB Put Blob + Get Blob pair at a time, with
// the account key and with a bearer token + RBAC (SQLite metadata with
// AMLID_TEST_STORE=sqlite): the per-request cost of authentication and
// authorization, for profiling.
//
//	AMLID_TEST_STORE=sqlite go test ./internal/blob/ -run '^$' -bench SmallAuth -cpuprofile cpu.out
func BenchmarkSmallAuth(b *testing.B) {
	var counter *storetest.CountingStore
	e := testenv.NewStorage(b, testenv.Options{Quiet: true, WrapStore: func(st store.Store) store.Store {
		counter = &storetest.CountingStore{Store: st}
		return counter
	}})
	e.CreateAccount("bench", nil)
	w := e.NewApp("bench-writer", e.Tenant())
	e.Grant(w.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("bench"))
	data := streamBytes(12, 4096)
	for _, mode := range []string{"sharedkey", "bearer"} {
		c := keyClient(b, e, "bench", e.AccountKey("bench"))
		if strings.HasPrefix(mode, "bearer") {
			c = tokenClient(b, e, w, "bench")
		}
		ctx := context.Background()
		cont := "small-" + mode
		if _, err := c.CreateContainer(ctx, cont, nil); err != nil {
			b.Fatal(err)
		}
		// Store reads of one authenticated GET (outside transactions).
		if _, err := c.UploadBuffer(ctx, cont, "probe", data, nil); err != nil {
			b.Fatal(err)
		}
		for range 2 { // the second GET sees warm caches
			before := counter.Reads.Load()
			resp, err := c.DownloadStream(ctx, cont, "probe", nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Printf("%s: %d store reads for one 4 KiB GET\n", mode, counter.Reads.Load()-before)
		}
		b.Run(mode, func(b *testing.B) {
			i := 0
			for b.Loop() {
				name := "obj-" + strconv.Itoa(i%100)
				i++
				if _, err := c.UploadBuffer(ctx, cont, name, data, nil); err != nil {
					b.Fatal(err)
				}
				resp, err := c.DownloadStream(ctx, cont, name, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
