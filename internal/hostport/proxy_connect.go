package hostport

import (
	"bufio"
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

	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/netorigin"
)

// RouteFunc returns the handler that serves an Azure name (ARM, Entra,
// Graph, Blob, and the pool's own resources through NamedHandler), or an
// error that tells the caller why amlid does not serve it.
type RouteFunc func(n azurehost.Name) (http.Handler, error)

// SetRouter sets how the proxy finds the service of an Azure name.
func (p *Pool) SetRouter(f RouteFunc) {
	ns := p.names()
	ns.mu.Lock()
	ns.route = f
	ns.mu.Unlock()
}

// OriginFunc maps a workload's proxy credential (the password of its
// HTTPS_PROXY URL) to the workload (false: no live workload has it).
type OriginFunc func(password string) (netorigin.Origin, bool)

// SetOrigins sets how the proxy recognises workloads: requests tunnelled
// for a CONNECT that carries a workload's credential carry its
// netorigin.Origin (virtual-network rules, rule DS-8). Nothing a client
// writes in a request can set it.
func (p *Pool) SetOrigins(f OriginFunc) {
	ns := p.names()
	ns.mu.Lock()
	ns.origin = f
	ns.mu.Unlock()
}

// NamedHandler is the handler of the one open resource of kind whose name
// (the resource ID's last segment) is name, as served under host: requests
// see Resource(ctx) with Host = host, so the service builds Azure-style
// identifiers (Key Vault IDs, the registry's login server).
func (p *Pool) NamedHandler(kind, name, host string) (http.Handler, error) {
	p.mu.Lock()
	h := p.handlers[kind]
	var found []*entry
	for _, e := range p.byID {
		if e.kind == kind && strings.EqualFold(e.id[strings.LastIndexByte(e.id, '/')+1:], name) {
			found = append(found, e)
		}
	}
	p.mu.Unlock()
	switch {
	case h == nil || len(found) == 0:
		return nil, fmt.Errorf("amlid has no %s named '%s' (the name %s addresses one)", kindNoun(kind), name, host)
	case len(found) > 1:
		return nil, fmt.Errorf("%d %ss are named '%s': the name %s is ambiguous; use their loopback URLs", len(found), kindNoun(kind), name, host)
	}
	t := Target{Kind: kind, ID: found[0].id, Host: host}
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(WithResource(r.Context(), t)))
	})
	if p.cfg.Wrap != nil {
		handler = p.cfg.Wrap(handler)
	}
	return handler, nil
}

func kindNoun(kind string) string {
	switch kind {
	case "vault":
		return "key vault"
	case "registry":
		return "container registry"
	case "endpoint":
		return "online endpoint"
	}
	return kind
}

// tunnelServer serves HTTP on the TLS connections the proxy terminates.
type tunnelServer struct {
	srv   *http.Server
	ln    *chanListener
	conns sync.Map // *tls.Conn → *tunnel
}

// tunnel is one CONNECT: the name asked for and the handler that owns it.
type tunnel struct {
	name    azurehost.Name
	handler http.Handler
	client  string
	azure   bool // the caller is in the Azure-hostnames mode (azurehost.ProxyUser)
	// origin is the workload the CONNECT's credential belongs to (nil: the
	// public network).
	origin *netorigin.Origin
}

type tunnelKey struct{}

func (p *Pool) newTunnelServer() *tunnelServer {
	ts := &tunnelServer{ln: newChanListener()}
	ts.srv = &http.Server{
		Handler:           http.HandlerFunc(p.serveTunnelled),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(p.cfg.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if v, ok := ts.conns.LoadAndDelete(c); ok {
				ctx = context.WithValue(ctx, tunnelKey{}, v)
			}
			return ctx
		},
	}
	go func() { _ = ts.srv.Serve(ts.ln) }()
	return ts
}

func (ts *tunnelServer) close() {
	ts.srv.Close()
	ts.ln.Close()
}

// serveTunnelled serves one request inside a tunnel: its Host header must
// be the name the tunnel was opened for.
func (p *Pool) serveTunnelled(w http.ResponseWriter, r *http.Request) {
	t, ok := r.Context().Value(tunnelKey{}).(*tunnel)
	if !ok {
		http.Error(w, "amlid proxy: request outside a tunnel", http.StatusMisdirectedRequest)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !strings.EqualFold(strings.TrimSuffix(host, "."), t.name.Host) {
		p.cfg.Logger.Warn("proxy: Host header disagrees with the tunnel's name; refused", "connect", t.name.Host, "host", r.Host, "client", t.client)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		fmt.Fprintf(w, `{"error":{"code":"MisdirectedRequest","message":%s}}`,
			strconv.Quote(fmt.Sprintf("This connection was opened for %s; a request for Host '%s' is refused. Open a connection (CONNECT) for each host name.", t.name.Host, r.Host)))
		return
	}
	ctx := r.Context()
	if t.origin != nil {
		ctx = netorigin.With(ctx, *t.origin)
	}
	if t.azure {
		ctx = azurehost.WithName(ctx, t.name)
	}
	t.handler.ServeHTTP(w, r.WithContext(ctx))
}

// workloadCredential reports whether a CONNECT's proxy password has the
// shape of a workload's proxy credential (64 hex characters); the shared
// Azure-hostnames password ("hostnames") and others do not.
func workloadCredential(r *http.Request) (string, bool) {
	user, pass, ok := proxyBasicAuth(r)
	if !ok || user != azurehost.ProxyUser || len(pass) != 64 {
		return "", false
	}
	for _, c := range pass {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return pass, true
}

// azureMode: the CONNECT carries the Azure-hostnames mode's proxy user.
func azureMode(r *http.Request) bool {
	user, _, ok := proxyBasicAuth(r)
	return ok && user == azurehost.ProxyUser
}

func proxyBasicAuth(r *http.Request) (string, string, bool) {
	h := r.Header.Get("Proxy-Authorization")
	if h == "" {
		return "", "", false
	}
	fake := &http.Request{Header: http.Header{"Authorization": {h}}}
	return fake.BasicAuth()
}

// serveConnect answers the proxy's CONNECT requests.
func (p *Pool) serveConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		p.cfg.Logger.Warn("proxy: not a CONNECT; refused", "method", r.Method, "target", r.RequestURI, "client", r.RemoteAddr)
		http.Error(w, "amlid's proxy only tunnels HTTPS (CONNECT) to the Azure host names amlid serves "+
			"(management.azure.com, login.microsoftonline.com, {account}.blob.core.windows.net, {vault}.vault.azure.net, {registry}.azurecr.io, …); "+
			"send other requests directly: add the host to NO_PROXY.", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil && !strings.Contains(r.Host, ":") {
		host, port, err = r.Host, "443", nil
	}
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 || host == "" {
		p.cfg.Logger.Warn("proxy: malformed CONNECT target; refused", "target", r.Host, "client", r.RemoteAddr)
		http.Error(w, fmt.Sprintf("malformed CONNECT target %q: want host:port", r.Host), http.StatusBadRequest)
		return
	}
	ns := p.names()
	ns.mu.Lock()
	route, ts, originOf := ns.route, ns.tunnel, ns.origin
	ns.mu.Unlock()
	var origin *netorigin.Origin
	if cred, ok := workloadCredential(r); ok {
		o, known := netorigin.Origin{}, false
		if originOf != nil {
			o, known = originOf(cred)
		}
		if !known {
			p.cfg.Logger.Warn("proxy: CONNECT with an unknown workload credential; refused", "target", r.Host, "client", r.RemoteAddr)
			refuseConnect(w, http.StatusProxyAuthRequired, "amlid's proxy knows no running workload with this HTTPS_PROXY credential: "+
				"each job node, compute instance process and deployment gets its own, and it ends with the workload. "+
				"Use the HTTPS_PROXY amlid gives the running workload, or `amlid env --azure-hostnames` on the host")
			return
		}
		origin = &o
	}
	name, ok := azurehost.Parse(host)
	var h http.Handler
	switch {
	case !ok:
		err = fmt.Errorf("amlid serves no Azure host named %s (it serves management.azure.com, login.microsoftonline.com, graph.microsoft.com, "+
			"{account}.blob.core.windows.net, {vault}.vault.azure.net, {registry}.azurecr.io, {endpoint}.{region}.inference.ml.azure.com, {region}.api.azureml.ms and their "+
			"China-cloud names); hosts that are not amlid's must bypass this proxy: NO_PROXY", host)
	case port != "443":
		err = fmt.Errorf("amlid serves %s on port 443 only, not %s", host, port)
	case route == nil || ts == nil:
		err = errors.New("amlid's proxy is not ready")
	default:
		h, err = route(name)
	}
	if err != nil {
		p.cfg.Logger.Warn("proxy: CONNECT refused", "target", r.Host, "client", r.RemoteAddr, "reason", err.Error())
		refuseConnect(w, http.StatusForbidden, err.Error())
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "proxy connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{}) // the proxy server's header deadline
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	var raw net.Conn = conn
	if buf.Reader.Buffered() > 0 {
		raw = &bufferedConn{Conn: conn, r: buf.Reader}
	}
	client := r.RemoteAddr
	tc := tls.Server(raw, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if sni := strings.TrimSuffix(strings.ToLower(hello.ServerName), "."); sni != "" && sni != name.Host {
				p.cfg.Logger.Warn("proxy: TLS name disagrees with the CONNECT name; refused", "connect", name.Host, "sni", hello.ServerName, "client", client)
				return nil, fmt.Errorf("TLS server name %q is not the CONNECT name %q", hello.ServerName, name.Host)
			}
			return p.leafFor(name.Host)
		},
	})
	ts.conns.Store(tc, &tunnel{name: name, handler: h, client: client, azure: azureMode(r), origin: origin})
	if !ts.ln.push(tc) {
		ts.conns.Delete(tc)
		tc.Close()
	}
}

// refuseConnect answers a CONNECT with status and the reason as the status
// line's reason phrase (what Go's and Python's clients print) and body.
func refuseConnect(w http.ResponseWriter, status int, reason string) {
	phrase := strings.NewReplacer("\r", " ", "\n", " ").Replace(reason)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
				status, phrase, len(reason)+1, reason)
			conn.Close()
			return
		}
	}
	http.Error(w, reason, status)
}

// leafFor returns a certificate for host from amlid's CA (cached; renewed
// a day before expiry). Per-resource names share one wildcard certificate
// per suffix (*.blob.core.windows.net), so any number of CONNECTs costs a
// bounded number of key generations.
func (p *Pool) leafFor(host string) (*tls.Certificate, error) {
	name := host
	if n, ok := azurehost.Parse(host); ok && n.Resource != "" {
		name = "*" + host[strings.IndexByte(host, '.'):]
	}
	ns := p.names()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if c := ns.certs[name]; c != nil && (c.Leaf == nil || time.Until(c.Leaf.NotAfter) > 24*time.Hour) {
		return c, nil
	}
	if ns.issue == nil {
		return nil, errors.New("amlid's proxy has no certificate issuer")
	}
	c, err := ns.issue(name)
	if err != nil {
		return nil, err
	}
	if len(ns.certs) > 512 { // scoring hosts vary by region: keep the cache bounded
		clear(ns.certs)
	}
	ns.certs[name] = &c
	return &c, nil
}

// bufferedConn reads what the CONNECT's reader buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener hands the proxy's TLS connections to the tunnel server.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
