package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, errors.New("not an absolute http(s) URL")
	}
	return u, nil
}

// checkBlockID validates a block ID: base64 of at most 64 bytes.
func checkBlockID(id string) *Error {
	if id == "" {
		return errorf(http.StatusBadRequest, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.").
			with("QueryParameterName", "blockid")
	}
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) > 64 {
		return errInvalidQuery("blockid", id, "a block ID is the base64 encoding of at most 64 bytes")
	}
	return nil
}

func (h *Handler) putBlock(q *req) error {
	id := q.query("blockid")
	if e := checkBlockID(id); e != nil {
		return e
	}
	if q.r.Header.Get("x-ms-copy-source") != "" {
		return errorf(http.StatusBadRequest, "UnsupportedHeader", "One of the HTTP headers specified in the request is not supported.").
			with("HeaderName", "x-ms-copy-source").with("Reason", "Put Block From URL is not implemented by amlid; upload the block's bytes")
	}
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	n, err := contentLength(q.r, maxBlock)
	if err != nil {
		return err
	}
	sent, err := headerMD5(q.r, "Content-MD5")
	if err != nil {
		return err
	}
	if e := h.precheck(q, c); e != nil {
		return e
	}
	b, err := h.receive(q, c, n, false, sent != nil)
	if err != nil {
		return err
	}
	if sent != nil && !bytes.Equal(sent, b.md5) {
		h.discard(c, b)
		return errMD5Mismatch(sent, b.md5)
	}
	ctx := q.r.Context()
	var replaced string
	err = h.commit.Tx(ctx, func(tx store.Tx) error {
		replaced = ""
		if err := liveContainer(ctx, tx, c); err != nil {
			return err
		}
		if e := sameBlockIDLength(ctx, tx, c, q.blob, id); e != nil {
			return e
		}
		k := blockKey(c, q.blob, id)
		if rec, err := tx.Get(ctx, KindBlock, k); err == nil {
			var old blockRecord
			if json.Unmarshal(rec.Value, &old) == nil {
				replaced = old.File
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v, _ := json.Marshal(blockRecord{ID: id, Size: b.size, File: b.file, Created: h.now()})
		if _, err := tx.Put(ctx, store.Record{Kind: KindBlock, Key: k, Parent: c.UID, Value: v}, ""); err != nil {
			return err
		}
		sv, _ := json.Marshal(map[string]string{"name": q.blob})
		_, err := tx.Put(ctx, store.Record{Kind: KindStaging, Key: stagingKey(c, q.blob), Parent: c.UID, Value: sv}, "")
		return err
	})
	if err != nil {
		h.discard(c, b)
		return mapTxErr(err)
	}
	if replaced != "" {
		h.data.remove(c.UID, []string{replaced})
	}
	hd := q.w.Header()
	if sent != nil {
		hd.Set("Content-MD5", base64.StdEncoding.EncodeToString(b.md5))
	}
	hd.Set("x-ms-request-server-encrypted", "true")
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// sameBlockIDLength: every uncommitted block of one blob has a block ID of
// the same length (Azure: 400 InvalidBlobOrBlock otherwise).
func sameBlockIDLength(ctx context.Context, rd store.Reader, c *storage.Container, name, id string) error {
	prefix := stagingKey(c, name) + "/"
	recs, err := rd.List(ctx, KindBlock, store.ListOptions{KeyPrefix: prefix, Limit: 1})
	if err != nil || len(recs) == 0 {
		return err
	}
	if other := strings.TrimPrefix(recs[0].Key, prefix); len(other) != len(id) {
		return errorf(http.StatusBadRequest, "InvalidBlobOrBlock", "The specified blob or block content is invalid.").
			with("Reason", "for a given blob every block ID must have the same length: this one has "+strconv.Itoa(len(id))+
				" characters, the blob's uncommitted blocks "+strconv.Itoa(len(other)))
	}
	return nil
}

// blockRef is one entry of a Put Block List body.
type blockRef struct {
	list string // Latest | Committed | Uncommitted
	id   string
}

// parseBlockList reads <BlockList><Latest|Committed|Uncommitted>id</…>…
// strictly: anything else is InvalidXmlDocument.
func parseBlockList(body []byte) ([]blockRef, *Error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	var refs []blockRef
	depth := 0
	var cur *blockRef
	var text strings.Builder
	sawRoot := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errBadXML(err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local == "BlockList" && !sawRoot:
				sawRoot = true
			case depth == 2 && (t.Name.Local == "Latest" || t.Name.Local == "Committed" || t.Name.Local == "Uncommitted"):
				cur = &blockRef{list: t.Name.Local}
				text.Reset()
			default:
				return nil, errBadXML("unexpected element <" + t.Name.Local + ">: a block list holds Latest, Committed and Uncommitted elements")
			}
		case xml.EndElement:
			if depth == 2 && cur != nil {
				cur.id = strings.TrimSpace(text.String())
				refs = append(refs, *cur)
				cur = nil
			}
			depth--
		case xml.CharData:
			if cur != nil {
				text.Write(t)
				if text.Len() > 200 {
					return nil, errBadXML("a block ID is too long")
				}
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errBadXML("unexpected text in the block list")
			}
		}
	}
	if !sawRoot {
		return nil, errBadXML("the document has no BlockList element")
	}
	return refs, nil
}

func errInvalidBlockList(why string) *Error {
	return errorf(http.StatusBadRequest, "InvalidBlockList", "The specified block list is invalid.").with("Reason", why)
}

func (h *Handler) putBlockList(q *req) error {
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	raw, err := readSmallBody(q.r, h.cfg.MaxBlockListBytes)
	if err != nil {
		return err
	}
	if sent, err := headerMD5(q.r, "Content-MD5"); err != nil {
		return err
	} else if sent != nil {
		got := md5sum(raw)
		if !bytes.Equal(sent, got) {
			return errMD5Mismatch(sent, got)
		}
	}
	refs, e := parseBlockList(raw)
	if e != nil {
		return e
	}
	if len(refs) > maxBlocks {
		return errorf(http.StatusBadRequest, "BlockListTooLong", "The block list may not contain more than 50,000 blocks.")
	}
	props, err := contentFromHeaders(q.r, false)
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
	nb := &blobRecord{Name: q.blob, Props: props, Meta: md, Tier: tier, FromBlocks: true}
	build := func(old *blobRecord, staged []blockRecord) error {
		nb.Segments, nb.Size = nil, 0
		uncommitted := map[string]blockRecord{}
		for _, b := range staged {
			uncommitted[b.ID] = b
		}
		committed := map[string]segment{}
		if old != nil && old.FromBlocks {
			for _, s := range old.Segments {
				committed[s.Block] = s
			}
		}
		idLen := -1
		for _, r := range refs {
			if e := checkBlockID(r.id); e != nil {
				return errInvalidBlockList("block ID '" + r.id + "' is not base64 of at most 64 bytes")
			}
			if idLen >= 0 && len(r.id) != idLen {
				return errorf(http.StatusBadRequest, "InvalidBlobOrBlock", "The specified blob or block content is invalid.").
					with("Reason", "all block IDs of a blob must have the same length")
			}
			idLen = len(r.id)
			var seg segment
			var ok bool
			switch r.list {
			case "Uncommitted":
				var b blockRecord
				if b, ok = uncommitted[r.id]; ok {
					seg = segment{File: b.File, Size: b.Size, Block: b.ID}
				}
			case "Committed":
				seg, ok = committed[r.id]
			default: // Latest
				if b, found := uncommitted[r.id]; found {
					seg, ok = segment{File: b.File, Size: b.Size, Block: b.ID}, true
				} else {
					seg, ok = committed[r.id]
				}
			}
			if !ok {
				return errInvalidBlockList("block '" + r.id + "' (" + r.list + ") is not among the blob's " + strings.ToLower(map[string]string{"Latest": "uncommitted or committed", "Committed": "committed", "Uncommitted": "uncommitted"}[r.list]) + " blocks")
			}
			nb.Segments = append(nb.Segments, seg)
			nb.Size += seg.Size
		}
		return nil
	}
	res, err := h.replaceBlob(q, c, nb, nil, build)
	if err != nil {
		return err
	}
	h.data.remove(c.UID, res.oldFiles)
	q.writeUpdated(res.rec, http.StatusCreated)
	return nil
}

type xmlBlock struct {
	Name string `xml:"Name"`
	Size int64  `xml:"Size"`
}

type xmlBlockList struct {
	XMLName     xml.Name   `xml:"BlockList"`
	Committed   []xmlBlock `xml:"CommittedBlocks>Block"`
	Uncommitted []xmlBlock `xml:"UncommittedBlocks>Block"`
}

func (h *Handler) getBlockList(q *req) error {
	typ := strings.ToLower(q.query("blocklisttype"))
	if typ == "" {
		typ = "committed"
	}
	if typ != "committed" && typ != "uncommitted" && typ != "all" {
		return errInvalidQuery("blocklisttype", q.query("blocklisttype"), "use committed, uncommitted or all")
	}
	c, err := q.containerOrNotFound(h)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	b, err := getBlob(ctx, h.st, c, q.blob)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var staged []blockRecord
	if typ != "committed" {
		if staged, err = listStaged(ctx, h.st, c, q.blob); err != nil {
			return err
		}
	}
	if b == nil && (typ == "committed" || len(staged) == 0) {
		return errBlobNotFound()
	}
	doc := xmlBlockList{}
	hd := q.w.Header()
	if b != nil {
		if e := checkConditions(q.r, b.asTarget(), condRead); e != nil {
			return e
		}
		hd.Set("ETag", b.ETag)
		hd.Set("Last-Modified", fmtTime(b.Modified))
		hd.Set("x-ms-blob-content-length", strconv.FormatInt(b.Size, 10))
		if typ != "uncommitted" && b.FromBlocks {
			for _, s := range b.Segments {
				doc.Committed = append(doc.Committed, xmlBlock{Name: s.Block, Size: s.Size})
			}
		}
	}
	for _, s := range staged {
		doc.Uncommitted = append(doc.Uncommitted, xmlBlock{Name: s.ID, Size: s.Size})
	}
	return writeXML(q, http.StatusOK, doc)
}
