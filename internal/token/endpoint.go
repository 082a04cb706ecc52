package token

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// Grant types.
const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
	grantRefreshToken      = "refresh_token"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	grantDeviceCodeShort   = "device_code" // MSAL Go and ADAL send this form
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantAuthCode          = "authorization_code"

	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// tokenReq is one parsed token-endpoint request.
type tokenReq struct {
	r          *http.Request
	form       url.Values
	ref        tenantRef
	v2Endpoint bool
	grant      string
	clientID   string
	secret     string // client_secret (form or Basic); never logged
	corr       string
}

// tokenResult is what a grant produced.
type tokenResult struct {
	g       *grantCtx
	at      AccessToken
	cached  bool
	scope   scopeReq
	idToken string
	refresh string
	cinfo   string
}

func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, corr := requestIDs(w, r)
	tr := &tokenReq{r: r, v2Endpoint: strings.Contains(r.URL.Path, "/v2.0/"), corr: corr}
	res, oe := s.token(ctx, w, tr)
	if oe != nil {
		s.logRefusal(ctx, tr, oe)
		s.writeError(w, r, oe)
		return
	}
	s.log.LogAttrs(ctx, levelInfo, "token issued",
		attrGrant(tr.grant), attrTenant(res.g.tid), attrClient(res.g.appID), attrOID(res.g.principal.ObjectID),
		attrAud(res.g.aud), slog.String("ver", res.g.ver), attrCached(res.cached), attrCorrelation(corr))
	s.writeToken(w, res)
}

func (s *Service) logRefusal(ctx context.Context, tr *tokenReq, oe *oauthError) {
	attrs := []slog.Attr{attrGrant(tr.grant), attrTenant(tr.ref.Seg), attrClient(tr.clientID),
		slog.String("error", oe.Code), slog.Int("aadsts", oe.AADSTS), attrCorrelation(tr.corr)}
	if oe.cause != nil {
		attrs = append(attrs, slog.String("cause", oe.cause.Error()))
		s.log.LogAttrs(ctx, slog.LevelError, "token request failed", attrs...)
		return
	}
	s.log.LogAttrs(ctx, levelInfo, "token request refused", attrs...)
}

// parseForm reads the urlencoded body (at most 1 MiB).
func parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return newErr(http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'. (The body must be application/x-www-form-urlencoded, not %q.)", ct)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return newErr(http.StatusBadRequest, "invalid_request", 90014, "The request body is not a valid form: %v", err)
	}
	return nil
}

func (s *Service) token(ctx context.Context, w http.ResponseWriter, tr *tokenReq) (*tokenResult, *oauthError) {
	r := tr.r
	var oe *oauthError
	if tr.ref, oe = s.resolveTenant(ctx, r.PathValue("tenant")); oe != nil {
		return nil, oe
	}
	if oe := parseForm(w, r); oe != nil {
		return nil, oe
	}
	tr.form = r.PostForm
	tr.grant = tr.form.Get("grant_type")
	tr.clientID = strings.TrimSpace(tr.form.Get("client_id"))
	tr.secret = tr.form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok { // client_secret_basic
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
		if tr.clientID != "" && !strings.EqualFold(tr.clientID, u) {
			return nil, newErr(http.StatusBadRequest, "invalid_request", 90014, "client_id in the body and in the Authorization header differ.")
		}
		tr.clientID, tr.secret = u, p
	}
	if tr.grant == "" {
		return nil, errMissing("grant_type")
	}
	switch tr.grant {
	case grantClientCredentials:
		return s.grantClientCredentials(ctx, tr)
	case grantPassword:
		return s.grantPassword(ctx, tr)
	case grantRefreshToken:
		return s.grantRefresh(ctx, tr)
	case grantDeviceCode, grantDeviceCodeShort:
		return s.grantDevice(ctx, tr)
	case grantJWTBearer:
		return s.grantOBO(ctx, tr)
	case grantAuthCode:
		return s.grantAuthCode(ctx, tr)
	}
	return nil, newErr(http.StatusBadRequest, "unsupported_grant_type", 70003,
		"The app requested an unsupported grant type '%s'. amlid supports authorization_code, client_credentials, password, refresh_token, device_code and urn:ietf:params:oauth:grant-type:jwt-bearer (on-behalf-of).", tr.grant)
}

// scopeOf parses scope= or resource= following the endpoint version:
// the v2 endpoint takes scope only; the v1 and adfs endpoints take
// resource (v1 token) or scope (as MSAL sends to adfs; v2 token).
func (tr *tokenReq) scopeOf(fallbackScope, fallbackResource string) (scopeReq, *oauthError) {
	scope, resource := tr.form.Get("scope"), tr.form.Get("resource")
	if tr.v2Endpoint {
		if strings.TrimSpace(scope) == "" && resource != "" {
			return scopeReq{}, newErr(http.StatusBadRequest, "invalid_request", 901002,
				"The 'resource' request parameter is not supported on the v2.0 endpoint; send scope=<resource>/.default.")
		}
	} else if strings.TrimSpace(resource) != "" {
		return parseResource(resource)
	}
	if strings.TrimSpace(scope) == "" {
		switch {
		case fallbackResource != "":
			return parseResource(fallbackResource)
		case fallbackScope != "":
			scope = fallbackScope
		case !tr.v2Endpoint:
			return scopeReq{}, errMissing("resource")
		}
	}
	return parseScope(scope)
}

func (q scopeReq) version() string {
	if q.V1 {
		return verV1
	}
	return verV2
}

// grantClientCredentials: an application signs in as itself.
func (s *Service) grantClientCredentials(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	cl, oe := s.authClient(ctx, tr, true)
	if oe != nil {
		return nil, oe
	}
	q, oe := tr.scopeOf("", "")
	if oe != nil {
		return nil, oe
	}
	if !q.V1 && !q.isDefault() {
		return nil, newErr(http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", q.Raw)
	}
	if oe := s.checkResource(ctx, strings.ToLower(cl.sp.TenantID), q.Resource); oe != nil {
		return nil, oe
	}
	g := &grantCtx{tid: strings.ToLower(cl.sp.TenantID), principal: cl.sp, appID: cl.sp.AppID, appACR: cl.acr, aud: q.Resource, ver: q.version()}
	at, hit, err := s.access(ctx, g, true)
	if err != nil {
		return nil, errServer(err)
	}
	return &tokenResult{g: g, at: at, cached: hit, scope: q}, nil
}

// grantPassword: resource-owner password credentials (ROPC).
func (s *Service) grantPassword(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	cl, oe := s.authClient(ctx, tr, false)
	if oe != nil {
		return nil, oe
	}
	username, password := strings.TrimSpace(tr.form.Get("username")), tr.form.Get("password")
	if username == "" {
		return nil, errMissing("username")
	}
	if password == "" {
		return nil, errMissing("password")
	}
	q, oe := tr.scopeOf("", "")
	if oe != nil {
		return nil, oe
	}
	user, oe := s.authUser(ctx, tr.ref, username, password)
	if oe != nil {
		return nil, oe
	}
	return s.userTokens(ctx, cl, user, q, []string{"pwd"})
}

// authUser checks a user's password (ROPC and the device approval form).
func (s *Service) authUser(ctx context.Context, ref tenantRef, username, password string) (*directory.Principal, *oauthError) {
	user, err := s.lookup(ctx, ref, directory.IndexUPN, username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errServer(err)
	}
	if user == nil || user.Type != directory.TypeUser {
		where := ref.ID
		if where == "" {
			where = ref.Seg
		}
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50034,
			"The user account {EmailHidden} does not exist in the '%s' directory. To sign into this application, the account must be added to the directory.", where)
	}
	if user.Disabled {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50057,
			"The user account is disabled. The account has been disabled by an administrator.")
	}
	pw := user.Password
	if pw == nil || pw.Disabled || !directory.CheckSecret(pw.Hash, password) {
		return nil, errBadCredentials()
	}
	if !pw.EndTime.IsZero() && !s.now().Before(pw.EndTime) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50055, "The password is expired.")
	}
	return user, nil
}

// userTokens issues the access token, id_token, client_info and refresh
// token of a user flow.
func (s *Service) userTokens(ctx context.Context, cl *client, user *directory.Principal, q scopeReq, amr []string) (*tokenResult, *oauthError) {
	return s.userTokensNonce(ctx, cl, user, q, amr, "")
}

// userTokensNonce is userTokens with the OpenID Connect nonce the ID token
// echoes (authorization-code flow).
func (s *Service) userTokensNonce(ctx context.Context, cl *client, user *directory.Principal, q scopeReq, amr []string, nonce string) (*tokenResult, *oauthError) {
	tid := strings.ToLower(user.TenantID)
	if cl.sp != nil && !strings.EqualFold(cl.sp.TenantID, tid) {
		return nil, errUnknownClient(cl.appID, tid)
	}
	if oe := s.checkResource(ctx, tid, q.Resource); oe != nil {
		return nil, oe
	}
	g := &grantCtx{tid: tid, principal: user, appID: cl.appID, appACR: cl.acr, aud: q.Resource, scp: q.scp(), ver: q.version(), amr: amr, nonce: nonce}
	at, _, err := s.access(ctx, g, false)
	if err != nil {
		return nil, errServer(err)
	}
	res := &tokenResult{g: g, at: at, scope: q, cinfo: clientInfo(user.ObjectID, tid)}
	if res.idToken, err = s.mintIDToken(g, at.ExpiresOn.Sub(at.NotBefore)); err != nil {
		return nil, errServer(err)
	}
	if res.refresh, err = s.newRefreshToken(ctx, g); err != nil {
		return nil, errServer(err)
	}
	return res, nil
}

// grantRefresh redeems a refresh token for a new access token (any
// resource, like Entra's multi-resource refresh tokens).
func (s *Service) grantRefresh(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	cl, oe := s.authClient(ctx, tr, false)
	if oe != nil {
		return nil, oe
	}
	rt := tr.form.Get("refresh_token")
	if rt == "" {
		return nil, errMissing("refresh_token")
	}
	q, oe := tr.scopeOf("", "")
	if oe != nil {
		return nil, oe
	}
	rec, oe := s.redeemRefresh(ctx, rt)
	if oe != nil {
		return nil, oe
	}
	if !strings.EqualFold(rec.ClientID, cl.appID) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed: the refresh token was issued to client '%s', not '%s'.", rec.ClientID, cl.appID)
	}
	if tr.ref.ID != "" && tr.ref.ID != rec.TID {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token was issued in tenant '%s' and cannot be redeemed in tenant '%s' (rule ID-4).", rec.TID, tr.ref.ID)
	}
	user, oe := s.refreshUser(ctx, rec)
	if oe != nil {
		return nil, oe
	}
	return s.userTokens(ctx, cl, user, q, rec.AMR)
}

// grantOBO is the on-behalf-of flow: a middle-tier API trades the user's
// token for its own (assertion, aud = the API) for a token to another
// resource, still for the same user.
func (s *Service) grantOBO(ctx context.Context, tr *tokenReq) (*tokenResult, *oauthError) {
	if use := tr.form.Get("requested_token_use"); use != "on_behalf_of" {
		return nil, newErr(http.StatusBadRequest, "invalid_request", 50059,
			"The jwt-bearer grant needs requested_token_use=on_behalf_of (got %q); amlid implements only the on-behalf-of flow for this grant.", use)
	}
	cl, oe := s.authClient(ctx, tr, true)
	if oe != nil {
		return nil, oe
	}
	assertion := tr.form.Get("assertion")
	if assertion == "" {
		return nil, errMissing("assertion")
	}
	q, oe := tr.scopeOf("", "")
	if oe != nil {
		return nil, oe
	}
	c, err := s.Verify(ctx, assertion, cl.appID, "api://"+cl.appID)
	if err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			return nil, newErr(http.StatusBadRequest, "invalid_grant", 50013,
				"Assertion failed validation (check %s): %s The assertion must be a user's access token whose audience is this application ('%s' or 'api://%s').", ve.Check, ve.Msg, cl.appID, cl.appID)
		}
		return nil, errServer(err)
	}
	if c.IDType != "user" || c.Principal == nil || c.Principal.Type != directory.TypeUser {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50013,
			"Assertion is not a user token; the on-behalf-of flow needs a token issued to a user.")
	}
	if !strings.EqualFold(c.TenantID, cl.sp.TenantID) || (tr.ref.ID != "" && tr.ref.ID != c.TenantID) {
		return nil, newErr(http.StatusBadRequest, "invalid_grant", 50013,
			"Assertion was issued in tenant '%s', but the application is in tenant '%s' (rule ID-4).", c.TenantID, cl.sp.TenantID)
	}
	return s.userTokens(ctx, cl, c.Principal, q, []string{"pwd"})
}

// writeToken writes the success body (v2 shape, plus the v1 fields for
// resource= requests).
func (s *Service) writeToken(w http.ResponseWriter, res *tokenResult) {
	now := s.now()
	in := res.at.ExpiresIn(now)
	body := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     in,
		"ext_expires_in": in,
		"access_token":   res.at.Token,
	}
	if res.scope.V1 {
		body["expires_on"] = strconv.FormatInt(res.at.ExpiresOn.Unix(), 10)
		body["not_before"] = strconv.FormatInt(res.at.NotBefore.Unix(), 10)
		body["resource"] = res.scope.Resource
		if res.g.isUser() {
			body["scope"] = res.g.scp
		}
	} else {
		body["scope"] = res.scope.Raw
	}
	if res.refresh != "" {
		body["refresh_token"] = res.refresh
	}
	if res.idToken != "" {
		body["id_token"] = res.idToken
	}
	if res.cinfo != "" {
		body["client_info"] = res.cinfo
	}
	writeJSON(w, http.StatusOK, body)
}
