package token

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// The OAuth 2.0 authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636)
// and OpenID Connect's nonce, as MSAL's interactive flows and web apps use it:
//
//	GET  /{t}/oauth2[/v2.0]/authorize?client_id&redirect_uri&response_type=code&scope&state&nonce&code_challenge(S256)
//	     → a sign-in form for the directory's users (consent-free: every app
//	       of the tenant is first-party)
//	POST the same URL with login, passwd and the form's CSRF token
//	     → 302 redirect_uri?code=…&state=… (or an auto-posting form for response_mode=form_post)
//	POST /{t}/oauth2[/v2.0]/token grant_type=authorization_code&code&redirect_uri&code_verifier
//	     → access, ID (with the nonce) and refresh tokens
//
// A client ID or redirect URI that is unknown gets an error page, never a
// redirect (the URI might be an attacker's). Codes live 10 minutes, are
// stored only as SHA-256 and are redeemed once.

// DefaultAuthCodeLifetime is how long an authorization code may be redeemed.
const DefaultAuthCodeLifetime = 10 * time.Minute

const authorizeCSRFCookie = "amlid_authorize_csrf"

// authCodeRecord is a pending authorization code (KindAuthCode).
type authCodeRecord struct {
	TID         string    `json:"tid"`
	OID         string    `json:"oid"`
	ClientID    string    `json:"clientId"`
	RedirectURI string    `json:"redirectUri"`
	Scope       string    `json:"scope,omitempty"`
	Resource    string    `json:"resource,omitempty"`
	Challenge   string    `json:"codeChallenge"`
	Nonce       string    `json:"nonce,omitempty"`
	AMR         []string  `json:"amr,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// authzReq is a parsed /authorize request.
type authzReq struct {
	ref          tenantRef
	clientID     string
	appName      string
	sp           *directory.Principal // nil for a well-known public client
	redirectURI  string
	responseMode string
	state        string
	q            url.Values
}

// authzPageError is shown on the page (no redirect: the client or its
// redirect URI is not trusted).
type authzPageError struct {
	status int
	e      *oauthError
}

// parseAuthorize checks the client and redirect URI (errors shown on the
// page), then the rest (errors sent to the redirect URI).
func (s *Service) parseAuthorize(ctx context.Context, r *http.Request) (*authzReq, *authzPageError, *oauthError) {
	q := r.URL.Query()
	ar := &authzReq{q: q, state: q.Get("state")}
	var oe *oauthError
	if ar.ref, oe = s.resolveTenant(ctx, r.PathValue("tenant")); oe != nil {
		return nil, &authzPageError{http.StatusBadRequest, oe}, nil
	}
	ar.clientID = strings.ToLower(strings.TrimSpace(q.Get("client_id")))
	if ar.clientID == "" {
		return nil, &authzPageError{http.StatusBadRequest, newErr(http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")}, nil
	}
	var registered []string
	if name := wellKnownPublicClients[ar.clientID]; name != "" || s.extraPublic(ar.clientID) {
		// Microsoft's public clients sign in through a loopback listener.
		ar.appName = name
		registered = []string{"http://localhost", "http://localhost/", "http://127.0.0.1", "http://127.0.0.1/"}
	} else {
		where := ar.ref.ID
		if where == "" {
			where = ar.ref.Seg
		}
		sp, err := s.lookup(ctx, ar.ref, directory.IndexAppID, ar.clientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, &authzPageError{http.StatusInternalServerError, errServer(err)}, nil
		}
		if sp == nil || sp.Type != directory.TypeServicePrincipal || sp.IsManagedIdentity() {
			return nil, &authzPageError{http.StatusBadRequest, errUnknownClient(ar.clientID, where)}, nil
		}
		if sp.Disabled {
			return nil, &authzPageError{http.StatusBadRequest, newErr(http.StatusBadRequest, "unauthorized_client", 7000112,
				"Application '%s'(%s) is disabled.", sp.AppID, sp.DisplayName)}, nil
		}
		ar.sp, ar.appName, registered = sp, sp.DisplayName, sp.RedirectURIs
	}
	ar.redirectURI = q.Get("redirect_uri")
	if ar.redirectURI == "" && len(registered) == 1 && ar.sp != nil {
		ar.redirectURI = registered[0]
	}
	if ar.redirectURI == "" {
		return nil, &authzPageError{http.StatusBadRequest, errMissing("redirect_uri")}, nil
	}
	if !directory.MatchRedirectURI(registered, ar.redirectURI) {
		return nil, &authzPageError{http.StatusBadRequest, newErr(http.StatusBadRequest, "invalid_request", 50011,
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application (az ad app update --id %s --web-redirect-uris …).",
			ar.redirectURI, ar.clientID, ar.clientID)}, nil
	}
	// From here on errors go back to the (registered) redirect URI.
	ar.responseMode = strings.ToLower(q.Get("response_mode"))
	switch ar.responseMode {
	case "":
		ar.responseMode = "query"
	case "query", "form_post", "fragment":
	default:
		ar.responseMode = "query"
		return ar, nil, newErr(http.StatusBadRequest, "invalid_request", 900144, "response_mode '%s' is not supported: use query, fragment or form_post.", q.Get("response_mode"))
	}
	if rt := q.Get("response_type"); rt != "code" {
		return ar, nil, newErr(http.StatusBadRequest, "unsupported_response_type", 900144,
			"The provided value for the input parameter 'response_type' is not allowed for this request: '%s'. amlid supports response_type=code (with PKCE).", rt)
	}
	if q.Get("code_challenge") == "" {
		return ar, nil, newErr(http.StatusBadRequest, "invalid_request", 9002325,
			"Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256.")
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		return ar, nil, newErr(http.StatusBadRequest, "invalid_request", 9002325,
			"code_challenge_method must be S256 (got %q): amlid does not accept the plain method.", m)
	}
	if len(q.Get("code_challenge")) < 43 || len(q.Get("code_challenge")) > 128 {
		return ar, nil, newErr(http.StatusBadRequest, "invalid_request", 9002325, "code_challenge must be the 43-character base64url SHA-256 of the code verifier.")
	}
	if strings.Contains(r.URL.Path, "/v2.0/") {
		if strings.TrimSpace(q.Get("scope")) == "" {
			return ar, nil, errMissing("scope")
		}
		if _, oe := parseScope(q.Get("scope")); oe != nil {
			return ar, nil, oe
		}
	}
	if strings.EqualFold(q.Get("prompt"), "none") {
		return ar, nil, newErr(http.StatusBadRequest, "login_required", 50058,
			"A silent sign-in request was sent but no user is signed in: amlid keeps no browser session at the authorize endpoint. Send the request without prompt=none.")
	}
	return ar, nil, nil
}

// redirectError sends an OAuth error to the client's redirect URI.
func (s *Service) redirectError(w http.ResponseWriter, r *http.Request, ar *authzReq, oe *oauthError) {
	s.respond(w, r, ar, url.Values{"error": {oe.Code}, "error_description": {"AADSTS" + itoa(oe.AADSTS) + ": " + oe.Desc}})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// respond delivers params to the redirect URI in the request's response mode.
func (s *Service) respond(w http.ResponseWriter, r *http.Request, ar *authzReq, params url.Values) {
	if ar.state != "" {
		params.Set("state", ar.state)
	}
	noStore(w)
	switch ar.responseMode {
	case "form_post":
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = formPostPage.Execute(w, map[string]any{"Action": ar.redirectURI, "Params": params})
		return
	case "fragment":
		http.Redirect(w, r, ar.redirectURI+"#"+params.Encode(), http.StatusFound)
		return
	}
	u, _ := url.Parse(ar.redirectURI)
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// handleAuthorize serves the sign-in form (GET) and checks it (POST).
func (s *Service) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, corr := requestIDs(w, r)
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.writeError(w, r, newErr(http.StatusMethodNotAllowed, "invalid_request", 900144, "Use GET (or POST the sign-in form)."))
		return
	}
	ar, pe, oe := s.parseAuthorize(ctx, r)
	if pe != nil {
		s.log.LogAttrs(ctx, levelInfo, "authorize request refused", attrTenant(r.PathValue("tenant")), attrClient(r.URL.Query().Get("client_id")),
			attrGrant(grantAuthCode), attrCorrelation(corr))
		s.errorPage(w, pe.status, pe.e)
		return
	}
	if oe != nil {
		s.redirectError(w, r, ar, oe)
		return
	}
	if r.Method == http.MethodGet {
		s.loginPage(w, r, ar, "", http.StatusOK)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.loginPage(w, r, ar, "The form could not be read.", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(authorizeCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.loginPage(w, r, ar, "The sign-in form expired or was not sent by this page. Sign in again.", http.StatusBadRequest)
		return
	}
	user, oe := s.authUser(ctx, ar.ref, strings.TrimSpace(r.PostForm.Get("login")), r.PostForm.Get("passwd"))
	if oe != nil {
		if oe.Status >= 500 {
			s.errorPage(w, oe.Status, oe)
			return
		}
		s.log.LogAttrs(ctx, levelInfo, "interactive sign-in refused", attrTenant(ar.ref.Seg), attrClient(ar.clientID), slog.Int("aadsts", oe.AADSTS), attrCorrelation(corr))
		s.loginPage(w, r, ar, "AADSTS"+itoa(oe.AADSTS)+": "+oe.Desc, http.StatusOK)
		return
	}
	if ar.sp != nil && !strings.EqualFold(ar.sp.TenantID, user.TenantID) {
		s.redirectError(w, r, ar, errUnknownClient(ar.clientID, user.TenantID))
		return
	}
	now := s.now()
	code := "0.A" + randomToken(48)
	rec := authCodeRecord{TID: strings.ToLower(user.TenantID), OID: user.ObjectID, ClientID: ar.clientID, RedirectURI: ar.redirectURI,
		Scope: ar.q.Get("scope"), Resource: ar.q.Get("resource"), Challenge: ar.q.Get("code_challenge"), Nonce: ar.q.Get("nonce"),
		AMR: []string{"pwd"}, Created: now, Expires: now.Add(DefaultAuthCodeLifetime)}
	b, _ := json.Marshal(rec)
	if _, err := store.Create(ctx, s.st, store.Record{Kind: KindAuthCode, Key: tokenKey(code), Parent: user.ObjectID, Value: b}); err != nil {
		s.errorPage(w, http.StatusInternalServerError, errServer(err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: authorizeCSRFCookie, Value: "", Path: r.URL.Path, MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.log.LogAttrs(ctx, levelInfo, "authorization code issued", attrTenant(rec.TID), attrClient(ar.clientID), attrOID(user.ObjectID), attrCorrelation(corr))
	s.respond(w, r, ar, url.Values{"code": {code}, "session_state": {randomToken(16)}})
}

// loginPage renders the sign-in form; its CSRF token is a double-submit
// cookie scoped to the authorize path.
func (s *Service) loginPage(w http.ResponseWriter, r *http.Request, ar *authzReq, msg string, status int) {
	csrf := randomToken(24)
	http.SetCookie(w, &http.Cookie{Name: authorizeCSRFCookie, Value: csrf, Path: r.URL.Path, MaxAge: 900,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	app := ar.appName
	if app == "" {
		app = ar.clientID
	}
	_ = loginTmpl.Execute(w, map[string]any{
		"Action": r.URL.Path + "?" + r.URL.RawQuery, "App": app, "ClientID": ar.clientID, "CSRF": csrf,
		"Login": firstNonEmpty(r.PostFormValue("login"), ar.q.Get("login_hint")), "Error": msg, "Host": s.base,
	})
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// errorPage shows an error the user can act on (no redirect).
func (s *Service) errorPage(w http.ResponseWriter, status int, e *oauthError) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, map[string]any{"Code": e.Code, "AADSTS": e.AADSTS, "Desc": e.Desc})
}

// grantAuthCode redeems an authorization code (once), checking the client,
// the redirect URI and the PKCE verifier.
func (s *Service) grantAuthCode(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	cl, oe := s.authClient(ctx, tr, false)
	if oe != nil {
		return nil, oe
	}
	code := tr.form.Get("code")
	if code == "" {
		return nil, errMissing("code")
	}
	rec, oe := s.takeAuthCode(ctx, code)
	if oe != nil {
		return nil, oe
	}
	if !strings.EqualFold(rec.ClientID, cl.appID) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the authorization code was issued to client '%s', not '%s'.", rec.ClientID, cl.appID)
	}
	if ru := tr.form.Get("redirect_uri"); ru != rec.RedirectURI {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50148,
			"The redirect_uri '%s' differs from the one the authorization code was issued for ('%s').", ru, rec.RedirectURI)
	}
	verifier := tr.form.Get("code_verifier")
	if verifier == "" {
		return nil, errMissing("code_verifier")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(rec.Challenge)) != 1 {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 501481,
			"The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	if tr.ref.ID != "" && tr.ref.ID != rec.TID {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 700082,
			"The authorization code was issued in tenant '%s' and cannot be redeemed in tenant '%s' (rule ID-4).", rec.TID, tr.ref.ID)
	}
	q, oe := tr.scopeOf(rec.Scope, rec.Resource)
	if oe != nil {
		return nil, oe
	}
	user, err := s.dir.Principal(ctx, rec.OID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && user.Disabled) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50057, "The user account was deleted or disabled after the code was issued.")
	}
	if err != nil {
		return nil, errServer(err)
	}
	return s.userTokensNonce(ctx, cl, user, q, rec.AMR, rec.Nonce)
}

// takeAuthCode deletes and returns a code's record (single use).
func (s *Service) takeAuthCode(ctx context.Context, code string) (authCodeRecord, *oauthError) {
	var rec authCodeRecord
	gone := newErr(http.StatusBadRequest, "invalid_grant", 70008,
		"The provided authorization code is unknown, expired or already redeemed. Send a new interactive authorization request for this user and resource.")
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		r, err := tx.Get(ctx, KindAuthCode, tokenKey(code))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return err
		}
		return tx.Delete(ctx, KindAuthCode, r.Key, r.ETag)
	})
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return rec, gone
	}
	if err != nil {
		return rec, errServer(err)
	}
	if !s.now().Before(rec.Expires) {
		return rec, gone
	}
	return rec, nil
}

// AuthCodeRedemption is what an in-process web app sends to redeem a code
// (the same checks as the token endpoint's authorization_code grant).
type AuthCodeRedemption struct {
	Tenant       string // tenant segment: an ID, a domain or an alias
	ClientID     string
	ClientSecret string // optional (a confidential client)
	RedirectURI  string
	Code         string
	CodeVerifier string
	Scope        string // optional: defaults to the authorize request's
}

// SignIn is a redeemed code: the tokens and who signed in.
type SignIn struct {
	IDToken     string
	AccessToken string
	ExpiresOn   time.Time
	ObjectID    string
	TenantID    string
	UPN         string
	Name        string
	// Nonce is the nonce of the authorize request, as the ID token carries it.
	Nonce string
}

// RedeemAuthCode redeems an authorization code in process, as a web app
// hosted by amlid does.
func (s *Service) RedeemAuthCode(ctx context.Context, p AuthCodeRedemption) (*SignIn, error) {
	form := url.Values{"grant_type": {grantAuthCode}, "client_id": {p.ClientID}, "redirect_uri": {p.RedirectURI},
		"code": {p.Code}, "code_verifier": {p.CodeVerifier}}
	if p.Scope != "" {
		form.Set("scope", p.Scope)
	}
	if p.ClientSecret != "" {
		form.Set("client_secret", p.ClientSecret)
	}
	tr := &tokenReq{form: form, v2Endpoint: true, grant: grantAuthCode, clientID: p.ClientID, secret: p.ClientSecret}
	var oe *oauthError
	if tr.ref, oe = s.resolveTenant(ctx, p.Tenant); oe != nil {
		return nil, oe
	}
	res, oe := s.grantAuthCode(ctx, tr)
	if oe != nil {
		return nil, oe
	}
	u := res.g.principal
	return &SignIn{IDToken: res.idToken, AccessToken: res.at.Token, ExpiresOn: res.at.ExpiresOn, ObjectID: u.ObjectID,
		TenantID: res.g.tid, UPN: u.UPN, Name: u.DisplayName, Nonce: res.g.nonce}, nil
}

// ErrorCode returns the OAuth error code and AADSTS number of an error from
// RedeemAuthCode ("" when it is not an OAuth error).
func ErrorCode(err error) (string, int) {
	var oe *oauthError
	if errors.As(err, &oe) {
		return oe.Code, oe.AADSTS
	}
	return "", 0
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to {{.App}} · amlid</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
form{background:#fff;padding:2rem 2.2rem;border-radius:6px;box-shadow:0 2px 10px rgba(0,0,0,.12);width:22rem}
h1{font-size:1.35rem;margin:.2rem 0 .3rem}p.app{color:#4b5563;margin:0 0 1.2rem;font-size:.9rem}
label{display:block;font-size:.85rem;color:#374151;margin:.8rem 0 .2rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #9ca3af;border-radius:3px;font-size:1rem}
button{margin-top:1.3rem;width:100%;padding:.6rem;background:#0f6cbd;color:#fff;border:0;border-radius:3px;font-size:1rem;cursor:pointer}
.err{background:#fde8e8;color:#9b1c1c;padding:.6rem;border-radius:3px;font-size:.85rem;margin-bottom:.6rem}
small{display:block;color:#6b7280;margin-top:1rem}
</style></head><body>
<form method="post" action="{{.Action}}" autocomplete="on">
<h1>Sign in</h1>
<p class="app">to <b>{{.App}}</b> with your amlid account</p>
{{if .Error}}<div class="err" id="error" role="alert">{{.Error}}</div>{{end}}
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="login">User principal name</label>
<input type="text" id="login" name="login" value="{{.Login}}" autocomplete="username" required autofocus>
<label for="passwd">Password</label>
<input type="password" id="passwd" name="passwd" autocomplete="current-password" required>
<button type="submit" id="signin">Sign in</button>
<small>amlid Entra at {{.Host}} · application {{.ClientID}}</small>
</form></body></html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error · amlid</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem auto;max-width:42rem;color:#111}code{background:#f3f4f6;padding:.1rem .3rem}</style></head>
<body><h1>Sorry, amlid cannot sign you in</h1><p id="error"><code>{{.Code}}</code> AADSTS{{.AADSTS}}: {{.Desc}}</p></body></html>
`))

var formPostPage = template.Must(template.New("formpost").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Working…</title></head><body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<noscript><button type="submit">Continue</button></noscript></form></body></html>
`))
