// Package oci is an OCI distribution-spec registry (v2 API) over amlid's
// store: pull and push (monolithic and chunked uploads, cross-repository
// mounts), image manifests and indexes (OCI and Docker schema 2), tags,
// catalog, deletes and the referrers API. Blob contents live on disk,
// content-addressed and verified against their digest; metadata lives in
// the store, so a manifest, its tags and its blob links commit together.
//
// The handler serves many registries: the Authorizer names the namespace
// (one registry) of each request and decides what the caller may do. The
// package knows nothing of Azure; package registry supplies the Azure
// authorizer (admin user, Entra token exchange, AcrPull/AcrPush).
package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/store"
)

// Actions a caller may hold on a repository.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
)

// Access is what a caller may do in one namespace.
type Access struct {
	// Namespace identifies the registry (its records' key prefix).
	Namespace string
	// Can reports whether the caller holds action on repo ("" with action
	// "catalog" for the registry catalog). When it answers false, Denied
	// gives the response.
	Can func(repo, action string) bool
	// Denied is the error for a refused action (401 with a challenge for
	// more scope, or 403 DENIED naming the missing role).
	Denied func(repo string, actions ...string) *Error
}

// Authorizer authenticates a request and returns the caller's access, or
// the error to answer (401 with a challenge, 404 for an unknown registry).
// repo and actions are what the request needs ("" for the /v2/ ping).
type Authorizer interface {
	Authorize(r *http.Request, repo string, actions ...string) (*Access, *Error)
}

// Config configures a Handler.
type Config struct {
	Store store.Store
	// Dir holds blob contents and uploads.
	Dir  string
	Auth Authorizer
	// MaxManifestBytes bounds manifests (default 4 MiB, ACR's limit).
	MaxManifestBytes int64
	Logger           *slog.Logger
}

// Handler is the /v2/ API.
type Handler struct {
	cfg     Config
	blobs   *blobStore
	mu      sync.Mutex
	uploads map[string]*upload
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.MaxManifestBytes == 0 {
		cfg.MaxManifestBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bs, err := newBlobStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, blobs: bs, uploads: map[string]*upload{}}, nil
}

// Media types.
const (
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndex(mt string) bool { return mt == MediaOCIIndex || mt == MediaDockerList }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			h.cfg.Logger.Error("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			oe = Errorf(http.StatusInternalServerError, CodeUnsupported, "amlid failed to handle the request")
		}
		WriteError(w, r, oe)
	}
}

// need is the action a request needs.
func need(kind, method string) []string {
	switch {
	case kind == "ping":
		return nil
	case kind == "catalog":
		return []string{"catalog"}
	case method == http.MethodDelete && kind != "upload":
		return []string{ActionDelete}
	case method == http.MethodGet || method == http.MethodHead:
		if kind == "upload" {
			return []string{ActionPull, ActionPush}
		}
		return []string{ActionPull}
	default:
		return []string{ActionPull, ActionPush}
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, perr := parseRoute(r.URL.Path)
	if perr != nil {
		// Authenticate first: an anonymous caller learns nothing.
		if _, aerr := h.cfg.Auth.Authorize(r, ""); aerr != nil {
			return aerr
		}
		return perr
	}
	acts := need(rt.kind, r.Method)
	a, aerr := h.cfg.Auth.Authorize(r, rt.repo, acts...)
	if aerr != nil {
		return aerr
	}
	for _, act := range acts {
		if !a.Can(rt.repo, act) {
			return a.Denied(rt.repo, acts...)
		}
	}
	ctx := r.Context()
	m := r.Method
	switch rt.kind {
	case "ping":
		if m != http.MethodGet && m != http.MethodHead {
			return methodNotAllowed(m)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if m == http.MethodGet {
			w.Write([]byte("{}"))
		}
		return nil
	case "catalog":
		if m != http.MethodGet {
			return methodNotAllowed(m)
		}
		return h.catalog(ctx, w, r, a)
	case "tags":
		if m != http.MethodGet {
			return methodNotAllowed(m)
		}
		return h.tags(ctx, w, r, a, rt.repo)
	case "manifest":
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getManifest(ctx, w, r, a, rt.repo, rt.ref)
		case http.MethodPut:
			return h.putManifest(ctx, w, r, a, rt.repo, rt.ref)
		case http.MethodDelete:
			return h.deleteManifest(ctx, w, a, rt.repo, rt.ref)
		}
	case "blob":
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getBlob(ctx, w, r, a, rt.repo, rt.ref)
		case http.MethodDelete:
			return h.deleteBlob(ctx, w, a, rt.repo, rt.ref)
		}
	case "upload":
		switch {
		case m == http.MethodPost && rt.ref == "":
			return h.startUpload(ctx, w, r, a, rt.repo)
		case m == http.MethodPatch && rt.ref != "":
			return h.patchUpload(w, r, a, rt.repo, rt.ref)
		case m == http.MethodPut && rt.ref != "":
			return h.finishUpload(ctx, w, r, a, rt.repo, rt.ref)
		case (m == http.MethodGet || m == http.MethodHead) && rt.ref != "":
			return h.uploadStatus(w, r, a, rt.repo, rt.ref)
		case m == http.MethodDelete && rt.ref != "":
			return h.cancelUpload(w, a, rt.repo, rt.ref)
		}
	case "referrers":
		if m != http.MethodGet {
			return methodNotAllowed(m)
		}
		return h.referrers(ctx, w, r, a, rt.repo, rt.ref)
	}
	return methodNotAllowed(m)
}

func methodNotAllowed(m string) *Error {
	return Errorf(http.StatusMethodNotAllowed, CodeUnsupported, "the operation does not support method %s", m)
}

// ---- listing ----

// page reads n (page size) and last (cursor) from the query.
func page(r *http.Request) (int, string, *Error) {
	q := r.URL.Query()
	n := -1
	if v := q.Get("n"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return 0, "", Errorf(http.StatusBadRequest, CodeUnsupported, "n must be a non-negative integer, not %q", clip(v, 20))
		}
		n = x
	}
	return n, q.Get("last"), nil
}

func nextLink(w http.ResponseWriter, r *http.Request, n int, last string) {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
}

// defaultPage is the page size of a catalog or tag list without n: the
// registry pages (with a Link header) rather than answer every name.
const defaultPage = 1000

// listNames reads one page of names from the store's index: the names
// after last, at most n (defaultPage when n < 0), and whether more follow.
func (h *Handler) listNames(ctx context.Context, kind, parent string, n int, last string) ([]string, bool, error) {
	if n < 0 {
		n = defaultPage
	}
	if n == 0 {
		return []string{}, false, nil
	}
	o := store.PageOptions{Parent: parent, Limit: n}
	if last != "" {
		o.After = k(parent, last)
	}
	p, err := store.ListPage(ctx, h.cfg.Store, kind, o)
	if err != nil {
		return nil, false, err
	}
	names := make([]string, 0, len(p.Records))
	for _, rec := range p.Records {
		names = append(names, strings.TrimPrefix(rec.Key, parent+"|"))
	}
	return names, p.Next != "", nil
}

func (h *Handler) catalog(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access) error {
	n, last, perr := page(r)
	if perr != nil {
		return perr
	}
	names, more, err := h.listNames(ctx, KindRepo, a.Namespace, n, last)
	if err != nil {
		return err
	}
	if more {
		nextLink(w, r, len(names), names[len(names)-1])
	}
	writeJSON(w, http.StatusOK, map[string]any{"repositories": names})
	return nil
}

func (h *Handler) tags(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo string) error {
	n, last, perr := page(r)
	if perr != nil {
		return perr
	}
	if _, ok, err := getJSON[struct{}](ctx, h.cfg.Store, KindRepo, k(a.Namespace, repo)); err != nil {
		return err
	} else if !ok {
		return Errorf(http.StatusNotFound, CodeNameUnknown, "repository %q is not known to this registry", repo)
	}
	names, more, err := h.listNames(ctx, KindTag, k(a.Namespace, repo), n, last)
	if err != nil {
		return err
	}
	if more {
		nextLink(w, r, len(names), names[len(names)-1])
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": repo, "tags": names})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// ---- blobs ----

func (h *Handler) blobLink(ctx context.Context, ns, repo string, d Digest) (blobLink, bool, error) {
	return getJSON[blobLink](ctx, h.cfg.Store, KindBlob, k(ns, repo, d.String()))
}

func (h *Handler) getBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	d, derr := ParseDigest(ref)
	if derr != nil {
		return derr
	}
	unknown := Errorf(http.StatusNotFound, CodeBlobUnknown, "blob %s is not in repository %q", d, repo).WithDetail(map[string]string{"digest": d.String()})
	if _, ok, err := h.blobLink(ctx, a.Namespace, repo, d); err != nil {
		return err
	} else if !ok {
		return unknown
	}
	f, err := h.blobs.open(d)
	if errors.Is(err, fs.ErrNotExist) {
		return unknown
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", "max-age=31536000")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

func (h *Handler) deleteBlob(ctx context.Context, w http.ResponseWriter, a *Access, repo, ref string) error {
	d, derr := ParseDigest(ref)
	if derr != nil {
		return derr
	}
	err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, KindBlob, k(a.Namespace, repo, d.String())); errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, CodeBlobUnknown, "blob %s is not in repository %q", d, repo)
		} else if err != nil {
			return err
		}
		return del(ctx, tx, KindBlob, k(a.Namespace, repo, d.String()))
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// ---- uploads ----

func uploadLocation(r *http.Request, repo, id string) string {
	return "/v2/" + repo + "/blobs/uploads/" + id
}

func blobLocation(repo string, d Digest) string { return "/v2/" + repo + "/blobs/" + d.String() }

func (h *Handler) startUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo string) error {
	q := r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		d, derr := ParseDigest(mount)
		if derr != nil {
			return derr
		}
		from := q.Get("from")
		var src *blobLink
		switch {
		case from != "":
			if CheckName(from) == nil && a.Can(from, ActionPull) {
				if l, ok, err := h.blobLink(ctx, a.Namespace, from, d); err != nil {
					return err
				} else if ok {
					src = &l
				}
			}
		default: // anonymous mount: any blob already in this registry
			if l, ok, err := getJSON[blobLink](ctx, h.cfg.Store, KindNSBlob, k(a.Namespace, d.String())); err != nil {
				return err
			} else if ok {
				src = &l
			}
		}
		if src != nil {
			if size, ok := h.blobs.has(d); ok {
				if err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error { return linkBlob(ctx, tx, a.Namespace, repo, d, size) }); err != nil {
					return err
				}
				w.Header().Set("Location", blobLocation(repo, d))
				w.Header().Set("Docker-Content-Digest", d.String())
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusCreated)
				return nil
			}
		}
		// Not mountable: fall through to a new upload session, as the
		// spec says.
	}
	h.sweepUploads(time.Now().Add(-UploadIdleTimeout))
	u, err := h.blobs.newUpload(a.Namespace, repo, time.Now().Unix())
	if err != nil {
		return err
	}
	if dg := q.Get("digest"); dg != "" { // monolithic: POST with the content
		d, derr := ParseDigest(dg)
		if derr != nil {
			u.discard()
			return derr
		}
		if _, err := u.append(r.Body); err != nil {
			u.discard()
			return Errorf(http.StatusBadRequest, CodeBlobUploadInvalid, "reading the upload failed: %v", err)
		}
		return h.commitUpload(ctx, w, u, d)
	}
	h.mu.Lock()
	h.uploads[u.id] = u
	h.mu.Unlock()
	w.Header().Set("Location", uploadLocation(r, repo, u.id))
	w.Header().Set("Docker-Upload-UUID", u.id)
	w.Header().Set("Range", "0-0")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// UploadIdleTimeout is how long an upload session may sit idle before it
// is dropped (its file removed).
const UploadIdleTimeout = time.Hour

// sweepUploads drops sessions idle since before cutoff.
func (h *Handler) sweepUploads(cutoff time.Time) {
	h.mu.Lock()
	var stale []*upload
	for id, u := range h.uploads {
		if u.lastUsed().Before(cutoff) {
			stale = append(stale, u)
			delete(h.uploads, id)
		}
	}
	h.mu.Unlock()
	for _, u := range stale {
		u.mu.Lock()
		u.discard()
		u.mu.Unlock()
	}
}

func (h *Handler) session(a *Access, repo, id string) (*upload, *Error) {
	h.mu.Lock()
	u, ok := h.uploads[id]
	h.mu.Unlock()
	if !ok || u.ns != a.Namespace || u.repo != repo {
		return nil, Errorf(http.StatusNotFound, CodeBlobUploadUnknown, "upload %q is not in progress in repository %q", clip(id, 40), repo)
	}
	u.touch()
	return u, nil
}

func rangeHeader(size int64) string {
	if size == 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(size-1, 10)
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, a *Access, repo, id string) error {
	u, serr := h.session(a, repo, id)
	if serr != nil {
		return serr
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := checkRange(r, repo, u); e != nil {
		return e
	}
	if _, err := u.append(r.Body); err != nil {
		return Errorf(http.StatusBadRequest, CodeBlobUploadInvalid, "reading the chunk failed: %v", err)
	}
	w.Header().Set("Location", uploadLocation(r, repo, u.id))
	w.Header().Set("Docker-Upload-UUID", u.id)
	w.Header().Set("Range", rangeHeader(u.size))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkRange refuses a chunk that does not continue the upload (416,
// the session stays usable).
func checkRange(r *http.Request, repo string, u *upload) *Error {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	start, _, ok := parseContentRange(cr)
	if ok && start == u.size {
		return nil
	}
	e := Errorf(http.StatusRequestedRangeNotSatisfiable, CodeBlobUploadInvalid,
		"Content-Range %q does not continue the upload, which has %d bytes", clip(cr, 60), u.size)
	e.Header = http.Header{"Range": {rangeHeader(u.size)}, "Location": {uploadLocation(r, repo, u.id)}}
	return e
}

func parseContentRange(s string) (int64, int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes ")
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(strings.SplitN(b, "/", 2)[0], 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start-1 {
		return 0, 0, false
	}
	return start, end, true
}

func (h *Handler) finishUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, id string) error {
	u, serr := h.session(a, repo, id)
	if serr != nil {
		return serr
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := checkRange(r, repo, u); e != nil {
		return e
	}
	h.mu.Lock()
	delete(h.uploads, id)
	h.mu.Unlock()
	d, derr := ParseDigest(r.URL.Query().Get("digest"))
	if derr != nil {
		u.discard()
		return derr
	}
	if _, err := u.append(r.Body); err != nil {
		u.discard()
		return Errorf(http.StatusBadRequest, CodeBlobUploadInvalid, "reading the last chunk failed: %v", err)
	}
	return h.commitUpload(ctx, w, u, d)
}

func (h *Handler) commitUpload(ctx context.Context, w http.ResponseWriter, u *upload, d Digest) error {
	size, verr, err := h.blobs.commit(u, d)
	if verr != nil {
		return verr
	}
	if err != nil {
		return err
	}
	if err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error { return linkBlob(ctx, tx, u.ns, u.repo, d, size) }); err != nil {
		return err
	}
	w.Header().Set("Location", blobLocation(u.repo, d))
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, a *Access, repo, id string) error {
	u, serr := h.session(a, repo, id)
	if serr != nil {
		return serr
	}
	u.mu.Lock()
	size := u.size
	u.mu.Unlock()
	w.Header().Set("Location", uploadLocation(r, repo, u.id))
	w.Header().Set("Docker-Upload-UUID", u.id)
	w.Header().Set("Range", rangeHeader(size))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) cancelUpload(w http.ResponseWriter, a *Access, repo, id string) error {
	u, serr := h.session(a, repo, id)
	if serr != nil {
		return serr
	}
	h.mu.Lock()
	delete(h.uploads, id)
	h.mu.Unlock()
	u.mu.Lock()
	u.discard()
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- manifests ----

// manifestDoc is the part of a manifest or index the registry reads.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// foreign layers are referenced, not pushed (nondistributable).
func foreign(d Descriptor) bool {
	return strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, "foreign") || len(d.URLs) > 0
}

func (h *Handler) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	max := h.cfg.MaxManifestBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return Errorf(http.StatusBadRequest, CodeManifestInvalid, "reading the manifest failed: %v", err)
	}
	if int64(len(body)) > max {
		return Errorf(http.StatusRequestEntityTooLarge, CodeSizeInvalid, "the manifest is larger than the %d bytes a registry accepts", max)
	}
	invalid := func(format string, args ...any) error {
		return Errorf(http.StatusBadRequest, CodeManifestInvalid, format, args...)
	}
	var doc manifestDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return invalid("the manifest is not valid JSON: %v", err)
	}
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	mt := doc.MediaType
	switch {
	case mt == "" && ct != "" && ct != "application/json" && ct != "application/octet-stream":
		mt = ct
	case mt == "" && doc.Manifests != nil:
		mt = MediaOCIIndex
	case mt == "":
		mt = MediaOCIManifest
	case ct != "" && ct != mt && ct != "application/json" && ct != "application/octet-stream":
		return invalid("the manifest's mediaType %q does not match its Content-Type %q", mt, ct)
	}
	switch mt {
	case MediaOCIManifest, MediaDockerManifest:
		if doc.Config == nil {
			return invalid("an image manifest needs a config descriptor")
		}
	case MediaOCIIndex, MediaDockerList:
	default:
		return invalid("unsupported manifest media type %q (OCI image manifest/index, Docker schema 2 manifest/list)", mt)
	}
	if doc.SchemaVersion != 2 {
		return invalid("schemaVersion must be 2, not %d", doc.SchemaVersion)
	}
	// Digest: the reference when it is one (verified), else sha256.
	var dg Digest
	tag := ""
	if IsDigest(ref) {
		d, derr := ParseDigest(ref)
		if derr != nil {
			return derr
		}
		if got := DigestOf(d.Algorithm, body); got != d {
			return Errorf(http.StatusBadRequest, CodeDigestInvalid, "the manifest's digest is %s, not %s as the reference says", got, d).
				WithDetail(map[string]string{"declared": d.String(), "computed": got.String()})
		}
		dg = d
	} else {
		if !ValidTag(ref) {
			return Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'", clip(ref, 140))
		}
		tag = ref
		dg = DigestOf("sha256", body)
	}
	tags := []string{}
	if tag != "" {
		tags = append(tags, tag)
	}
	for _, t := range r.URL.Query()["tag"] {
		if !ValidTag(t) {
			return invalid("invalid tag %q", clip(t, 140))
		}
		tags = append(tags, t)
	}
	// Every referenced blob and manifest must be in the repository
	// (MANIFEST_BLOB_UNKNOWN), except foreign layers and the subject.
	ns := a.Namespace
	var refs []Descriptor
	if doc.Config != nil {
		refs = append(refs, *doc.Config)
	}
	for _, l := range doc.Layers {
		if !foreign(l) {
			refs = append(refs, l)
		}
	}
	for _, d := range refs {
		dd, derr := ParseDigest(d.Digest)
		if derr != nil {
			return invalid("descriptor digest %q is invalid", clip(d.Digest, 140))
		}
		l, ok, err := h.blobLink(ctx, ns, repo, dd)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(http.StatusBadRequest, CodeManifestBlobUnknown,
				"blob %s referenced by the manifest is not in repository %q: push it first", dd, repo).WithDetail(map[string]string{"digest": dd.String()})
		}
		if l.Size != d.Size {
			return invalid("descriptor of %s says %d bytes, the blob has %d", dd, d.Size, l.Size)
		}
	}
	for _, m := range doc.Manifests {
		dd, derr := ParseDigest(m.Digest)
		if derr != nil {
			return invalid("descriptor digest %q is invalid", clip(m.Digest, 140))
		}
		if _, ok, err := getJSON[manifestRec](ctx, h.cfg.Store, KindManifest, k(ns, repo, dd.String())); err != nil {
			return err
		} else if !ok {
			return Errorf(http.StatusBadRequest, CodeManifestBlobUnknown,
				"manifest %s referenced by the index is not in repository %q: push it first", dd, repo).WithDetail(map[string]string{"digest": dd.String()})
		}
	}
	rec := manifestRec{MediaType: mt, Size: int64(len(body)), Content: body, Annotations: doc.Annotations, ArtifactType: doc.ArtifactType}
	// The referrers API reports an image's config media type as its
	// artifactType when the manifest has none (distribution-spec).
	if rec.ArtifactType == "" && doc.Config != nil {
		rec.ArtifactType = doc.Config.MediaType
	}
	var subject Digest
	if doc.Subject != nil {
		sd, derr := ParseDigest(doc.Subject.Digest)
		if derr != nil {
			return invalid("subject digest %q is invalid", clip(doc.Subject.Digest, 140))
		}
		subject, rec.Subject = sd, sd.String()
	}
	err = h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if err := putJSON(ctx, tx, KindRepo, k(ns, repo), ns, struct{}{}); err != nil {
			return err
		}
		if err := putJSON(ctx, tx, KindManifest, k(ns, repo, dg.String()), k(ns, repo), rec); err != nil {
			return err
		}
		for _, t := range tags {
			if err := putJSON(ctx, tx, KindTag, k(ns, repo, t), k(ns, repo), tagRec{Digest: dg.String()}); err != nil {
				return err
			}
		}
		if rec.Subject != "" {
			desc := Descriptor{MediaType: mt, Digest: dg.String(), Size: rec.Size, ArtifactType: rec.ArtifactType, Annotations: rec.Annotations}
			if err := putJSON(ctx, tx, KindReferrer, k(ns, repo, subject.String(), dg.String()), k(ns, repo, subject.String()), desc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if rec.Subject != "" {
		w.Header().Set("OCI-Subject", rec.Subject)
	}
	w.Header().Set("Location", "/v2/"+repo+"/manifests/"+dg.String())
	w.Header().Set("Docker-Content-Digest", dg.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// resolve finds a manifest by tag or digest.
func (h *Handler) resolve(ctx context.Context, ns, repo, ref string) (Digest, manifestRec, *Error, error) {
	unknown := Errorf(http.StatusNotFound, CodeManifestUnknown, "manifest %q is not in repository %q", clip(ref, 140), repo)
	var d Digest
	if IsDigest(ref) {
		var derr *Error
		if d, derr = ParseDigest(ref); derr != nil {
			return d, manifestRec{}, derr, nil
		}
	} else {
		if !ValidTag(ref) {
			return d, manifestRec{}, Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q", clip(ref, 140)), nil
		}
		t, ok, err := getJSON[tagRec](ctx, h.cfg.Store, KindTag, k(ns, repo, ref))
		if err != nil || !ok {
			return d, manifestRec{}, unknown, err
		}
		var derr *Error
		if d, derr = ParseDigest(t.Digest); derr != nil {
			return d, manifestRec{}, unknown, nil
		}
	}
	m, ok, err := getJSON[manifestRec](ctx, h.cfg.Store, KindManifest, k(ns, repo, d.String()))
	if err != nil || !ok {
		return d, m, unknown, err
	}
	return d, m, nil, nil
}

func (h *Handler) getManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	d, m, nerr, err := h.resolve(ctx, a.Namespace, repo, ref)
	if err != nil {
		return err
	}
	if nerr != nil {
		return nerr
	}
	w.Header().Set("Content-Type", m.MediaType)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("ETag", `"`+d.String()+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Content)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(m.Content)
	}
	return nil
}

func (h *Handler) deleteManifest(ctx context.Context, w http.ResponseWriter, a *Access, repo, ref string) error {
	ns := a.Namespace
	err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if !IsDigest(ref) { // delete one tag
			if !ValidTag(ref) {
				return Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q", clip(ref, 140))
			}
			if _, err := tx.Get(ctx, KindTag, k(ns, repo, ref)); errors.Is(err, store.ErrNotFound) {
				return Errorf(http.StatusNotFound, CodeManifestUnknown, "tag %q is not in repository %q", ref, repo)
			} else if err != nil {
				return err
			}
			return del(ctx, tx, KindTag, k(ns, repo, ref))
		}
		d, derr := ParseDigest(ref)
		if derr != nil {
			return derr
		}
		m, ok, err := getJSON[manifestRec](ctx, tx, KindManifest, k(ns, repo, d.String()))
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(http.StatusNotFound, CodeManifestUnknown, "manifest %s is not in repository %q", d, repo)
		}
		if err := del(ctx, tx, KindManifest, k(ns, repo, d.String())); err != nil {
			return err
		}
		if m.Subject != "" {
			if err := del(ctx, tx, KindReferrer, k(ns, repo, m.Subject, d.String())); err != nil {
				return err
			}
		}
		tags, err := tx.List(ctx, KindTag, store.ListOptions{Parent: k(ns, repo)})
		if err != nil {
			return err
		}
		for _, t := range tags {
			var tr tagRec
			if json.Unmarshal(t.Value, &tr) == nil && tr.Digest == d.String() {
				if err := del(ctx, tx, KindTag, t.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// ---- referrers ----

func (h *Handler) referrers(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	d, derr := ParseDigest(ref)
	if derr != nil {
		return derr
	}
	recs, err := h.cfg.Store.List(ctx, KindReferrer, store.ListOptions{Parent: k(a.Namespace, repo, d.String())})
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	out := []Descriptor{}
	for _, rec := range recs {
		var desc Descriptor
		if json.Unmarshal(rec.Value, &desc) != nil {
			continue
		}
		if filter != "" && desc.ArtifactType != filter {
			continue
		}
		out = append(out, desc)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	b, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaOCIIndex, "manifests": out})
	w.Header().Set("Content-Type", MediaOCIIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// ---- repository management (ACR's /acr/v1 API) ----

// DeleteRepository removes a repository's manifests, tags and blob links
// (DELETE /acr/v1/<repo>, `az acr repository delete`).
func (h *Handler) DeleteRepository(ctx context.Context, ns, repo string) (manifests, tags []string, err error) {
	err = h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, KindRepo, k(ns, repo)); errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, CodeNameUnknown, "repository %q is not known to this registry", repo)
		} else if err != nil {
			return err
		}
		var err error
		manifests, tags, err = deleteRepo(ctx, tx, ns, repo)
		return err
	})
	return manifests, tags, err
}

// ServeACR answers ACR's repository API for one repository:
// DELETE /acr/v1/<repo> (the caller has been authorized for delete).
func (h *Handler) ServeACRDelete(w http.ResponseWriter, r *http.Request, a *Access, repo string) {
	mans, tags, err := h.DeleteRepository(r.Context(), a.Namespace, repo)
	if err != nil {
		var oe *Error
		if !errors.As(err, &oe) {
			h.cfg.Logger.Error("delete repository", "err", err)
			oe = Errorf(http.StatusInternalServerError, CodeUnsupported, "amlid failed to delete the repository")
		}
		WriteError(w, r, oe)
		return
	}
	if mans == nil {
		mans = []string{}
	}
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"manifestsDeleted": mans, "tagsDeleted": tags})
}
