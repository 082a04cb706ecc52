// Package oci is an OCI distribution-spec registry (v2 API) over amlid's
// store: pull and push (monolithic and chunked uploads, cross-repository
// mounts), image manifests and indexes (OCI and Docker schema 2), tags,
// catalog, deletes and the referrers API. Blob contents live on disk,
// content-addressed and verified against their digest; metadata lives in
// the store, so a manifest, its tags and its blob links commit together.
//
// The handler serves many registries: the Authorizer names the namespace
// (one registry) of each request and decides what the caller may do. The
// package knows nothing of Azure; package registry supplies the Azure
// authorizer (admin user, Entra token exchange, AcrPull/AcrPush).
package oci

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/amlid/amlid/internal/store"
)

// Actions a caller may hold on a repository.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
)

// Access is what a caller may do in one namespace.
type Access struct {
	// Namespace identifies the registry (its records' key prefix).
	Namespace string
	// Can reports whether the caller holds action on repo ("" with action
	// "catalog" for the registry catalog). When it answers false, Denied
	// gives the response.
	Can func(repo, action string) bool
	// Denied is the error for a refused action (401 with a challenge for
	// more scope, or 403 DENIED naming the missing role).
	Denied func(repo string, actions ...string) *Error
}

// Authorizer authenticates a request and returns the caller's access, or
// the error to answer (401 with a challenge, 404 for an unknown registry).
// repo and actions are what the request needs ("" for the /v2/ ping).
type Authorizer interface {
	Authorize(r *http.Request, repo string, actions ...string) (*Access, *Error)
}

// Config configures a Handler.
type Config struct {
	Store store.Store
	// Dir holds blob contents and uploads.
	Dir  string
	Auth Authorizer
	// MaxManifestBytes bounds manifests (default 4 MiB, ACR's limit).
	MaxManifestBytes int64
	Logger           *slog.Logger
}

// Handler is the /v2/ API.
type Handler struct {
	cfg     Config
	blobs   *blobStore
	mu      sync.Mutex
	uploads map[string]*upload
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.MaxManifestBytes == 0 {
		cfg.MaxManifestBytes = 4 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bs, err := newBlobStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, blobs: bs, uploads: map[string]*upload{}}, nil
}

// Media types.
const (
	MediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndex(mt string) bool { return mt == MediaOCIIndex || mt == MediaDockerList }
