package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// DFS path operations (ADLS Gen2 REST "Path" and "Filesystem" groups).

func errPathNotFound() *Error {
	return errorf(http.StatusNotFound, "PathNotFound", "The specified path does not exist.")
}

func errFilesystemNotFound() *Error {
	return errorf(http.StatusNotFound, "FilesystemNotFound", "The specified filesystem does not exist.")
}

// dfsContainer is the request's filesystem or FilesystemNotFound.
func (q *req) dfsContainer(h *Handler) (*storage.Container, error) {
	c, err := h.prov.Container(q.r.Context(), q.account, q.container)
	if errors.Is(err, storage.ErrContainerNotFound) {
		return nil, errFilesystemNotFound()
	}
	return c, err
}

// dfsMapTxErr maps transaction errors to DFS codes.
func dfsMapTxErr(err error) error {
	if errors.Is(err, errContainerGone) {
		return errFilesystemNotFound()
	}
	var e *Error
	if errors.As(err, &e) && e.Code == "BlobAlreadyExists" {
		return errorf(http.StatusConflict, "PathAlreadyExists", "The specified path already exists.")
	}
	return err
}

// parseProperties reads x-ms-properties: "n1=base64(v1),n2=base64(v2)".
func parseProperties(r *http.Request) (map[string]string, error) {
	v := r.Header.Get("x-ms-properties")
	if v == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, b64, ok := strings.Cut(strings.TrimSpace(kv), "=")
		val, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || !storage.ValidMetadataName(k) {
			return nil, errInvalidHeader("x-ms-properties", v, "use name=base64(value) pairs separated by commas; names are C# identifiers")
		}
		out[k] = string(val)
	}
	return out, nil
}

func formatProperties(md map[string]string) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		if !strings.EqualFold(k, folderMeta) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + base64.StdEncoding.EncodeToString([]byte(md[k]))
	}
	return strings.Join(parts, ",")
}

// dfsContent reads the x-ms-content-* headers of create and flush.
func dfsContent(r *http.Request) (contentProps, error) {
	h := r.Header
	p := contentProps{Type: h.Get("x-ms-content-type"), Encoding: h.Get("x-ms-content-encoding"), Language: h.Get("x-ms-content-language"),
		Disposition: h.Get("x-ms-content-disposition"), CacheControl: h.Get("x-ms-cache-control")}
	if v := h.Get("x-ms-content-md5"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != 16 {
			return p, errInvalidHeader("x-ms-content-md5", v, "not a base64 MD5")
		}
		p.MD5 = b
	}
	return p, nil
}

func parseOctalHeader(r *http.Request, name string) (int, error) {
	v := r.Header.Get(name)
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseUint(v, 8, 16)
	if err != nil || n > 0o777 {
		return 0, errInvalidHeader(name, v, "an octal mode like 0027")
	}
	return int(n), nil
}

// posixHeaders writes a path's owner, group, permissions and type.
func posixHeaders(hd http.Header, b *blobRecord) {
	a := b.attrs()
	hd.Set("x-ms-owner", a.Owner)
	hd.Set("x-ms-group", a.Group)
	hd.Set("x-ms-permissions", a.permissionsString())
	if b.isDir() {
		hd.Set("x-ms-resource-type", "directory")
	} else {
		hd.Set("x-ms-resource-type", "file")
	}
}

// superuserCaller reports whether the caller may change owners: Shared
// Key, SAS, or a token whose roles grant manageOwnership (Storage Blob
// Data Owner).
func (h *Handler) superuserCaller(q *req) (bool, error) {
	switch q.auth.kind {
	case credSharedKey, credSAS:
		return true, nil
	case credBearer:
		if q.posix != nil {
			return false, nil
		}
		ok, _, err := h.rbac(q.r.Context(), q.account, q.auth.claims, ActionManageOwnership, true, q.scope())
		return ok, err
	}
	return false, nil
}

func (h *Handler) createFilesystem(q *req) error {
	if !storage.ValidContainerName(q.container) {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.")
	}
	md, err := parseProperties(q.r)
	if err != nil {
		return err
	}
	c, err := h.prov.CreateContainer(q.r.Context(), q.account, q.container, storage.AccessNone, md)
	if errors.Is(err, storage.ErrContainerExists) {
		return errorf(http.StatusConflict, "FilesystemAlreadyExists", "The specified filesystem already exists.")
	}
	if err != nil {
		return err
	}
	if q.account.IsHnsEnabled {
		if err := h.initRoot(q, c); err != nil {
			return err
		}
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	hd.Set("x-ms-namespace-enabled", strconv.FormatBool(q.account.IsHnsEnabled))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteFilesystem(q *req) error {
	err := h.prov.DeleteContainer(q.r.Context(), q.account, q.container, func(c *storage.Container) error {
		return checkConditions(q.r, containerTarget(c), condWrite).orNil()
	})
	if errors.Is(err, storage.ErrContainerNotFound) {
		return errFilesystemNotFound()
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// orNil turns a nil *Error into a nil error.
func (e *Error) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

func (h *Handler) getFilesystemProperties(q *req) error {
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	hd.Set("x-ms-properties", formatProperties(c.Metadata))
	hd.Set("x-ms-namespace-enabled", strconv.FormatBool(q.account.IsHnsEnabled))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) listFilesystems(q *req) error {
	max := 5000
	if v := q.query("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errInvalidQuery("maxResults", v, "a positive integer")
		}
		max = min(n, 5000)
	}
	ctx := q.r.Context()
	listing := "dfs-filesystems|" + strings.ToLower(q.account.Name) + "|" + q.query("prefix")
	after := ""
	if v := q.query("continuation"); v != "" {
		var err error
		if after, err = h.resumeAt(ctx, listing, v); err != nil {
			return err
		}
	}
	cs, err := h.prov.ListContainers(ctx, q.account, q.query("prefix"), after, max+1)
	if err != nil {
		return err
	}
	if len(cs) > max {
		cs = cs[:max]
		tok, err := h.continuation(ctx, listing, cs[len(cs)-1].Name)
		if err != nil {
			return err
		}
		q.w.Header().Set("x-ms-continuation", tok)
	}
	type fs struct {
		Name         string `json:"name"`
		LastModified string `json:"lastModified"`
		ETag         string `json:"etag"`
	}
	out := struct {
		Filesystems []fs `json:"filesystems"`
	}{Filesystems: []fs{}}
	for _, c := range cs {
		out.Filesystems = append(out.Filesystems, fs{Name: c.Name, LastModified: fmtTime(c.LastModified), ETag: c.ETag})
	}
	return writeJSON(q, http.StatusOK, out)
}

func writeJSON(q *req, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	hd := q.w.Header()
	hd.Set("Content-Type", "application/json;charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	q.w.WriteHeader(status)
	_, _ = q.w.Write(b)
	return nil
}

func (h *Handler) createPath(q *req) error {
	if q.blob == "" {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The root directory of a filesystem exists already; name a path to create.")
	}
	isDir := q.query("resource") == "directory"
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	md, err := parseProperties(q.r)
	if err != nil {
		return err
	}
	props, err := dfsContent(q.r)
	if err != nil {
		return err
	}
	mode, sticky := -1, false
	if v := q.r.Header.Get("x-ms-permissions"); v != "" {
		m, st, err := parsePermissions(v)
		if err != nil {
			return errInvalidHeader("x-ms-permissions", v, err.Error())
		}
		mode, sticky = int(m), st
	}
	umask, err := parseOctalHeader(q.r, "x-ms-umask")
	if err != nil {
		return err
	}
	var aclEntries []parsedEntry
	if v := q.r.Header.Get("x-ms-acl"); v != "" {
		if aclEntries, err = parseACL(v, true); err != nil {
			return errInvalidHeader("x-ms-acl", v, err.Error())
		}
	}
	owner, group := q.r.Header.Get("x-ms-owner"), q.r.Header.Get("x-ms-group")
	if owner != "" || group != "" {
		su, err := h.superuserCaller(q)
		if err != nil {
			return err
		}
		if !su {
			return errPermission("Setting x-ms-owner or x-ms-group when creating a path needs a superuser (role Storage Blob Data Owner, Shared Key or SAS) (rule DS-9).")
		}
	}
	if md == nil {
		md = map[string]string{}
	}
	if isDir {
		md[folderMeta] = "true"
	}
	ctx := q.r.Context()
	var out *blobRecord
	var oldFiles []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		out, oldFiles = nil, nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		old, err := getBlob(ctx, tx, c, q.blob)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t := target{}
		if old != nil {
			t = target{exists: true, etag: old.ETag, modified: old.Modified}
		}
		if e := checkConditions(q.r, t, condCreate); e != nil {
			return e
		}
		if old != nil && old.isDir() != isDir {
			kind := "file"
			if old.isDir() {
				kind = "directory"
			}
			return errPathConflict("The path '" + q.blob + "' exists as a " + kind + ".")
		}
		if old != nil && q.createOnly && !isDir {
			return errPermissionCreateOnly()
		}
		parent, err := hnsEnsureParents(ctx, tx, c, q.blob, q.ownerOf(), h.newDirBase)
		if err != nil {
			return err
		}
		now := h.now()
		nb := &blobRecord{Name: q.blob, Meta: md, Props: props, Created: now, Modified: now, ETag: storage.NewETag(now)}
		if old != nil {
			nb.Created, nb.Posix = old.Created, old.Posix
			if isDir {
				// Creating an existing directory keeps it (and its children).
				nb.Meta, nb.Props = old.Meta, old.Props
			}
			oldFiles = old.files()
			if old.Inline != "" {
				if err := tx.Delete(ctx, KindData, old.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			staged, err := dropStaged(ctx, tx, c, q.blob)
			if err != nil {
				return err
			}
			oldFiles = append(oldFiles, staged...)
		}
		if nb.Posix == nil {
			nb.Posix = inherit(parent, q.ownerOf(), isDir, mode, umask)
			nb.Posix.Sticky = sticky
		} else if mode >= 0 {
			nb.Posix.setMode(uint16(mode), sticky)
		}
		if aclEntries != nil {
			if err := applyACL(nb.Posix, aclEntries, aclModeSet, isDir); err != nil {
				return errInvalidHeader("x-ms-acl", q.r.Header.Get("x-ms-acl"), err.Error())
			}
		}
		if owner != "" {
			nb.Posix.Owner = owner
		}
		if group != "" {
			nb.Posix.Group = group
		}
		out = nb
		return putBlob(ctx, tx, c, nb)
	})
	if err != nil {
		return dfsMapTxErr(err)
	}
	h.data.remove(c.UID, oldFiles)
	hd := q.w.Header()
	hd.Set("ETag", out.ETag)
	hd.Set("Last-Modified", fmtTime(out.Modified))
	hd.Set("x-ms-request-server-encrypted", "true")
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) renamePath(q *req) error {
	if mode := q.query("mode"); mode != "" && mode != "legacy" && mode != "posix" {
		return errInvalidQuery("mode", mode, "use legacy or posix")
	}
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	src, err := h.renameSource(q, c)
	if err != nil {
		return err
	}
	if src.container != q.container {
		return errorf(http.StatusBadRequest, "InvalidRenameSourcePath", "The source path for a rename operation is invalid.").
			with("Reason", "amlid renames within one filesystem: the source is in '"+src.container+"', the destination in '"+q.container+"'")
	}
	dst := q.blob
	if dst == "" {
		return errorf(http.StatusBadRequest, "InvalidDestinationPath", "The specified path, or an element of the path, exists and its resource type is invalid for this operation.").
			with("Reason", "the destination of a rename cannot be the filesystem's root directory")
	}
	if strings.HasPrefix(dst, src.path+"/") {
		return errorf(http.StatusBadRequest, "InvalidDestinationPath", "The specified path, or an element of the path, exists and its resource type is invalid for this operation.").
			with("Reason", "cannot move '"+src.path+"' into its own subtree ('"+dst+"')")
	}
	ctx := q.r.Context()
	var out *blobRecord
	var oldFiles []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		out, oldFiles = nil, nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		sb, err := getBlob(ctx, tx, c, src.path)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "SourcePathNotFound", "The source path for a rename operation does not exist.")
		}
		if err != nil {
			return err
		}
		if e := checkSourceConditions(q.r, sb); e != nil {
			return e
		}
		if dst == src.path {
			out = sb
			return nil
		}
		if p := parentOf(dst); p != "" {
			pb, err := getBlob(ctx, tx, c, p)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !pb.isDir()) {
				return errorf(http.StatusNotFound, "RenameDestinationParentPathNotFound", "The parent directory of the destination path does not exist.")
			}
			if err != nil {
				return err
			}
		}
		db, err := getBlob(ctx, tx, c, dst)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t := target{}
		if db != nil {
			t = target{exists: true, etag: db.ETag, modified: db.Modified}
		}
		if e := checkConditions(q.r, t, condCreate); e != nil {
			return e
		}
		if db != nil {
			if db.isDir() || sb.isDir() {
				return errorf(http.StatusConflict, "PathAlreadyExists", "The specified path already exists.").
					with("Reason", "the destination '"+dst+"' exists; only a file replaces a file")
			}
			oldFiles = db.files()
			if db.Inline != "" {
				if err := tx.Delete(ctx, KindData, db.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			staged, err := dropStaged(ctx, tx, c, dst)
			if err != nil {
				return err
			}
			oldFiles = append(oldFiles, staged...)
		}
		// One transaction moves the path and everything under it: only
		// metadata records change keys; no body is copied or moved.
		moved := []*blobRecord{sb}
		if sb.isDir() {
			recs, err := tx.List(ctx, KindBlob, store.ListOptions{KeyPrefix: blobKey(c, src.path+"/")})
			if err != nil {
				return err
			}
			for _, r := range recs {
				var b blobRecord
				if err := json.Unmarshal(r.Value, &b); err != nil {
					return err
				}
				moved = append(moved, &b)
			}
		}
		staged, err := dropStagedUnder(ctx, tx, c, src.path)
		if err != nil {
			return err
		}
		oldFiles = append(oldFiles, staged...)
		for _, b := range moved {
			if err := tx.Delete(ctx, KindBlob, blobKey(c, b.Name), ""); err != nil {
				return err
			}
			b.Name = dst + strings.TrimPrefix(b.Name, src.path)
			if err := putBlob(ctx, tx, c, b); err != nil {
				return err
			}
		}
		out = sb
		return nil
	})
	if err != nil {
		return dfsMapTxErr(err)
	}
	h.data.remove(c.UID, oldFiles)
	hd := q.w.Header()
	hd.Set("ETag", out.ETag)
	hd.Set("Last-Modified", fmtTime(out.Modified))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// checkSourceConditions evaluates x-ms-source-if-* against the source.
func checkSourceConditions(r *http.Request, b *blobRecord) *Error {
	h := r.Header
	if v := h.Get("x-ms-source-if-match"); v != "" && !etagListHas(v, b.ETag) {
		return errorf(http.StatusPreconditionFailed, "SourceConditionNotMet", "The source condition specified using HTTP conditional header(s) is not met.")
	}
	if v := h.Get("x-ms-source-if-none-match"); v != "" && etagListHas(v, b.ETag) {
		return errorf(http.StatusPreconditionFailed, "SourceConditionNotMet", "The source condition specified using HTTP conditional header(s) is not met.")
	}
	return nil
}

// fileForWrite reads the request's path as a file (not a directory).
func fileForWrite(ctx context.Context, rd store.Reader, c *storage.Container, name string) (*blobRecord, error) {
	b, err := getBlob(ctx, rd, c, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errPathNotFound()
	}
	if err != nil {
		return nil, err
	}
	if b.isDir() {
		return nil, errPathConflict("The path '" + name + "' is a directory; only files take data.")
	}
	return b, nil
}

// appendID names a staged append by its position (zero-padded, so the
// staged blocks list in position order).
func appendID(pos int64) string { return fmt.Sprintf("dfs%020d", pos) }

func positionParam(q *req) (int64, error) {
	v := q.query("position")
	if v == "" {
		return 0, errorf(http.StatusBadRequest, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.").
			with("QueryParameterName", "position")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errInvalidQuery("position", v, "a non-negative byte offset")
	}
	return n, nil
}

// maxAppend is the largest Append Data body (4000 MiB, as the service).
const maxAppend = 4000 << 20

func (h *Handler) appendData(q *req) error {
	pos, err := positionParam(q)
	if err != nil {
		return err
	}
	n, err := contentLength(q.r, maxAppend)
	if err != nil {
		return err
	}
	sentMD5, err := headerMD5(q.r, "Content-MD5")
	if err != nil {
		return err
	}
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	if _, err := fileForWrite(ctx, h.st, c, q.blob); err != nil {
		return err
	}
	id, got, sum, err := h.data.write(c.UID, q.r.Body, n, sentMD5 != nil)
	if err != nil {
		if got != n {
			return errIncompleteBody(err)
		}
		return err
	}
	if sentMD5 != nil && !bytes.Equal(sentMD5, sum) {
		h.data.remove(c.UID, []string{id})
		return errMD5Mismatch(sentMD5, sum)
	}
	var replaced []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		replaced = nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		if _, err := fileForWrite(ctx, tx, c, q.blob); err != nil {
			return err
		}
		sk := stagingKey(c, q.blob)
		if _, err := tx.Get(ctx, KindStaging, sk); errors.Is(err, store.ErrNotFound) {
			v, _ := json.Marshal(map[string]string{"name": q.blob})
			if _, err := tx.Put(ctx, store.Record{Kind: KindStaging, Key: sk, Parent: c.UID, Value: v}, ""); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		bk := blockKey(c, q.blob, appendID(pos))
		if old, err := tx.Get(ctx, KindBlock, bk); err == nil {
			var ob blockRecord
			if json.Unmarshal(old.Value, &ob) == nil {
				replaced = append(replaced, ob.File)
			}
		}
		v, _ := json.Marshal(blockRecord{ID: appendID(pos), Size: got, File: id, Created: h.now()})
		_, err := tx.Put(ctx, store.Record{Kind: KindBlock, Key: bk, Parent: c.UID, Value: v}, "")
		return err
	})
	if err != nil {
		h.data.remove(c.UID, []string{id})
		return dfsMapTxErr(err)
	}
	h.data.remove(c.UID, replaced)
	if strings.EqualFold(q.query("flush"), "true") {
		q.q["position"] = []string{strconv.FormatInt(pos+got, 10)}
		return h.flushData(q)
	}
	hd := q.w.Header()
	hd.Set("x-ms-request-server-encrypted", "true")
	if sum != nil {
		hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum))
	}
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func errInvalidFlush() *Error {
	return errorf(http.StatusBadRequest, "InvalidFlushPosition", "The uploaded data is not contiguous or the position query parameter value is not equal to the length of the file after appending the uploaded data.")
}

func (h *Handler) flushData(q *req) error {
	pos, err := positionParam(q)
	if err != nil {
		return err
	}
	props, err := dfsContent(q.r)
	if err != nil {
		return err
	}
	setProps := props.set()
	retain := strings.EqualFold(q.query("retainuncommitteddata"), "true")
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	// A small body kept in the store becomes a file before data is
	// appended to it.
	var inlineFile string
	if b, err := fileForWrite(ctx, h.st, c, q.blob); err != nil {
		return err
	} else if b.Inline != "" && pos > b.Size {
		rec, err := h.st.Get(ctx, KindData, b.Inline)
		if err != nil {
			return err
		}
		if inlineFile, _, _, err = h.data.write(c.UID, bytes.NewReader(rec.Value), int64(len(rec.Value)), false); err != nil {
			return err
		}
	}
	var out *blobRecord
	var drop []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		out, drop = nil, nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		b, err := fileForWrite(ctx, tx, c, q.blob)
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, target{exists: true, etag: b.ETag, modified: b.Modified}, condWrite); e != nil {
			return e
		}
		staged, err := listStaged(ctx, tx, c, q.blob)
		if err != nil {
			return err
		}
		if pos < b.Size {
			return errInvalidFlush()
		}
		segs := append([]segment(nil), b.Segments...)
		if pos > b.Size && b.Inline != "" {
			if inlineFile == "" {
				return errorf(http.StatusConflict, "OperationNotAllowedInCurrentState", "The file changed while being flushed; retry.")
			}
			segs = []segment{{File: inlineFile, Size: b.Size}}
			if err := tx.Delete(ctx, KindData, b.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			b.Inline = ""
		}
		cur := b.Size
		used := map[string]bool{}
		for _, s := range staged {
			if cur == pos {
				break
			}
			p, err := strconv.ParseInt(strings.TrimPrefix(s.ID, "dfs"), 10, 64)
			if err != nil || !strings.HasPrefix(s.ID, "dfs") || p != cur {
				continue
			}
			segs = append(segs, segment{File: s.File, Size: s.Size})
			used[s.File] = true
			cur += s.Size
		}
		if cur != pos {
			return errInvalidFlush()
		}
		if !retain {
			dropped, err := dropStaged(ctx, tx, c, q.blob)
			if err != nil {
				return err
			}
			for _, f := range dropped {
				if !used[f] {
					drop = append(drop, f)
				}
			}
		} else {
			// retainUncommittedData: appends past the flush stay staged.
			for _, s := range staged {
				if used[s.File] {
					if err := tx.Delete(ctx, KindBlock, blockKey(c, q.blob, s.ID), ""); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				}
			}
		}
		b.Segments, b.Size = segs, pos
		if b.Size > 0 && len(segs) == 0 && b.Inline == "" {
			return errInvalidFlush()
		}
		b.FromBlocks = false
		if setProps {
			b.Props = props
		} else if pos != b.Size || len(used) > 0 {
			b.Props.MD5 = nil
		}
		now := h.now()
		b.Modified, b.ETag = now, storage.NewETag(now)
		out = b
		return putBlob(ctx, tx, c, b)
	})
	if err != nil {
		if inlineFile != "" {
			h.data.remove(c.UID, []string{inlineFile})
		}
		return dfsMapTxErr(err)
	}
	h.data.remove(c.UID, drop)
	hd := q.w.Header()
	hd.Set("ETag", out.ETag)
	hd.Set("Last-Modified", fmtTime(out.Modified))
	hd.Set("x-ms-request-server-encrypted", "true")
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// updatePath changes the attributes of a path (the root when q.blob is
// "") in one transaction.
func (h *Handler) updatePath(q *req, fn func(a *posixAttrs, b *blobRecord) error) (*blobRecord, *posixAttrs, error) {
	c, err := q.dfsContainer(h)
	if err != nil {
		return nil, nil, err
	}
	ctx := q.r.Context()
	var out *blobRecord
	var attrs *posixAttrs
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		out, attrs = nil, nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		if q.blob == "" {
			a, err := rootAttrs(ctx, tx, c)
			if err != nil {
				return err
			}
			if err := fn(a, nil); err != nil {
				return err
			}
			attrs = a
			return putRootAttrs(ctx, tx, c, a)
		}
		b, err := getBlob(ctx, tx, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errPathNotFound()
		}
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, target{exists: true, etag: b.ETag, modified: b.Modified}, condWrite); e != nil {
			return e
		}
		a := b.attrs()
		if err := fn(a, b); err != nil {
			return err
		}
		b.Posix = a
		out, attrs = b, a
		return putBlob(ctx, tx, c, b)
	})
	return out, attrs, dfsMapTxErr(err)
}

func (h *Handler) setAccessControl(q *req) error {
	hd := q.r.Header
	owner, group, perms, acl := hd.Get("x-ms-owner"), hd.Get("x-ms-group"), hd.Get("x-ms-permissions"), hd.Get("x-ms-acl")
	if perms != "" && acl != "" {
		return errorf(http.StatusBadRequest, "InvalidPermissionsAndAcl", "x-ms-permissions and x-ms-acl are mutually exclusive.")
	}
	if owner == "" && group == "" && perms == "" && acl == "" {
		return errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.").
			with("HeaderName", "x-ms-owner, x-ms-group, x-ms-permissions or x-ms-acl")
	}
	var mode uint16
	var sticky bool
	if perms != "" {
		var err error
		if mode, sticky, err = parsePermissions(perms); err != nil {
			return errInvalidHeader("x-ms-permissions", perms, err.Error())
		}
	}
	var entries []parsedEntry
	if acl != "" {
		var err error
		if entries, err = parseACL(acl, true); err != nil {
			return errInvalidHeader("x-ms-acl", acl, err.Error())
		}
	}
	su, err := h.superuserCaller(q)
	if err != nil {
		return err
	}
	b, _, err := h.updatePath(q, func(a *posixAttrs, b *blobRecord) error {
		isDir := b == nil || b.isDir()
		if owner != "" && !strings.EqualFold(owner, a.Owner) && !su {
			return errPermission(fmt.Sprintf("Only a superuser (role Storage Blob Data Owner, Shared Key or SAS) may change the owner of '%s' (rule DS-9); the caller holds no role granting data action '%s'. Fix: amlid role assignment create --assignee <caller> --role \"Storage Blob Data Owner\" --scope %s",
				q.dfsPathOf(q.blob), ActionManageOwnership, q.account.ContainerID(q.container)))
		}
		if group != "" && !strings.EqualFold(group, a.Group) && !su && (q.posix == nil || !q.posix.inGroup(group)) {
			return errPermission(fmt.Sprintf("The owner of '%s' may change its owning group only to a group it is a member of, and the caller is not a member of '%s' (rule DS-9).", q.dfsPathOf(q.blob), group))
		}
		if owner != "" {
			a.Owner = owner
		}
		if group != "" {
			a.Group = group
		}
		if perms != "" {
			a.setMode(mode, sticky)
		}
		if entries != nil {
			if err := applyACL(a, entries, aclModeSet, isDir); err != nil {
				return errInvalidHeader("x-ms-acl", acl, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w := q.w.Header()
	if b != nil {
		w.Set("ETag", b.ETag)
		w.Set("Last-Modified", fmtTime(b.Modified))
	}
	w.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) setPathProperties(q *req) error {
	md, err := parseProperties(q.r)
	if err != nil {
		return err
	}
	props, err := dfsContent(q.r)
	if err != nil {
		return err
	}
	if q.blob == "" {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The root directory has no properties to set.")
	}
	b, _, err := h.updatePath(q, func(a *posixAttrs, b *blobRecord) error {
		if md != nil {
			if b.isDir() {
				md[folderMeta] = "true"
			}
			b.Meta = md
		}
		if props.set() {
			b.Props = props
		}
		now := h.now()
		b.Modified, b.ETag = now, storage.NewETag(now)
		return nil
	})
	if err != nil {
		return err
	}
	q.writeUpdated(b, http.StatusOK)
	return nil
}

func (h *Handler) getPathStatus(q *req) error {
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	hd := q.w.Header()
	var a *posixAttrs
	if q.blob == "" {
		if a, err = rootAttrs(q.r.Context(), h.st, c); err != nil {
			return err
		}
		hd.Set("x-ms-resource-type", "directory")
		hd.Set("ETag", c.ETag)
		hd.Set("Last-Modified", fmtTime(c.LastModified))
		hd.Set("x-ms-owner", a.Owner)
		hd.Set("x-ms-group", a.Group)
		hd.Set("x-ms-permissions", a.permissionsString())
	} else {
		b, err := getBlob(q.r.Context(), h.st, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errPathNotFound()
		}
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, target{exists: true, etag: b.ETag, modified: b.Modified}, condRead); e != nil {
			return e
		}
		a = b.attrs()
		posixHeaders(hd, b)
		hd.Set("ETag", b.ETag)
		hd.Set("Last-Modified", fmtTime(b.Modified))
		hd.Set("x-ms-creation-time", fmtTime(b.Created))
		if !b.isDir() {
			hd.Set("x-ms-content-length", strconv.FormatInt(b.Size, 10))
		}
	}
	if q.query("action") == "getAccessControl" {
		hd.Set("x-ms-acl", a.aclString())
	}
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deletePath(q *req) error {
	if q.blob == "" {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The root directory of a filesystem cannot be deleted; delete the filesystem instead.")
	}
	recursive := strings.EqualFold(q.query("recursive"), "true")
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var files []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		files = nil
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		b, err := getBlob(ctx, tx, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errPathNotFound()
		}
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, target{exists: true, etag: b.ETag, modified: b.Modified}, condWrite); e != nil {
			return e
		}
		victims := []*blobRecord{b}
		if b.isDir() {
			recs, err := tx.List(ctx, KindBlob, store.ListOptions{KeyPrefix: blobKey(c, q.blob+"/")})
			if err != nil {
				return err
			}
			if len(recs) > 0 && !recursive {
				return errorf(http.StatusConflict, "DirectoryNotEmpty", "The recursive query parameter value must be true to delete a non-empty directory.")
			}
			dirs := map[string]*posixAttrs{q.blob: b.attrs()}
			for _, r := range recs {
				var d blobRecord
				if err := json.Unmarshal(r.Value, &d); err != nil {
					return err
				}
				if q.posix != nil {
					// Removing a tree needs -wx on every directory in it.
					pdir := parentOf(d.Name)
					if pa := dirs[pdir]; pa != nil {
						if vd := pa.check(q.posix, permW|permX); !vd.Allowed {
							ref := &aclRefusal{path: q.dfsPathOf(pdir), attrs: pa, verdict: vd, want: permW | permX, why: "deleting '" + d.Name + "' out of it", fixPath: pdir}
							return errPermission("The caller holds no role granting data action '" + ActionBlobDelete + "' (rule RBAC-4)." + q.explainACL(ref, q.posix.ObjectID))
						}
					}
				}
				if d.isDir() {
					dirs[d.Name] = d.attrs()
				}
				victims = append(victims, &d)
			}
		}
		staged, err := dropStagedUnder(ctx, tx, c, q.blob)
		if err != nil {
			return err
		}
		files = append(files, staged...)
		for _, v := range victims {
			if v.Inline != "" {
				if err := tx.Delete(ctx, KindData, v.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			files = append(files, v.files()...)
			if err := tx.Delete(ctx, KindBlob, blobKey(c, v.Name), ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return dfsMapTxErr(err)
	}
	h.data.remove(c.UID, files)
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// set reports whether any content property was given.
func (p contentProps) set() bool {
	return p.Type != "" || p.Encoding != "" || p.Language != "" || p.Disposition != "" || p.CacheControl != "" || p.MD5 != nil
}

// dropStagedUnder drops the uncommitted data (blocks, appends) of path and
// of every path under it, inside tx, and returns their files. Staging
// markers are few (uploads in flight), so one listing of the container's
// markers beats one lookup per moved or deleted path.
func dropStagedUnder(ctx context.Context, tx store.Tx, c *storage.Container, path string) ([]string, error) {
	recs, err := tx.List(ctx, KindStaging, store.ListOptions{KeyPrefix: c.UID + "/"})
	if err != nil {
		return nil, err
	}
	var files []string
	for _, r := range recs {
		var m struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(r.Value, &m) != nil || (m.Name != path && !strings.HasPrefix(m.Name, path+"/")) {
			continue
		}
		f, err := dropStaged(ctx, tx, c, m.Name)
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	return files, nil
}
