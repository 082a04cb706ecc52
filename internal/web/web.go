// Package web is amlid's page of identities and access (issue 22): a
// signed-in user sees, for the scopes they may read, which principals hold
// which roles where, and which workloads act as which identity and whether
// each access the analyzer requires of it is met — with the rule and the fix.
//
// The page keeps no rule of its own: its data is what internal/access
// computes (Analyzer, WhoCanIndex), filtered by what the signed-in principal
// may read (RBAC "…/read" on each scope, Microsoft.Authorization/
// roleAssignments/read for assignments).
//
// Sign-in is amlid's own Entra: the page is a registered first-party app that
// uses the authorization-code flow with PKCE, state and nonce. Sessions are
// server-side records named by a random cookie (HttpOnly, Secure,
// SameSite=Lax, path /amlid/web); the one state-changing request, sign-out,
// also needs the session's CSRF token and a same-origin Origin.
//
// Routes (all under /amlid/web):
//
//	GET  /                 the page, or the sign-in page without a session
//	GET  /login            starts a sign-in (302 to /{tenant}/oauth2/v2.0/authorize)
//	GET  /callback         the redirect URI: redeems the code, opens a session
//	POST /logout           ends the session (CSRF token in X-CSRF-Token or the form)
//	GET  /api/graph        the page's data (JSON)
//	GET  /api/who-can      ?scope=&action=[&dataAction=true]: who may, through which assignment
//	GET  /api/events       server-sent events: "change" when RBAC state or resources change
//	GET  /assets/…         the embedded script and style sheet
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Prefix is where the page lives on the front door.
const Prefix = "/amlid/web"

// KindSession holds signed-in sessions, keyed by the SHA-256 of the cookie.
const KindSession = "web.session"

// Cookie names.
const (
	SessionCookie = "amlid_web_session"
	loginCookie   = "amlid_web_login"
)

// DefaultSessionLifetime is how long a session lasts without signing in again.
const DefaultSessionLifetime = 8 * time.Hour

// Config configures the page.
type Config struct {
	BaseURL   string // https://127.0.0.1:8443, no trailing slash
	TenantID  string // the tenant users sign in to
	ClientID  string // the page's app registration (a first-party app)
	Tokens    *token.Service
	Directory *directory.Directory
	Authz     *authorization.Service
	Store     store.Store
	Logger    *slog.Logger
	// SessionLifetime: zero means DefaultSessionLifetime.
	SessionLifetime time.Duration
	// PollInterval is how often /api/events looks for changes (default 1s).
	PollInterval time.Duration
	// Stopping, when closed, ends the event streams (the server is shutting
	// down: an open page must not hold the drain).
	Stopping <-chan struct{}
}

// Handler serves the page.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	key    []byte // signs the pending-login cookie
	assets http.Handler
}

//go:embed assets
var assetFS embed.FS

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sub, _ := fs.Sub(assetFS, "assets")
	return &Handler{cfg: cfg, log: cfg.Logger.With("component", "web"), key: key,
		assets: http.StripPrefix(Prefix+"/assets/", http.FileServer(http.FS(sub)))}
}

// RedirectURI is the page's registered redirect URI for a front door.
func RedirectURI(base string) string { return strings.TrimRight(base, "/") + Prefix + "/callback" }

// URL is the page's address for a front door.
func URL(base string) string { return strings.TrimRight(base, "/") + Prefix + "/" }

// OwnsPath reports whether a front-door path belongs to the page.
func OwnsPath(p string) bool {
	l := strings.ToLower(p)
	return l == Prefix || strings.HasPrefix(l, Prefix+"/")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub := strings.TrimPrefix(r.URL.Path, Prefix)
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	switch {
	case strings.HasPrefix(sub, "/assets/") && r.Method == http.MethodGet:
		hd.Set("Cache-Control", "no-cache")
		h.assets.ServeHTTP(w, r)
		return
	case sub == "" && r.Method == http.MethodGet:
		http.Redirect(w, r, Prefix+"/", http.StatusFound)
		return
	case sub == "/login" && r.Method == http.MethodGet:
		h.login(w, r)
		return
	case sub == "/callback" && r.Method == http.MethodGet:
		h.callback(w, r)
		return
	}
	sess, err := h.session(r)
	if err != nil && !errors.Is(err, errNoSession) {
		h.log.Error("session lookup failed", "err", err)
		apiError(w, http.StatusInternalServerError, "InternalServerError", "amlid could not read the session.")
		return
	}
	if sess == nil {
		h.clearSession(w)
		if strings.HasPrefix(sub, "/api/") || r.Method != http.MethodGet {
			apiError(w, http.StatusUnauthorized, "AuthenticationFailed", "Sign in first: the session cookie is missing, unknown or expired (GET "+Prefix+"/login).")
			return
		}
		h.signInPage(w, r, r.URL.Query().Get("error"))
		return
	}
	switch {
	case sub == "/" && r.Method == http.MethodGet:
		h.page(w, sess)
	case sub == "/logout" && r.Method == http.MethodPost:
		h.logout(w, r, sess)
	case sub == "/api/graph" && r.Method == http.MethodGet:
		h.serveGraph(w, r, sess)
	case sub == "/api/who-can" && r.Method == http.MethodGet:
		h.serveWhoCan(w, r, sess)
	case sub == "/api/events" && r.Method == http.MethodGet:
		h.serveEvents(w, r, sess)
	default:
		apiError(w, http.StatusNotFound, "NotFound", "The page serves nothing at "+r.Method+" "+r.URL.Path+".")
	}
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// session is a signed-in user.
type session struct {
	key       string
	ObjectID  string    `json:"oid"`
	TenantID  string    `json:"tid"`
	UPN       string    `json:"upn"`
	Name      string    `json:"name"`
	CSRF      string    `json:"csrf"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"-"`
}

var errNoSession = errors.New("no session")

func hashKey(v string) string {
	s := sha256.Sum256([]byte(v))
	return hex.EncodeToString(s[:])
}

// session finds the request's session: a cookie that names no stored,
// unexpired session (forged, expired, signed out) is no session.
func (h *Handler) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 128 {
		return nil, errNoSession
	}
	k := hashKey(c.Value)
	rec, err := h.cfg.Store.Get(r.Context(), KindSession, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	var s session
	if err := json.Unmarshal(rec.Value, &s); err != nil {
		return nil, errNoSession
	}
	s.key = k
	if !time.Now().Before(s.Expires) {
		_ = store.Delete(r.Context(), h.cfg.Store, KindSession, k, "")
		return nil, errNoSession
	}
	// The user may have been deleted or disabled since.
	p, err := h.cfg.Directory.Principal(r.Context(), s.ObjectID)
	if err != nil || p.Disabled {
		_ = store.Delete(r.Context(), h.cfg.Store, KindSession, k, "")
		return nil, errNoSession
	}
	return &s, nil
}

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearSession(w http.ResponseWriter) {
	if _, ok := w.Header()["Set-Cookie"]; !ok {
		h.setCookie(w, SessionCookie, "", -1)
	}
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// pending is a sign-in in progress, kept in a signed cookie.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

func (h *Handler) seal(p pending) string {
	b, _ := json.Marshal(p)
	m := hmac.New(sha256.New, h.key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) unseal(v string) (pending, bool) {
	var p pending
	body, sig, ok := strings.Cut(v, ".")
	if !ok {
		return p, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	s, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return p, false
	}
	m := hmac.New(sha256.New, h.key)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), s) || json.Unmarshal(b, &p) != nil || time.Now().Unix() > p.Expires {
		return p, false
	}
	return p, true
}

// login starts the authorization-code flow.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	p := pending{State: random(24), Nonce: random(24), Verifier: random(48), Expires: time.Now().Add(10 * time.Minute).Unix()}
	h.setCookie(w, loginCookie, h.seal(p), 600)
	sum := sha256.Sum256([]byte(p.Verifier))
	q := url.Values{
		"client_id": {h.cfg.ClientID}, "response_type": {"code"}, "redirect_uri": {RedirectURI(h.cfg.BaseURL)},
		"scope": {"openid profile offline_access"}, "state": {p.State}, "nonce": {p.Nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "response_mode": {"query"},
	}
	if hint := r.URL.Query().Get("login_hint"); hint != "" {
		q.Set("login_hint", hint)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, h.cfg.BaseURL+"/"+h.cfg.TenantID+"/oauth2/v2.0/authorize?"+q.Encode(), http.StatusFound)
}

// callback redeems the code, checks state and nonce and opens a session.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(msg string) {
		h.setCookie(w, loginCookie, "", -1)
		w.Header().Set("Cache-Control", "no-store")
		h.signInPage(w, r, msg)
	}
	if e := q.Get("error"); e != "" {
		fail("Sign-in failed: " + e + ": " + q.Get("error_description"))
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		fail("Sign-in failed: this browser did not start it (no sign-in cookie). Start again.")
		return
	}
	p, ok := h.unseal(c.Value)
	if !ok || subtle.ConstantTimeCompare([]byte(p.State), []byte(q.Get("state"))) != 1 {
		fail("Sign-in failed: the state does not match the sign-in this browser started. Start again.")
		return
	}
	si, err := h.cfg.Tokens.RedeemAuthCode(r.Context(), token.AuthCodeRedemption{Tenant: h.cfg.TenantID, ClientID: h.cfg.ClientID,
		RedirectURI: RedirectURI(h.cfg.BaseURL), Code: q.Get("code"), CodeVerifier: p.Verifier})
	if err != nil {
		if code, _ := token.ErrorCode(err); code == "" {
			h.log.Error("redeeming the authorization code failed", "err", err)
		}
		fail("Sign-in failed: " + err.Error())
		return
	}
	if subtle.ConstantTimeCompare([]byte(si.Nonce), []byte(p.Nonce)) != 1 {
		fail("Sign-in failed: the ID token's nonce does not match this sign-in.")
		return
	}
	now := time.Now().UTC()
	raw := random(32)
	s := session{ObjectID: si.ObjectID, TenantID: si.TenantID, UPN: si.UPN, Name: si.Name, CSRF: random(24), Created: now, Expires: now.Add(h.cfg.SessionLifetime)}
	b, _ := json.Marshal(s)
	if _, err := store.Create(r.Context(), h.cfg.Store, store.Record{Kind: KindSession, Key: hashKey(raw), Parent: strings.ToLower(si.ObjectID), Value: b}); err != nil {
		h.log.Error("saving the session failed", "err", err)
		fail("Sign-in failed: amlid could not save the session.")
		return
	}
	h.setCookie(w, loginCookie, "", -1)
	h.setCookie(w, SessionCookie, raw, int(h.cfg.SessionLifetime/time.Second))
	h.log.Info("web sign-in", "oid", si.ObjectID, "tenant", si.TenantID)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, Prefix+"/", http.StatusFound)
}

// logout ends the session: CSRF token and same-origin Origin required.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if o := r.Header.Get("Origin"); o != "" && o != h.cfg.BaseURL {
		apiError(w, http.StatusForbidden, "CrossOriginRequest", "Sign-out must come from the page itself (Origin "+o+" is not "+h.cfg.BaseURL+").")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
		apiError(w, http.StatusForbidden, "InvalidCsrfToken", "The sign-out request lacks the page's CSRF token.")
		return
	}
	_ = store.Delete(r.Context(), h.cfg.Store, KindSession, s.key, "")
	h.setCookie(w, SessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/?signedout=1", http.StatusSeeOther)
}

var signInTmpl = template.Must(template.ParseFS(assetFS, "assets/signin.html"))
var pageTmpl = template.Must(template.ParseFS(assetFS, "assets/index.html"))

func (h *Handler) signInPage(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if msg != "" {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_ = signInTmpl.Execute(w, map[string]any{"Error": msg, "SignedOut": r.URL.Query().Get("signedout") != "", "Base": h.cfg.BaseURL})
}

func (h *Handler) page(w http.ResponseWriter, s *session) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	name := s.Name
	if name == "" {
		name = s.UPN
	}
	_ = pageTmpl.Execute(w, map[string]any{"Name": name, "UPN": s.UPN, "OID": s.ObjectID, "CSRF": s.CSRF})
}

// SweepSessions deletes expired sessions.
func (h *Handler) SweepSessions(ctx context.Context) error {
	recs, err := h.cfg.Store.List(ctx, KindSession, store.ListOptions{})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, r := range recs {
		var s session
		if json.Unmarshal(r.Value, &s) == nil && !now.Before(s.Expires) {
			_ = store.Delete(ctx, h.cfg.Store, KindSession, r.Key, r.ETag)
		}
	}
	return nil
}
