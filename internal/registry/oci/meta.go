package oci

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/amlid/amlid/internal/store"
)

// Store kinds of registry metadata. Keys are "<ns>|<repo>|…" where ns is
// the registry's namespace (its lower-cased resource ID): '|' appears in
// neither repository names, tags nor digests, so a key prefix is one
// registry, one repository or one subject.
const (
	KindRepo     = "oci.repo"     // key ns|repo, parent ns
	KindBlob     = "oci.blob"     // key ns|repo|digest, parent ns|repo: the blob is linked in the repository
	KindNSBlob   = "oci.nsblob"   // key ns|digest, parent ns: the blob is in the registry (anonymous mounts)
	KindManifest = "oci.manifest" // key ns|repo|digest, parent ns|repo
	KindTag      = "oci.tag"      // key ns|repo|tag, parent ns|repo
	KindReferrer = "oci.referrer" // key ns|repo|subject|digest, parent ns|repo|subject
)

var allKinds = []string{KindRepo, KindBlob, KindNSBlob, KindManifest, KindTag, KindReferrer}

func k(parts ...string) string { return strings.Join(parts, "|") }

type blobLink struct {
	Size int64 `json:"size"`
}

type manifestRec struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Subject      string            `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Content      []byte            `json:"content"`
}

type tagRec struct {
	Digest string `json:"digest"`
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Data         []byte            `json:"data,omitempty"`
}

func getJSON[T any](ctx context.Context, rd store.Reader, kind, key string) (T, bool, error) {
	var v T
	rec, err := rd.Get(ctx, kind, key)
	if errors.Is(err, store.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return v, false, err
	}
	return v, true, nil
}

func putJSON(ctx context.Context, tx store.Tx, kind, key, parent string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: kind, Key: key, Parent: parent, Value: b}, "")
	return err
}

func del(ctx context.Context, tx store.Tx, kind, key string) error {
	if err := tx.Delete(ctx, kind, key, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// linkBlob records that repo holds the blob.
func linkBlob(ctx context.Context, tx store.Tx, ns, repo string, d Digest, size int64) error {
	if err := putJSON(ctx, tx, KindBlob, k(ns, repo, d.String()), k(ns, repo), blobLink{Size: size}); err != nil {
		return err
	}
	return putJSON(ctx, tx, KindNSBlob, k(ns, d.String()), ns, blobLink{Size: size})
}

// DeleteNamespace removes every record of a registry inside tx (the
// registry is being deleted). Blob files stay: they are content-addressed
// and may be shared.
func DeleteNamespace(ctx context.Context, tx store.Tx, ns string) error {
	for _, kind := range allKinds {
		recs, err := tx.List(ctx, kind, store.ListOptions{KeyPrefix: ns + "|"})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := del(ctx, tx, kind, r.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteRepo removes every record of one repository; it returns the
// manifest digests and tags removed.
func deleteRepo(ctx context.Context, tx store.Tx, ns, repo string) (manifests, tags []string, err error) {
	prefix := k(ns, repo) + "|"
	for _, kind := range []string{KindManifest, KindTag, KindBlob, KindReferrer} {
		recs, err := tx.List(ctx, kind, store.ListOptions{KeyPrefix: prefix})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			rest := strings.TrimPrefix(r.Key, prefix)
			if strings.Contains(rest, "/") && kind != KindReferrer {
				continue // a deeper repository ("a/b" under "a")
			}
			if kind == KindReferrer && strings.Count(rest, "|") != 1 {
				continue
			}
			switch kind {
			case KindManifest:
				manifests = append(manifests, rest)
			case KindTag:
				tags = append(tags, rest)
			}
			if err := del(ctx, tx, kind, r.Key); err != nil {
				return nil, nil, err
			}
		}
	}
	return manifests, tags, del(ctx, tx, KindRepo, k(ns, repo))
}
