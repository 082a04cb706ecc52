package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Checks named by VerifyError.Check.
const (
	CheckMalformed   = "malformed"
	CheckAlgorithm   = "algorithm"
	CheckKID         = "kid"
	CheckSignature   = "signature"
	CheckIssuer      = "issuer"
	CheckAudience    = "audience"
	CheckExpired     = "expired"
	CheckNotYetValid = "not_yet_valid"
	CheckTenant      = "tenant"
	CheckPrincipal   = "principal"
)

// VerifyError says which check refused a token. Data planes turn it into
// their own 401 body (ARM InvalidAuthenticationToken, Storage
// InvalidAuthenticationInfo, …).
type VerifyError struct {
	Check string
	Msg   string
}

func (e *VerifyError) Error() string { return "token: " + e.Check + ": " + e.Msg }

func verr(check, format string, args ...any) error {
	return &VerifyError{Check: check, Msg: fmt.Sprintf(format, args...)}
}

// Claims are a verified access token's claims.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  string // the audience that matched
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
	// TenantID is the tid claim. Callers compare it with the tenant of the
	// resource they guard (rule ID-4), or use VerifyForTenant.
	TenantID          string
	ObjectID          string // oid
	AppID             string // appid (= azp)
	AppIDACR          string // 0 public client, 1 secret, 2 certificate
	IDType            string // "app" or "user"
	Version           string // "1.0" or "2.0"
	UTI               string
	UPN               string
	PreferredUsername string
	Name              string
	Scope             string // scp (user tokens)
	Roles             []string
	Groups            []string // object IDs, transitive
	MIResourceID      string   // xms_mirid (managed identities)
	// Principal is the directory object behind oid, as loaded by Verify.
	Principal *directory.Principal
}

// IsUser reports a user (delegated) token.
func (c *Claims) IsUser() bool { return c.IDType == "user" }

// wireClaims is the JSON shape of amlid's access tokens.
type wireClaims struct {
	Iss               string           `json:"iss"`
	Sub               string           `json:"sub"`
	Aud               jwt.Audience     `json:"aud"`
	Exp               *jwt.NumericDate `json:"exp"`
	Nbf               *jwt.NumericDate `json:"nbf"`
	Iat               *jwt.NumericDate `json:"iat"`
	Tid               string           `json:"tid"`
	Oid               string           `json:"oid"`
	AppID             string           `json:"appid"`
	Azp               string           `json:"azp"`
	AppIDACR          string           `json:"appidacr"`
	IDTyp             string           `json:"idtyp"`
	Ver               string           `json:"ver"`
	UTI               string           `json:"uti"`
	UPN               string           `json:"upn"`
	PreferredUsername string           `json:"preferred_username"`
	Name              string           `json:"name"`
	Scp               string           `json:"scp"`
	Roles             []string         `json:"roles"`
	Groups            []string         `json:"groups"`
	MIRID             string           `json:"xms_mirid"`
}

// Verify checks an access token: RS256 only, a known and still-valid
// kid, the signature, an issuer amlid issues for the token's tid, one of
// the given audiences (exact, tolerant of one trailing slash), exp/nbf
// within the clock skew, the tenant exists, and the principal (oid) still
// exists, belongs to that tenant and is not disabled. A refusal is a
// *VerifyError naming the check; other errors are store failures.
func (s *Service) Verify(ctx context.Context, raw string, audiences ...string) (*Claims, error) {
	raw = strings.TrimSpace(raw)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, verr(CheckMalformed, "not a compact JWS (three base64url parts)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, verr(CheckMalformed, "header is not base64url: %v", err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, verr(CheckMalformed, "header is not JSON: %v", err)
	}
	if hdr.Alg != string(jose.RS256) {
		return nil, verr(CheckAlgorithm, "algorithm %q is not allowed; amlid signs and accepts RS256 only", hdr.Alg)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, verr(CheckMalformed, "%v", err)
	}
	if len(tok.Headers) != 1 {
		return nil, verr(CheckMalformed, "want one signature")
	}
	now := s.now()
	kid := tok.Headers[0].KeyID
	key := s.keys.verifying(ctx, kid, now)
	if key == nil {
		return nil, verr(CheckKID, "signing key %q is unknown or retired beyond its overlap; get a new token", kid)
	}
	var wc wireClaims
	if err := tok.Claims(key.pub, &wc); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, verr(CheckSignature, "signature does not verify with key %q", kid)
		}
		return nil, verr(CheckMalformed, "claims: %v", err)
	}
	tid := strings.ToLower(wc.Tid)
	if tid == "" || (wc.Iss != s.issuerV2(tid) && wc.Iss != s.issuerV1(tid)) {
		return nil, verr(CheckIssuer, "issuer %q is not amlid's for tenant %q (want %s or %s)", wc.Iss, wc.Tid, s.issuerV2(tid), s.issuerV1(tid))
	}
	var matched string
	for _, want := range audiences {
		for _, got := range wc.Aud {
			if audEqual(got, want) {
				matched = got
			}
		}
	}
	if matched == "" {
		if len(audiences) == 0 {
			return nil, verr(CheckAudience, "the verifier was given no audience to accept")
		}
		return nil, verr(CheckAudience, "audience %v is not %s", []string(wc.Aud), strings.Join(audiences, " or "))
	}
	skew := s.cfg.ClockSkew
	if wc.Exp == nil {
		return nil, verr(CheckMalformed, "no exp claim")
	}
	if exp := wc.Exp.Time(); !now.Before(exp.Add(skew)) {
		return nil, verr(CheckExpired, "token expired at %s (now %s)", exp.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if wc.Nbf != nil {
		if nbf := wc.Nbf.Time(); now.Add(skew).Before(nbf) {
			return nil, verr(CheckNotYetValid, "token is not valid before %s (now %s)", nbf.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
		}
	}
	if _, err := s.dir.Tenant(ctx, tid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, verr(CheckTenant, "tenant %s does not exist", tid)
		}
		return nil, err
	}
	p, err := s.dir.Principal(ctx, wc.Oid)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && wc.Oid == ""):
		return nil, verr(CheckPrincipal, "principal %q no longer exists", wc.Oid)
	case err != nil:
		return nil, err
	case !strings.EqualFold(p.TenantID, tid):
		return nil, verr(CheckPrincipal, "principal %s belongs to tenant %s, not %s", p.ObjectID, p.TenantID, tid)
	case p.Disabled:
		return nil, verr(CheckPrincipal, "principal %s is disabled", p.ObjectID)
	}
	c := &Claims{
		Issuer: wc.Iss, Subject: wc.Sub, Audience: matched,
		ExpiresAt: wc.Exp.Time().UTC(), TenantID: tid, ObjectID: strings.ToLower(wc.Oid),
		AppID: wc.AppID, AppIDACR: wc.AppIDACR, IDType: wc.IDTyp, Version: wc.Ver, UTI: wc.UTI,
		UPN: wc.UPN, PreferredUsername: wc.PreferredUsername, Name: wc.Name, Scope: wc.Scp,
		Roles: wc.Roles, Groups: wc.Groups, MIResourceID: wc.MIRID, Principal: p,
	}
	if c.AppID == "" {
		c.AppID = wc.Azp
	}
	if wc.Iat != nil {
		c.IssuedAt = wc.Iat.Time().UTC()
	}
	if wc.Nbf != nil {
		c.NotBefore = wc.Nbf.Time().UTC()
	}
	return c, nil
}

// VerifyForTenant is Verify plus rule ID-4: the token's tenant must be
// tenantID (the tenant of the resource being accessed).
func (s *Service) VerifyForTenant(ctx context.Context, raw, tenantID string, audiences ...string) (*Claims, error) {
	c, err := s.Verify(ctx, raw, audiences...)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(c.TenantID, tenantID) {
		return nil, verr(CheckTenant, "token is from tenant %s, but the resource belongs to tenant %s (rule ID-4: cross-tenant access is refused)", c.TenantID, tenantID)
	}
	return c, nil
}

// audEqual compares audiences exactly, tolerating one trailing slash.
func audEqual(a, b string) bool {
	return a == b || a+"/" == b || a == b+"/"
}

// BearerToken returns the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
