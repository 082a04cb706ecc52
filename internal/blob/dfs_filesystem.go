package blob

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/storage"
)

// DFS filesystem operations (ADLS Gen2 REST "Filesystem" group): create,
// delete, properties and list.

func (h *Handler) createFilesystem(q *req) error {
	if !storage.ValidContainerName(q.container) {
		return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.")
	}
	md, err := parseProperties(q.r)
	if err != nil {
		return err
	}
	c, err := h.prov.CreateContainer(q.r.Context(), q.account, q.container, storage.AccessNone, md)
	if errors.Is(err, storage.ErrContainerExists) {
		return errorf(http.StatusConflict, "FilesystemAlreadyExists", "The specified filesystem already exists.")
	}
	if err != nil {
		return err
	}
	if q.account.IsHnsEnabled {
		if err := h.initRoot(q, c); err != nil {
			return err
		}
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	hd.Set("x-ms-namespace-enabled", strconv.FormatBool(q.account.IsHnsEnabled))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *Handler) deleteFilesystem(q *req) error {
	err := h.prov.DeleteContainer(q.r.Context(), q.account, q.container, func(c *storage.Container) error {
		return checkConditions(q.r, containerTarget(c), condWrite).orNil()
	})
	if errors.Is(err, storage.ErrContainerNotFound) {
		return errFilesystemNotFound()
	}
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// orNil turns a nil *Error into a nil error.
func (e *Error) orNil() error {
	if e == nil {
		return nil
	}
	return e
}

func (h *Handler) getFilesystemProperties(q *req) error {
	c, err := q.dfsContainer(h)
	if err != nil {
		return err
	}
	hd := q.w.Header()
	hd.Set("ETag", c.ETag)
	hd.Set("Last-Modified", fmtTime(c.LastModified))
	hd.Set("x-ms-properties", formatProperties(c.Metadata))
	hd.Set("x-ms-namespace-enabled", strconv.FormatBool(q.account.IsHnsEnabled))
	hd.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) listFilesystems(q *req) error {
	max := 5000
	if v := q.query("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errInvalidQuery("maxResults", v, "a positive integer")
		}
		max = min(n, 5000)
	}
	ctx := q.r.Context()
	listing := "dfs-filesystems|" + strings.ToLower(q.account.Name) + "|" + q.query("prefix")
	after := ""
	if v := q.query("continuation"); v != "" {
		var err error
		if after, err = h.resumeAt(ctx, listing, v); err != nil {
			return err
		}
	}
	cs, err := h.prov.ListContainers(ctx, q.account, q.query("prefix"), after, max+1)
	if err != nil {
		return err
	}
	if len(cs) > max {
		cs = cs[:max]
		tok, err := h.continuation(ctx, listing, cs[len(cs)-1].Name)
		if err != nil {
			return err
		}
		q.w.Header().Set("x-ms-continuation", tok)
	}
	type fs struct {
		Name         string `json:"name"`
		LastModified string `json:"lastModified"`
		ETag         string `json:"etag"`
	}
	out := struct {
		Filesystems []fs `json:"filesystems"`
	}{Filesystems: []fs{}}
	for _, c := range cs {
		out.Filesystems = append(out.Filesystems, fs{Name: c.Name, LastModified: fmtTime(c.LastModified), ETag: c.ETag})
	}
	return writeJSON(q, http.StatusOK, out)
}
