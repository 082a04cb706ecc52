package blob_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	blobpkg "github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/testenv"
)

// TestOperations covers conditional requests, properties, metadata, copy,
// block lists, container ACLs and anonymous access with the Go SDK.
func TestOperations(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("opsacct", map[string]any{"allowBlobPublicAccess": true})
	key := e.AccountKey("opsacct")
	c := keyClient(t, e, "opsacct", key)
	ctx := t.Context()
	_, err := c.CreateContainer(ctx, "box", &azblob.CreateContainerOptions{Metadata: map[string]*string{"team": ptr("ml")}})
	must(t, err)
	cc := c.ServiceClient().NewContainerClient("box")
	bb := cc.NewBlockBlobClient("doc.txt")

	t.Run("conditional headers", func(t *testing.T) {
		up, err := bb.UploadBuffer(ctx, []byte("v1"), nil)
		must(t, err)
		etag := *up.ETag
		// If-None-Match: * on an existing blob.
		_, err = bb.Upload(ctx, streamSeeker("v2"), &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: ptr(azcore.ETagAny)}}})
		if !bloberror.HasCode(err, bloberror.BlobAlreadyExists) || statusOf(err) != http.StatusConflict {
			t.Fatalf("If-None-Match * on an existing blob: %v", err)
		}
		// If-Match with a stale ETag.
		_, err = bb.Upload(ctx, streamSeeker("v2"), &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: ptr(azcore.ETag(`"0x1"`))}}})
		if !bloberror.HasCode(err, bloberror.ConditionNotMet) || statusOf(err) != http.StatusPreconditionFailed {
			t.Fatalf("stale If-Match: %v", err)
		}
		up2, err := bb.Upload(ctx, streamSeeker("v2"), &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}}})
		must(t, err)
		if *up2.ETag == etag {
			t.Fatal("the ETag must change on every write")
		}
		// Reads: If-None-Match with the current ETag is 304.
		// (azblob's Download accepts 304 as a response, not an error.)
		nm, err := bb.DownloadStream(ctx, &blob.DownloadStreamOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: up2.ETag}}})
		if err != nil || nm.ErrorCode == nil || *nm.ErrorCode != "ConditionNotMet" {
			t.Fatalf("If-None-Match current: %v %+v", err, nm)
		}
		if nm.Body != nil {
			nm.Body.Close()
		}
		future := time.Now().Add(time.Hour)
		_, err = bb.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfModifiedSince: &future}}})
		if statusOf(err) != http.StatusNotModified {
			t.Fatalf("If-Modified-Since future: %v", err)
		}
		past := time.Now().Add(-time.Hour)
		_, err = bb.SetMetadata(ctx, map[string]*string{"a": ptr("b")}, &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfUnmodifiedSince: &past}}})
		if !bloberror.HasCode(err, bloberror.ConditionNotMet) {
			t.Fatalf("If-Unmodified-Since past on a write: %v", err)
		}
		_, err = bb.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}}})
		if !bloberror.HasCode(err, bloberror.ConditionNotMet) {
			t.Fatalf("delete with a stale If-Match: %v", err)
		}
	})
	t.Run("content properties and metadata", func(t *testing.T) {
		body := []byte("<h1>hi</h1>")
		sum := md5.Sum(body)
		_, err := bb.UploadBuffer(ctx, body, &blockblob.UploadBufferOptions{HTTPHeaders: &blob.HTTPHeaders{
			BlobContentType: ptr("text/html"), BlobContentEncoding: ptr("identity"), BlobContentLanguage: ptr("en"),
			BlobContentDisposition: ptr("attachment"), BlobCacheControl: ptr("no-cache"), BlobContentMD5: sum[:]},
			Metadata: map[string]*string{"k1": ptr("v1")}})
		must(t, err)
		p, err := bb.GetProperties(ctx, nil)
		must(t, err)
		if *p.ContentType != "text/html" || *p.ContentEncoding != "identity" || *p.ContentLanguage != "en" || *p.ContentDisposition != "attachment" ||
			*p.CacheControl != "no-cache" || !bytes.Equal(p.ContentMD5, sum[:]) || *p.Metadata["K1"] != "v1" || *p.AccessTier != "Hot" {
			t.Fatalf("properties: %+v", p)
		}
		_, err = bb.SetHTTPHeaders(ctx, blob.HTTPHeaders{BlobContentType: ptr("text/plain")}, nil)
		must(t, err)
		p, err = bb.GetProperties(ctx, nil)
		must(t, err)
		if *p.ContentType != "text/plain" || p.CacheControl != nil {
			t.Fatalf("Set Blob Properties replaces every content property: %v %v", *p.ContentType, p.CacheControl)
		}
		_, err = bb.SetMetadata(ctx, map[string]*string{"k2": ptr("v2")}, nil)
		must(t, err)
		p, err = bb.GetProperties(ctx, nil)
		must(t, err)
		if len(p.Metadata) != 1 || *p.Metadata["K2"] != "v2" {
			t.Fatalf("metadata: %v", p.Metadata)
		}
		_, err = bb.SetTier(ctx, blob.AccessTierCool, nil)
		must(t, err)
		p, err = bb.GetProperties(ctx, nil)
		must(t, err)
		if *p.AccessTier != "Cool" {
			t.Fatalf("tier: %v", *p.AccessTier)
		}
	})
	t.Run("copy within amlid", func(t *testing.T) {
		src := cc.NewBlockBlobClient("src.bin")
		data := streamBytes(5, 300<<10)
		_, err := src.UploadBuffer(ctx, data, &blockblob.UploadBufferOptions{Metadata: map[string]*string{"from": ptr("src")}})
		must(t, err)
		_, err = c.CreateContainer(ctx, "other", nil)
		must(t, err)
		dst := c.ServiceClient().NewContainerClient("other").NewBlobClient("dst.bin")
		resp, err := dst.StartCopyFromURL(ctx, src.URL(), nil)
		must(t, err)
		if *resp.CopyStatus != blob.CopyStatusTypeSuccess || resp.CopyID == nil {
			t.Fatalf("copy: %+v", resp)
		}
		got := readAll(t, dst)
		if !bytes.Equal(got, data) {
			t.Fatal("copied content differs")
		}
		p, err := dst.GetProperties(ctx, nil)
		must(t, err)
		if *p.CopyStatus != blob.CopyStatusTypeSuccess || *p.Metadata["From"] != "src" || *p.CopySource != src.URL() {
			t.Fatalf("copy properties: %+v", p)
		}
		// The source is independent of the copy.
		_, err = src.Delete(ctx, nil)
		must(t, err)
		if got := readAll(t, dst); !bytes.Equal(got, data) {
			t.Fatal("copy changed when the source went away")
		}
		if _, err := dst.AbortCopyFromURL(ctx, *resp.CopyID, nil); !bloberror.HasCode(err, bloberror.NoPendingCopyOperation) {
			t.Fatalf("abort: %v", err)
		}
		// A missing source.
		if _, err := dst.StartCopyFromURL(ctx, src.URL(), nil); !bloberror.HasCode(err, bloberror.CannotVerifyCopySource) {
			t.Fatalf("copy of a missing source: %v", err)
		}
	})
	t.Run("block lists", func(t *testing.T) {
		b := cc.NewBlockBlobClient("blocks")
		ids := []string{base64.StdEncoding.EncodeToString([]byte("id-1")), base64.StdEncoding.EncodeToString([]byte("id-2")), base64.StdEncoding.EncodeToString([]byte("id-3"))}
		for i, id := range ids {
			_, err := b.StageBlock(ctx, id, streamSeeker(strings.Repeat(string(rune('a'+i)), 10)), nil)
			must(t, err)
		}
		bl, err := b.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
		must(t, err)
		if len(bl.UncommittedBlocks) != 3 || len(bl.CommittedBlocks) != 0 {
			t.Fatalf("staged: %d/%d", len(bl.UncommittedBlocks), len(bl.CommittedBlocks))
		}
		_, err = b.CommitBlockList(ctx, []string{ids[2], ids[0]}, nil)
		must(t, err)
		if got := string(readAll(t, b.BlobClient())); got != "ccccccccccaaaaaaaaaa" {
			t.Fatalf("committed: %q", got)
		}
		bl, err = b.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
		must(t, err)
		if len(bl.CommittedBlocks) != 2 || *bl.CommittedBlocks[0].Name != ids[2] || len(bl.UncommittedBlocks) != 0 {
			t.Fatalf("after commit: %d committed, %d uncommitted (unused blocks are discarded)", len(bl.CommittedBlocks), len(bl.UncommittedBlocks))
		}
	})
	t.Run("containers", func(t *testing.T) {
		p, err := cc.GetProperties(ctx, nil)
		must(t, err)
		if *p.Metadata["Team"] != "ml" || p.BlobPublicAccess != nil {
			t.Fatalf("container properties: %+v", p)
		}
		_, err = cc.SetMetadata(ctx, &container.SetMetadataOptions{Metadata: map[string]*string{"stage": ptr("prod")}})
		must(t, err)
		for _, n := range []string{"cc1", "cc2", "cc3"} {
			_, err := c.CreateContainer(ctx, n, nil)
			must(t, err)
		}
		var names []string
		pager := c.NewListContainersPager(&azblob.ListContainersOptions{MaxResults: ptr(int32(2)), Include: service.ListContainersInclude{Metadata: true}})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			must(t, err)
			for _, ci := range page.ContainerItems {
				names = append(names, *ci.Name)
				if *ci.Name == "box" && *ci.Metadata["stage"] != "prod" {
					t.Fatalf("listed metadata: %v", ci.Metadata)
				}
			}
		}
		if !slices.Equal(names, []string{"box", "cc1", "cc2", "cc3", "other"}) {
			t.Fatalf("containers: %v", names)
		}
		_, err = c.DeleteContainer(ctx, "cc3", nil)
		must(t, err)
		if _, err := c.DeleteContainer(ctx, "cc3", nil); !bloberror.HasCode(err, bloberror.ContainerNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := c.CreateContainer(ctx, "Bad_Name", nil); !bloberror.HasCode(err, bloberror.InvalidResourceName) {
			t.Fatalf("bad name: %v", err)
		}
	})
	t.Run("public access", func(t *testing.T) {
		_, err := c.CreateContainer(ctx, "pub", &azblob.CreateContainerOptions{Access: ptr(container.PublicAccessTypeBlob)})
		must(t, err)
		_, err = c.UploadBuffer(ctx, "pub", "open.txt", []byte("public"), nil)
		must(t, err)
		anon, err := azblob.NewClientWithNoCredential(e.AccountURL("opsacct"), clientOpts(e))
		must(t, err)
		resp, err := anon.DownloadStream(ctx, "pub", "open.txt", nil)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "public" {
			t.Fatalf("anonymous read: %q", b)
		}
		// Blob level: no anonymous listing.
		if _, err := anon.NewListBlobsFlatPager("pub", nil).NextPage(ctx); !bloberror.HasCode(err, bloberror.NoAuthenticationInformation) {
			t.Fatalf("anonymous list on blob-level access: %v", err)
		}
		// Container level allows listing.
		_, err = c.ServiceClient().NewContainerClient("pub").SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{Access: ptr(container.PublicAccessTypeContainer)})
		must(t, err)
		if _, err := anon.NewListBlobsFlatPager("pub", nil).NextPage(ctx); err != nil {
			t.Fatalf("anonymous list on container-level access: %v", err)
		}
		// Writes are never anonymous.
		if _, err := anon.UploadBuffer(ctx, "pub", "x", []byte("x"), nil); !bloberror.HasCode(err, bloberror.NoAuthenticationInformation) {
			t.Fatalf("anonymous write: %v", err)
		}
		// An account without public access refuses public containers.
		e.CreateAccount("closedacct", nil)
		kc := keyClient(t, e, "closedacct", e.AccountKey("closedacct"))
		if _, err := kc.CreateContainer(ctx, "pub", &azblob.CreateContainerOptions{Access: ptr(container.PublicAccessTypeBlob)}); !bloberror.HasCode(err, bloberror.Code("PublicAccessNotPermitted")) {
			t.Fatalf("public container on a closed account: %v", err)
		}
		// Turning public access off on the account stops anonymous reads.
		st, out := e.ARM(e.Admin, http.MethodPatch, e.AccountPath("opsacct"), testenv.StorageAPIVersion, map[string]any{"properties": map[string]any{"allowBlobPublicAccess": false}})
		testenv.MustStatus(t, "PATCH allowBlobPublicAccess", st, http.StatusOK, out)
		if _, err := anon.DownloadStream(ctx, "pub", "open.txt", nil); !bloberror.HasCode(err, bloberror.Code("PublicAccessNotPermitted")) {
			t.Fatalf("anonymous read after public access was turned off: %v", err)
		}
	})
	t.Run("container delete removes blobs and files", func(t *testing.T) {
		_, err := c.CreateContainer(ctx, "gone", nil)
		must(t, err)
		_, err = c.UploadBuffer(ctx, "gone", "big", streamBytes(1, 200<<10), nil)
		must(t, err)
		e.S.Blob.WaitRemovals() // files replaced by earlier subtests go in the background
		files := countFiles(t, e.BlobDir())
		_, err = c.DeleteContainer(ctx, "gone", nil)
		must(t, err)
		if n := countFiles(t, e.BlobDir()); n != files-1 {
			t.Fatalf("files after container delete: %d, want %d", n, files-1)
		}
		_, err = c.CreateContainer(ctx, "gone", nil)
		must(t, err)
		if page, err := c.NewListBlobsFlatPager("gone", nil).NextPage(ctx); err != nil || len(page.Segment.BlobItems) != 0 {
			t.Fatalf("a recreated container starts empty: %v %v", err, page.Segment.BlobItems)
		}
	})
	t.Run("concurrent writers (group commit)", func(t *testing.T) {
		// 24 creates of one name with If-None-Match: * race in batches:
		// exactly one wins, the others get 409; distinct names all land.
		var wg sync.WaitGroup
		var won, lost, other atomic.Int32
		for i := 0; i < 24; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := cc.NewBlockBlobClient("race").Upload(ctx, streamSeeker("w"), &blockblob.UploadOptions{AccessConditions: &blob.AccessConditions{
					ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: ptr(azcore.ETagAny)}}})
				switch {
				case err == nil:
					won.Add(1)
				case bloberror.HasCode(err, bloberror.BlobAlreadyExists):
					lost.Add(1)
				default:
					other.Add(1)
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := cc.NewBlockBlobClient("distinct-"+strconv.Itoa(i)).UploadBuffer(ctx, []byte(strconv.Itoa(i)), nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 || lost.Load() != 23 || other.Load() != 0 {
			t.Fatalf("If-None-Match race: %d won, %d lost, %d other", won.Load(), lost.Load(), other.Load())
		}
		for i := 0; i < 24; i++ {
			if got := string(readAll(t, cc.NewBlobClient("distinct-"+strconv.Itoa(i)))); got != strconv.Itoa(i) {
				t.Fatalf("distinct-%d: %q", i, got)
			}
		}
	})
	t.Run("host-style URLs", func(t *testing.T) {
		// <account>.blob.<suffix> (an /etc/hosts entry pointing at amlid)
		// addresses the same account as the path-style URL.
		do := func(method, path string, body string, hdr map[string]string) (int, string) {
			req, err := http.NewRequest(method, e.BlobURL()+path, strings.NewReader(body))
			must(t, err)
			req.Host = "opsacct.blob.core.windows.net"
			req.Header.Set("x-ms-version", "2021-12-02")
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			k, _ := base64.StdEncoding.DecodeString(key)
			blobpkg.SignSharedKey(req, "opsacct", k)
			resp, err := e.HTTP.Do(req)
			must(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if st, body := do(http.MethodPut, "/box/host-style.txt", "via host", map[string]string{"x-ms-blob-type": "BlockBlob"}); st != http.StatusCreated {
			t.Fatalf("host-style put: %d %s", st, body)
		}
		if got := string(readAll(t, cc.NewBlobClient("host-style.txt"))); got != "via host" {
			t.Fatalf("path-style read of a host-style write: %q", got)
		}
		if st, body := do(http.MethodGet, "/box?restype=container&comp=list&prefix=host", "", nil); st != http.StatusOK || !strings.Contains(body, "<Name>host-style.txt</Name>") {
			t.Fatalf("host-style list: %d %s", st, body)
		}
	})
	t.Run("account information", func(t *testing.T) {
		info, err := c.ServiceClient().GetAccountInfo(ctx, nil)
		must(t, err)
		if *info.SKUName != "Standard_LRS" || *info.AccountKind != "StorageV2" {
			t.Fatalf("account info: %+v", info)
		}
		if _, err := c.ServiceClient().GetProperties(ctx, nil); err != nil {
			t.Fatalf("service properties: %v", err)
		}
	})
}

func readAll(t testing.TB, b *blob.Client) []byte {
	t.Helper()
	resp, err := b.DownloadStream(t.Context(), nil)
	must(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	return data
}

type rsc struct{ *strings.Reader }

func (rsc) Close() error { return nil }

func streamSeeker(s string) rsc { return rsc{strings.NewReader(s)} }

func countFiles(t testing.TB, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	_ = os.Stat
	return n
}
