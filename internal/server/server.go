// Package server assembles amlid: it opens the store, the CA and the
// directory, declares every resource type, mounts each protocol's handler on
// its listener and runs until shut down. `amlid up` is a thin wrapper.
package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/graph"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/identity"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/registry"
	"github.com/amlid/amlid/internal/sandbox"
	"github.com/amlid/amlid/internal/seal"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
	"github.com/amlid/amlid/internal/store/sqlstore"
	"github.com/amlid/amlid/internal/tlsca"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/web"
	"github.com/amlid/amlid/internal/workload"
)

// Options configure a server. The zero value plus a DataDir is `amlid up`.
type Options struct {
	DataDir string
	// Store is a store URL: "" (SQLite in DataDir), "memory:", a SQLite
	// path or sqlite:// URL, or postgres://….
	Store string
	Host  string // listen address, default 127.0.0.1
	Port  int    // the HTTPS front door (ARM, Entra, Graph); default 8443, -1 = any free port
	// MSIPort is the loopback plain-HTTP port of the managed-identity token
	// endpoints workloads call (MSI_ENDPOINT…); default 46808, -1 = any.
	MSIPort int
	// BlobPort is the HTTPS port of the Blob data plane (path-style
	// https://127.0.0.1:PORT/<account>/…); default 8444, -1 = any.
	BlobPort int
	// ResourcePortBase is where per-resource HTTPS ports (one per key vault,
	// one per container registry: see package hostport) are allocated from;
	// default 8500, -1 = any free port.
	ResourcePortBase int
	// Python runs the online deployments' scoring code (default
	// /usr/bin/python3).
	Python string
	// WorkloadSandbox is how workload code (scoring scripts) is launched:
	// "auto" (default: bubblewrap when it can run, else directly with a
	// warning), "bwrap" (bubblewrap or refuse to start), "off".
	WorkloadSandbox string
	// RBAC is "enforce" (default) or "audit".
	RBAC string
	// BodyIdleTimeout: a request body that sends nothing for this long
	// fails (default DefaultBodyIdleTimeout).
	BodyIdleTimeout time.Duration
	// ComputeMinute is how long an idle minute lasts for computes (idle
	// shutdown, node scale-down); default one minute. Tests accelerate it.
	ComputeMinute time.Duration
	Logger        *slog.Logger
	// Testing holds hooks for in-process tests (package testenv); amlid up
	// never sets them.
	Testing *TestHooks
}

// Server is a running amlid.
type Server struct {
	Opts      Options
	Store     store.Store
	Directory *directory.Directory
	CA        *tlsca.CA
	ARM       *arm.Server
	Identity  *identity.Provider
	Tokens    *token.Service
	Graph     *graph.Handler
	Authz     *authorization.Service
	Workloads *workload.Registry
	// Sealer seals secrets at rest (keys/vault.key).
	Sealer *seal.Sealer
	// Sandbox launches workload code (scoring scripts).
	Sandbox *sandbox.Launcher
	Storage *storage.Provider
	// Blob is the Blob (and DFS) data plane's handler.
	Blob *blob.Handler
	// Web is the page of identities and access (/amlid/web/).
	Web *web.Handler
	// Hosts serves the resources Azure addresses by host name (vaults,
	// registries), one loopback port each.
	Hosts     *hostport.Pool
	State     State
	Bootstrap Bootstrap

	log      *slog.Logger
	lock     *os.File
	https    *http.Server
	ln       net.Listener
	msiSrv   *http.Server
	msiLn    net.Listener
	blobSrv  *http.Server
	blobLn   net.Listener
	armAuthn *armAuthenticator
	modules  []Module      // modules.go, in start order
	acr      registryParts // registry.go
	kv       vaultParts    // keyvault.go
	ml       mlParts       // ml.go
	stopping chan struct{}
	serveErr chan error
	closeOne sync.Once
}

// Start brings amlid up and returns once every listener accepts
// connections.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	if err := applyDefaults(&o); err != nil {
		return nil, err
	}
	if err := prepareDataDir(&o); err != nil {
		return nil, err
	}
	s := &Server{Opts: o, log: o.Logger, serveErr: make(chan error, 3), stopping: make(chan struct{})}
	// Every step below leaves what it opened on s; on any error, release
	// closes it all (the store, listeners not yet served, the lock).
	defer func() {
		if err != nil {
			s.release()
		}
	}()
	if err := s.openStorage(ctx, o); err != nil {
		return nil, err
	}
	if err := s.startCore(ctx, o); err != nil {
		return nil, err
	}
	// The modules, in dependency order: each declares its ARM types and
	// mounts its data plane now, and reopens what it serves (ports,
	// processes) in Resume, once every module is in place and serving.
	for _, build := range s.moduleList() {
		m, err := build(ctx)
		if err != nil {
			return nil, err
		}
		s.modules = append(s.modules, m)
	}
	if err := s.serve(ctx, o); err != nil {
		return nil, err
	}
	return s, nil
}

// applyDefaults fills the options left zero and checks --rbac.
func applyDefaults(o *Options) error {
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir()
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 8443
	}
	if o.Port < 0 {
		o.Port = 0
	}
	if o.MSIPort == 0 {
		o.MSIPort = 46808
	}
	if o.MSIPort < 0 {
		o.MSIPort = 0
	}
	if o.BlobPort == 0 {
		o.BlobPort = 8444
	}
	if o.BlobPort < 0 {
		o.BlobPort = 0
	}
	if o.ResourcePortBase == 0 {
		o.ResourcePortBase = 8500
	}
	if o.ResourcePortBase < 0 {
		o.ResourcePortBase = 0
	}
	if o.RBAC == "" {
		o.RBAC = "enforce"
	}
	if o.RBAC != "enforce" && o.RBAC != "audit" {
		return fmt.Errorf("--rbac must be 'enforce' or 'audit', not %q", o.RBAC)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BodyIdleTimeout <= 0 {
		o.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	return nil
}

// prepareDataDir makes o.DataDir absolute, creates it and narrows its
// permissions.
func prepareDataDir(o *Options) error {
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return err
	}
	o.DataDir = abs
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// Every file amlid creates from here on is its own alone (0600/0700);
	// what an earlier version left wider is narrowed.
	syscall.Umask(0o077)
	if err := securePermissions(o.DataDir); err != nil {
		return fmt.Errorf("data dir permissions: %w", err)
	}
	return nil
}

// openStorage takes the data dir's lock, opens the sandbox, the CA and the
// (sealed) store, and bootstraps the directory.
func (s *Server) openStorage(ctx context.Context, o Options) (err error) {
	if err := s.acquireLock(); err != nil {
		return err
	}
	if s.Sandbox, err = s.openSandbox(); err != nil {
		return err
	}
	if s.CA, err = tlsca.LoadOrCreate(filepath.Join(o.DataDir, TLSDir)); err != nil {
		return err
	}
	raw, err := OpenStore(ctx, o.Store, o.DataDir)
	if err != nil {
		return err
	}
	if o.Testing != nil && o.Testing.WrapStore != nil {
		raw = o.Testing.WrapStore(raw)
	}
	if s.Sealer, err = seal.Load(ctx, raw, VaultKeyFile(o.DataDir)); err != nil {
		raw.Close()
		return err
	}
	s.Store = s.Sealer.Store(raw, SealedKinds...)
	if n, err := seal.Migrate(ctx, s.Store); err != nil {
		return fmt.Errorf("sealing stored credentials: %w", err)
	} else if n > 0 {
		s.log.Info("sealed records that an earlier version stored in clear", "records", n)
	}
	s.Directory = directory.New(s.Store)
	if err := s.bootstrap(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	// Group expansion reads a tenant's groups from their index (issue 23);
	// a database from before it is indexed once here.
	if err := s.Directory.EnsureGroupIndex(ctx); err != nil {
		return fmt.Errorf("index groups: %w", err)
	}
	return nil
}

// listenFront opens the front door's and the Blob endpoint's listeners and
// returns their base URLs.
func (s *Server) listenFront(o Options) (base, blobURL string, err error) {
	s.ln, err = net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
	if err != nil {
		return "", "", fmt.Errorf("listen on %s:%d: %w (another program uses the port? pick one with --port)", o.Host, o.Port, err)
	}
	base = "https://" + urlHost(o.Host, s.ln.Addr().(*net.TCPAddr).Port)
	if s.blobLn, err = net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.BlobPort))); err != nil {
		return "", "", fmt.Errorf("listen on %s:%d for Blob storage: %w (pick another with --blob-port)", o.Host, o.BlobPort, err)
	}
	blobURL = "https://" + urlHost(o.Host, s.blobLn.Addr().(*net.TCPAddr).Port)
	return base, blobURL, nil
}

// startCore opens the front door's and the Blob endpoint's listeners and
// builds the core services every module uses: tokens, RBAC, Graph, the ARM
// front door, the workload registry and the managed-identity endpoints.
func (s *Server) startCore(ctx context.Context, o Options) (err error) {
	base, blobURL, err := s.listenFront(o)
	if err != nil {
		return err
	}
	// Tokens are issued for the services amlid serves: besides Azure's
	// resource URIs, Graph's URL here and the Blob endpoint's account URLs.
	if s.Tokens, err = token.New(ctx, token.Config{
		BaseURL: base, Store: s.Store, Directory: s.Directory, Logger: s.log, DefaultTenant: s.Bootstrap.TenantID,
		Resources: []string{base}, ResourcePrefixes: []string{blobURL},
	}); err != nil {
		return fmt.Errorf("token service: %w", err)
	}
	if s.Authz, err = authorization.New(ctx, s.Store, s.Directory, o.RBAC, s.log); err != nil {
		return fmt.Errorf("rbac: %w", err)
	}
	if err := s.grantBootstrapOwner(ctx); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	s.Graph = graph.New(graph.Config{Tokens: s.Tokens, Directory: s.Directory, Logger: s.log, Audiences: []string{base},
		OnPrincipalDeleted: authorization.DeleteAssignmentsOf})
	s.armAuthn = &armAuthenticator{tokens: s.Tokens, host: base, tenant: s.Bootstrap.TenantID}
	// The front door exists before any module: modules declare their types
	// on its registry and call it in-process, with no late binding.
	s.ARM = arm.New(arm.Config{
		Store: s.Store, Directory: s.Directory, Registry: arm.NewRegistry(), Logger: s.log,
		DefaultTenant: s.Bootstrap.TenantID, Endpoints: s.metadataEndpoints,
		Authenticator: s.armAuthn,
		Authorizer:    s.Authz, PrincipalCleanup: authorization.DeleteAssignmentsOf,
	})
	s.ARM.RegisterExtension("Microsoft.Authorization", s.Authz)
	s.Workloads = workload.NewRegistry(&armResolver{st: s.Store, dir: s.Directory})
	msiH, err := msi.New(msi.Config{Registry: s.Workloads, Tokens: s.Tokens, Logger: s.log})
	if err != nil {
		return err
	}
	if s.msiLn, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.MSIPort))); err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d for the managed-identity endpoints: %w (pick another with --msi-port)", o.MSIPort, err)
	}
	s.msiSrv = msiH.Server()
	bundle, err := s.writeBundle()
	if err != nil {
		return err
	}
	s.State = State{
		PID: os.Getpid(), ARMURL: base, AuthorityHost: base, GraphURL: base,
		TenantID: s.Bootstrap.TenantID, SubscriptionID: s.Bootstrap.SubscriptionID,
		CAFile: s.CA.CAPath(), CABundle: bundle, StoreKind: storeKind(o.Store),
		MSIURL:  "http://" + urlHost("127.0.0.1", s.msiLn.Addr().(*net.TCPAddr).Port),
		BlobURL: blobURL,
		WebURL:  web.URL(base),
	}
	s.Hosts = hostport.New(hostport.Config{Host: o.Host, BasePort: o.ResourcePortBase, TLS: s.CA.TLSConfig(),
		Wrap: func(h http.Handler) http.Handler {
			return s.logRequests(limitBody(h, o.BodyIdleTimeout, dataReadTimeout))
		},
		Logger: s.log, IdleTimeout: idleTimeout})
	return nil
}

// serve writes state.json, starts serving the front door, the
// managed-identity and the Blob listeners, resumes the modules and writes
// state.json again with what they added.
func (s *Server) serve(ctx context.Context, o Options) error {
	s.https = &http.Server{
		Handler:           s.logRequests(limitBody(s.front(), o.BodyIdleTimeout, frontReadTimeout)),
		TLSConfig:         s.CA.TLSConfig(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.https.RegisterOnShutdown(func() { close(s.stopping) })
	// state.json is written before any listener answers, so a client that
	// sees the port answer can read it (`amlid env`) at once.
	if err := writeJSONFile(filepath.Join(o.DataDir, StateFile), s.State, 0o600); err != nil {
		return err
	}
	go func() { s.serveErr <- s.https.ServeTLS(s.ln, "", "") }()
	go func() { s.serveErr <- s.msiSrv.Serve(s.msiLn) }()
	go func() { s.serveErr <- s.blobSrv.ServeTLS(s.blobLn, "", "") }()
	for _, m := range s.modules {
		if err := m.Resume(ctx); err != nil {
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
	}
	// Resuming modules may have added endpoints (the vault proxy's port).
	if err := writeJSONFile(filepath.Join(o.DataDir, StateFile), s.State, 0o600); err != nil {
		return err
	}
	return nil
}

func urlHost(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// openSandbox probes the workload launcher. Workloads never see the data
// dir, nor a SQLite store kept elsewhere.
func (s *Server) openSandbox() (*sandbox.Launcher, error) {
	mode, err := sandbox.ParseMode(s.Opts.WorkloadSandbox)
	if err != nil {
		return nil, err
	}
	hide := []string{s.Opts.DataDir}
	if p, ok := strings.CutPrefix(s.Opts.Store, "sqlite://"); ok {
		p, _, _ = strings.Cut(p, "?")
		hide = append(hide, p, p+"-wal", p+"-shm", p+"-journal")
	}
	sb, err := sandbox.New(sandbox.Options{Mode: mode, Hide: hide})
	if err != nil {
		return nil, err
	}
	if w := sb.Warning(); w != "" {
		s.log.Warn("workloads are not sandboxed: " + w)
	} else {
		s.log.Info("workloads run in a bubblewrap sandbox")
	}
	return sb, nil
}

// SealedKinds are the store kinds whose records are sealed at rest (package
// seal): ARM resources (their internal state holds storage account keys,
// registry admin passwords, endpoint keys and the aml_token HMAC key), the
// token-signing keys and the registry's signing key. Key Vault seals its
// secret values itself.
var SealedKinds = []string{arm.KindResource, token.KindKey, registry.KindKey}

// securePermissions makes every folder under dir 0700 and every file 0600.
func securePermissions(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		want := fs.FileMode(0o600)
		switch {
		case d.IsDir():
			want = 0o700
		case !d.Type().IsRegular():
			return nil // sockets, links: not ours to change
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.Mode().Perm() != want {
			return os.Chmod(p, want)
		}
		return nil
	})
}

// sqlitePath is the file a SQLite store URL names ("" for other stores).
func sqlitePath(url string) string {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"), url == "memory:", url == "memory":
		return ""
	case strings.HasPrefix(url, "sqlite://"):
		p, _, _ := strings.Cut(strings.TrimPrefix(url, "sqlite://"), "?")
		return p
	case strings.Contains(url, "://"):
		return ""
	}
	return url
}

// OpenStore opens the store named by url ("" = SQLite file in dataDir).
// A SQLite file is created 0600 (its WAL and shared-memory files take the
// same mode) and narrowed to it when an earlier version made it wider.
func OpenStore(ctx context.Context, url, dataDir string) (store.Store, error) {
	switch {
	case url == "memory:" || url == "memory":
		return memory.New(), nil
	case url == "":
		url = "sqlite://" + filepath.Join(dataDir, "amlid.db")
	}
	if p := sqlitePath(url); p != "" {
		if f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			f.Close()
		}
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if fi, err := os.Stat(p + suffix); err == nil && fi.Mode().Perm() != 0o600 {
				if err := os.Chmod(p+suffix, 0o600); err != nil {
					return nil, fmt.Errorf("open store: %w", err)
				}
			}
		}
	}
	st, err := sqlstore.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// front routes the HTTPS front door by the first path segment: ARM owns
// /subscriptions, /tenants, /providers and /metadata; everything else is the
// Entra token service (/{tenant}/…).
func (s *Server) front() http.Handler {
	tokens := s.Tokens.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := strings.ToLower(strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0])
		switch {
		case first == "subscriptions" || first == "tenants" || first == "providers" || first == "metadata":
			s.ARM.ServeHTTP(w, r)
		case web.OwnsPath(r.URL.Path):
			s.Web.ServeHTTP(w, r)
		case first == "amlid":
			s.serveAmlid(w, r)
		case graph.OwnsPath(r.URL.Path):
			s.Graph.ServeHTTP(w, r)
		case token.OwnsPath(r.URL.Path):
			tokens.ServeHTTP(w, r)
		default:
			arm.WriteError(w, arm.Errorf(http.StatusNotFound, "NotFound", "amlid serves nothing at '%s'.", r.URL.Path))
		}
	})
}

// Wait blocks until the server stops serving (an error) or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case err := <-s.serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

// Close drains in-flight requests (up to the context's deadline), then
// closes the store and releases the data directory.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.closeOne.Do(func() {
		if s.https != nil {
			err = s.https.Shutdown(ctx)
		}
		if s.msiSrv != nil {
			s.msiSrv.Shutdown(ctx)
		}
		if s.blobSrv != nil {
			s.blobSrv.Shutdown(ctx)
		}
		for i := len(s.modules) - 1; i >= 0; i-- {
			s.modules[i].Stop(ctx)
		}
		if s.Hosts != nil {
			s.Hosts.Shutdown(ctx)
		}
		if s.Tokens != nil {
			s.Tokens.Close()
		}
		s.release()
	})
	return err
}

func (s *Server) release() {
	if s.Store != nil {
		if err := s.Store.Close(); err != nil {
			s.log.Error("close store", "err", err)
		}
	}
	if s.ln != nil && s.https == nil {
		s.ln.Close()
	}
	if s.msiLn != nil && s.msiSrv == nil {
		s.msiLn.Close()
	}
	if s.blobLn != nil && s.blobSrv == nil {
		s.blobLn.Close()
	}
	if s.lock != nil {
		os.Remove(filepath.Join(s.Opts.DataDir, StateFile))
		syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

// acquireLock takes an exclusive flock on the data dir: a second `amlid up`
// on the same directory fails instead of corrupting state. The kernel drops
// the lock when the process dies, so a kill -9 leaves no stale lock.
func (s *Server) acquireLock() error {
	path := filepath.Join(s.Opts.DataDir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("another amlid (pid %s) is already running with data dir %s; stop it first or use another --data-dir",
			strings.TrimSpace(string(pid)), s.Opts.DataDir)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	s.lock = f
	return nil
}

// writeBundle writes system roots + amlid's CA, for SSL_CERT_FILE and
// REQUESTS_CA_BUNDLE (which replace, not extend, the default trust).
func (s *Server) writeBundle() (string, error) {
	var buf []byte
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if b, err := os.ReadFile(f); err == nil {
			buf = append(b, '\n')
			break
		}
	}
	buf = append(buf, s.CA.CertPEM...)
	path := filepath.Join(s.Opts.DataDir, TLSDir, "bundle.pem")
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// CertPool trusts amlid's CA (for in-process clients and tests).
func (s *Server) CertPool() *x509.CertPool { return s.CA.Pool() }

// CAPEM returns amlid's CA certificate.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA.Cert.Raw})
}

// metadataEndpoints answers GET /metadata/endpoints the way az reads a
// cloud's endpoints (msrestazure azure_cloud.py).
func (s *Server) metadataEndpoints(base string) any {
	return map[string]any{
		"galleryEndpoint": base + "/",
		"graphEndpoint":   s.State.GraphURL + "/",
		"portalEndpoint":  base + "/",
		"authentication": map[string]any{
			"loginEndpoint": s.State.AuthorityHost + "/adfs",
			"audiences":     []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		},
		"resourceManager": base + "/",
		"name":            "amlid",
		"suffixes":        map[string]any{"storage": "core.windows.net", "keyVaultDns": ".vault.azure.net", "acrLoginServer": ".azurecr.io"},
	}
}

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: 200}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { // a deliberate cut (failed stream): let net/http abort
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if !rw.wrote {
					arm.WriteError(rw, arm.Errorf(http.StatusInternalServerError, "InternalServerError", "amlid failed to handle the request"))
				}
			}
			// The query string is never logged: it can carry SAS signatures.
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "ms", time.Since(start).Milliseconds())
		}()
		h.ServeHTTP(rw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read
// deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
