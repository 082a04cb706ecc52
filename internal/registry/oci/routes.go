package oci

import (
	"context"
	"net/http"
)

// ServeHTTP answers one /v2/ request: route, authorize, dispatch to the
// handler of the route's kind; an error becomes the OCI error body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if err := h.serve(w, r); err != nil {
		WriteError(w, r, h.ociError(err, "registry request failed", "amlid failed to handle the request",
			"method", r.Method, "path", r.URL.Path))
	}
}

// need is the action a request needs.
func need(kind, method string) []string {
	switch {
	case kind == "ping":
		return nil
	case kind == "catalog":
		return []string{"catalog"}
	case method == http.MethodDelete && kind != "upload":
		return []string{ActionDelete}
	case method == http.MethodGet || method == http.MethodHead:
		if kind == "upload" {
			return []string{ActionPull, ActionPush}
		}
		return []string{ActionPull}
	default:
		return []string{ActionPull, ActionPush}
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, perr := parseRoute(r.URL.Path)
	if perr != nil {
		// Authenticate first: an anonymous caller learns nothing.
		if _, aerr := h.cfg.Auth.Authorize(r, ""); aerr != nil {
			return aerr
		}
		return perr
	}
	a, aerr := h.authorize(r, rt)
	if aerr != nil {
		return aerr
	}
	return h.dispatch(r.Context(), w, r, a, rt)
}

// authorize authenticates the caller and checks every action the route
// needs for the request's method.
func (h *Handler) authorize(r *http.Request, rt route) (*Access, *Error) {
	acts := need(rt.kind, r.Method)
	a, aerr := h.cfg.Auth.Authorize(r, rt.repo, acts...)
	if aerr != nil {
		return nil, aerr
	}
	for _, act := range acts {
		if !a.Can(rt.repo, act) {
			return nil, a.Denied(rt.repo, acts...)
		}
	}
	return a, nil
}

// dispatch calls the handler of the route's kind and method.
func (h *Handler) dispatch(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, rt route) error {
	m := r.Method
	get := m == http.MethodGet || m == http.MethodHead
	switch rt.kind {
	case "ping":
		if get {
			return ping(w, m)
		}
	case "catalog":
		if m == http.MethodGet {
			return h.catalog(ctx, w, r, a)
		}
	case "tags":
		if m == http.MethodGet {
			return h.tags(ctx, w, r, a, rt.repo)
		}
	case "manifest":
		switch {
		case get:
			return h.getManifest(ctx, w, r, a, rt.repo, rt.ref)
		case m == http.MethodPut:
			return h.putManifest(ctx, w, r, a, rt.repo, rt.ref)
		case m == http.MethodDelete:
			return h.deleteManifest(ctx, w, a, rt.repo, rt.ref)
		}
	case "blob":
		switch {
		case get:
			return h.getBlob(ctx, w, r, a, rt.repo, rt.ref)
		case m == http.MethodDelete:
			return h.deleteBlob(ctx, w, a, rt.repo, rt.ref)
		}
	case "upload":
		return h.dispatchUpload(ctx, w, r, a, rt)
	case "referrers":
		if m == http.MethodGet {
			return h.referrers(ctx, w, r, a, rt.repo, rt.ref)
		}
	}
	return methodNotAllowed(m)
}

// dispatchUpload routes /v2/<repo>/blobs/uploads/[<id>].
func (h *Handler) dispatchUpload(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, rt route) error {
	m := r.Method
	if rt.ref == "" {
		if m == http.MethodPost {
			return h.startUpload(ctx, w, r, a, rt.repo)
		}
		return methodNotAllowed(m)
	}
	switch m {
	case http.MethodPatch:
		return h.patchUpload(w, r, a, rt.repo, rt.ref)
	case http.MethodPut:
		return h.finishUpload(ctx, w, r, a, rt.repo, rt.ref)
	case http.MethodGet, http.MethodHead:
		return h.uploadStatus(w, r, a, rt.repo, rt.ref)
	case http.MethodDelete:
		return h.cancelUpload(w, a, rt.repo, rt.ref)
	}
	return methodNotAllowed(m)
}

// ping answers GET/HEAD /v2/: the registry speaks the v2 API.
func ping(w http.ResponseWriter, method string) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if method == http.MethodGet {
		w.Write([]byte("{}"))
	}
	return nil
}

func methodNotAllowed(m string) *Error {
	return Errorf(http.StatusMethodNotAllowed, CodeUnsupported, "the operation does not support method %s", m)
}
