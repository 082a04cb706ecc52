package blob

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// DFS listings: List Paths and Set Access Control Recursive walk the blob
// records of a filesystem in key order; continuation tokens carry the last
// path through package paging (opaque, bound to their listing).

// continuation makes an x-ms-continuation token (package paging: opaque,
// bound to its listing, refused elsewhere).
func (h *Handler) continuation(ctx context.Context, list, cursor string) (string, error) {
	return h.pages.Token(ctx, list, cursor)
}

// resumeAt reads an x-ms-continuation token of listing list.
func (h *Handler) resumeAt(ctx context.Context, list, token string) (string, error) {
	c, err := h.pages.Cursor(ctx, list, token)
	if errors.Is(err, paging.ErrInvalid) {
		return "", errInvalidQuery("continuation", token, "not a continuation this service returned for this listing")
	}
	return c, err
}

// fileTime is a Windows file time (100 ns since 1601), as creationTime.
func fileTime(t time.Time) string {
	return strconv.FormatInt(t.UnixNano()/100+116444736000000000, 10)
}

type dfsPathJSON struct {
	Name          string `json:"name"`
	IsDirectory   string `json:"isDirectory,omitempty"`
	ContentLength string `json:"contentLength"`
	LastModified  string `json:"lastModified"`
	ETag          string `json:"etag"`
	Owner         string `json:"owner"`
	Group         string `json:"group"`
	Permissions   string `json:"permissions"`
	CreationTime  string `json:"creationTime"`
}

func (q *req) maxRecords(name string, def int) (int, error) {
	v := q.query(strings.ToLower(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errInvalidQuery(name, v, "a positive integer")
	}
	return min(n, def), nil
}

// dfsDir reads the directory a listing starts at ("" = root).
func (h *Handler) dfsDir(q *req, c *storage.Container, dir string) error {
	if dir == "" {
		return nil
	}
	if e := checkHNSName(dir, true); e != nil {
		return e
	}
	b, err := getBlob(q.r.Context(), h.st, c, dir)
	if errors.Is(err, store.ErrNotFound) {
		return errPathNotFound()
	}
	if err != nil {
		return err
	}
	if !b.isDir() {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specified path is a file; list paths needs a directory.")
	}
	return nil
}

// listPaths is List Paths: the paths under a directory (or the root), one
// level or recursive, at most maxResults a response, resumed by
// x-ms-continuation. A caller authorized by ACLs needs r-x on every
// directory whose entries it sees (rule DS-9).
func (h *Handler) listPaths(q *req) error {
	rv := q.query("recursive")
	if rv == "" {
		return errorf(http.StatusBadRequest, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.").
			with("QueryParameterName", "recursive")
	}
	recursive := strings.EqualFold(rv, "true")
	max, err := q.maxRecords("maxResults", 5000)
	if err != nil {
		return err
	}
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	dir := strings.Trim(q.query("directory"), "/")
	if err := h.dfsDir(q, c, dir); err != nil {
		return err
	}
	ctx := q.r.Context()
	listing := "dfs-paths|" + c.UID + "|" + strconv.FormatBool(recursive) + "|" + dir
	after := ""
	if v := q.query("continuation"); v != "" {
		if after, err = h.resumeAt(ctx, listing, v); err != nil {
			return err
		}
	}
	sc := &pathScan{h: h, q: q, c: c, dir: dir, recursive: recursive, max: max, readable: map[string]bool{dir: true}}
	if q.posix != nil {
		if sc.view, err = newPathView(ctx, h.st, c); err != nil {
			return err
		}
	}
	paths, last, err := sc.scan(ctx, after)
	if err != nil {
		return err
	}
	if last != "" {
		tok, err := h.continuation(ctx, listing, last)
		if err != nil {
			return err
		}
		q.w.Header().Set("x-ms-continuation", tok)
	}
	return writeJSON(q, http.StatusOK, struct {
		Paths []dfsPathJSON `json:"paths"`
	}{paths})
}

// pathScan is one List Paths response being read from the store.
type pathScan struct {
	h         *Handler
	q         *req
	c         *storage.Container
	dir       string
	recursive bool
	max       int
	view      *pathView       // nil unless the caller is authorized by ACLs
	readable  map[string]bool // directories whose entries the caller may list
}

// scan reads up to max paths after the one named (a continuation), and
// returns them with the last path when more follow ("" when done).
func (sc *pathScan) scan(ctx context.Context, after string) ([]dfsPathJSON, string, error) {
	prefix := ""
	if sc.dir != "" {
		prefix = sc.dir + "/"
	}
	base := blobKey(sc.c, "")
	paths := []dfsPathJSON{}
	last := ""
scan:
	for {
		opts := store.ListOptions{KeyPrefix: base + prefix, Limit: listPage}
		if after != "" {
			opts.After = base + after
		}
		recs, err := sc.h.st.List(ctx, KindBlob, opts)
		if err != nil {
			return nil, "", err
		}
		for _, rec := range recs {
			name := strings.TrimPrefix(rec.Key, base)
			after = name
			rest := name[len(prefix):]
			if !sc.recursive {
				if i := strings.IndexByte(rest, '/'); i >= 0 {
					// Below a child directory: skip its subtree.
					after = prefix + rest[:i+1] + maxPrefixSkip
					continue scan
				}
			}
			if err := sc.mayList(parentOf(name)); err != nil {
				return nil, "", err
			}
			if len(paths) == sc.max {
				return paths, last, nil
			}
			p, err := listedPath(name, rec.Value)
			if err != nil {
				return nil, "", err
			}
			paths = append(paths, p)
			last = name
		}
		if len(recs) < listPage {
			return paths, "", nil
		}
	}
}

// mayList refuses, for a caller authorized by ACLs, a directory without
// r-x (the verdict is remembered per directory).
func (sc *pathScan) mayList(pdir string) error {
	if sc.view == nil {
		return nil
	}
	if _, known := sc.readable[pdir]; known {
		return nil
	}
	a, _, err := sc.view.attrsOf(pdir)
	if err != nil {
		return err
	}
	ok := a == nil || a.check(sc.q.posix, permR|permX).Allowed
	sc.readable[pdir] = ok
	if ok {
		return nil
	}
	vd := a.check(sc.q.posix, permR|permX)
	ref := &aclRefusal{path: sc.q.dfsPathOf(pdir), attrs: a, verdict: vd, want: permR | permX, why: "listing it", fixPath: pdir}
	return errPermission("The caller holds no role granting data action '" + ActionBlobRead + "' (rule RBAC-4)." + sc.q.explainACL(ref, sc.q.posix.ObjectID))
}

// listedPath is a path record as List Paths shows it.
func listedPath(name string, value []byte) (dfsPathJSON, error) {
	var b blobRecord
	if err := json.Unmarshal(value, &b); err != nil {
		return dfsPathJSON{}, err
	}
	a := b.attrs()
	p := dfsPathJSON{Name: name, ContentLength: strconv.FormatInt(b.Size, 10), LastModified: fmtTime(b.Modified),
		ETag: strings.Trim(b.ETag, `"`), Owner: a.Owner, Group: a.Group, Permissions: a.permissionsString(), CreationTime: fileTime(b.Created)}
	if b.isDir() {
		p.IsDirectory = "true"
	}
	return p, nil
}
