package blob_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/testenv"
)

// failingReader yields n bytes, then fails (a client that dies mid-upload).
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client died")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// TestCrashSafety: an upload that dies leaves the old version visible and
// no file behind; what a crash leaves (temp files, written but uncommitted
// files, directories of deleted containers) is removed at start and by
// Sweep, and committed data is kept.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("crashacct", nil)
	key := e.AccountKey("crashacct")
	s := accountSAS(t, "crashacct", key, allPerms, allTypes)
	st, _, body := rawDo(t, e, http.MethodPut, "/crashacct/box?restype=container&"+s, nil, nil)
	testenv.MustStatus(t, "container", st, http.StatusCreated, body)
	v1 := bytes.Repeat([]byte("1"), 300<<10)
	st, _, body = rawDo(t, e, http.MethodPut, "/crashacct/box/b?"+s, map[string]string{"x-ms-blob-type": "BlockBlob"}, bytes.NewReader(v1))
	testenv.MustStatus(t, "v1", st, http.StatusCreated, body)
	files := countFiles(t, e.BlobDir())

	// A client dies half-way through v2.
	req, err := http.NewRequest(http.MethodPut, e.BlobURL()+"/crashacct/box/b?"+s, &failingReader{n: 200 << 10})
	must(t, err)
	req.ContentLength = 1 << 20
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	req.Header.Set("x-ms-version", "2021-12-02")
	if resp, err := e.HTTP.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the broken upload succeeded: %d", resp.StatusCode)
	}
	// The server notices the broken body asynchronously; poll briefly.
	for i := 0; i < 100 && countFiles(t, e.BlobDir()) != files; i++ {
		waitALittle()
	}
	st, _, got := rawDo(t, e, http.MethodGet, "/crashacct/box/b?"+s, nil, nil)
	if st != http.StatusOK || got != string(v1) {
		t.Fatalf("after a broken upload: %d (%d bytes)", st, len(got))
	}
	if n := countFiles(t, e.BlobDir()); n != files {
		t.Fatalf("a broken upload left files: %d, want %d", n, files)
	}

	// A crash leaves a temp file, a renamed but uncommitted file, and the
	// directory of a container whose delete committed.
	var uid string
	entries, _ := os.ReadDir(filepath.Join(e.BlobDir(), "c"))
	for _, d := range entries {
		uid = d.Name()
	}
	must(t, os.WriteFile(filepath.Join(e.BlobDir(), "tmp", "put-123"), []byte("half"), 0o600))
	must(t, os.WriteFile(filepath.Join(e.BlobDir(), "c", uid, "0123456789abcdef0123456789abcdef"), []byte("uncommitted"), 0o600))
	must(t, os.MkdirAll(filepath.Join(e.BlobDir(), "c", "fedcba9876543210fedcba9876543210"), 0o700))
	must(t, os.WriteFile(filepath.Join(e.BlobDir(), "c", "fedcba9876543210fedcba9876543210", "0123456789abcdef0123456789abcdef"), []byte("gone"), 0o600))

	// "Restart": a new handler on the same store and data directory.
	h2, err := blob.New(blob.Config{Storage: e.S.Storage, Tokens: e.S.Tokens, Authz: e.S.Authz, DataDir: e.BlobDir()})
	must(t, err)
	if _, err := os.Stat(filepath.Join(e.BlobDir(), "tmp", "put-123")); !os.IsNotExist(err) {
		t.Fatal("temp files survive a restart")
	}
	res, err := h2.Sweep(t.Context(), 0)
	must(t, err)
	if res.OrphanFiles != 1 || res.OrphanDirs != 1 {
		t.Fatalf("sweep: %+v", res)
	}
	if n := countFiles(t, e.BlobDir()); n != files {
		t.Fatalf("files after sweep: %d, want %d", n, files)
	}
	st, _, got = rawDo(t, e, http.MethodGet, "/crashacct/box/b?"+s, nil, nil)
	if st != http.StatusOK || got != string(v1) {
		t.Fatalf("after sweep: %d (%d bytes)", st, len(got))
	}
	// A sweep with a grace period leaves young files alone.
	must(t, os.WriteFile(filepath.Join(e.BlobDir(), "c", uid, "00000000000000000000000000000000"), []byte("in flight"), 0o600))
	res, err = h2.Sweep(t.Context(), 3600e9)
	must(t, err)
	if res.OrphanFiles != 0 {
		t.Fatalf("sweep removed a young file: %+v", res)
	}
	_ = io.EOF
	_ = strconv.Itoa
}

func waitALittle() { time.Sleep(20 * time.Millisecond) }
