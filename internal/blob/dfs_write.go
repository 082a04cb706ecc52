package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// DFS writes to a file: append and flush (ADLS Gen2 REST "Path" group,
// actions append and flush), with their conditions and positions.

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
		if e := checkConditions(q.r, b.asTarget(), condWrite); e != nil {
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
