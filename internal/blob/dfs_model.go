package blob

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// Hierarchical namespace (ADLS Gen2) on the blob store layout.
//
// An HNS filesystem is a container whose records are the blob records of
// package blob, keyed "<container UID>/<path>": a file is a blob, a
// directory is a zero-length blob whose metadata says hdi_isfolder=true (as
// the Blob API shows directories on Azure), and every path carries its
// POSIX attributes (blobRecord.Posix). Parent directories always exist: a
// write through either API creates the missing ones in the same
// transaction. The root directory's attributes are a record of their own.

// KindFSRoot holds a filesystem's root directory attributes; key =
// container UID, value posixAttrs.
const KindFSRoot = "blob.fsroot"

const folderMeta = "hdi_isfolder"

func (b *blobRecord) isDir() bool {
	for k, v := range b.Meta {
		if strings.EqualFold(k, folderMeta) && strings.EqualFold(v, "true") {
			return true
		}
	}
	return false
}

// attrs returns the path's POSIX attributes (records written before the
// account had them get the service defaults, owned by $superuser).
func (b *blobRecord) attrs() *posixAttrs {
	if b.Posix != nil {
		return b.Posix
	}
	a := &posixAttrs{Owner: superuser, Group: superuser}
	if b.isDir() {
		a.setMode(defaultDirMode&^defaultUmask, false)
	} else {
		a.setMode(defaultFileMode&^defaultUmask, false)
	}
	return a
}

// rootAttrs reads a filesystem's root directory attributes.
func rootAttrs(ctx context.Context, rd store.Reader, c *storage.Container) (*posixAttrs, error) {
	rec, err := rd.Get(ctx, KindFSRoot, c.UID)
	if errors.Is(err, store.ErrNotFound) {
		return newRootAttrs(superuser), nil
	}
	if err != nil {
		return nil, err
	}
	var a posixAttrs
	if err := json.Unmarshal(rec.Value, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func putRootAttrs(ctx context.Context, tx store.Tx, c *storage.Container, a *posixAttrs) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: KindFSRoot, Key: c.UID, Parent: c.UID, Value: v}, "")
	return err
}

// parentOf returns the parent directory of a path ("" for the root).
func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// ancestors lists the directories above p, outermost first (not the root).
func ancestors(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

// cleanPath validates a DFS path: no empty, "." or ".." segments (a path
// never leaves its filesystem), at most 1,024 bytes of UTF-8 overall, as
// the blob name it is.
func cleanPath(p string) (string, *Error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.").
				with("Reason", "the path '"+p+"' has an empty, '.' or '..' segment; paths name a file or directory inside the filesystem")
		}
	}
	return p, nil
}

func errPathConflict(msg string) *Error {
	return errorf(http.StatusConflict, "PathConflict", "%s", msg)
}

// hnsEnsureParents makes every directory above name exist inside tx,
// creating the missing ones owned by owner (inheriting default ACLs), and
// returns the attributes of name's parent. A file on the way is a conflict.
func hnsEnsureParents(ctx context.Context, tx store.Tx, c *storage.Container, name, owner string, now func() (string, blobRecord)) (*posixAttrs, error) {
	parent, err := rootAttrs(ctx, tx, c)
	if err != nil {
		return nil, err
	}
	for _, dir := range ancestors(name) {
		d, err := getBlob(ctx, tx, c, dir)
		switch {
		case errors.Is(err, store.ErrNotFound):
			etag, base := now()
			nd := base
			nd.Name, nd.ETag = dir, etag
			nd.Meta = map[string]string{folderMeta: "true"}
			nd.Posix = inherit(parent, owner, true, -1, -1)
			if err := putBlob(ctx, tx, c, &nd); err != nil {
				return nil, err
			}
			parent = nd.Posix
		case err != nil:
			return nil, err
		case !d.isDir():
			return nil, errPathConflict("The path '" + dir + "' is a file, so '" + name + "' cannot be created under it.")
		default:
			parent = d.attrs()
		}
	}
	return parent, nil
}

// ownerOf is who owns what a caller creates: its object ID for a token,
// $superuser for Shared Key and SAS.
func (q *req) ownerOf() string {
	if q.auth != nil && q.auth.kind == credBearer && q.auth.claims != nil {
		return q.auth.claims.ObjectID
	}
	return superuser
}

// hnsPrepare runs inside the transaction that writes nb through the Blob
// API on an HNS account: the target must not be a directory, its parents
// are created, and a new file gets its POSIX attributes.
func (h *Handler) hnsPrepare(ctx context.Context, tx store.Tx, q *req, c *storage.Container, nb, old *blobRecord) error {
	if !q.account.IsHnsEnabled {
		return nil
	}
	if old != nil && old.isDir() && !nb.isDir() {
		return errorf(http.StatusConflict, "BlobUsesDirectory", "%s", "The path '"+nb.Name+"' is a directory; a blob cannot replace it.")
	}
	parent, err := hnsEnsureParents(ctx, tx, c, nb.Name, q.ownerOf(), h.newDirBase)
	if err != nil {
		return err
	}
	if old != nil {
		nb.Posix = old.Posix
		if nb.Posix == nil {
			nb.Posix = old.attrs()
		}
		return nil
	}
	if nb.Posix == nil {
		nb.Posix = inherit(parent, q.ownerOf(), nb.isDir(), -1, -1)
	}
	return nil
}

// newDirBase returns the ETag and times of an implicitly created directory.
func (h *Handler) newDirBase() (string, blobRecord) {
	now := h.now()
	return storage.NewETag(now), blobRecord{Created: now, Modified: now}
}

// dirEmpty reports whether a directory has no children.
func dirEmpty(ctx context.Context, rd store.Reader, c *storage.Container, dir string) (bool, error) {
	recs, err := rd.List(ctx, KindBlob, store.ListOptions{KeyPrefix: blobKey(c, dir+"/"), Limit: 1})
	return len(recs) == 0, err
}

// initRoot records the root directory of a new filesystem: its creator owns
// it (a token's object ID, else $superuser).
func (h *Handler) initRoot(q *req, c *storage.Container) error {
	ctx := q.r.Context()
	return h.commit.Tx(ctx, func(tx store.Tx) error {
		return putRootAttrs(ctx, tx, c, newRootAttrs(q.ownerOf()))
	})
}

// maxPathSegments bounds a path's depth (Azure: 254 segments per name).
const maxPathSegments = 254

// checkHNSName validates a path on an HNS account: no empty, "." or ".."
// segments (DFS requests may add leading or trailing slashes), at most
// 254 segments; the 1,024-byte bound of blob names applies as well.
func checkHNSName(name string, dfs bool) error {
	if dfs {
		name = strings.Trim(name, "/")
		if name == "" {
			return nil
		}
	}
	if _, e := cleanPath(name); e != nil {
		return e
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.").
			with("Reason", "on a hierarchical-namespace account a blob name cannot start or end with '/' (it names a path)")
	}
	if n := strings.Count(name, "/") + 1; n > maxPathSegments {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.").
			with("Reason", "the path has "+strconv.Itoa(n)+" segments; at most 254 are allowed")
	}
	return nil
}
