// Package msi serves the managed-identity token endpoints a workload
// (package workload) talks to, on a loopback plain-HTTP listener, in every
// form Microsoft's clients use (client-protocols.md §1), and hands out
// tokens only for identities the workload's resource holds (rule ID-3).
//
// # Paths and forms
//
// Every path carries the workload's unguessable ID (64 hex characters);
// that is what binds the requests that carry no secret:
//
//	/msi/{id}/token      GET  Azure ML (MSI_ENDPOINT + header "secret: $MSI_SECRET",
//	                          api-version=2017-09-01, clientid=…, possibly empty)
//	                          and App Service (IDENTITY_ENDPOINT + header
//	                          "X-IDENTITY-HEADER: $IDENTITY_HEADER", api-version=2019-08-01,
//	                          client_id / mi_res_id / object_id / principal_id)
//	                     POST CloudShell form (what `az login --identity` and the SDKs'
//	                          CloudShell source send to $MSI_ENDPOINT): form body
//	                          resource=R [+ client_id | object_id | msi_res_id],
//	                          header "Metadata: true", no secret
//	/msi/{id}/token/     the same (msrestazure's App Service mode appends "/")
//	/msi/{id}/metadata/identity/oauth2/token
//	                     GET  IMDS form, reached by Python through
//	                          AZURE_POD_IDENTITY_AUTHORITY_HOST=http://…/msi/{id};
//	                          header "Metadata: true", no secret
//
// Selectors (any form, any spelling; case-insensitive values; empty values
// are ignored, since Go always sends "clientid="): client ID (clientid,
// client_id), object ID (object_id, principal_id), resource ID (msi_res_id,
// mi_res_id). No selector means the resource's default identity (its
// system-assigned identity, else its first user-assigned one).
//
// # Refusals
//
// No refusal ever carries a token. Bodies are
// {"error":"…","error_description":"…"}.
//
//	400 invalid_request  malformed path (%-escapes, "\", "..", ".", "//", characters
//	                     outside [A-Za-z0-9_/-], absolute-form request targets), bad or
//	                     ambiguous query/form, missing resource, missing Metadata header
//	                     on the no-secret forms ("Required metadata header not specified",
//	                     as IMDS), X-Forwarded-For on the no-secret forms (as IMDS), an
//	                     unknown or ended workload on the no-secret forms, an identity
//	                     the resource does not hold or no identity at all (rule ID-3),
//	                     a disabled identity.
//	                     400 is what every client treats as "this identity is not
//	                     available here": Python IMDS → CredentialUnavailableError, Go →
//	                     an error without retries, az → a clear failure.
//	401 invalid_client   GET on /token without a valid secret header (missing, empty,
//	                     wrong, another workload's, or the workload has ended). Unknown
//	                     workload and wrong secret answer identically. No client retries
//	                     401 here.
//	403 forbidden        a caller that is not on the loopback interface (unless
//	                     Config.AllowRemote).
//	404 not_found        a well-formed path that is not one of the above.
//	405                  another method (Allow header set).
//	413                  a POST body over Config.MaxBodyBytes.
//
// 404 is never used for a workload that does not exist: Python's IMDS client
// retries 404 with backoff. 5xx only ever means amlid itself failed (the
// Resolver or the token service returned an error).
//
// # Logs
//
// Only public identifiers are logged: the workload's Handle, its resource
// ID, the identity's object and client IDs, the audience, the status and
// the reason. Never the workload ID (a credential for the no-secret forms),
// the secret or a token; request paths are logged through RedactPath.
package msi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/token"
	"github.com/amlid/amlid/internal/workload"
)

// Path pieces.
const (
	// PathPrefix starts every workload path.
	PathPrefix = "/msi/"
	// TokenSuffix follows the workload ID in MSI_ENDPOINT / IDENTITY_ENDPOINT.
	TokenSuffix = "/token"
	// IMDSPath is the IMDS token path, appended by Python to
	// AZURE_POD_IDENTITY_AUTHORITY_HOST.
	IMDSPath = "/metadata/identity/oauth2/token"
)

// DefaultMaxBodyBytes bounds a POST body (az sends well under 1 KiB).
const DefaultMaxBodyBytes = 64 << 10

// Issuer issues managed-identity access tokens; *token.Service is one.
type Issuer interface {
	IssueAccessToken(ctx context.Context, p *directory.Principal, resource string) (token.AccessToken, error)
}

// Config configures a Handler.
type Config struct {
	Registry *workload.Registry // required
	Tokens   Issuer             // required, normally the *token.Service
	Logger   *slog.Logger       // default slog.Default()
	Now      func() time.Time   // default time.Now (for expires_in)
	// MaxBodyBytes bounds POST bodies; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowRemote accepts callers that are not on the loopback interface
	// (e.g. containers reaching the host over a bridge). By default they
	// get 403: the endpoint is meant for a loopback listener.
	AllowRemote bool
}

// Handler is the managed-identity endpoint. Create it with New.
type Handler struct {
	reg     *workload.Registry
	tokens  Issuer
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
	remote  bool
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Registry == nil {
		return nil, errors.New("msi: Config.Registry is required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("msi: Config.Tokens is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &Handler{reg: cfg.Registry, tokens: cfg.Tokens, log: cfg.Logger.With("component", "msi"),
		now: cfg.Now, maxBody: cfg.MaxBodyBytes, remote: cfg.AllowRemote}, nil
}

// Server returns an *http.Server for h with conservative limits (header
// size and timeouts); the integrator sets Addr (a loopback address) or
// calls Serve with its own loopback listener.
func (h *Handler) Server() *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
}

// Endpoint is a workload's MSI_ENDPOINT / IDENTITY_ENDPOINT under baseURL
// (http://127.0.0.1:PORT).
func Endpoint(baseURL, workloadID string) string {
	return strings.TrimRight(baseURL, "/") + PathPrefix + workloadID + TokenSuffix
}

// AuthorityHost is a workload's AZURE_POD_IDENTITY_AUTHORITY_HOST: Python
// appends IMDSPath to it.
func AuthorityHost(baseURL, workloadID string) string {
	return strings.TrimRight(baseURL, "/") + PathPrefix + workloadID
}

// Environment variable names.
const (
	EnvMSIEndpoint           = "MSI_ENDPOINT"
	EnvMSISecret             = "MSI_SECRET"
	EnvIdentityEndpoint      = "IDENTITY_ENDPOINT"
	EnvIdentityHeader        = "IDENTITY_HEADER"
	EnvPodIdentityAuthority  = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	EnvDefaultIdentityClient = "DEFAULT_IDENTITY_CLIENT_ID"
)

// EnvFor returns every environment variable a workload needs to reach
// its managed identities through baseURL (http://127.0.0.1:PORT, the
// listener serving Handler):
//
//	MSI_ENDPOINT, MSI_SECRET           Azure ML source (Go, Python, the docs' REST
//	                                   sample), and az's POST to MSI_ENDPOINT
//	IDENTITY_ENDPOINT, IDENTITY_HEADER App Service source; Go and Python azure-identity
//	                                   pick it first when both pairs are set, as on
//	                                   App Service (same endpoint, same secret)
//	AZURE_POD_IDENTITY_AUTHORITY_HOST  Python IMDS source
//	DEFAULT_IDENTITY_CLIENT_ID         only when the resource's default identity is
//	                                   user-assigned: its client ID (rule CMP-3)
//
// The only secrets are the workload's own ID and secret.
func EnvFor(w *workload.Workload, baseURL string) map[string]string {
	if w == nil {
		return map[string]string{}
	}
	ep := Endpoint(baseURL, w.ID)
	env := map[string]string{
		EnvMSIEndpoint:          ep,
		EnvMSISecret:            w.Secret,
		EnvIdentityEndpoint:     ep,
		EnvIdentityHeader:       w.Secret,
		EnvPodIdentityAuthority: AuthorityHost(baseURL, w.ID),
	}
	if w.DefaultClientID != "" {
		env[EnvDefaultIdentityClient] = w.DefaultClientID
	}
	return env
}

// EnvList is EnvFor as sorted "KEY=value" strings, ready to append to an
// exec.Cmd's Env (after removing any inherited variable of the same name).
func EnvList(w *workload.Workload, baseURL string) []string {
	env := EnvFor(w, baseURL)
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// EnvNames are the variables EnvFor may set.
var EnvNames = []string{EnvMSIEndpoint, EnvMSISecret, EnvIdentityEndpoint, EnvIdentityHeader, EnvPodIdentityAuthority, EnvDefaultIdentityClient}

// ScrubbedEnv are the inherited variables Environ removes: EnvNames (a
// workload never sees another's endpoint or a stale default client ID),
// those that divert the SDKs' managed-identity source selection
// (IDENTITY_SERVER_THUMBPRINT → Service Fabric, IMDS_ENDPOINT → Arc,
// APPSETTING_WEBSITE_SITE_NAME and ACC_CLOUD → az's App Service and Cloud
// Shell modes) and those that make DefaultAzureCredential use another
// principal or, for AZURE_CLIENT_ID, ask the endpoint for that client ID
// (Go and Python pass it to ManagedIdentityCredential).
var ScrubbedEnv = append(append([]string(nil), EnvNames...),
	"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "APPSETTING_WEBSITE_SITE_NAME", "ACC_CLOUD",
	"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE")

// Environ returns parent (e.g. os.Environ()) without ScrubbedEnv, plus the
// workload's EnvList: the environment to start a workload's process with.
// Variables the user set for the workload itself (a job's or deployment's
// environment_variables, which may legitimately include AZURE_CLIENT_ID)
// are appended after it by the caller.
func Environ(parent []string, w *workload.Workload, baseURL string) []string {
	out := make([]string, 0, len(parent)+len(EnvNames))
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ScrubbedEnv, k) {
			out = append(out, kv)
		}
	}
	return append(out, EnvList(w, baseURL)...)
}

// OwnsPath reports whether a request path belongs to this handler (for a
// listener shared with other handlers; a dedicated listener is better).
func OwnsPath(path string) bool {
	return strings.HasPrefix(path, PathPrefix) || path == IMDSPath
}

// RedactPath makes a path (or request URI) safe to log: it drops the
// query and replaces every run of 16 or more hex digits (a workload ID,
// a secret, wherever a malformed path put them) by "{id}".
func RedactPath(p string) string {
	p, _, _ = strings.Cut(p, "?")
	var b strings.Builder
	for i := 0; i < len(p); {
		j := i
		for j < len(p) && isHex(p[j]) {
			j++
		}
		switch {
		case j-i >= 16:
			b.WriteString("{id}")
			i = j
		case j > i:
			b.WriteString(p[i:j])
			i = j
		default:
			b.WriteByte(p[i])
			i++
		}
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// route is what a request path asks for.
type route int

const (
	routeNone  route = iota
	routeToken       // /msi/{id}/token[/]
	routeIMDS        // /msi/{id}/metadata/identity/oauth2/token
	routeBareIMDS
)

// refusal is a client-visible error.
type refusal struct {
	status int
	code   string
	desc   string
	reason string // for the log (no secrets), defaults to desc
}

func (r *refusal) Error() string { return r.desc }

func refuse(status int, code, desc string) *refusal {
	return &refusal{status: status, code: code, desc: desc}
}

func badRequest(format string, args ...any) *refusal {
	return refuse(http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...))
}

// Canned refusals.
var (
	errMetadata    = badRequest("Required metadata header not specified")
	errForwarded   = badRequest("Requests with an X-Forwarded-For header are not accepted by the managed identity endpoint")
	errNoResource  = badRequest("Required audience parameter not specified: pass resource=<the resource URI>, e.g. resource=https://storage.azure.com/")
	errBadPath     = badRequest("Malformed request path: managed identity endpoint paths are matched exactly; percent-escapes, backslashes, '.', '..' and empty segments are refused (rule ID-3)")
	errNoWorkload  = badRequest("Identity not found: this managed identity endpoint belongs to no running workload (it ended, or the URL is wrong); use the MSI_ENDPOINT / AZURE_POD_IDENTITY_AUTHORITY_HOST your process was started with (rule ID-3)")
	errBareIMDS    = badRequest("Identity not found: amlid serves IMDS only under a workload's path, /msi/{workload}/metadata/identity/oauth2/token; use AZURE_POD_IDENTITY_AUTHORITY_HOST as amlid set it (rule ID-3)")
	errNotFound    = refuse(http.StatusNotFound, "not_found", "No such managed identity endpoint; amlid serves /msi/{workload}/token and /msi/{workload}/metadata/identity/oauth2/token")
	errRemote      = refuse(http.StatusForbidden, "forbidden", "The managed identity endpoint only answers callers on this machine (loopback)")
	errUnauthorize = refuse(http.StatusUnauthorized, "invalid_client", "Unauthorized: send the workload's secret in the 'secret' header (MSI_SECRET) or the 'X-IDENTITY-HEADER' header (IDENTITY_HEADER), on the workload's own MSI_ENDPOINT; the secret is missing, wrong, or the workload has ended (rule ID-3)")
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("msi handler panic", "panic", fmt.Sprint(v), "path", RedactPath(r.URL.Path))
			writeError(w, refuse(http.StatusInternalServerError, "server_error", "internal error"))
		}
	}()
	res := h.serve(w, r)
	if res == nil {
		return
	}
	var rf *refusal
	if !errors.As(res.err, &rf) {
		h.log.Error("managed identity token request failed", append(res.attrs(), "err", res.err.Error())...)
		rf = refuse(http.StatusInternalServerError, "server_error", "amlid could not issue the token; see the amlid server log")
	} else {
		reason := rf.reason
		if reason == "" {
			reason = rf.desc
		}
		h.log.Info("managed identity token request refused", append(res.attrs(), "status", rf.status, "reason", reason,
			"elapsed", h.now().Sub(start))...)
	}
	if rf.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", res.allow)
	}
	writeError(w, rf)
}

// outcome describes a failed request for the log.
type outcome struct {
	err      error
	form     string
	path     string // raw; attrs redacts it
	workload *workload.Workload
	allow    string
}

func (o *outcome) attrs() []any {
	a := []any{"form", o.form, "path", RedactPath(o.path)}
	if o.workload != nil {
		a = append(a, "workload", o.workload.Handle, "resource", o.workload.ResourceID)
	}
	return a
}

// serve handles one request; it returns nil once it has written a token.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) *outcome {
	out := &outcome{form: "unknown", path: r.URL.Path} // redacted when logged
	fail := func(err error) *outcome { out.err = err; return out }

	if !h.remote && !isLoopback(r.RemoteAddr) {
		return fail(errRemote)
	}
	rt, id, rerr := parsePath(r)
	if rerr != nil {
		return fail(rerr)
	}
	switch rt {
	case routeNone:
		return fail(errNotFound)
	case routeBareIMDS:
		out.form = "imds"
		return fail(errBareIMDS)
	}

	// Method, then authentication, per form.
	var wl *workload.Workload
	switch {
	case rt == routeIMDS:
		out.form = "imds"
		if r.Method != http.MethodGet {
			out.allow = http.MethodGet
			return fail(refuse(http.StatusMethodNotAllowed, "invalid_request", "The IMDS token endpoint only accepts GET"))
		}
		if rf := noSecretChecks(r); rf != nil {
			return fail(rf)
		}
		var ok bool
		if wl, ok = h.reg.ByID(id); !ok {
			return fail(errNoWorkload)
		}
	case r.Method == http.MethodGet:
		out.form = "secret-get"
		secret, present := secretHeader(r)
		if !present {
			return fail(h.unauthorized("no 'secret' or 'X-IDENTITY-HEADER' header"))
		}
		var ok bool
		if wl, ok = h.reg.Authenticate(id, secret); !ok {
			return fail(h.unauthorized("unknown workload or wrong secret"))
		}
	case r.Method == http.MethodPost:
		out.form = "cloudshell-post"
		if rf := noSecretChecks(r); rf != nil {
			return fail(rf)
		}
		var ok bool
		if wl, ok = h.reg.ByID(id); !ok {
			return fail(errNoWorkload)
		}
		// A secret is not needed here (az sends none), but a wrong one is
		// refused rather than ignored.
		if secret, present := secretHeader(r); present && !workload.SecretMatches(wl, secret) {
			return fail(h.unauthorized("wrong secret on POST"))
		}
	default:
		out.allow = "GET, POST"
		return fail(refuse(http.StatusMethodNotAllowed, "invalid_request", "The managed identity endpoint accepts GET (with the secret header) and POST (CloudShell form)"))
	}
	out.workload = wl

	params, perr := h.params(w, r)
	if perr != nil {
		return fail(perr)
	}
	resource, err := single(params, "resource")
	if err != nil {
		return fail(err)
	}
	if strings.TrimSpace(resource) == "" {
		return fail(errNoResource)
	}
	sel, err := selectors(params)
	if err != nil {
		return fail(err)
	}

	ids, err := h.reg.Identities(r.Context(), wl)
	if errors.Is(err, workload.ErrUnknownWorkload) { // ended meanwhile
		if out.form == "secret-get" {
			return fail(h.unauthorized("workload ended"))
		}
		return fail(errNoWorkload)
	}
	if err != nil {
		return fail(err)
	}
	p, rf := choose(wl, ids, sel)
	if rf != nil {
		return fail(rf)
	}
	if p.Disabled {
		return fail(badRequest("The managed identity %s (client ID %s) is disabled (rule ID-3)", p.ResourceID, p.AppID))
	}

	at, err := h.tokens.IssueAccessToken(r.Context(), p, resource)
	if err != nil {
		return fail(fmt.Errorf("issuing a token for identity %s, resource %q: %w", p.ObjectID, resource, err))
	}
	now := h.now()
	writeToken(w, at, resource, now)
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "managed identity token issued",
			slog.String("form", out.form), slog.String("workload", wl.Handle), slog.String("resource", wl.ResourceID),
			slog.String("oid", p.ObjectID), slog.String("client_id", p.AppID), slog.String("aud", at.Resource))
	}
	return nil
}

func (h *Handler) unauthorized(reason string) *refusal {
	rf := *errUnauthorize
	rf.reason = reason
	return &rf
}

// noSecretChecks are the IMDS protections every no-secret form needs.
func noSecretChecks(r *http.Request) *refusal {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Metadata")), "true") {
		return errMetadata
	}
	if _, fwd := r.Header["X-Forwarded-For"]; fwd {
		return errForwarded
	}
	return nil
}

// secretHeader returns the workload secret sent in "secret" (Azure ML) or
// "X-IDENTITY-HEADER" (App Service). present is true when either header is
// there, even empty. Two different values, or a header repeated with
// different values, give a value that matches nothing.
func secretHeader(r *http.Request) (secret string, present bool) {
	a, b := r.Header["Secret"], r.Header["X-Identity-Header"]
	switch {
	case len(a) == 0 && len(b) == 0:
		return "", false
	case len(a) == 0:
		a, b = b, nil
	}
	for _, v := range a[1:] {
		if v != a[0] {
			return "", true
		}
	}
	for _, v := range b {
		if v != a[0] {
			return "", true
		}
	}
	return a[0], true
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parsePath validates the raw request target and routes it. It works on
// the request target as received (RequestURI), not on the decoded path, so
// that %2F, %5C and friends never get a chance to be decoded into
// separators.
func parsePath(r *http.Request) (route, string, *refusal) {
	raw := r.RequestURI
	if raw == "" {
		raw = r.URL.RequestURI()
	}
	if !strings.HasPrefix(raw, "/") { // "*", absolute form (proxy requests)
		return routeNone, "", errBadPath
	}
	path, _, _ := strings.Cut(raw, "?")
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '-' || c == '_') {
			return routeNone, "", errBadPath // %, \, ., ;, NUL, …
		}
	}
	if strings.Contains(path, "//") {
		return routeNone, "", errBadPath
	}
	// The decoded path must be the raw one (it is, given the character
	// check; this guards against a future change of that check).
	if r.URL.Path != "" && r.URL.Path != path {
		return routeNone, "", errBadPath
	}
	if path == IMDSPath {
		return routeBareIMDS, "", nil
	}
	if !strings.HasPrefix(path, PathPrefix) {
		return routeNone, "", nil
	}
	rest := path[len(PathPrefix):]
	id, tail, _ := strings.Cut(rest, "/")
	if id == "" {
		return routeNone, "", errBadPath
	}
	switch "/" + tail {
	case TokenSuffix, TokenSuffix + "/":
		return routeToken, id, nil
	case IMDSPath:
		return routeIMDS, id, nil
	}
	return routeNone, "", nil
}

// params returns the query, plus the form body of a POST, refusing
// malformed encodings.
func (h *Handler) params(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("Malformed query string")
	}
	if r.Method != http.MethodPost {
		return q, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, badRequest("The POST body must be application/x-www-form-urlencoded (resource=…)")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, refuse(http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("Request body larger than %d bytes", h.maxBody))
		}
		return nil, badRequest("Could not read the request body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("Malformed form body")
	}
	for k, vs := range form {
		q[k] = append(q[k], vs...)
	}
	return q, nil
}

// single returns a parameter that must not be given twice with different
// values.
func single(p url.Values, key string) (string, error) {
	vs := p[key]
	if len(vs) == 0 {
		return "", nil
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return "", badRequest("Parameter %q is given more than once with different values", key)
		}
	}
	return vs[0], nil
}

// selector is one way of naming an identity.
type selector struct {
	param string // as sent
	kind  string // "client ID", "object ID", "resource ID"
	value string
}

var selectorParams = []struct{ param, kind string }{
	{"clientid", "client ID"}, {"client_id", "client ID"},
	{"object_id", "object ID"}, {"principal_id", "object ID"},
	{"msi_res_id", "resource ID"}, {"mi_res_id", "resource ID"},
}

func selectors(p url.Values) ([]selector, error) {
	var out []selector
	for _, sp := range selectorParams {
		v, err := single(p, sp.param)
		if err != nil {
			return nil, err
		}
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, selector{param: sp.param, kind: sp.kind, value: v})
		}
	}
	return out, nil
}

func (s selector) matches(p *directory.Principal) bool {
	switch s.kind {
	case "client ID":
		return p.AppID != "" && strings.EqualFold(p.AppID, s.value)
	case "object ID":
		return strings.EqualFold(p.ObjectID, s.value)
	default:
		return p.ResourceID != "" && strings.EqualFold(strings.TrimRight(p.ResourceID, "/"), strings.TrimRight(s.value, "/"))
	}
}

// choose picks the identity the request names, or the default (rule ID-3:
// only identities the resource holds).
func choose(wl *workload.Workload, ids []*directory.Principal, sel []selector) (*directory.Principal, *refusal) {
	if len(sel) == 0 {
		if len(ids) == 0 {
			return nil, badRequest("Identity not found: resource %s has no managed identity; assign one to the resource (rule ID-3)", wl.ResourceID)
		}
		if wl.DefaultClientID != "" { // chosen at launch (amlid run --client-id)
			for _, p := range ids {
				if strings.EqualFold(p.AppID, wl.DefaultClientID) {
					return p, nil
				}
			}
		}
		return ids[0], nil
	}
	var chosen *directory.Principal
	for _, s := range sel {
		var found *directory.Principal
		for _, p := range ids {
			if s.matches(p) {
				found = p
				break
			}
		}
		if found == nil {
			rf := badRequest("Identity not found: resource %s does not hold a managed identity with %s %s (%s); a workload gets tokens only for the identities of the resource it runs on: assign the identity to the resource or ask for one it holds (rule ID-3)",
				wl.ResourceID, s.kind, s.value, s.param)
			return nil, rf
		}
		if chosen != nil && chosen.ObjectID != found.ObjectID {
			return nil, badRequest("The identity selectors name different identities; pass only one of client_id, object_id, msi_res_id")
		}
		chosen = found
	}
	return chosen, nil
}

// writeToken writes the IMDS-shaped body every client accepts
// (client-protocols.md §1.3): epoch strings, resource as requested:
//
//	{"access_token","expires_on","expires_in","ext_expires_in","not_before",
//	 "resource","token_type","client_id"}
func writeToken(w http.ResponseWriter, at token.AccessToken, resource string, now time.Time) {
	tt := at.TokenType
	if tt == "" {
		tt = "Bearer"
	}
	in := int64(at.ExpiresIn(now))
	b := make([]byte, 0, len(at.Token)+len(resource)+256)
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, at.Token)
	b = append(b, `,"expires_on":"`...)
	b = strconv.AppendInt(b, at.ExpiresOn.Unix(), 10)
	b = append(b, `","expires_in":"`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `","ext_expires_in":"`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `","not_before":"`...)
	b = strconv.AppendInt(b, at.NotBefore.Unix(), 10)
	b = append(b, `","resource":`...)
	b = appendJSONString(b, resource)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, tt)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, at.ClientID)
	b = append(b, '}')
	hd := w.Header()
	hd["Content-Type"] = []string{"application/json; charset=utf-8"}
	hd["Cache-Control"] = []string{"no-store"}
	hd["Pragma"] = []string{"no-cache"}
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// appendJSONString appends s as a JSON string: directly when it is plain
// printable ASCII without quotes or backslashes (tokens, GUIDs, URLs),
// else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func writeError(w http.ResponseWriter, rf *refusal) {
	b, _ := json.Marshal(map[string]string{"error": rf.code, "error_description": rf.desc})
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(rf.status)
	_, _ = w.Write(b)
}
