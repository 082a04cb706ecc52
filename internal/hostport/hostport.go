// Package hostport gives each data-plane resource that Azure addresses by
// its own DNS name — a key vault (https://{vault}.vault.azure.net), a
// container registry ({registry}.azurecr.io) — its own HTTPS host:port on
// loopback.
//
// Clients derive identity from the host, not from the path: Key Vault IDs
// are parsed as https://{host}/secrets/{name}/{version} by azsecrets and by
// azure-keyvault-secrets, and an OCI login server is a bare host. A shared
// port with a path prefix would break both, and *.localhost names do not
// resolve on a stock Debian machine, so amlid opens one listener per
// resource. The resource's record keeps its port (in vaultUri, loginServer),
// and amlid reopens the same port at the next start.
package hostport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Pool.
type Config struct {
	// Host is the listen address (default 127.0.0.1).
	Host string
	// BasePort is where allocation starts: the first free port at or
	// above it is used. 0 lets the kernel pick any free port.
	BasePort int
	// TLS is the server TLS configuration (amlid's CA leaf).
	TLS *tls.Config
	// Wrap decorates every handler (request logging, panic recovery).
	Wrap   func(http.Handler) http.Handler
	Logger *slog.Logger
	// IdleTimeout closes kept-alive connections of every listener that
	// send no new request (zero: 2 minutes). Request bodies are bounded by
	// Wrap (amlid's server sets a per-read deadline).
	IdleTimeout time.Duration
}

// Pool owns the per-resource listeners.
type Pool struct {
	cfg      Config
	mu       sync.Mutex
	handlers map[string]http.Handler // kind → data-plane handler
	byID     map[string]*entry       // lower(resource ID) → entry
	byPort   map[int]*entry
	closed   bool
	aliases  nameState // proxy.go: host-name aliases, SNI certificates, the CONNECT proxy
}

type entry struct {
	kind, id string
	port     int
	srv      *http.Server
	ln       net.Listener
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	return &Pool{cfg: cfg, handlers: map[string]http.Handler{}, byID: map[string]*entry{}, byPort: map[int]*entry{}}
}

// Handle sets the handler that serves every resource of kind ("vault",
// "registry"). Handlers find which resource a request is for with
// Resource(r.Context()).
func (p *Pool) Handle(kind string, h http.Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handlers[kind] = h
}

type ctxKey struct{}

// Target is the resource a request arrived for.
type Target struct {
	Kind string
	// ID is the resource ID as given to Open.
	ID string
	// Host is the host:port the resource is served on (its login server or
	// vault host).
	Host string
}

// Resource returns the resource a request arrived for (ok false outside a
// pool listener, e.g. in handler tests that set it with WithResource).
func Resource(ctx context.Context) (Target, bool) {
	t, ok := ctx.Value(ctxKey{}).(Target)
	return t, ok
}

// WithResource returns ctx carrying t (for tests that call a data-plane
// handler directly through httptest).
func WithResource(ctx context.Context, t Target) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// Host returns "host:port" for a port of this pool.
func (p *Pool) Host(port int) string { return net.JoinHostPort(p.cfg.Host, strconv.Itoa(port)) }

// Port returns the port resource id is served on.
func (p *Pool) Port(id string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byID[strings.ToLower(id)]
	if !ok {
		return 0, false
	}
	return e.port, true
}

// ErrPortInUse is returned by Open when the requested port is taken.
var ErrPortInUse = errors.New("port in use")

// Open serves resource id of kind on port, or on a newly allocated port
// when port is 0, and returns the port. Opening a resource that is already
// open returns its port. When the requested port cannot be bound (another
// program took it while amlid was down) Open answers ErrPortInUse; the
// caller may then Open(kind, id, 0) and record the new port.
func (p *Pool) Open(kind, id string, port int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("hostport: pool is shut down")
	}
	key := strings.ToLower(id)
	if e, ok := p.byID[key]; ok {
		if port == 0 || port == e.port {
			return e.port, nil
		}
		return 0, fmt.Errorf("hostport: %s is already served on port %d", id, e.port)
	}
	h, ok := p.handlers[kind]
	if !ok {
		return 0, fmt.Errorf("hostport: no handler for kind %q", kind)
	}
	if _, taken := p.byPort[port]; port != 0 && taken {
		return 0, fmt.Errorf("%w: %d is served for another resource", ErrPortInUse, port)
	}
	ln, err := p.listen(port, "", func(cand int) bool { _, taken := p.byPort[cand]; return taken })
	if err != nil {
		return 0, err
	}
	e := &entry{kind: kind, id: id, port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	t := Target{Kind: kind, ID: id, Host: p.Host(e.port)}
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithResource(r.Context(), t)))
	})
	if p.cfg.Wrap != nil {
		handler = p.cfg.Wrap(handler)
	}
	e.srv = &http.Server{Handler: handler, TLSConfig: p.tlsConfig(), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: p.cfg.IdleTimeout, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelDebug)}
	p.byID[key] = e
	p.byPort[e.port] = e
	go func() {
		var err error
		if p.cfg.TLS != nil {
			err = e.srv.ServeTLS(ln, "", "")
		} else {
			err = e.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.cfg.Logger.Error("resource listener stopped", "kind", kind, "id", id, "err", err)
		}
	}()
	return e.port, nil
}

// listen opens a new listener: on port when it is given (ErrPortInUse
// when it cannot be had), else on the first port from BasePort (2000
// tried) that taken does not claim and the system gives, else on any
// port. what completes the error when BasePort's range is full.
func (p *Pool) listen(port int, what string, taken func(port int) bool) (net.Listener, error) {
	switch {
	case port != 0:
		ln, err := net.Listen("tcp", p.Host(port))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrPortInUse, p.Host(port), err)
		}
		return ln, nil
	case p.cfg.BasePort > 0:
		for cand := p.cfg.BasePort; cand < p.cfg.BasePort+2000 && cand < 65536; cand++ {
			if taken(cand) {
				continue
			}
			if ln, err := net.Listen("tcp", p.Host(cand)); err == nil {
				return ln, nil
			}
		}
		return nil, fmt.Errorf("hostport: no free port%s in %d..%d", what, p.cfg.BasePort, p.cfg.BasePort+1999)
	default:
		return net.Listen("tcp", p.Host(0))
	}
}

// Close stops serving resource id (after its deletion).
func (p *Pool) Close(id string) {
	p.mu.Lock()
	e, ok := p.byID[strings.ToLower(id)]
	if ok {
		delete(p.byID, strings.ToLower(id))
		delete(p.byPort, e.port)
	}
	p.mu.Unlock()
	if ok {
		e.srv.Close()
	}
}

// Shutdown drains and closes every listener.
func (p *Pool) Shutdown(ctx context.Context) {
	p.CloseProxy()
	p.mu.Lock()
	p.closed = true
	var all []*entry
	for _, e := range p.byID {
		all = append(all, e)
	}
	p.byID, p.byPort = map[string]*entry{}, map[int]*entry{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Add(1)
		go func() { defer wg.Done(); e.srv.Shutdown(ctx) }()
	}
	wg.Wait()
}
