package blob_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/testenv"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clientOpts are azblob options against the test server (few retries, so
// refusals surface fast).
func clientOpts(e *testenv.Env) *azblob.ClientOptions {
	o := e.ClientOptions()
	o.Retry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond}
	return &azblob.ClientOptions{ClientOptions: o}
}

func tokenClient(t testing.TB, e *testenv.Env, app *testenv.App, account string) *azblob.Client {
	c, err := azblob.NewClient(e.AccountURL(account), e.Cred(app), clientOpts(e))
	must(t, err)
	return c
}

func keyClient(t testing.TB, e *testenv.Env, account, key string) *azblob.Client {
	cred, err := azblob.NewSharedKeyCredential(account, key)
	must(t, err)
	c, err := azblob.NewClientWithSharedKeyCredential(e.AccountURL(account), cred, clientOpts(e))
	must(t, err)
	return c
}

// stream is n deterministic pseudo-random bytes (AES-CTR keystream), made
// on the fly so large uploads never sit in memory.
func stream(seed byte, n int64) io.Reader {
	key := bytes.Repeat([]byte{seed}, 16)
	b, _ := aes.NewCipher(key)
	ctr := cipher.NewCTR(b, make([]byte, 16))
	return io.LimitReader(cipher.StreamReader{S: ctr, R: zeros{}}, n)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func streamBytes(seed byte, n int64) []byte {
	b, _ := io.ReadAll(stream(seed, n))
	return b
}

func sha(r io.Reader) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func errCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// TestAzblob drives the data plane with the Go SDK, once with an Entra
// token (Storage Blob Data Contributor) and once with the account key.
func TestAzblob(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("gosdk", nil)
	writer := e.NewApp("writer", e.Tenant())
	e.Grant(writer.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("gosdk"))
	key := e.AccountKey("gosdk")
	for _, mode := range []string{"token", "sharedkey"} {
		t.Run(mode, func(t *testing.T) {
			var c *azblob.Client
			if mode == "token" {
				c = tokenClient(t, e, writer, "gosdk")
			} else {
				c = keyClient(t, e, "gosdk", key)
			}
			ctx := t.Context()
			cont := "c-" + mode
			_, err := c.CreateContainer(ctx, cont, nil)
			must(t, err)
			if _, err := c.CreateContainer(ctx, cont, nil); !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				t.Fatalf("second create: want ContainerAlreadyExists, got %v", err)
			}
			// 1 byte.
			_, err = c.UploadBuffer(ctx, cont, "one", []byte{42}, nil)
			must(t, err)
			resp, err := c.DownloadStream(ctx, cont, "one", nil)
			must(t, err)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, []byte{42}) {
				t.Fatalf("1-byte blob: %v", got)
			}
			// 10 MiB single shot (UploadBuffer stays one Put Blob below 256 MiB).
			ten := streamBytes(7, 10<<20)
			up, err := c.UploadBuffer(ctx, cont, "dir/ten", ten, &azblob.UploadBufferOptions{
				HTTPHeaders: &blob.HTTPHeaders{BlobContentType: ptr("application/x-test")},
				Metadata:    map[string]*string{"owner": ptr("amlid")}})
			must(t, err)
			if up.ContentMD5 == nil {
				t.Fatal("Put Blob must return Content-MD5")
			}
			// Ranged download in parallel chunks (If-Match on later chunks).
			buf := make([]byte, len(ten))
			n, err := c.DownloadBuffer(ctx, cont, "dir/ten", buf, &azblob.DownloadBufferOptions{BlockSize: 1 << 20, Concurrency: 4})
			must(t, err)
			if n != int64(len(ten)) || !bytes.Equal(buf, ten) {
				t.Fatal("10 MiB round trip differs")
			}
			// A single range.
			bc := c.ServiceClient().NewContainerClient(cont).NewBlobClient("dir/ten")
			rr, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 1000, Count: 5000}})
			must(t, err)
			part, _ := io.ReadAll(rr.Body)
			rr.Body.Close()
			if !bytes.Equal(part, ten[1000:6000]) || rr.ContentRange == nil || *rr.ContentRange != "bytes 1000-5999/10485760" {
				t.Fatalf("range: %d bytes, Content-Range %v", len(part), rr.ContentRange)
			}
			if _, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 20 << 20, Count: 5}}); statusOf(err) != http.StatusRequestedRangeNotSatisfiable || errCode(err) != "InvalidRange" {
				t.Fatalf("range past the end: want 416 InvalidRange, got %v", err)
			}
			props, err := bc.GetProperties(ctx, nil)
			must(t, err)
			if *props.ContentLength != 10<<20 || *props.ContentType != "application/x-test" || *props.Metadata["Owner"] != "amlid" || props.CreationTime == nil {
				t.Fatalf("properties: len=%d type=%s meta=%v", *props.ContentLength, *props.ContentType, props.Metadata)
			}
			// Listing: prefixes and delimiters.
			for _, n := range []string{"a/1", "a/2", "a/b/3", "b/1", "c"} {
				_, err := c.UploadBuffer(ctx, cont, n, []byte(n), nil)
				must(t, err)
			}
			cc := c.ServiceClient().NewContainerClient(cont)
			var prefixes, blobs []string
			pager := cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{MaxResults: ptr(int32(2))})
			for pager.More() {
				page, err := pager.NextPage(ctx)
				must(t, err)
				for _, p := range page.Segment.BlobPrefixes {
					prefixes = append(prefixes, *p.Name)
				}
				for _, b := range page.Segment.BlobItems {
					blobs = append(blobs, *b.Name)
				}
			}
			if !slices.Equal(prefixes, []string{"a/", "b/", "dir/"}) || !slices.Equal(blobs, []string{"c", "one"}) {
				t.Fatalf("hierarchy: prefixes %v blobs %v", prefixes, blobs)
			}
			prefixes, blobs = nil, nil
			pager = cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: ptr("a/")})
			for pager.More() {
				page, err := pager.NextPage(ctx)
				must(t, err)
				for _, p := range page.Segment.BlobPrefixes {
					prefixes = append(prefixes, *p.Name)
				}
				for _, b := range page.Segment.BlobItems {
					blobs = append(blobs, *b.Name)
				}
			}
			if !slices.Equal(prefixes, []string{"a/b/"}) || !slices.Equal(blobs, []string{"a/1", "a/2"}) {
				t.Fatalf("hierarchy under a/: prefixes %v blobs %v", prefixes, blobs)
			}
			var flat []string
			fp := c.NewListBlobsFlatPager(cont, &azblob.ListBlobsFlatOptions{MaxResults: ptr(int32(3)), Include: azblob.ListBlobsInclude{Metadata: true}})
			for fp.More() {
				page, err := fp.NextPage(ctx)
				must(t, err)
				for _, b := range page.Segment.BlobItems {
					flat = append(flat, *b.Name)
					if *b.Name == "dir/ten" && (*b.Properties.ContentLength != 10<<20 || *b.Metadata["owner"] != "amlid") {
						t.Fatalf("list item: %+v %v", b.Properties, b.Metadata)
					}
				}
			}
			if !slices.Equal(flat, []string{"a/1", "a/2", "a/b/3", "b/1", "c", "dir/ten", "one"}) {
				t.Fatalf("flat list: %v", flat)
			}
			// Delete.
			_, err = c.DeleteBlob(ctx, cont, "c", nil)
			must(t, err)
			if _, err := c.DeleteBlob(ctx, cont, "c", nil); !bloberror.HasCode(err, bloberror.BlobNotFound) {
				t.Fatalf("second delete: %v", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestAzblobLarge uploads 300 MiB in blocks with UploadStream (data made
// on the fly) with a token and with the shared key, and reads it back.
func TestAzblobLarge(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("large", nil)
	writer := e.NewApp("writer", e.Tenant())
	e.Grant(writer.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("large"))
	const size = 300 << 20
	want := sha(stream(3, size))
	for _, mode := range []string{"token", "sharedkey"} {
		t.Run(mode, func(t *testing.T) {
			var c *azblob.Client
			if mode == "token" {
				c = tokenClient(t, e, writer, "large")
			} else {
				c = keyClient(t, e, "large", e.AccountKey("large"))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cont := "big-" + mode
			_, err := c.CreateContainer(ctx, cont, nil)
			must(t, err)
			start := time.Now()
			_, err = c.UploadStream(ctx, cont, "blob300", stream(3, size), &azblob.UploadStreamOptions{BlockSize: 8 << 20, Concurrency: 4})
			must(t, err)
			up := time.Since(start)
			bl, err := c.ServiceClient().NewContainerClient(cont).NewBlockBlobClient("blob300").GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
			must(t, err)
			if len(bl.CommittedBlocks) != 38 || len(bl.UncommittedBlocks) != 0 {
				t.Fatalf("block list: %d committed, %d uncommitted", len(bl.CommittedBlocks), len(bl.UncommittedBlocks))
			}
			start = time.Now()
			resp, err := c.DownloadStream(ctx, cont, "blob300", nil)
			must(t, err)
			got := sha(resp.Body)
			resp.Body.Close()
			if got != want {
				t.Fatal("300 MiB download differs from the upload")
			}
			t.Logf("%s: 300 MiB up %v (%.0f MB/s), down %v", mode, up.Round(time.Millisecond), size/1e6/up.Seconds(), time.Since(start).Round(time.Millisecond))
		})
	}
}

var _ = strings.Contains
