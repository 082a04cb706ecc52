package blob

// Reading a blob: preconditions, ranges, response headers, Get Blob and its metadata.

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// precheck evaluates conditions against the current blob before a body
// is received.
func (h *Handler) precheck(q *req, c *storage.Container) *Error {
	if q.r.Header.Get("If-Match") == "" && q.r.Header.Get("If-None-Match") == "" &&
		q.r.Header.Get("If-Modified-Since") == "" && q.r.Header.Get("If-Unmodified-Since") == "" && !q.createOnly {
		return nil
	}
	old, err := getBlob(q.r.Context(), h.st, c, q.blob)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errInternal(err)
	}
	if e := checkConditions(q.r, old.asTarget(), condCreate); e != nil {
		return e
	}
	if old != nil && q.createOnly {
		return errPermissionCreateOnly()
	}
	return nil
}

// blobOrNotFound reads the blob of the request.
func (h *Handler) blobOrNotFound(q *req, c *storage.Container) (*blobRecord, error) {
	b, err := getBlob(q.r.Context(), h.st, c, q.blob)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errBlobNotFound()
	}
	return b, err
}

// byteRange is an inclusive range.
type byteRange struct{ start, end int64 }

// parseRange reads x-ms-range (wins) or Range. ok is false when the
// request asks for the whole blob.
func parseRange(r *http.Request, size int64) (byteRange, bool, error) {
	v, hdr := r.Header.Get("x-ms-range"), "x-ms-range"
	if v == "" {
		v, hdr = r.Header.Get("Range"), "Range"
	}
	if v == "" {
		return byteRange{}, false, nil
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	s, e, dash := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	var end int64 = -1
	var err2 error
	if strings.TrimSpace(e) != "" {
		end, err2 = strconv.ParseInt(strings.TrimSpace(e), 10, 64)
	}
	if !ok || !dash || err1 != nil || err2 != nil || start < 0 || strings.Contains(spec, ",") {
		if hdr == "Range" {
			return byteRange{}, false, nil // an unusable Range header is ignored
		}
		return byteRange{}, false, errInvalidHeader(hdr, v, "use bytes=start-end or bytes=start-")
	}
	if start >= size || (end >= 0 && end < start) {
		e := errorf(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.")
		e.Header = http.Header{"Content-Range": {"bytes */" + strconv.FormatInt(size, 10)}}
		return byteRange{}, false, e
	}
	if end < 0 || end >= size {
		end = size - 1
	}
	return byteRange{start, end}, true, nil
}

// blobHeaders writes the properties every read carries.
func blobHeaders(hd http.Header, b *blobRecord, head bool) {
	hd.Set("ETag", b.ETag)
	hd.Set("Last-Modified", fmtTime(b.Modified))
	hd.Set("x-ms-creation-time", fmtTime(b.Created))
	hd.Set("x-ms-blob-type", "BlockBlob")
	hd.Set("x-ms-lease-status", "unlocked")
	hd.Set("x-ms-lease-state", "available")
	hd.Set("x-ms-server-encrypted", "true")
	hd.Set("Accept-Ranges", "bytes")
	ct := b.Props.Type
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	for k, v := range map[string]string{"Content-Encoding": b.Props.Encoding, "Content-Language": b.Props.Language,
		"Content-Disposition": b.Props.Disposition, "Cache-Control": b.Props.CacheControl} {
		if v != "" {
			hd.Set(k, v)
		}
	}
	writeMetadata(hd, b.Meta)
	if head {
		if b.Tier == "" {
			hd.Set("x-ms-access-tier", "Hot")
			hd.Set("x-ms-access-tier-inferred", "true")
		} else {
			hd.Set("x-ms-access-tier", b.Tier)
			if !b.TierTime.IsZero() {
				hd.Set("x-ms-access-tier-change-time", fmtTime(b.TierTime))
			}
		}
	}
	if b.Copy != nil {
		hd.Set("x-ms-copy-id", b.Copy.ID)
		hd.Set("x-ms-copy-source", b.Copy.Source)
		hd.Set("x-ms-copy-status", b.Copy.Status)
		hd.Set("x-ms-copy-progress", b.Copy.Progress)
		hd.Set("x-ms-copy-completion-time", fmtTime(b.Copy.Completion))
	}
}

// sasOverrides applies a service SAS's response header overrides.
func (q *req) sasOverrides(hd http.Header) {
	if q.auth == nil || q.auth.kind != credSAS {
		return
	}
	for k, h := range map[string]string{"rscc": "Cache-Control", "rscd": "Content-Disposition", "rsce": "Content-Encoding", "rscl": "Content-Language", "rsct": "Content-Type"} {
		if v := q.query(k); v != "" {
			hd.Set(h, v)
		}
	}
}

// snapshot is a blob version opened for reading: its record plus pinned
// files (or its inline body).
type snapshot struct {
	rec    *blobRecord
	inline []byte
}

// openBlob reads the blob and makes its body safe to stream: inline bodies
// are fetched, files are pinned and the record re-read to be sure no
// writer replaced it in between (a replaced version's files may already be
// gone). The caller must call h.release(c, s).
func (h *Handler) openBlob(q *req, c *storage.Container) (*snapshot, error) {
	ctx := q.r.Context()
	for attempt := 0; ; attempt++ {
		b, err := h.blobOrNotFound(q, c)
		if err != nil {
			return nil, err
		}
		if b.Inline != "" {
			rec, err := h.st.Get(ctx, KindData, b.Inline)
			if errors.Is(err, store.ErrNotFound) && attempt < 5 {
				continue // replaced meanwhile
			}
			if err != nil {
				return nil, err
			}
			return &snapshot{rec: b, inline: rec.Value}, nil
		}
		files := b.files()
		if len(files) == 0 {
			return &snapshot{rec: b}, nil
		}
		h.data.pin(c.UID, files)
		again, err := getBlob(ctx, h.st, c, q.blob)
		if err == nil && again.ETag == b.ETag {
			return &snapshot{rec: b}, nil
		}
		h.data.unpin(c.UID, files)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errBlobNotFound()
		}
		if err != nil {
			return nil, err
		}
		if attempt >= 5 {
			return nil, errorf(http.StatusConflict, "OperationNotAllowedInCurrentState", "The blob is being replaced too often to be read consistently; retry.")
		}
	}
}

func (h *Handler) release(c *storage.Container, s *snapshot) {
	if s != nil && s.inline == nil {
		h.data.unpin(c.UID, s.rec.files())
	}
}

// copyRange writes bytes [start, end] of the snapshot to w.
func (h *Handler) copyRange(w io.Writer, c *storage.Container, s *snapshot, start, end int64) error {
	if s.inline != nil {
		_, err := w.Write(s.inline[start : end+1])
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var off int64
	for _, seg := range s.rec.Segments {
		segStart, segEnd := off, off+seg.Size-1
		off += seg.Size
		if seg.Size == 0 || segEnd < start || segStart > end {
			continue
		}
		from := max(start, segStart) - segStart
		to := min(end, segEnd) - segStart
		f, err := h.data.open(c.UID, seg.File)
		if err != nil {
			return err
		}
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			f.Close()
			return err
		}
		_, err = io.CopyBuffer(w, io.LimitReader(f, to-from+1), *bp)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) getBlob(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	s, err := h.openBlob(q, c)
	if err != nil {
		return err
	}
	defer h.release(c, s)
	b := s.rec
	if e := checkConditions(q.r, b.asTarget(), condRead); e != nil {
		e.Header = http.Header{"ETag": {b.ETag}, "Last-Modified": {fmtTime(b.Modified)}}
		return e
	}
	head := q.r.Method == http.MethodHead
	hd := q.w.Header()
	if q.account.IsHnsEnabled {
		posixHeaders(hd, b)
	}
	if head {
		blobHeaders(hd, b, true)
		if len(b.Props.MD5) > 0 {
			hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(b.Props.MD5))
		}
		q.sasOverrides(hd)
		hd.Set("Content-Length", strconv.FormatInt(b.Size, 10))
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	rng, partial, err := parseRange(q.r, b.Size)
	if err != nil {
		return err
	}
	blobHeaders(hd, b, false)
	q.sasOverrides(hd)
	status := http.StatusOK
	start, end := int64(0), b.Size-1
	if partial {
		start, end, status = rng.start, rng.end, http.StatusPartialContent
		hd.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(b.Size, 10))
		if len(b.Props.MD5) > 0 {
			hd.Set("x-ms-blob-content-md5", base64.StdEncoding.EncodeToString(b.Props.MD5))
		}
		if strings.EqualFold(q.r.Header.Get("x-ms-range-get-content-md5"), "true") {
			if end-start+1 > maxRangeMD5 {
				return errorf(http.StatusBadRequest, "OutOfRangeInput", "One of the request inputs is out of range.").
					with("Reason", "x-ms-range-get-content-md5 needs a range of at most 4 MiB")
			}
			hw := md5.New()
			if err := h.copyRange(hw, c, s, start, end); err != nil {
				return err
			}
			hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(hw.Sum(nil)))
		}
	} else if len(b.Props.MD5) > 0 {
		hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(b.Props.MD5))
	}
	hd.Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	q.w.WriteHeader(status)
	if b.Size == 0 {
		return nil
	}
	if err := h.copyRange(q.w, c, s, start, end); err != nil {
		// Headers are out: abort the connection so the client sees a
		// truncated body rather than a wrong one.
		h.log.Debug("blob download aborted", "blob", q.blob, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (h *Handler) getBlobMetadata(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	b, err := h.blobOrNotFound(q, c)
	if err != nil {
		return err
	}
	if e := checkConditions(q.r, b.asTarget(), condRead); e != nil {
		return e
	}
	hd := q.w.Header()
	hd.Set("ETag", b.ETag)
	hd.Set("Last-Modified", fmtTime(b.Modified))
	writeMetadata(hd, b.Meta)
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}
