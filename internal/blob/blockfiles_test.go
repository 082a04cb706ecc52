package blob_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/amlid/amlid/internal/testenv"
)

// TestBlockFiles pins how block data lives on disk (issue 23, large
// transfers) with azblob's block blob client: a block being received is
// written in place in its container's directory (no temporary file), a Put
// Block whose body breaks leaves no file, the files of a replaced version go once the
// new version is committed (in the background) while a download that
// started on the old version still gets all of it, and only the new
// version's files remain.
func TestBlockFiles(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("filesacct", nil)
	key := e.AccountKey("filesacct")
	c := keyClient(t, e, "filesacct", key)
	ctx := t.Context()
	_, err := c.CreateContainer(ctx, "box", nil)
	must(t, err)
	bb := c.ServiceClient().NewContainerClient("box").NewBlockBlobClient("b")
	upload := func(seed byte, blocks int) []byte {
		var all []byte
		var ids []string
		for i := range blocks {
			data := streamBytes(seed+byte(i), 300<<10)
			id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%08d", i))
			_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), nil)
			must(t, err)
			all, ids = append(all, data...), append(ids, id)
		}
		_, err := bb.CommitBlockList(ctx, ids, nil)
		must(t, err)
		return all
	}
	dataFiles := func() int { return countFiles(t, filepath.Join(e.BlobDir(), "c")) }
	// eventually waits (bounded) for the background removals to reach want.
	eventually := func(what string, want int) {
		t.Helper()
		for i := 0; ; i++ {
			e.S.Blob.WaitRemovals()
			n := dataFiles()
			if n == want {
				return
			}
			if i == 200 {
				t.Fatalf("%s: %d data files, want %d", what, n, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	v1 := upload(1, 3)
	if n := dataFiles(); n != 3 {
		t.Fatalf("3 committed blocks: %d data files", n)
	}

	// A Put Block being received is written in place in the container's
	// directory; when its client dies half-way, nothing is left behind.
	s := accountSAS(t, "filesacct", key, allPerms, allTypes)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) }) // if it fails half-way
	req, err := http.NewRequest(http.MethodPut, e.BlobURL()+"/filesacct/box/b?comp=block&blockid="+
		base64.StdEncoding.EncodeToString([]byte("00000009"))+"&"+s, pr)
	must(t, err)
	req.ContentLength = 4 << 20
	req.Header.Set("x-ms-version", "2021-12-02")
	failed := make(chan error, 1)
	go func() {
		resp, err := e.HTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the broken Put Block answered %d", resp.StatusCode)
		} else {
			err = nil
		}
		failed <- err
	}()
	_, err = pw.Write(make([]byte, 2<<20))
	must(t, err)
	eventually("while a Put Block is received", 4)
	if n := countFiles(t, filepath.Join(e.BlobDir(), "tmp")); n != 0 {
		t.Fatalf("block data goes through temporary files: %d in tmp", n)
	}
	pw.CloseWithError(errors.New("client died"))
	must(t, <-failed)
	eventually("after a broken Put Block", 3)

	// A download of v1 is under way while v2 replaces it.
	resp, err := c.DownloadStream(ctx, "box", "b", nil)
	must(t, err)
	first := make([]byte, 1)
	_, err = io.ReadFull(resp.Body, first)
	must(t, err)
	v2 := upload(7, 2)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	if got := append(first, rest...); !bytes.Equal(got, v1) {
		t.Fatalf("the download begun on v1 got %d bytes, not v1 (%d bytes)", len(got), len(v1))
	}
	eventually("after v2 replaced v1", 2)
	got, err := c.DownloadStream(ctx, "box", "b", nil)
	must(t, err)
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	must(t, err)
	if !bytes.Equal(body, v2) {
		t.Fatalf("v2 reads back %d bytes, want %d", len(body), len(v2))
	}
}
