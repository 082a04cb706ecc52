package blob

// Writing a blob's content: request headers, receiving the body, Put Blob and the commit shared with Put Block List.

import (
	"bytes"
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
