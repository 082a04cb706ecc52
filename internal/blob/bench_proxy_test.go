package blob_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/testenv"
)

// BenchmarkBlobThroughProxy measures the same workloads as
// BenchmarkBlobVsAzurite (shared key) twice: direct to amlid's path-style
// Blob port, and as code written for Azure reaches it with
// `amlid env --azure-hostnames`: https://bench.blob.core.windows.net through
// amlid's proxy (CONNECT, TLS terminated by the proxy with a leaf for that
// name, the request handed to the Blob data plane in process). Target:
// ≥ 0.8× direct. scripts/bench-blob.sh runs it.
func BenchmarkBlobThroughProxy(b *testing.B) {
	largeMiB := envInt("BENCH_LARGE_MIB", 512)
	smallOps := envInt("BENCH_SMALL_OPS", 4000)
	rounds := envInt("BENCH_ROUNDS", 3)
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
		var up, down, ps float64
		for r := 0; r < rounds; r++ {
			u, d := benchLarge(b, c, dlBuf)
			up, down = max(up, u), max(down, d)
			ps = max(ps, benchSmall(b, c, smallOps))
		}
		rows = append(rows, row{name, up, down, ps})
		unit := strings.NewReplacer(" ", "", "(", "", ")", "").Replace(name)
		b.ReportMetric(up, unit+"-upload-MB/s")
		b.ReportMetric(down, unit+"-download-MB/s")
		b.ReportMetric(ps, unit+"-4KiB-pairs/s")
	}
	for b.Loop() {
		rows = nil
		e := testenv.NewStorage(b, testenv.Options{Quiet: true})
		e.CreateAccount("bench", nil)
		key := e.AccountKey("bench")
		run("direct (path-style)", keyClient(b, e, "bench", key))
		run("proxy (Azure name)", proxiedKeyClient(b, e, "bench", key))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nBlob through amlid's proxy: %d MiB blob (8 MiB blocks, 4 parallel), %d x 4 KiB put+get (16 parallel), shared key, best of %d rounds\n", largeMiB, smallOps, rounds)
	fmt.Fprintf(&sb, "%-24s %14s %16s %18s\n", "path", "upload MB/s", "download MB/s", "4 KiB put+get/s")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-24s %14.0f %16.0f %18.0f\n", r.name, r.up, r.down, r.smallPS)
	}
	if len(rows) == 2 {
		d, p := rows[0], rows[1]
		fmt.Fprintf(&sb, "%-24s %13.2fx %15.2fx %17.2fx   (target >= 0.80x)\n", "proxy / direct", p.up/d.up, p.down/d.down, p.smallPS/d.smallPS)
	}
	b.Log(sb.String())
	fmt.Print(sb.String())
}

// proxiedKeyClient is a shared-key client of https://{account}.blob.core.windows.net
// whose transport goes through a hostport proxy serving the harness's Blob
// handler, as HTTPS_PROXY would send it.
func proxiedKeyClient(b *testing.B, e *testenv.Env, account, key string) *azblob.Client {
	pool := hostport.New(hostport.Config{Host: "127.0.0.1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pool.SetIssuer(e.S.CA.IssueLeaf)
	pool.SetRouter(func(n azurehost.Name) (http.Handler, error) {
		if n.Service == azurehost.Blob {
			return e.S.Blob, nil
		}
		return nil, errors.New("not a blob name")
	})
	port, err := pool.ListenProxy(0)
	must(b, err)
	b.Cleanup(pool.CloseProxy)
	proxy, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	hc := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyURL(proxy), TLSClientConfig: e.S.CA.ClientTLSConfig(), MaxIdleConnsPerHost: 64,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	o := clientOpts(e)
	o.Transport = hc
	cred, err := azblob.NewSharedKeyCredential(account, key)
	must(b, err)
	c, err := azblob.NewClientWithSharedKeyCredential("https://"+account+".blob.core.windows.net/", cred, o)
	must(b, err)
	return c
}
