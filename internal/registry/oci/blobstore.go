package oci

import (
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// blobStore keeps blob contents on disk, content-addressed:
// <dir>/blobs/<alg>/<first two hex>/<hex>. A file there has been verified
// against its digest before it was moved in, so its name is its checksum.
// Uploads in progress live in <dir>/uploads/<id>.
type blobStore struct {
	dir string
}

func newBlobStore(dir string) (*blobStore, error) {
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "uploads")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Uploads do not survive a restart (their sessions live in memory).
	if ents, err := os.ReadDir(filepath.Join(dir, "uploads")); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(dir, "uploads", e.Name()))
		}
	}
	return &blobStore{dir: dir}, nil
}

func (b *blobStore) path(d Digest) string {
	return filepath.Join(b.dir, "blobs", d.Algorithm, d.Hex[:2], d.Hex)
}

// has reports whether the blob's content is on disk, with its size.
func (b *blobStore) has(d Digest) (int64, bool) {
	fi, err := os.Stat(b.path(d))
	if err != nil {
		return 0, false
	}
	return fi.Size(), true
}

func (b *blobStore) open(d Digest) (*os.File, error) { return os.Open(b.path(d)) }

// upload is a blob upload session: a file being appended to, with a
// running sha256 (the digest most clients use) so that finishing a large
// upload does not read it again.
type upload struct {
	mu      sync.Mutex
	id      string
	ns      string
	repo    string
	path    string
	f       *os.File
	size    int64
	sha     hash.Hash
	started int64 // unix seconds
	last    atomic.Int64
}

func (u *upload) touch() { u.last.Store(time.Now().Unix()) }

func (u *upload) lastUsed() time.Time {
	if l := u.last.Load(); l != 0 {
		return time.Unix(l, 0)
	}
	return time.Unix(u.started, 0)
}

func (b *blobStore) newUpload(ns, repo string, now int64) (*upload, error) {
	id := uuid.NewString()
	p := filepath.Join(b.dir, "uploads", id)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &upload{id: id, ns: ns, repo: repo, path: p, f: f, sha: newHash("sha256"), started: now}, nil
}

// append copies r to the end of the upload (at most limit bytes when
// limit >= 0).
func (u *upload) append(r io.Reader) (int64, error) {
	n, err := io.Copy(io.MultiWriter(u.f, u.sha), r)
	u.size += n
	return n, err
}

func (u *upload) discard() {
	u.f.Close()
	os.Remove(u.path)
}

// commit verifies the upload against want and moves it into the store.
// A mismatch discards the upload and answers DIGEST_INVALID.
func (b *blobStore) commit(u *upload, want Digest) (int64, *Error, error) {
	if err := u.f.Sync(); err != nil {
		u.discard()
		return 0, nil, err
	}
	var got string
	if want.Algorithm == "sha256" {
		got = hex.EncodeToString(u.sha.Sum(nil))
	} else {
		f, err := os.Open(u.path)
		if err != nil {
			u.discard()
			return 0, nil, err
		}
		h := newHash(want.Algorithm)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			u.discard()
			return 0, nil, err
		}
		got = hex.EncodeToString(h.Sum(nil))
	}
	if got != want.Hex {
		u.discard()
		return 0, Errorf(http.StatusBadRequest, CodeDigestInvalid,
			"the uploaded content's digest is %s:%s, not the %s the client declared; the upload was discarded", want.Algorithm, got, want).
			WithDetail(map[string]string{"declared": want.String(), "computed": want.Algorithm + ":" + got}), nil
	}
	if err := u.f.Close(); err != nil {
		os.Remove(u.path)
		return 0, nil, err
	}
	dst := b.path(want)
	if _, err := os.Stat(dst); err == nil { // already stored (content-addressed)
		os.Remove(u.path)
		return u.size, nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.Remove(u.path)
		return 0, nil, err
	}
	if err := os.Rename(u.path, dst); err != nil {
		os.Remove(u.path)
		return 0, nil, fmt.Errorf("store blob: %w", err)
	}
	syncDir(filepath.Dir(dst))
	return u.size, nil, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
