package blob

// Changing a blob in place: metadata, properties, tier, and Delete Blob.

import (
	"errors"
	"net/http"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// updateBlob changes a blob's properties in one transaction (new ETag).
func (h *Handler) updateBlob(q *req, fn func(b *blobRecord) error) (*blobRecord, error) {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return nil, err
	}
	ctx := q.r.Context()
	var out *blobRecord
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		b, err := getBlob(ctx, tx, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errBlobNotFound()
		}
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, b.asTarget(), condWrite); e != nil {
			return e
		}
		if err := fn(b); err != nil {
			return err
		}
		now := h.now()
		b.Modified, b.ETag = now, storage.NewETag(now)
		out = b
		return putBlob(ctx, tx, c, b)
	})
	return out, mapTxErr(err)
}

func (q *req) writeUpdated(b *blobRecord, status int) {
	hd := q.w.Header()
	hd.Set("ETag", b.ETag)
	hd.Set("Last-Modified", fmtTime(b.Modified))
	hd.Set("x-ms-request-server-encrypted", "true")
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(status)
}

func (h *Handler) setBlobMetadata(q *req) error {
	md, err := parseMetadata(q.r)
	if err != nil {
		return err
	}
	b, err := h.updateBlob(q, func(b *blobRecord) error { b.Meta = md; return nil })
	if err != nil {
		return err
	}
	q.writeUpdated(b, http.StatusOK)
	return nil
}

func (h *Handler) setBlobProperties(q *req) error {
	props, err := contentFromHeaders(q.r, false)
	if err != nil {
		return err
	}
	b, err := h.updateBlob(q, func(b *blobRecord) error {
		// Set Blob Properties replaces every content property: one left
		// out is cleared.
		b.Props = props
		return nil
	})
	if err != nil {
		return err
	}
	hd := q.w.Header()
	hd.Set("ETag", b.ETag)
	hd.Set("Last-Modified", fmtTime(b.Modified))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) setBlobTier(q *req) error {
	tier, err := tierFromHeader(q.r)
	if err != nil {
		return err
	}
	if tier == "" {
		return errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.").with("HeaderName", "x-ms-access-tier")
	}
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		b, err := getBlob(ctx, tx, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errBlobNotFound()
		}
		if err != nil {
			return err
		}
		// Changing the tier does not change the ETag or Last-Modified.
		b.Tier, b.TierTime = tier, h.now()
		return putBlob(ctx, tx, c, b)
	})
	if err != nil {
		return mapTxErr(err)
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteBlob(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var files []string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		files = nil
		b, err := getBlob(ctx, tx, c, q.blob)
		if errors.Is(err, store.ErrNotFound) {
			return errBlobNotFound()
		}
		if err != nil {
			return err
		}
		if e := checkConditions(q.r, b.asTarget(), condWrite); e != nil {
			return e
		}
		if q.account.IsHnsEnabled && b.isDir() {
			if empty, err := dirEmpty(ctx, tx, c, q.blob); err != nil {
				return err
			} else if !empty {
				return errorf(http.StatusConflict, "DirectoryNotEmpty", "The recursive query parameter value must be true to delete a non-empty directory.")
			}
		}
		if b.Inline != "" {
			if err := tx.Delete(ctx, KindData, b.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		staged, err := dropStaged(ctx, tx, c, q.blob)
		if err != nil {
			return err
		}
		files = append(b.files(), staged...)
		return tx.Delete(ctx, KindBlob, blobKey(c, q.blob), "")
	})
	if err != nil {
		return mapTxErr(err)
	}
	h.data.remove(c.UID, files)
	q.w.Header().Set("x-ms-delete-type-permanent", "true")
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// ---- copy ----
