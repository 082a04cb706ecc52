package hostport

// Azure's host names through amlid: code written for Azure builds
// https://{account}.blob.core.windows.net, https://{vault}.vault.azure.net,
// {registry}.azurecr.io, talks to management.azure.com and
// login.microsoftonline.com (and their China-cloud twins), none of which
// resolve offline. With HTTPS_PROXY pointing at the pool's proxy (and
// NO_PROXY=127.0.0.1,localhost so amlid's loopback URLs stay direct), the
// client sends "CONNECT acct.blob.core.windows.net:443"; the proxy answers
// the TLS handshake itself with a leaf for that very name from amlid's CA and
// hands each request to the service that owns the name (proxy_connect.go),
// in process. The client sees the name it asked for, so challenge-resource
// verification and host-based identity (Key Vault IDs, ACR login servers)
// hold. Names amlid does not serve are refused; a Host header or SNI name
// that disagrees with the CONNECT name is refused (one account's data is
// never reachable by naming another).

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// IssueFunc signs a server certificate for names (tlsca.CA.IssueLeaf).
type IssueFunc func(names ...string) (tls.Certificate, error)

type nameState struct {
	mu     sync.Mutex
	names  map[string]string // lower(host name) → lower(resource ID)
	certs  map[string]*tls.Certificate
	issue  IssueFunc
	proxy  *http.Server
	proxyP int
	route  RouteFunc
	origin OriginFunc
	tunnel *tunnelServer // proxy_connect.go
}

func (p *Pool) names() *nameState {
	ns := &p.aliases
	ns.mu.Lock()
	if ns.names == nil {
		ns.names, ns.certs = map[string]string{}, map[string]*tls.Certificate{}
	}
	ns.mu.Unlock()
	return ns
}

// SetIssuer lets resource listeners answer TLS handshakes for names given
// to SetName with certificates from issue. Without it they present the
// pool's shared certificate only.
func (p *Pool) SetIssuer(issue IssueFunc) {
	ns := p.names()
	ns.mu.Lock()
	ns.issue = issue
	ns.mu.Unlock()
}

// SetName makes host (e.g. "v1.vault.azure.net") an alias of resource id:
// the proxy tunnels CONNECT host:port to the resource's port, and its
// listener presents a certificate for host. An empty host removes id's
// aliases.
func (p *Pool) SetName(id, host string) {
	ns := p.names()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	key := strings.ToLower(id)
	for h, rid := range ns.names {
		if rid == key {
			delete(ns.names, h)
		}
	}
	if host != "" {
		ns.names[strings.ToLower(host)] = key
	}
}

// Lookup returns the port of the resource aliased as host.
func (p *Pool) Lookup(host string) (int, bool) {
	ns := p.names()
	ns.mu.Lock()
	id, ok := ns.names[strings.ToLower(host)]
	ns.mu.Unlock()
	if !ok {
		return 0, false
	}
	return p.Port(id)
}

// certificate answers SNI for alias names (nil: use the shared leaf).
func (p *Pool) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if name == "" {
		return nil, nil
	}
	ns := p.names()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if _, ok := ns.names[name]; !ok || ns.issue == nil {
		return nil, nil
	}
	if c := ns.certs[name]; c != nil && time.Until(c.Leaf.NotAfter) > 24*time.Hour {
		return c, nil
	}
	c, err := ns.issue(name)
	if err != nil {
		return nil, err
	}
	ns.certs[name] = &c
	return &c, nil
}

// tlsConfig is the pool's TLS configuration plus SNI certificates for
// alias names.
func (p *Pool) tlsConfig() *tls.Config {
	if p.cfg.TLS == nil {
		return nil
	}
	c := p.cfg.TLS.Clone()
	shared := c.GetCertificate
	c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if cert, err := p.certificate(h); cert != nil || err != nil {
			return cert, err
		}
		if shared != nil {
			return shared(h)
		}
		return nil, nil
	}
	return c
}

// ListenProxy starts the CONNECT proxy on port (0: the first free port at
// or above the pool's BasePort, or any port) and returns its port. A second
// call returns the running proxy's port. ErrPortInUse when port is taken.
func (p *Pool) ListenProxy(port int) (int, error) {
	ns := p.names()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.proxy != nil {
		return ns.proxyP, nil
	}
	ln, err := p.listen(port, " for the proxy", func(cand int) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, taken := p.byPort[cand]
		return taken
	})
	if err != nil {
		return 0, err
	}
	ns.proxyP = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(p.serveConnect), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelDebug)}
	ns.proxy = srv
	ns.tunnel = p.newTunnelServer()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.cfg.Logger.Error("resource proxy stopped", "err", err)
		}
	}()
	return ns.proxyP, nil
}

// CloseProxy stops the proxy (Shutdown does not know about it).
func (p *Pool) CloseProxy() {
	ns := p.names()
	ns.mu.Lock()
	srv := ns.proxy
	tun := ns.tunnel
	ns.proxy, ns.tunnel = nil, nil
	ns.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	if tun != nil {
		tun.close()
	}
}
