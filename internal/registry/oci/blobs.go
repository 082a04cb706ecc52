package oci

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/amlid/amlid/internal/store"
)

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
