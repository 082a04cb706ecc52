package blob_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azdatalake/file"
	"github.com/amlid/amlid/internal/testenv"
)

// BenchmarkDFS measures the DFS (ADLS Gen2) endpoint next to Blob, bearer
// tokens + RBAC, on one HNS account:
//
//   - a BENCH_DFS_MIB (default 256) MiB file written with azdatalake's
//     UploadStream (8 MiB appends, 4 in parallel, one flush) and read with
//     DownloadBuffer (8 MiB ranges, 4 in parallel), in MB/s, and the same
//     size through azblob (8 MiB blocks);
//   - a recursive ACL set (SetAccessControlRecursive, 2,000 paths per
//     request) over BENCH_ACL_PATHS (default 10,000) paths.
//
// scripts/bench-blob.sh runs it after the Blob benchmark.
func BenchmarkDFS(b *testing.B) {
	mib := envInt("BENCH_DFS_MIB", 256)
	nPaths := envInt("BENCH_ACL_PATHS", 10000)
	rounds := envInt("BENCH_ROUNDS", 3)
	size := int64(mib) << 20
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	ctx := context.Background()
	var dfsUp, dfsDown, blobUp, blobDown, aclSecs float64
	var aclCount int
	var renameSecs float64
	for b.Loop() {
		e := testenv.NewStorage(b, testenv.Options{Quiet: true})
		e.CreateAccount("dfsbench", map[string]any{"isHnsEnabled": true})
		w := e.NewApp("dfs-bench", e.Tenant())
		e.Grant(w.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("dfsbench"))
		fs := dlFS(b, e, w, "dfsbench", "bench")
		if _, err := fs.Create(ctx, nil); err != nil {
			b.Fatal(err)
		}
		bc := tokenClient(b, e, w, "dfsbench")
		for r := 0; r < rounds; r++ {
			f := fs.NewFileClient(fmt.Sprintf("big/r%d.bin", r))
			if _, err := f.Create(ctx, nil); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := f.UploadStream(ctx, stream(21, size), &file.UploadStreamOptions{ChunkSize: 8 << 20, Concurrency: 4}); err != nil {
				b.Fatal(err)
			}
			dfsUp = max(dfsUp, float64(size)/1e6/time.Since(start).Seconds())
			start = time.Now()
			n, err := f.DownloadBuffer(ctx, buf, &file.DownloadBufferOptions{ChunkSize: 8 << 20, Concurrency: 4})
			if err != nil || n != size {
				b.Fatalf("DFS download: %d bytes, %v", n, err)
			}
			dfsDown = max(dfsDown, float64(size)/1e6/time.Since(start).Seconds())
			if _, err := f.Delete(ctx, nil); err != nil {
				b.Fatal(err)
			}

			name := fmt.Sprintf("blob/r%d.bin", r)
			start = time.Now()
			if _, err := bc.UploadStream(ctx, "bench", name, stream(21, size), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4}); err != nil {
				b.Fatal(err)
			}
			blobUp = max(blobUp, float64(size)/1e6/time.Since(start).Seconds())
			start = time.Now()
			n, err = bc.DownloadBuffer(ctx, "bench", name, buf, &azblob.DownloadBufferOptions{BlockSize: 8 << 20, Concurrency: 4})
			if err != nil || n != size {
				b.Fatalf("Blob download: %d bytes, %v", n, err)
			}
			blobDown = max(blobDown, float64(size)/1e6/time.Since(start).Seconds())
			if _, err := bc.DeleteBlob(ctx, "bench", name, nil); err != nil {
				b.Fatal(err)
			}
		}

		// A tree of nPaths paths under "acl": 100 directories of files.
		perDir := max((nPaths-101+99)/100, 1)
		var next atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Value
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= 100*perDir {
						return
					}
					p := fmt.Sprintf("acl/d%03d/f%05d", i/perDir, i%perDir)
					if _, err := fs.NewFileClient(p).Create(ctx, nil); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		for r := 0; r < rounds; r++ {
			perms := []string{"r-x", "rwx"}[r%2]
			start := time.Now()
			res, err := fs.NewDirectoryClient("acl").SetAccessControlRecursive(ctx, "user::rwx,user:"+w.ObjectID+":"+perms+",group::r-x,mask::rwx,other::---",
				&directory.SetAccessControlRecursiveOptions{BatchSize: to.Ptr(int32(2000))})
			if err != nil {
				b.Fatal(err)
			}
			secs := time.Since(start).Seconds()
			aclCount = int(*res.DirectoriesSuccessful + *res.FilesSuccessful)
			if aclSecs == 0 || secs < aclSecs {
				aclSecs = secs
			}
		}
		// Renaming the whole tree is one request and one transaction.
		start := time.Now()
		if _, err := fs.NewDirectoryClient("acl").Rename(ctx, "acl-renamed", nil); err != nil {
			b.Fatal(err)
		}
		renameSecs = time.Since(start).Seconds()
	}
	b.ReportMetric(dfsUp, "dfs-append+flush-MB/s")
	b.ReportMetric(dfsDown, "dfs-read-MB/s")
	b.ReportMetric(blobUp, "blob-upload-MB/s")
	b.ReportMetric(blobDown, "blob-download-MB/s")
	b.ReportMetric(float64(aclCount)/aclSecs, "acl-paths/s")
	var sb strings.Builder
	store := os.Getenv("AMLID_TEST_STORE")
	if store == "" {
		store = "memory"
	}
	fmt.Fprintf(&sb, "\nDFS benchmark: %d MiB file, 8 MiB chunks, 4 parallel, bearer + RBAC, best of %d rounds; amlid store: %s\n", mib, rounds, store)
	fmt.Fprintf(&sb, "%-28s %14s %16s\n", "API", "write MB/s", "read MB/s")
	fmt.Fprintf(&sb, "%-28s %14.0f %16.0f\n", "DFS (append+flush, read)", dfsUp, dfsDown)
	fmt.Fprintf(&sb, "%-28s %14.0f %16.0f\n", "Blob (blocks, ranges)", blobUp, blobDown)
	fmt.Fprintf(&sb, "Directory rename of the same %d paths (one request, one transaction): %.2f s\n", aclCount, renameSecs)
	fmt.Fprintf(&sb, "Recursive ACL set over %d paths (2,000 per request): %.2f s, %.0f paths/s\n", aclCount, aclSecs, float64(aclCount)/aclSecs)
	b.Log(sb.String())
	fmt.Print(sb.String())
}
