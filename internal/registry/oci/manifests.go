package oci

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/store"
)

// manifestDoc is the part of a manifest or index the registry reads.
type manifestDoc struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// foreign layers are referenced, not pushed (nondistributable).
func foreign(d Descriptor) bool {
	return strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, "foreign") || len(d.URLs) > 0
}

func (h *Handler) putManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	body, doc, err := h.readManifest(r)
	if err != nil {
		return err
	}
	mt, err := manifestMediaType(doc, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	dg, tags, err := manifestTarget(ref, body, r.URL.Query()["tag"])
	if err != nil {
		return err
	}
	if err := h.checkReferences(ctx, a.Namespace, repo, doc); err != nil {
		return err
	}
	rec, subject, err := newManifestRec(mt, body, doc)
	if err != nil {
		return err
	}
	if err := h.storeManifest(ctx, a.Namespace, repo, dg, tags, rec, subject); err != nil {
		return err
	}
	if rec.Subject != "" {
		w.Header().Set("OCI-Subject", rec.Subject)
	}
	w.Header().Set("Location", "/v2/"+repo+"/manifests/"+dg.String())
	w.Header().Set("Docker-Content-Digest", dg.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// invalidManifest is a MANIFEST_INVALID error.
func invalidManifest(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, CodeManifestInvalid, format, args...)
}

// readManifest reads and decodes the body, up to MaxManifestBytes.
func (h *Handler) readManifest(r *http.Request) ([]byte, manifestDoc, error) {
	var doc manifestDoc
	max := h.cfg.MaxManifestBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, doc, Errorf(http.StatusBadRequest, CodeManifestInvalid, "reading the manifest failed: %v", err)
	}
	if int64(len(body)) > max {
		return nil, doc, Errorf(http.StatusRequestEntityTooLarge, CodeSizeInvalid, "the manifest is larger than the %d bytes a registry accepts", max)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, doc, invalidManifest("the manifest is not valid JSON: %v", err)
	}
	return body, doc, nil
}

// manifestMediaType is the manifest's media type (its mediaType field,
// else a specific Content-Type, else guessed from its shape), checked to
// be one the registry stores, with schemaVersion 2.
func manifestMediaType(doc manifestDoc, contentType string) (string, error) {
	ct := contentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	generic := ct == "" || ct == "application/json" || ct == "application/octet-stream"
	mt := doc.MediaType
	switch {
	case mt == "" && !generic:
		mt = ct
	case mt == "" && doc.Manifests != nil:
		mt = MediaOCIIndex
	case mt == "":
		mt = MediaOCIManifest
	case !generic && ct != mt:
		return "", invalidManifest("the manifest's mediaType %q does not match its Content-Type %q", mt, ct)
	}
	switch mt {
	case MediaOCIManifest, MediaDockerManifest:
		if doc.Config == nil {
			return "", invalidManifest("an image manifest needs a config descriptor")
		}
	case MediaOCIIndex, MediaDockerList:
	default:
		return "", invalidManifest("unsupported manifest media type %q (OCI image manifest/index, Docker schema 2 manifest/list)", mt)
	}
	if doc.SchemaVersion != 2 {
		return "", invalidManifest("schemaVersion must be 2, not %d", doc.SchemaVersion)
	}
	return mt, nil
}

// manifestTarget is the manifest's digest (the reference when it is one,
// verified against the body; else sha256 of the body) and the tags to
// point at it: the reference when it is a tag, and each ?tag=.
func manifestTarget(ref string, body []byte, extraTags []string) (Digest, []string, error) {
	var dg Digest
	tags := []string{}
	if IsDigest(ref) {
		d, derr := ParseDigest(ref)
		if derr != nil {
			return dg, nil, derr
		}
		if got := DigestOf(d.Algorithm, body); got != d {
			return dg, nil, Errorf(http.StatusBadRequest, CodeDigestInvalid, "the manifest's digest is %s, not %s as the reference says", got, d).
				WithDetail(map[string]string{"declared": d.String(), "computed": got.String()})
		}
		dg = d
	} else {
		if !ValidTag(ref) {
			return dg, nil, Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'", clip(ref, 140))
		}
		tags = append(tags, ref)
		dg = DigestOf("sha256", body)
	}
	for _, t := range extraTags {
		if !ValidTag(t) {
			return dg, nil, invalidManifest("invalid tag %q", clip(t, 140))
		}
		tags = append(tags, t)
	}
	return dg, tags, nil
}

// checkReferences makes sure every blob and manifest the document
// references is in the repository (MANIFEST_BLOB_UNKNOWN), except foreign
// layers and the subject, and that blob sizes match their descriptors.
func (h *Handler) checkReferences(ctx context.Context, ns, repo string, doc manifestDoc) error {
	var refs []Descriptor
	if doc.Config != nil {
		refs = append(refs, *doc.Config)
	}
	for _, l := range doc.Layers {
		if !foreign(l) {
			refs = append(refs, l)
		}
	}
	for _, d := range refs {
		if err := h.checkBlobRef(ctx, ns, repo, d); err != nil {
			return err
		}
	}
	for _, m := range doc.Manifests {
		dd, derr := ParseDigest(m.Digest)
		if derr != nil {
			return invalidManifest("descriptor digest %q is invalid", clip(m.Digest, 140))
		}
		if _, ok, err := getJSON[manifestRec](ctx, h.cfg.Store, KindManifest, k(ns, repo, dd.String())); err != nil {
			return err
		} else if !ok {
			return Errorf(http.StatusBadRequest, CodeManifestBlobUnknown,
				"manifest %s referenced by the index is not in repository %q: push it first", dd, repo).WithDetail(map[string]string{"digest": dd.String()})
		}
	}
	return nil
}

// checkBlobRef checks one blob descriptor of a manifest.
func (h *Handler) checkBlobRef(ctx context.Context, ns, repo string, d Descriptor) error {
	dd, derr := ParseDigest(d.Digest)
	if derr != nil {
		return invalidManifest("descriptor digest %q is invalid", clip(d.Digest, 140))
	}
	l, ok, err := h.blobLink(ctx, ns, repo, dd)
	if err != nil {
		return err
	}
	if !ok {
		return Errorf(http.StatusBadRequest, CodeManifestBlobUnknown,
			"blob %s referenced by the manifest is not in repository %q: push it first", dd, repo).WithDetail(map[string]string{"digest": dd.String()})
	}
	if l.Size != d.Size {
		return invalidManifest("descriptor of %s says %d bytes, the blob has %d", dd, d.Size, l.Size)
	}
	return nil
}

// newManifestRec is the record stored for a manifest, and its subject's
// digest when it has one.
func newManifestRec(mt string, body []byte, doc manifestDoc) (manifestRec, Digest, error) {
	rec := manifestRec{MediaType: mt, Size: int64(len(body)), Content: body, Annotations: doc.Annotations, ArtifactType: doc.ArtifactType}
	// The referrers API reports an image's config media type as its
	// artifactType when the manifest has none (distribution-spec).
	if rec.ArtifactType == "" && doc.Config != nil {
		rec.ArtifactType = doc.Config.MediaType
	}
	var subject Digest
	if doc.Subject != nil {
		sd, derr := ParseDigest(doc.Subject.Digest)
		if derr != nil {
			return rec, subject, invalidManifest("subject digest %q is invalid", clip(doc.Subject.Digest, 140))
		}
		subject, rec.Subject = sd, sd.String()
	}
	return rec, subject, nil
}

// storeManifest commits, in one transaction, the repository, the
// manifest, its tags and its entry in its subject's referrers.
func (h *Handler) storeManifest(ctx context.Context, ns, repo string, dg Digest, tags []string, rec manifestRec, subject Digest) error {
	return h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if err := putJSON(ctx, tx, KindRepo, k(ns, repo), ns, struct{}{}); err != nil {
			return err
		}
		if err := putJSON(ctx, tx, KindManifest, k(ns, repo, dg.String()), k(ns, repo), rec); err != nil {
			return err
		}
		for _, t := range tags {
			if err := putJSON(ctx, tx, KindTag, k(ns, repo, t), k(ns, repo), tagRec{Digest: dg.String()}); err != nil {
				return err
			}
		}
		if rec.Subject == "" {
			return nil
		}
		desc := Descriptor{MediaType: rec.MediaType, Digest: dg.String(), Size: rec.Size, ArtifactType: rec.ArtifactType, Annotations: rec.Annotations}
		return putJSON(ctx, tx, KindReferrer, k(ns, repo, subject.String(), dg.String()), k(ns, repo, subject.String()), desc)
	})
}

// resolve finds a manifest by tag or digest.
func (h *Handler) resolve(ctx context.Context, ns, repo, ref string) (Digest, manifestRec, *Error, error) {
	unknown := Errorf(http.StatusNotFound, CodeManifestUnknown, "manifest %q is not in repository %q", clip(ref, 140), repo)
	var d Digest
	if IsDigest(ref) {
		var derr *Error
		if d, derr = ParseDigest(ref); derr != nil {
			return d, manifestRec{}, derr, nil
		}
	} else {
		if !ValidTag(ref) {
			return d, manifestRec{}, Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q", clip(ref, 140)), nil
		}
		t, ok, err := getJSON[tagRec](ctx, h.cfg.Store, KindTag, k(ns, repo, ref))
		if err != nil || !ok {
			return d, manifestRec{}, unknown, err
		}
		var derr *Error
		if d, derr = ParseDigest(t.Digest); derr != nil {
			return d, manifestRec{}, unknown, nil
		}
	}
	m, ok, err := getJSON[manifestRec](ctx, h.cfg.Store, KindManifest, k(ns, repo, d.String()))
	if err != nil || !ok {
		return d, m, unknown, err
	}
	return d, m, nil, nil
}

func (h *Handler) getManifest(ctx context.Context, w http.ResponseWriter, r *http.Request, a *Access, repo, ref string) error {
	d, m, nerr, err := h.resolve(ctx, a.Namespace, repo, ref)
	if err != nil {
		return err
	}
	if nerr != nil {
		return nerr
	}
	w.Header().Set("Content-Type", m.MediaType)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("ETag", `"`+d.String()+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.Content)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(m.Content)
	}
	return nil
}

func (h *Handler) deleteManifest(ctx context.Context, w http.ResponseWriter, a *Access, repo, ref string) error {
	ns := a.Namespace
	err := h.cfg.Store.Tx(ctx, func(tx store.Tx) error {
		if !IsDigest(ref) { // delete one tag
			if !ValidTag(ref) {
				return Errorf(http.StatusBadRequest, CodeManifestInvalid, "invalid tag %q", clip(ref, 140))
			}
			if _, err := tx.Get(ctx, KindTag, k(ns, repo, ref)); errors.Is(err, store.ErrNotFound) {
				return Errorf(http.StatusNotFound, CodeManifestUnknown, "tag %q is not in repository %q", ref, repo)
			} else if err != nil {
				return err
			}
			return del(ctx, tx, KindTag, k(ns, repo, ref))
		}
		d, derr := ParseDigest(ref)
		if derr != nil {
			return derr
		}
		m, ok, err := getJSON[manifestRec](ctx, tx, KindManifest, k(ns, repo, d.String()))
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(http.StatusNotFound, CodeManifestUnknown, "manifest %s is not in repository %q", d, repo)
		}
		if err := del(ctx, tx, KindManifest, k(ns, repo, d.String())); err != nil {
			return err
		}
		if m.Subject != "" {
			if err := del(ctx, tx, KindReferrer, k(ns, repo, m.Subject, d.String())); err != nil {
				return err
			}
		}
		tags, err := tx.List(ctx, KindTag, store.ListOptions{Parent: k(ns, repo)})
		if err != nil {
			return err
		}
		for _, t := range tags {
			var tr tagRec
			if json.Unmarshal(t.Value, &tr) == nil && tr.Digest == d.String() {
				if err := del(ctx, tx, KindTag, t.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
