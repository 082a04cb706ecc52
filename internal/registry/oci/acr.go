package oci

import (
	"context"
	"errors"
	"net/http"

	"github.com/amlid/amlid/internal/store"
)

// ---- repository management (ACR's /acr/v1 API) ----

// DeleteRepository removes a repository's manifests, tags and blob links
// (DELETE /acr/v1/<repo>, `az acr repository delete`).
func (h *Handler) DeleteRepository(ctx context.Context, ns, repo string) (manifests, tags []string, err error) {
	err = h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, KindRepo, k(ns, repo)); errors.Is(err, store.ErrNotFound) {
			return Errorf(http.StatusNotFound, CodeNameUnknown, "repository %q is not known to this registry", repo)
		} else if err != nil {
			return err
		}
		var err error
		manifests, tags, err = deleteRepo(ctx, tx, ns, repo)
		return err
	})
	return manifests, tags, err
}

// ServeACRDelete answers ACR's repository API for one repository:
// DELETE /acr/v1/<repo> (the caller has been authorized for delete).
func (h *Handler) ServeACRDelete(w http.ResponseWriter, r *http.Request, a *Access, repo string) {
	mans, tags, err := h.DeleteRepository(r.Context(), a.Namespace, repo)
	if err != nil {
		WriteError(w, r, h.ociError(err, "delete repository", "amlid failed to delete the repository"))
		return
	}
	if mans == nil {
		mans = []string{}
	}
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"manifestsDeleted": mans, "tagsDeleted": tags})
}
