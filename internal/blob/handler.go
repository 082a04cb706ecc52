// Package blob is amlid's Blob REST data plane: path-style URLs
// (https://host:port/<account>/<container>/<blob>, as Azurite serves them),
// containers, block blobs, ranged reads, listing, conditional requests and
// same-server copies, authenticated with Entra tokens (then RBAC data
// actions), Shared Key, account or service SAS, or anonymously where public
// access allows, behind the account's network rules (rule DS-8).
//
// Metadata lives in the shared store.Store (containers are the ARM records
// of package storage; blobs, staged blocks and small blob bodies are records
// of this package). Larger bodies are streamed to files under the data
// directory, named at random (a blob name never becomes a path): a body is
// written to a temporary file, fsynced, renamed into place, and only then
// committed to the store, so a blob is visible exactly when it is complete.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// TokenVerifier is the shared token verifier (*token.Service).
type TokenVerifier interface {
	VerifyForTenant(ctx context.Context, raw, tenantID string, audiences ...string) (*token.Claims, error)
}

// Authorizer decides RBAC (*authorization.Service).
type Authorizer interface {
	AuthorizeData(ctx context.Context, tenant, principalID, dataAction, scope string) (rbac.Decision, error)
	AuthorizeAction(ctx context.Context, tenant, principalID, action, scope string) (rbac.Decision, error)
}

// Config configures the data plane.
type Config struct {
	// Storage is the Microsoft.Storage provider (accounts, containers).
	Storage *storage.Provider
	// Store holds blob metadata (default: Storage.Store).
	Store store.Store
	// Tokens verifies bearer tokens; nil refuses bearer authentication.
	Tokens TokenVerifier
	// Authz decides RBAC data actions for bearer callers; nil refuses them.
	Authz Authorizer
	// DataDir holds blob bodies (created if missing).
	DataDir string
	Logger  *slog.Logger
	// AuthorityHost is put in the 401 challenge's authorization_uri
	// (default https://login.microsoftonline.com; clients only read the
	// tenant from it).
	AuthorityHost string
	// LoopbackAs is the address a caller on the loopback interface counts
	// as for network rules and SAS IP ranges: the user's public IP, which
	// their ipRules name. Default: the loopback address itself.
	LoopbackAs netip.Addr
	// TrustedService reports whether a verified token belongs to a trusted
	// Azure service (an ML workspace's identity); it lets such a caller
	// through networkAcls whose bypass contains AzureServices (rule DS-8).
	// Nil: no caller is a trusted service.
	TrustedService func(ctx context.Context, c *token.Claims) bool
	// SubnetOf returns the subnet the resource of a workload sits in (a
	// compute's properties.properties.subnet.id; "" for none) and a name
	// for messages. The blob plane asks it for requests amlid's proxy
	// tunnelled for a workload (netorigin.From), for accounts with
	// virtualNetworkRules (rule DS-8). Nil: no workload is in a subnet.
	SubnetOf func(ctx context.Context, resourceID string) (subnet, name string)
	// InlineMax is the largest Put Blob body kept in the store instead of a
	// file (default 64 KiB; negative disables inlining).
	InlineMax int64
	// MaxBlockListBytes bounds a Put Block List body (default 8 MiB).
	MaxBlockListBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Handler is the Blob service http.Handler.
type Handler struct {
	cfg  Config
	st   store.Store
	prov *storage.Provider
	data *dataStore
	log  *slog.Logger

	verified verifiedTokens
	commit   *committer
	pages    *paging.Codec
	// dir resolves group membership for POSIX ACLs (rule DS-9).
	dir *directory.Directory
}

// DefaultVersion is the x-ms-version sent when the client sent none.
const DefaultVersion = "2021-12-02"

// New builds the data plane and installs its container hooks on the
// storage provider. It removes temporary files left by a crash.
func New(cfg Config) (*Handler, error) {
	if cfg.Storage == nil {
		return nil, fmt.Errorf("blob: Config.Storage is required")
	}
	if cfg.Store == nil {
		cfg.Store = cfg.Storage.Store
	}
	if cfg.Store == nil {
		return nil, fmt.Errorf("blob: Config.Store is required")
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("blob: Config.DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = "https://login.microsoftonline.com"
	}
	cfg.AuthorityHost = strings.TrimRight(cfg.AuthorityHost, "/")
	if cfg.InlineMax == 0 {
		cfg.InlineMax = 64 << 10
	}
	if cfg.MaxBlockListBytes == 0 {
		cfg.MaxBlockListBytes = 8 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ds, err := newDataStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, st: cfg.Store, pages: paging.New(cfg.Store), prov: cfg.Storage, data: ds, log: cfg.Logger.With("component", "blob"),
		commit: &committer{st: cfg.Store}, dir: directory.New(cfg.Store)}
	cfg.Storage.SetContainerHooks(storage.ContainerHooks{Deleting: h.deletingContainer, Deleted: h.deletedContainer})
	return h, nil
}

func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

// req is one request in flight.
type req struct {
	w         http.ResponseWriter
	r         *http.Request
	id        string
	start     time.Time
	q         map[string][]string // query, keys lower-cased
	account   *storage.Account
	container string // "" for service-level requests
	blob      string // "" for container-level requests
	op        *operation
	auth      *caller
	// createOnly: the caller may create the blob but not overwrite it
	// (RBAC add/action, SAS create permission).
	createOnly bool
	// dfs: a DFS (ADLS Gen2) request: JSON errors.
	dfs bool
	// posix is set when POSIX ACLs, not RBAC, authorized a bearer caller
	// (rule DS-9): recursive operations check each path for it.
	posix *principal
}

func (q *req) query(k string) string {
	if v := q.q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (q *req) has(k string) bool { _, ok := q.q[k]; return ok }

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// RFC1123 in GMT, as Storage writes Date and Last-Modified.
const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

func fmtTime(t time.Time) string { return t.UTC().Format(httpTime) }

// ServeHTTP serves one Blob REST request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &req{w: w, r: r, id: newRequestID(), start: h.now(), dfs: isDFSRequest(r)}
	hd := w.Header()
	hd.Set("x-ms-request-id", q.id)
	v := r.Header.Get("x-ms-version")
	if v == "" {
		v = DefaultVersion
	}
	hd.Set("x-ms-version", v)
	if q.dfs {
		hd.Set("Server", "Windows-Azure-HDFS/1.0 Microsoft-HTTPAPI/2.0")
	} else {
		hd.Set("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0")
	}
	hd.Set("Date", fmtTime(q.start))
	if cid := r.Header.Get("x-ms-client-request-id"); cid != "" && len(cid) <= 1024 {
		hd.Set("x-ms-client-request-id", cid)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("panic in blob handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			q.writeErr(h.now(), errInternal(fmt.Errorf("%v", p)))
		}
	}()
	if err := h.serve(q); err != nil {
		e := asError(err)
		if e.Status >= 500 {
			h.log.Error("blob request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		q.writeErr(h.now(), e)
	}
}

// writeErr writes an error in the shape of the request's API.
func (q *req) writeErr(now time.Time, e *Error) {
	if q.dfs {
		writeDFSError(q.w, q.r, q.id, now, e)
		return
	}
	writeError(q.w, q.r, q.id, now, e)
}

// hostStyleAccount returns the account of a host-style URL
// (<account>.blob.<suffix>, e.g. myacct.blob.core.windows.net mapped to
// amlid in /etc/hosts), or "" for path-style requests.
func hostStyleAccount(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	label, rest, ok := strings.Cut(strings.ToLower(host), ".")
	if !ok || !(strings.HasPrefix(rest, "blob.") || strings.HasPrefix(rest, "dfs.")) || !storage.ValidAccountName(label) {
		return ""
	}
	return label
}

// parsePath splits /<account>[/<container>[/<blob…>]].
func parsePath(p string) (account, container, blob string) {
	p = strings.TrimPrefix(p, "/")
	parts := strings.SplitN(p, "/", 3)
	account = parts[0]
	if len(parts) > 1 {
		container = parts[1]
	}
	if len(parts) > 2 {
		blob = parts[2]
	}
	return
}

func (h *Handler) serve(q *req) error {
	r := q.r
	// Query keys are case-insensitive for the service's own parameters.
	q.q = map[string][]string{}
	for k, vs := range r.URL.Query() {
		lk := strings.ToLower(k)
		q.q[lk] = append(q.q[lk], vs...)
	}
	accountName, container, blobName := parsePath(r.URL.Path)
	if a := hostStyleAccount(r.Host); a != "" {
		// https://<account>.blob.<suffix>/<container>/<blob>
		accountName = a
		container, blobName, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	}
	if accountName == "" {
		return errorf(http.StatusBadRequest, "InvalidUri", "The requested URI does not represent any resource on the server.")
	}
	acct, err := h.prov.Account(r.Context(), accountName)
	if err == storage.ErrAccountNotFound {
		return errorf(http.StatusNotFound, "ResourceNotFound", "The specified resource does not exist.").
			with("Reason", "no storage account named '"+accountName+"' exists in amlid (create it with: amlid storage account create -n "+accountName+" -g <group>)")
	}
	if err != nil {
		return err
	}
	q.account, q.container, q.blob = acct, container, blobName
	if blobName != "" {
		if len(blobName) > 1024 || !utf8.ValidString(blobName) || strings.ContainsRune(blobName, 0) {
			return errorf(http.StatusBadRequest, "InvalidResourceName", "The specifed resource name contains invalid characters.")
		}
	}
	if acct.IsHnsEnabled && blobName != "" {
		if err := checkHNSName(blobName, q.dfs); err != nil {
			return err
		}
		if q.dfs {
			q.blob = strings.Trim(blobName, "/")
		}
	}
	route := h.route
	if q.dfs {
		route = h.routeDFS
	}
	op, err := route(q)
	if err != nil {
		return err
	}
	q.op = op
	if err := h.authenticate(q); err != nil {
		return err
	}
	if err := h.authorize(q); err != nil {
		return err
	}
	return op.run(h, q)
}
