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
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	ctx := q.r.Context()
	listing := "dfs-paths|" + c.UID + "|" + strconv.FormatBool(recursive) + "|" + dir
	after := ""
	if v := q.query("continuation"); v != "" {
		if after, err = h.resumeAt(ctx, listing, v); err != nil {
			return err
		}
	}
	var view *pathView
	readable := map[string]bool{dir: true}
	if q.posix != nil {
		if view, err = newPathView(ctx, h.st, c); err != nil {
			return err
		}
	}
	base := blobKey(c, "")
	out := struct {
		Paths []dfsPathJSON `json:"paths"`
	}{Paths: []dfsPathJSON{}}
	last := ""
scan:
	for {
		opts := store.ListOptions{KeyPrefix: base + prefix, Limit: listPage}
		if after != "" {
			opts.After = base + after
		}
		recs, err := h.st.List(ctx, KindBlob, opts)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			name := strings.TrimPrefix(rec.Key, base)
			after = name
			rest := name[len(prefix):]
			if !recursive {
				if i := strings.IndexByte(rest, '/'); i >= 0 {
					// Below a child directory: skip its subtree.
					after = prefix + rest[:i+1] + maxPrefixSkip
					continue scan
				}
			}
			if view != nil {
				pdir := parentOf(name)
				ok, known := readable[pdir]
				if !known {
					a, _, err := view.attrsOf(pdir)
					if err != nil {
						return err
					}
					ok = a == nil || a.check(q.posix, permR|permX).Allowed
					readable[pdir] = ok
					if !ok {
						vd := a.check(q.posix, permR|permX)
						ref := &aclRefusal{path: q.dfsPathOf(pdir), attrs: a, verdict: vd, want: permR | permX, why: "listing it", fixPath: pdir}
						return errPermission("The caller holds no role granting data action '" + ActionBlobRead + "' (rule RBAC-4)." + q.explainACL(ref, q.posix.ObjectID))
					}
				}
			}
			if len(out.Paths) == max {
				tok, err := h.continuation(ctx, listing, last)
				if err != nil {
					return err
				}
				q.w.Header().Set("x-ms-continuation", tok)
				break scan
			}
			var b blobRecord
			if err := json.Unmarshal(rec.Value, &b); err != nil {
				return err
			}
			a := b.attrs()
			p := dfsPathJSON{Name: name, ContentLength: strconv.FormatInt(b.Size, 10), LastModified: fmtTime(b.Modified),
				ETag: strings.Trim(b.ETag, `"`), Owner: a.Owner, Group: a.Group, Permissions: a.permissionsString(), CreationTime: fileTime(b.Created)}
			if b.isDir() {
				p.IsDirectory = "true"
			}
			out.Paths = append(out.Paths, p)
			last = name
		}
		if len(recs) < listPage {
			break
		}
	}
	return writeJSON(q, http.StatusOK, out)
}
