package blob

import (
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
		if e := checkConditions(q.r, old.asTarget(), condCreate); e != nil {
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
		if e := checkConditions(q.r, db.asTarget(), condCreate); e != nil {
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
		if e := checkConditions(q.r, b.asTarget(), condWrite); e != nil {
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
		if e := checkConditions(q.r, b.asTarget(), condRead); e != nil {
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
		if e := checkConditions(q.r, b.asTarget(), condWrite); e != nil {
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
