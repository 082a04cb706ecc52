package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/store"
)

// page reads n (page size) and last (cursor) from the query.
func page(r *http.Request) (int, string, *Error) {
	q := r.URL.Query()
	n := -1
	if v := q.Get("n"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return 0, "", Errorf(http.StatusBadRequest, CodeUnsupported, "n must be a non-negative integer, not %q", clip(v, 20))
		}
		n = x
	}
	return n, q.Get("last"), nil
}

func nextLink(w http.ResponseWriter, r *http.Request, n int, last string) {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", last)
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
}

// defaultPage is the page size of a catalog or tag list without n: the
// registry pages (with a Link header) rather than answer every name.
const defaultPage = 1000

// listNames reads one page of names from the store's index: the names
// after last, at most n (defaultPage when n < 0), and whether more follow.
func (h *Handler) listNames(ctx context.Context, kind, parent string, n int, last string) ([]string, bool, error) {
	if n < 0 {
		n = defaultPage
	}
	if n == 0 {
		return []string{}, false, nil
	}
	o := store.PageOptions{Parent: parent, Limit: n}
	if last != "" {
		o.After = k(parent, last)
	}
	p, err := store.ListPage(ctx, h.cfg.Store, kind, o)
	if err != nil {
		return nil, false, err
	}
	names := make([]string, 0, len(p.Records))
	for _, rec := range p.Records {
		names = append(names, strings.TrimPrefix(rec.Key, parent+"|"))
	}
	return names, p.Next != "", nil
}

func (h *Handler) catalog(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access) error {
	n, last, perr := page(r)
	if perr != nil {
		return perr
	}
	names, more, err := h.listNames(ctx, KindRepo, a.Namespace, n, last)
	if err != nil {
		return err
	}
	if more {
		nextLink(w, r, len(names), names[len(names)-1])
	}
	writeJSON(w, http.StatusOK, map[string]any{"repositories": names})
	return nil
}

func (h *Handler) tags(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo string) error {
	n, last, perr := page(r)
	if perr != nil {
		return perr
	}
	if _, ok, err := getJSON[struct{}](ctx, h.cfg.Store, KindRepo, k(a.Namespace, repo)); err != nil {
		return err
	} else if !ok {
		return Errorf(http.StatusNotFound, CodeNameUnknown, "repository %q is not known to this registry", repo)
	}
	names, more, err := h.listNames(ctx, KindTag, k(a.Namespace, repo), n, last)
	if err != nil {
		return err
	}
	if more {
		nextLink(w, r, len(names), names[len(names)-1])
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": repo, "tags": names})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
