package oci

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/amlid/amlid/internal/store"
)

func (h *Handler) referrers(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	d, derr := ParseDigest(ref)
	if derr != nil {
		return derr
	}
	recs, err := h.cfg.Store.List(ctx, KindReferrer, store.ListOptions{Parent: k(a.Namespace, repo, d.String())})
	if err != nil {
		return err
	}
	filter := r.URL.Query().Get("artifactType")
	out := []Descriptor{}
	for _, rec := range recs {
		var desc Descriptor
		if json.Unmarshal(rec.Value, &desc) != nil {
			continue
		}
		if filter != "" && desc.ArtifactType != filter {
			continue
		}
		out = append(out, desc)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	b, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": MediaOCIIndex, "manifests": out})
	w.Header().Set("Content-Type", MediaOCIIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}
