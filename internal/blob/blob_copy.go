package blob

// Copy Blob: resolving and authorizing the source, copying, aborting.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
)

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
