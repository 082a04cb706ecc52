package blob_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/amlid/amlid/internal/testenv"
)

// BenchmarkLargeVsLimits puts amlid's large transfers next to what this
// machine can do with the same shape, measured in the same run and
// interleaved round by round so that a shared machine's load weighs on
// both alike:
//
//   - amlid upload: BENCH_LARGE_MIB staged by azblob's blockblob client as
//     8 MiB Put Blocks, 4 at a time, from memory (as the raw TLS client
//     sends), then one Put Block List replacing the blob of the round
//     before;
//     download: azblob's DownloadBuffer, 8 MiB ranged Gets, 4 at a time;
//     with the account key and with a bearer token + RBAC;
//   - raw TLS over loopback (amlid's CA and TLS settings, no HTTP, no
//     storage), 4 connections, 8 MiB pieces, each way;
//   - raw TLS received into a new file per 8 MiB piece with one fsync
//     each ("TLS + fsync"): the combined limit of an acknowledged upload,
//     both costs paid on the same cores;
//   - raw disk write + fsync of the same size, 4 writers.
//
// An upload's limit is min(raw TLS up, disk write + fsync); a download's is
// raw TLS down (the data is in the page cache). Fractions are taken within
// each round and summarised as median and range over rounds.
//
//	AMLID_TEST_STORE=sqlite BENCH_LARGE_MIB=256 BENCH_ROUNDS=5 go test ./internal/blob/ -run '^$' -bench LargeVsLimits -benchtime 1x
//
// BENCH_PHASES (comma-separated phase names, e.g. key-up) runs only those,
// for profiling one of them.
func BenchmarkLargeVsLimits(b *testing.B) {
	mib := envInt("BENCH_LARGE_MIB", 256)
	rounds := envInt("BENCH_ROUNDS", 5)
	size := int64(mib) << 20
	ctx := context.Background()

	raw := newRawTLS(b)
	diskDir := b.TempDir()
	e := testenv.NewStorage(b, testenv.Options{Quiet: true})
	e.CreateAccount("bench", nil)
	key := keyClient(b, e, "bench", e.AccountKey("bench"))
	w := e.NewApp("bench-writer", e.Tenant())
	e.Grant(w.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("bench"))
	bearer := tokenClient(b, e, w, "bench")
	for _, c := range []*azblob.Client{key, bearer} {
		if _, err := c.CreateContainer(ctx, "large", nil); err != nil && !strings.Contains(err.Error(), "ContainerAlreadyExists") {
			b.Fatal(err)
		}
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(stream(21, size), data); err != nil {
		b.Fatal(err)
	}
	dl := make([]byte, size)
	for i := 0; i < len(dl); i += 4096 {
		dl[i] = 1
	}
	// Each identity uploads and reads its own blob. An upload replaces
	// the blob of the round before; the old version's files are removed
	// in the background after the commit (dataStore.unlink), and that is
	// waited for outside the timed part, so that it weighs on no phase.
	up := func(c *azblob.Client, name string) func() float64 {
		return func() float64 {
			mbs := stageAndCommit(b, c, "large", name, data)
			e.S.Blob.WaitRemovals()
			return mbs
		}
	}
	down := func(c *azblob.Client, name string) func() float64 {
		return func() float64 { return parallelDownload(b, c, "large", name, dl) }
	}
	type phase struct {
		name string
		run  func() float64
	}
	phases := []phase{
		{"tls-up", func() float64 { return raw.xfer(b, 'u', size) }},
		{"tls-fsync-up", func() float64 { return raw.xfer(b, 'f', size) }},
		{"disk-fsync", func() float64 { return diskFsync(b, diskDir, size, raw.src) }},
		{"key-up", up(key, "big-key")},
		{"bearer-up", up(bearer, "big-bearer")},
		{"tls-down", func() float64 { return raw.xfer(b, 'd', size) }},
		{"key-down", down(key, "big-key")},
		{"bearer-down", down(bearer, "big-bearer")},
	}
	if only := os.Getenv("BENCH_PHASES"); only != "" {
		want := strings.Split(only, ",")
		phases = slices.DeleteFunc(phases, func(p phase) bool { return !slices.Contains(want, p.name) })
		if len(phases) == 0 {
			b.Fatalf("BENCH_PHASES=%s names no phase", only)
		}
		// A download needs the blob.
		stageAndCommit(b, key, "large", "big-key", data)
		stageAndCommit(b, key, "large", "big-bearer", data)
	}
	res := map[string][]float64{}
	cpu := map[string]float64{} // CPU seconds of this process (client and server) per GB
	for b.Loop() {
		for range rounds {
			for _, p := range phases {
				// Each phase starts with no writeback or discard left
				// from the one before (outside the timed part).
				syscall.Sync()
				c0 := cpuSeconds()
				res[p.name] = append(res[p.name], p.run())
				cpu[p.name] += (cpuSeconds() - c0) / (float64(size) / 1e9) / float64(rounds)
			}
		}
	}
	// Fractions are taken within each round (like with like), then
	// summarised over rounds.
	at := func(name string, i int) float64 {
		if v := res[name]; i < len(v) {
			return v[i]
		}
		return 0
	}
	frac := func(num string, den func(i int) float64) []float64 {
		var out []float64
		for i, v := range res[num] {
			if d := den(i); d > 0 {
				out = append(out, v/d)
			}
		}
		return out
	}
	of := func(name string) func(int) float64 { return func(i int) float64 { return at(name, i) } }
	upLimit := func(i int) float64 {
		if t, d := at("tls-up", i), at("disk-fsync", i); t > 0 && d > 0 {
			return min(t, d)
		}
		return 0
	}
	binds := "raw TLS binds"
	if median(res["disk-fsync"]) < median(res["tls-up"]) {
		binds = "disk write + fsync binds"
	}
	mbs := func(name string) string {
		v := res[name]
		if len(v) == 0 {
			return ""
		}
		return fmt.Sprintf("%5.0f [%4.0f..%4.0f]", median(v), slices.Min(v), slices.Max(v))
	}
	fx := func(f []float64) string {
		if len(f) == 0 {
			return ""
		}
		return fmt.Sprintf("%5.2fx [%4.2f..%4.2f]", median(f), slices.Min(f), slices.Max(f))
	}
	cpus := func(name string) string {
		if _, ok := res[name]; !ok {
			return ""
		}
		return fmt.Sprintf("%5.2f", cpu[name])
	}
	var sb strings.Builder
	row := func(label, up, down string) {
		sb.WriteString(strings.TrimRight(fmt.Sprintf("  %-42s %-22s %s", label, up, down), " ") + "\n")
	}
	fmt.Fprintf(&sb, "\nBlob large transfers: %d MiB, 8 MiB pieces x 4, %d rounds interleaved, median [min..max]; amlid store: %s\n",
		mib, rounds, storeName())
	row("MB/s", "upload", "download")
	row("amlid, account key", mbs("key-up"), mbs("key-down"))
	row("amlid, bearer + RBAC", mbs("bearer-up"), mbs("bearer-down"))
	row("raw TLS over loopback", mbs("tls-up"), mbs("tls-down"))
	row("raw TLS + fsync per 8 MiB piece", mbs("tls-fsync-up"), "")
	row("raw disk write + fsync", mbs("disk-fsync"), "")
	row("limit (up: min(TLS, disk); down: TLS)", binds, "raw TLS binds")
	for _, w := range []struct{ who, label string }{{"key", "account key"}, {"bearer", "bearer + RBAC"}} {
		row(w.label+" / limit", fx(frac(w.who+"-up", upLimit)), fx(frac(w.who+"-down", of("tls-down"))))
	}
	for _, w := range []struct{ who, label string }{{"key", "account key"}, {"bearer", "bearer + RBAC"}} {
		row(w.label+" / TLS + fsync", fx(frac(w.who+"-up", of("tls-fsync-up"))), "")
	}
	for _, w := range []struct{ who, label string }{{"key", "account key"}, {"bearer", "bearer + RBAC"}} {
		row(w.label+" / raw TLS", fx(frac(w.who+"-up", of("tls-up"))), fx(frac(w.who+"-down", of("tls-down"))))
	}
	row("CPU s/GB, this process (client + server)", "", "")
	row("  amlid, account key", cpus("key-up"), cpus("key-down"))
	row("  amlid, bearer + RBAC", cpus("bearer-up"), cpus("bearer-down"))
	row("  raw TLS", cpus("tls-up"), cpus("tls-down"))
	row("  raw TLS + fsync per piece", cpus("tls-fsync-up"), "")
	fmt.Fprintf(&sb, "  load average after the run: %s\n", loadAvg())
	for _, p := range phases {
		b.ReportMetric(median(res[p.name]), p.name+"-MB/s")
	}
	if f := frac("bearer-up", upLimit); len(f) > 0 {
		b.ReportMetric(median(f), "bearer-up/limit")
	}
	if f := frac("bearer-down", of("tls-down")); len(f) > 0 {
		b.ReportMetric(median(f), "bearer-down/limit")
	}
	fmt.Print(sb.String())
}

func storeName() string {
	if s := os.Getenv("AMLID_TEST_STORE"); s != "" {
		return s
	}
	return "memory"
}

func loadAvg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stageAndCommit uploads data as 8 MiB Put Blocks, 4 at a time, then one
// Put Block List: MB/s.
func stageAndCommit(b *testing.B, c *azblob.Client, cont, name string, data []byte) float64 {
	ctx := context.Background()
	bb := c.ServiceClient().NewContainerClient(cont).NewBlockBlobClient(name)
	n := (len(data) + limitPiece - 1) / limitPiece
	ids := make([]string, n)
	for i := range ids {
		ids[i] = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "block-%08d", i))
	}
	var mbs float64
	mbs = parallelPieces(b, int64(len(data)), func(_ int, off, k int64) error {
		_, err := bb.StageBlock(ctx, ids[off/limitPiece], streaming.NopCloser(bytes.NewReader(data[off:off+k])), nil)
		return err
	})
	// The commit is part of the upload: time it too.
	secs := float64(len(data)) / 1e6 / mbs
	start := nowSeconds()
	if _, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{}); err != nil {
		b.Fatal(err)
	}
	return float64(len(data)) / 1e6 / (secs + nowSeconds() - start)
}

// parallelDownload reads the blob into buf with azblob's DownloadBuffer,
// 8 MiB ranges, 4 at a time: MB/s.
func parallelDownload(b *testing.B, c *azblob.Client, cont, name string, buf []byte) float64 {
	start := nowSeconds()
	n, err := c.DownloadBuffer(context.Background(), cont, name, buf, &azblob.DownloadBufferOptions{BlockSize: limitPiece, Concurrency: limitParallel})
	if err != nil || n != int64(len(buf)) {
		b.Fatalf("download: %d bytes, %v", n, err)
	}
	return float64(len(buf)) / 1e6 / (nowSeconds() - start)
}

// cpuSeconds is the user + system CPU time of this process.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }
