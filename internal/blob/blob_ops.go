package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// Limits of the service for block blobs.
const (
	maxPutBlob  = 5000 << 20 // a single Put Blob
	maxBlock    = 4000 << 20 // one block
	maxBlocks   = 50000      // committed blocks per blob
	maxRangeMD5 = 4 << 20    // x-ms-range-get-content-md5 bound
)

// errContainerGone is returned inside a transaction when the container was
// deleted (or replaced) while the request ran.
var errContainerGone = errors.New("blob: container gone")

// liveContainer checks inside tx that c still exists (same incarnation).
func liveContainer(ctx context.Context, tx store.Tx, c *storage.Container) error {
	rec, err := tx.Get(ctx, arm.KindResource, strings.ToLower(c.ID))
	if errors.Is(err, store.ErrNotFound) {
		return errContainerGone
	}
	if err != nil {
		return err
	}
	r, err := arm.DecodeResource(rec.Value)
	if err != nil {
		return err
	}
	if uid, _ := r.Internal["uid"].(string); uid != c.UID {
		return errContainerGone
	}
	return nil
}

func mapTxErr(err error) error {
	if errors.Is(err, errContainerGone) {
		return errContainerNotFound()
	}
	return err
}

func errPermissionCreateOnly() *Error {
	return errPermission("The caller may create blobs but not overwrite them (it holds data action '" + ActionBlobAdd +
		"' or SAS permission 'c', not '" + ActionBlobWrite + "' or 'w'), and the blob exists.")
}

// contentFromHeaders reads content properties for Put Blob / Put Block
// List: x-ms-blob-content-* win over the plain headers.
func contentFromHeaders(r *http.Request, plain bool) (contentProps, error) {
	h := r.Header
	pick := func(ms, std string) string {
		if v := h.Get(ms); v != "" {
			return v
		}
		if plain && std != "" {
			return h.Get(std)
		}
		return ""
	}
	p := contentProps{
		Type:         pick("x-ms-blob-content-type", "Content-Type"),
		Encoding:     pick("x-ms-blob-content-encoding", "Content-Encoding"),
		Language:     pick("x-ms-blob-content-language", "Content-Language"),
		Disposition:  pick("x-ms-blob-content-disposition", ""),
		CacheControl: pick("x-ms-blob-cache-control", "Cache-Control"),
	}
	if v := h.Get("x-ms-blob-content-md5"); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != md5.Size {
			return p, errInvalidHeader("x-ms-blob-content-md5", v, "not a base64 MD5")
		}
		p.MD5 = b
	}
	return p, nil
}

func headerMD5(r *http.Request, name string) ([]byte, error) {
	v := r.Header.Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, errInvalidHeader(name, v, "not a base64 MD5")
	}
	return b, nil
}

func errMD5Mismatch(sent, got []byte) *Error {
	return errorf(http.StatusBadRequest, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.").
		with("UserSpecifiedMd5", base64.StdEncoding.EncodeToString(sent)).with("ServerCalculatedMd5", base64.StdEncoding.EncodeToString(got))
}

// tierFromHeader reads x-ms-access-tier.
func tierFromHeader(r *http.Request) (string, error) {
	v := r.Header.Get("x-ms-access-tier")
	if v == "" {
		return "", nil
	}
	for _, t := range []string{"Hot", "Cool", "Cold", "Archive"} {
		if strings.EqualFold(v, t) {
			return t, nil
		}
	}
	return "", errInvalidHeader("x-ms-access-tier", v, "use Hot, Cool, Cold or Archive")
}

// contentLength requires a Content-Length within limit.
func contentLength(r *http.Request, limit int64) (int64, error) {
	if r.ContentLength < 0 {
		return 0, errorf(http.StatusLengthRequired, "MissingContentLengthHeader", "Content-Length HTTP header is missing.")
	}
	if r.ContentLength > limit {
		return 0, errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.").
			with("MaxLimit", strconv.FormatInt(limit, 10))
	}
	return r.ContentLength, nil
}

func errIncompleteBody(err error) *Error {
	return errorf(http.StatusBadRequest, "IncompleteBody", "The request body is incomplete for the specified content length.").with("Reason", err.Error())
}

// body is a received blob body: inline bytes or a data file.
type body struct {
	inline []byte
	file   string
	size   int64
	md5    []byte
}

// receive reads a request body of n bytes: small ones into memory, others
// to a data file of container c.
func (h *Handler) receive(q *req, c *storage.Container, n int64, inlineOK bool, wantMD5 bool) (*body, error) {
	if inlineOK && h.cfg.InlineMax >= 0 && n <= h.cfg.InlineMax {
		buf := make([]byte, n)
		if _, err := io.ReadFull(q.r.Body, buf); err != nil {
			return nil, errIncompleteBody(err)
		}
		if extra, _ := q.r.Body.Read(make([]byte, 1)); extra > 0 {
			return nil, errIncompleteBody(errors.New("the body is longer than Content-Length"))
		}
		s := md5.Sum(buf)
		return &body{inline: buf, size: n, md5: s[:]}, nil
	}
	id, got, sum, err := h.data.write(c.UID, q.r.Body, n, wantMD5)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || got != n {
			return nil, errIncompleteBody(err)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
		}
		if q.r.Context().Err() != nil {
			return nil, errIncompleteBody(err)
		}
		return nil, err
	}
	return &body{file: id, size: got, md5: sum}, nil
}

// discard removes a received body that was not committed.
func (h *Handler) discard(c *storage.Container, b *body) {
	if b != nil && b.file != "" {
		h.data.remove(c.UID, []string{b.file})
	}
}

// commitResult is what a committing transaction leaves for after commit.
type commitResult struct {
	rec      *blobRecord
	oldFiles []string
}

// replaceBlob writes nb as the blob's new version inside one transaction:
// conditions against the current version, create-only rights, staged
// blocks dropped, old inline body deleted; it returns the files to remove.
func (h *Handler) replaceBlob(q *req, c *storage.Container, nb *blobRecord, inline []byte, build func(old *blobRecord, staged []blockRecord) error) (*commitResult, error) {
	ctx := q.r.Context()
	var res *commitResult
	err := h.commit.Tx(ctx, func(tx store.Tx) error {
		res = &commitResult{}
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		old, err := getBlob(ctx, tx, c, nb.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if e := checkConditions(q.r, old.asTarget(), condCreate); e != nil {
			return e
		}
		if old != nil && q.createOnly {
			return errPermissionCreateOnly()
		}
		if err := h.hnsPrepare(ctx, tx, q, c, nb, old); err != nil {
			return err
		}
		var staged []blockRecord
		if build != nil {
			if staged, err = listStaged(ctx, tx, c, nb.Name); err != nil {
				return err
			}
			if err := build(old, staged); err != nil {
				return err
			}
		}
		dropped, err := dropStaged(ctx, tx, c, nb.Name)
		if err != nil {
			return err
		}
		used := map[string]bool{}
		for _, s := range nb.Segments {
			used[s.File] = true
		}
		for _, f := range dropped {
			if !used[f] {
				res.oldFiles = append(res.oldFiles, f)
			}
		}
		if old != nil {
			for _, f := range old.files() {
				if !used[f] {
					res.oldFiles = append(res.oldFiles, f)
				}
			}
			if old.Inline != "" {
				if err := tx.Delete(ctx, KindData, old.Inline, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		if inline != nil {
			nb.Inline = randomID()
			if _, err := tx.Create(ctx, store.Record{Kind: KindData, Key: nb.Inline, Parent: c.UID, Value: inline}); err != nil {
				return err
			}
		}
		now := h.now()
		nb.Created, nb.Modified, nb.ETag = now, now, storage.NewETag(now)
		if nb.Tier != "" {
			nb.TierTime = now
		}
		if err := putBlob(ctx, tx, c, nb); err != nil {
			return err
		}
		res.rec = nb
		return nil
	})
	if err != nil {
		return nil, mapTxErr(err)
	}
	return res, nil
}

func (h *Handler) putBlob(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	bt := q.r.Header.Get("x-ms-blob-type")
	switch {
	case bt == "":
		return errorf(http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.").with("HeaderName", "x-ms-blob-type")
	case !strings.EqualFold(bt, "BlockBlob"):
		return errInvalidHeader("x-ms-blob-type", bt, "amlid stores block blobs only (BlockBlob)")
	}
	n, err := contentLength(q.r, maxPutBlob)
	if err != nil {
		return err
	}
	props, err := contentFromHeaders(q.r, true)
	if err != nil {
		return err
	}
	md, err := parseMetadata(q.r)
	if err != nil {
		return err
	}
	tier, err := tierFromHeader(q.r)
	if err != nil {
		return err
	}
	sentMD5, err := headerMD5(q.r, "Content-MD5")
	if err != nil {
		return err
	}
	// Fail fast on conditions before receiving a large body (they are
	// checked again when committing).
	if e := h.precheck(q, c); e != nil {
		return e
	}
	b, err := h.receive(q, c, n, true, true)
	if err != nil {
		return err
	}
	for _, want := range [][]byte{sentMD5, props.MD5} {
		if want != nil && !bytes.Equal(want, b.md5) {
			h.discard(c, b)
			return errMD5Mismatch(want, b.md5)
		}
	}
	props.MD5 = b.md5
	nb := &blobRecord{Name: q.blob, Size: b.size, Props: props, Meta: md, Tier: tier}
	if b.file != "" {
		nb.Segments = []segment{{File: b.file, Size: b.size}}
	}
	res, err := h.replaceBlob(q, c, nb, b.inline, nil)
	if err != nil {
		h.discard(c, b)
		return err
	}
	h.data.remove(c.UID, res.oldFiles)
	hd := q.w.Header()
	hd.Set("ETag", res.rec.ETag)
	hd.Set("Last-Modified", fmtTime(res.rec.Modified))
	hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(b.md5))
	hd.Set("x-ms-request-server-encrypted", "true")
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

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

// copySource resolves x-ms-copy-source to an amlid blob the caller may
// read.
func (h *Handler) copySource(q *req, raw string) (*req, *storage.Container, error) {
	fail := func(status int, why string) error {
		return errorf(status, "CannotVerifyCopySource", "Could not verify the copy source within the specified time.").with("Reason", why)
	}
	u, err := parseURL(raw)
	if err != nil {
		return nil, nil, errInvalidHeader("x-ms-copy-source", raw, "not a URL")
	}
	var acct, cont, name string
	if a := hostStyleAccount(u.Host); a != "" {
		acct = a
		_, rest, _ := strings.Cut(u.Path, "/")
		cont, name, _ = strings.Cut(rest, "/")
	} else {
		acct, cont, name = parsePath(u.Path)
	}
	if name == "" {
		return nil, nil, fail(http.StatusBadRequest, "the copy source '"+raw+"' does not name a blob")
	}
	a, err := h.prov.Account(q.r.Context(), acct)
	if errors.Is(err, storage.ErrAccountNotFound) {
		return nil, nil, fail(http.StatusNotFound, "the copy source must be a blob of this amlid; account '"+acct+"' does not exist")
	}
	if err != nil {
		return nil, nil, err
	}
	// Authorize reading the source as the service would: its own SAS, a
	// source bearer token, the destination's credential (same account), or
	// public access.
	sr, _ := http.NewRequestWithContext(q.r.Context(), http.MethodGet, u.String(), nil)
	sr.RemoteAddr, sr.TLS = q.r.RemoteAddr, q.r.TLS
	sr.Header = http.Header{}
	if auth := q.r.Header.Get("x-ms-copy-source-authorization"); auth != "" {
		sr.Header.Set("Authorization", auth)
	}
	src := &req{w: q.w, r: sr, id: q.id, start: q.start, account: a, container: cont, blob: name}
	src.q = map[string][]string{}
	for k, vs := range u.Query() {
		src.q[strings.ToLower(k)] = vs
	}
	src.op = &operation{name: "GetBlob", level: levelBlob, action: ActionBlobRead, data: true, perms: "r", serviceSAS: true, anon: anonBlob}
	sameAccount := a.Name == q.account.Name
	switch {
	case src.has("sig") || sr.Header.Get("Authorization") != "":
		if err := h.authenticate(src); err != nil {
			return nil, nil, err
		}
		if err := h.authorize(src); err != nil {
			return nil, nil, err
		}
	case sameAccount && q.auth.kind == credSharedKey:
		// The account key opens the whole account.
	case sameAccount && q.auth.kind == credSAS && q.auth.sas.account:
		if !strings.Contains(q.auth.sas.permissions, "r") {
			return nil, nil, errPermission("Copying needs read permission on the source; the account SAS lacks 'r'.")
		}
	case sameAccount && q.auth.kind == credBearer:
		src.auth = q.auth
		if err := h.checkNetwork(src, q.auth.claims); err != nil {
			return nil, nil, err
		}
		if err := h.authorizeBearer(src); err != nil {
			return nil, nil, err
		}
	default:
		src.auth = &caller{}
		if err := h.checkNetwork(src, nil); err != nil {
			return nil, nil, err
		}
		if err := h.authorize(src); err != nil {
			return nil, nil, fail(http.StatusForbidden, "the copy source is not readable with this request's credentials: give it a SAS or use x-ms-copy-source-authorization")
		}
	}
	c, err := h.prov.Container(q.r.Context(), a, cont)
	if errors.Is(err, storage.ErrContainerNotFound) {
		return nil, nil, fail(http.StatusNotFound, "the source container does not exist")
	}
	if err != nil {
		return nil, nil, err
	}
	return src, c, nil
}

func (h *Handler) copyBlob(q *req) error {
	dc, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	raw := q.r.Header.Get("x-ms-copy-source")
	src, sc, err := h.copySource(q, raw)
	if err != nil {
		return err
	}
	s, err := h.openBlob(src, sc)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == "BlobNotFound" {
			return errorf(http.StatusNotFound, "CannotVerifyCopySource", "The specified blob does not exist.")
		}
		return err
	}
	defer h.release(sc, s)
	sb := s.rec
	md, err := parseMetadata(q.r)
	if err != nil {
		return err
	}
	if len(md) == 0 {
		md = sb.Meta
	}
	tier, err := tierFromHeader(q.r)
	if err != nil {
		return err
	}
	if e := h.precheck(q, dc); e != nil {
		return e
	}
	nb := &blobRecord{Name: q.blob, Size: sb.Size, Props: sb.Props, Meta: md, Tier: tier}
	var inline []byte
	var newFile string
	if s.inline != nil {
		inline = append([]byte(nil), s.inline...)
	} else if sb.Size > 0 {
		pr, pw := io.Pipe()
		go func() {
			defer func() {
				if r := recover(); r != nil {
					pw.CloseWithError(fmt.Errorf("blob: copy failed: %v", r))
				}
			}()
			pw.CloseWithError(h.copyRange(pw, sc, s, 0, sb.Size-1))
		}()
		id, _, _, err := h.data.write(dc.UID, pr, sb.Size, false)
		pr.Close()
		if err != nil {
			return err
		}
		newFile = id
		nb.Segments = []segment{{File: id, Size: sb.Size}}
	}
	syncCopy := q.r.Header.Get("x-ms-blob-type") != ""
	now := h.now()
	nb.Copy = &copyInfo{ID: newRequestID(), Source: raw, Status: "success",
		Progress: strconv.FormatInt(sb.Size, 10) + "/" + strconv.FormatInt(sb.Size, 10), Completion: now}
	if syncCopy {
		nb.Copy = nil // Put Blob From URL makes a plain blob
	}
	res, err := h.replaceBlob(q, dc, nb, inline, nil)
	if err != nil {
		if newFile != "" {
			h.data.remove(dc.UID, []string{newFile})
		}
		return err
	}
	h.data.remove(dc.UID, res.oldFiles)
	hd := q.w.Header()
	hd.Set("ETag", res.rec.ETag)
	hd.Set("Last-Modified", fmtTime(res.rec.Modified))
	hd.Set("Content-Length", "0")
	if syncCopy {
		hd.Set("x-ms-request-server-encrypted", "true")
		q.w.WriteHeader(http.StatusCreated)
		return nil
	}
	hd.Set("x-ms-copy-id", nb.Copy.ID)
	hd.Set("x-ms-copy-status", "success")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (h *Handler) abortCopy(q *req) error {
	return errorf(http.StatusConflict, "NoPendingCopyOperation", "There is currently no pending copy operation.")
}

func md5sum(b []byte) []byte {
	s := md5.Sum(b)
	return s[:]
}
