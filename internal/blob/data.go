package blob

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// dataStore keeps blob bodies as files:
//
//	<dir>/c/<container UID>/<id>  being written, committed or staged data
//	<dir>/tmp/                    (emptied at start; earlier versions wrote there)
//
// File names are random IDs, never derived from blob names, so no blob or
// container name can reach outside its directory. A file is referenced by
// store records only; it is removed after the record that referenced it is
// gone, except while a reader has it pinned.
type dataStore struct {
	root string
	tmp  string

	mu     sync.Mutex
	pins   map[string]int  // file key → readers
	doomed map[string]bool // removal deferred until the last reader
	dirs   sync.Map        // container dirs known to exist

	reapMu   sync.Mutex
	reapQ    []string      // paths of files to remove (unlink)
	reaping  bool          // a reap goroutine runs
	reapDone chan struct{} // closed when that goroutine is done
}

func newDataStore(root string) (*dataStore, error) {
	d := &dataStore{root: root, tmp: filepath.Join(root, "tmp"), pins: map[string]int{}, doomed: map[string]bool{}}
	if err := os.MkdirAll(filepath.Join(root, "c"), 0o700); err != nil {
		return nil, fmt.Errorf("blob: data dir: %w", err)
	}
	// Temporary files of earlier versions are bodies whose request never
	// completed.
	if err := os.RemoveAll(d.tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.tmp, 0o700); err != nil {
		return nil, err
	}
	return d, nil
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (d *dataStore) dir(uid string) string { return filepath.Join(d.root, "c", uid) }

func (d *dataStore) path(uid, id string) string {
	if !validID(uid) || !validID(id) {
		// IDs come from our own records; anything else is corruption.
		panic("blob: invalid data file reference " + uid + "/" + id)
	}
	return filepath.Join(d.root, "c", uid, id)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// errTooLarge is returned by write when the body exceeds its bound.
var errTooLarge = errors.New("blob: body too large")

// write streams r into a new file of container uid and makes it durable:
// the file is created under its final random name in the container's
// directory, written in large writes with the kernel's writeback started
// behind each one (so the fsync at the end finds little left to flush),
// fsynced, and the directory fsynced. No rename: a rename and the
// directory fsync after it cost a journal commit of their own per file
// (measured 3-4x slower for 8 MiB blocks, docs/decisions.md). A file whose
// request fails is removed; one left by a crash is referenced by no record
// and Sweep removes it. It returns the file ID, the size and (when
// wantMD5) the body's MD5. With expect >= 0 the body must have exactly
// that many bytes.
func (d *dataStore) write(uid string, r io.Reader, expect int64, wantMD5 bool) (id string, n int64, sum []byte, err error) {
	dir := d.dir(uid)
	if _, ok := d.dirs.Load(uid); !ok {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return "", 0, nil, err
		}
		d.dirs.Store(uid, true)
	}
	id = randomID()
	path := filepath.Join(dir, id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", 0, nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	var hw hash.Hash
	var w io.Writer = &flushingWriter{f: f}
	if wantMD5 {
		hw = md5.New()
		w = io.MultiWriter(w, hw)
	}
	bp := bufPool.Get().(*[]byte)
	n, err = copyFull(w, r, *bp)
	bufPool.Put(bp)
	if err != nil {
		return "", n, nil, err
	}
	if expect >= 0 && n != expect {
		return "", n, nil, fmt.Errorf("%w: body has %d bytes, Content-Length said %d", io.ErrUnexpectedEOF, n, expect)
	}
	if err = f.Sync(); err != nil {
		return "", n, nil, err
	}
	if err = f.Close(); err != nil {
		return "", n, nil, err
	}
	df, err := os.Open(dir)
	if err != nil {
		return "", n, nil, err
	}
	err = df.Sync()
	df.Close()
	if err != nil {
		return "", n, nil, err
	}
	if hw != nil {
		sum = hw.Sum(nil)
	}
	return id, n, sum, nil
}

// flushingWriter writes to f and starts the writeback of what it wrote
// (startWriteback), so that disk writes overlap receiving the rest.
type flushingWriter struct {
	f   *os.File
	off int64
}

func (w *flushingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if n > 0 {
		startWriteback(w.f, w.off, int64(n))
		w.off += int64(n)
	}
	return n, err
}

// copyFull copies r to w filling buf before each write: a TLS body yields
// one record (16 KiB) per Read, and a write per record would cost a
// system call each.
func copyFull(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func fileKey(uid, id string) string { return uid + "/" + id }

// pin marks files as being read (removal waits for unpin).
func (d *dataStore) pin(uid string, ids []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.pins[fileKey(uid, id)]++
	}
}

func (d *dataStore) unpin(uid string, ids []string) {
	var gone []string
	d.mu.Lock()
	for _, id := range ids {
		k := fileKey(uid, id)
		if d.pins[k]--; d.pins[k] <= 0 {
			delete(d.pins, k)
			if d.doomed[k] {
				delete(d.doomed, k)
				gone = append(gone, id)
			}
		}
	}
	d.mu.Unlock()
	d.unlink(uid, gone)
}

// remove deletes files no record references any more (deferred while
// pinned), in the background: see unlink.
func (d *dataStore) remove(uid string, ids []string) {
	d.unlink(uid, d.removable(uid, ids))
}

// removeNow deletes unreferenced, unpinned files before it returns.
func (d *dataStore) removeNow(uid string, ids []string) {
	for _, id := range d.removable(uid, ids) {
		_ = os.Remove(d.path(uid, id))
	}
}

// removable marks pinned files for removal at their last unpin and returns
// the others.
func (d *dataStore) removable(uid string, ids []string) []string {
	var now []string
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		k := fileKey(uid, id)
		if d.pins[k] > 0 {
			d.doomed[k] = true
		} else {
			now = append(now, id)
		}
	}
	return now
}

// unlink queues files for removal by one background goroutine (started on
// demand, gone when the queue is empty). Removing a file is slow next to
// writing one (an 8 MiB file took 5 ms here: its extents are freed and,
// on a filesystem mounted with discard, trimmed), and nothing needs it
// gone before the request that dropped it answers: overwriting a 256 MiB
// blob of 8 MiB blocks spent 150-190 ms of its Put Block List removing the
// old version. A removal lost to a crash leaves an unreferenced file,
// which Sweep removes.
func (d *dataStore) unlink(uid string, ids []string) {
	if len(ids) == 0 {
		return
	}
	d.reapMu.Lock()
	defer d.reapMu.Unlock()
	for _, id := range ids {
		d.reapQ = append(d.reapQ, d.path(uid, id))
	}
	if !d.reaping {
		d.reaping = true
		d.reapDone = make(chan struct{})
		go d.reap()
	}
}

func (d *dataStore) reap() {
	for {
		d.reapMu.Lock()
		q := d.reapQ
		d.reapQ = nil
		if len(q) == 0 {
			d.reaping = false
			close(d.reapDone)
			d.reapMu.Unlock()
			return
		}
		d.reapMu.Unlock()
		for _, p := range q {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
	}
}

// waitRemovals returns once the files queued for removal are gone.
func (d *dataStore) waitRemovals() {
	d.reapMu.Lock()
	done := d.reapDone
	reaping := d.reaping
	d.reapMu.Unlock()
	if reaping {
		<-done
	}
}

// removeContainer deletes a container's directory.
func (d *dataStore) removeContainer(uid string) {
	if !validID(uid) {
		return
	}
	d.dirs.Delete(uid)
	_ = os.RemoveAll(d.dir(uid))
}

// open opens a data file.
func (d *dataStore) open(uid, id string) (*os.File, error) { return os.Open(d.path(uid, id)) }
