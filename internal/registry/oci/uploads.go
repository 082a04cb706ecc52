package oci

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/store"
)

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
		mounted, err := h.mount(ctx, a, repo, q.Get("from"), d)
		if err != nil {
			return err
		}
		if mounted {
			writeBlobCreated(w, repo, d)
			return nil
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
		return h.appendAndCommit(ctx, w, r, u, dg, "the upload")
	}
	h.mu.Lock()
	h.uploads[u.id] = u
	h.mu.Unlock()
	writeUploadState(w, r, repo, u.id, 0, http.StatusAccepted)
	return nil
}

// mount links blob d into repo when the caller may read it where it is:
// in repository from (which the caller may pull), or with no from
// anywhere in this registry. It reports whether it mounted.
func (h *Handler) mount(ctx context.Context, a *Access, repo, from string, d Digest) (bool, error) {
	var src *blobLink
	switch {
	case from != "":
		if CheckName(from) == nil && a.Can(from, ActionPull) {
			if l, ok, err := h.blobLink(ctx, a.Namespace, from, d); err != nil {
				return false, err
			} else if ok {
				src = &l
			}
		}
	default: // anonymous mount: any blob already in this registry
		if l, ok, err := getJSON[blobLink](ctx, h.cfg.Store, KindNSBlob, k(a.Namespace, d.String())); err != nil {
			return false, err
		} else if ok {
			src = &l
		}
	}
	if src == nil {
		return false, nil
	}
	size, ok := h.blobs.has(d)
	if !ok {
		return false, nil
	}
	if err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error { return linkBlob(ctx, tx, a.Namespace, repo, d, size) }); err != nil {
		return false, err
	}
	return true, nil
}

// appendAndCommit ends an upload that is no longer a session: the
// request body is its last (or only) part, digest what it must hash to.
// what names the body in the error when reading it fails. On any error the
// upload is discarded.
func (h *Handler) appendAndCommit(ctx context.Context, w http.ResponseWriter, r *http.Request, u *upload, digest, what string) error {
	d, derr := ParseDigest(digest)
	if derr != nil {
		u.discard()
		return derr
	}
	if _, err := u.append(r.Body); err != nil {
		u.discard()
		return Errorf(http.StatusBadRequest, CodeBlobUploadInvalid, "reading %s failed: %v", what, err)
	}
	return h.commitUpload(ctx, w, u, d)
}

// writeUploadState answers with where an upload session stands.
func writeUploadState(w http.ResponseWriter, r *http.Request, repo, id string, size int64, status int) {
	w.Header().Set("Location", uploadLocation(r, repo, id))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", rangeHeader(size))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// writeBlobCreated answers a completed upload or mount.
func writeBlobCreated(w http.ResponseWriter, repo string, d Digest) {
	w.Header().Set("Location", blobLocation(repo, d))
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
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
	u, serr := h.lockChunk(r, a, repo, id)
	if serr != nil {
		return serr
	}
	defer u.mu.Unlock()
	if _, err := u.append(r.Body); err != nil {
		return Errorf(http.StatusBadRequest, CodeBlobUploadInvalid, "reading the chunk failed: %v", err)
	}
	writeUploadState(w, r, repo, u.id, u.size, http.StatusAccepted)
	return nil
}

// lockChunk finds the session a chunk is for and locks it (the caller
// unlocks), after checking the chunk continues the upload.
func (h *Handler) lockChunk(r *http.Request, a *Access, repo, id string) (*upload, *Error) {
	u, serr := h.session(a, repo, id)
	if serr != nil {
		return nil, serr
	}
	u.mu.Lock()
	if e := checkRange(r, repo, u); e != nil {
		u.mu.Unlock()
		return nil, e
	}
	return u, nil
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
	u, serr := h.lockChunk(r, a, repo, id)
	if serr != nil {
		return serr
	}
	defer u.mu.Unlock()
	h.mu.Lock()
	delete(h.uploads, id)
	h.mu.Unlock()
	return h.appendAndCommit(ctx, w, r, u, r.URL.Query().Get("digest"), "the last chunk")
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
	writeBlobCreated(w, u.repo, d)
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
	writeUploadState(w, r, repo, u.id, size, http.StatusNoContent)
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
