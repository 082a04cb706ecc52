package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Token versions.
const (
	verV1 = "1.0"
	verV2 = "2.0"
)

// appidacr values: how the client authenticated.
const (
	acrPublic = "0"
	acrSecret = "1"
	acrCert   = "2"
)

// AccessToken is an issued access token.
type AccessToken struct {
	Token     string
	ExpiresOn time.Time
	NotBefore time.Time
	// Resource is the token's audience.
	Resource string
	// ClientID is the appid claim (for a managed identity its client ID).
	ClientID  string
	TokenType string // "Bearer"
}

// ExpiresIn is the remaining lifetime in whole seconds at now.
func (t AccessToken) ExpiresIn(now time.Time) int {
	return max(int(t.ExpiresOn.Sub(now)/time.Second), 0)
}

// grantCtx is everything a token's claims depend on.
type grantCtx struct {
	tid       string
	principal *directory.Principal // user, service principal or managed identity
	appID     string               // the client the token is issued to (appid/azp)
	appACR    string
	aud       string
	scp       string // user tokens only
	ver       string
	amr       []string
	nonce     string // OpenID Connect nonce echoed in the ID token
}

func (g *grantCtx) isUser() bool { return g.principal.Type == directory.TypeUser }

func (g *grantCtx) cacheKey() string {
	return strings.Join([]string{g.tid, g.principal.ObjectID, g.appID, g.appACR, g.aud, g.ver, g.scp}, "\x00")
}

func (s *Service) issuer(tid, ver string) string {
	if ver == verV1 {
		return s.issuerV1(tid)
	}
	return s.issuerV2(tid)
}

func (s *Service) lifetime() time.Duration {
	if s.cfg.TokenLifetime > 0 {
		return s.cfg.TokenLifetime
	}
	return minLifetime + time.Duration(mrand.Int64N(int64(maxLifetime-minLifetime)+1))
}

func newUTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pairwiseSub is the per-application subject Entra gives users.
func pairwiseSub(oid, appID string) string {
	h := sha256.Sum256([]byte(strings.ToLower(oid) + "|" + strings.ToLower(appID)))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// sign serialises claims with the active key.
func (s *Service) sign(claims map[string]any) (string, error) {
	k, err := s.keys.signing()
	if err != nil {
		return "", err
	}
	return jwt.Signed(k.signer).Claims(claims).Serialize()
}

// mintAccess builds and signs an access token (no cache).
func (s *Service) mintAccess(ctx context.Context, g *grantCtx) (AccessToken, error) {
	now := s.now()
	exp := now.Add(s.lifetime())
	p := g.principal
	uti := newUTI()
	c := map[string]any{
		"aud":      g.aud,
		"iss":      s.issuer(g.tid, g.ver),
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      exp.Unix(),
		"tid":      g.tid,
		"oid":      p.ObjectID,
		"appid":    g.appID,
		"azp":      g.appID,
		"appidacr": g.appACR,
		"ver":      g.ver,
		"uti":      uti,
		"jti":      uti,
	}
	if g.isUser() {
		c["idtyp"] = "user"
		c["sub"] = pairwiseSub(p.ObjectID, g.appID)
		c["upn"] = p.UPN
		c["unique_name"] = p.UPN
		c["preferred_username"] = p.UPN
		c["name"] = p.DisplayName
		c["scp"] = g.scp
		if len(g.amr) > 0 {
			c["amr"] = g.amr
		}
	} else {
		c["idtyp"] = "app"
		c["sub"] = p.ObjectID
		if p.IsManagedIdentity() && p.ResourceID != "" {
			c["xms_mirid"] = p.ResourceID
		}
	}
	groups, err := s.dir.GroupsOf(ctx, g.tid, p.ObjectID)
	if err != nil {
		return AccessToken{}, err
	}
	if len(groups) > 0 {
		c["groups"] = groups
	}
	raw, err := s.sign(c)
	if err != nil {
		return AccessToken{}, err
	}
	return AccessToken{Token: raw, ExpiresOn: time.Unix(exp.Unix(), 0).UTC(), NotBefore: time.Unix(now.Unix(), 0).UTC(),
		Resource: g.aud, ClientID: g.appID, TokenType: "Bearer"}, nil
}

// access returns a cached token when allowed, else mints one.
func (s *Service) access(ctx context.Context, g *grantCtx, cacheable bool) (AccessToken, bool, error) {
	if !cacheable || s.cfg.DisableTokenCache {
		t, err := s.mintAccess(ctx, g)
		return t, false, err
	}
	key := g.cacheKey()
	if t, ok := s.cache.get(key, s.now()); ok {
		return t, true, nil
	}
	t, err := s.mintAccess(ctx, g)
	if err != nil {
		return t, false, err
	}
	s.cache.put(key, t, s.now())
	return t, false, nil
}

// mintIDToken builds the id_token for a user flow.
func (s *Service) mintIDToken(g *grantCtx, lifetime time.Duration) (string, error) {
	now := s.now()
	p := g.principal
	c := map[string]any{
		"aud":                g.appID,
		"iss":                s.issuer(g.tid, g.ver),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(lifetime).Unix(),
		"tid":                g.tid,
		"oid":                p.ObjectID,
		"sub":                pairwiseSub(p.ObjectID, g.appID),
		"preferred_username": p.UPN,
		"upn":                p.UPN,
		"unique_name":        p.UPN,
		"name":               p.DisplayName,
		"ver":                g.ver,
		"uti":                newUTI(),
	}
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	if len(g.amr) > 0 {
		c["amr"] = g.amr
	}
	return s.sign(c)
}

// clientInfo is MSAL's home-account blob: unpadded base64url JSON.
func clientInfo(oid, tid string) string {
	b, _ := json.Marshal(map[string]string{"uid": oid, "utid": tid})
	return base64.RawURLEncoding.EncodeToString(b)
}

// IssueAccessToken issues a v1 (resource-form) access token for a managed
// identity (or any service principal) and resource, as the managed-identity
// endpoints need. resource may carry "/.default", which is stripped. The
// same token is returned from a cache per (principal, resource) until 5
// minutes before it expires, like Entra's managed-identity endpoints.
// The caller has already decided that the workload may use p (rule ID-3).
func (s *Service) IssueAccessToken(ctx context.Context, p *directory.Principal, resource string) (AccessToken, error) {
	if p == nil {
		return AccessToken{}, errors.New("token: IssueAccessToken: nil principal")
	}
	if p.Type == directory.TypeUser || p.Type == directory.TypeGroup {
		return AccessToken{}, fmt.Errorf("token: IssueAccessToken: principal %s is a %s, not a service principal", p.ObjectID, p.Type)
	}
	if p.Disabled {
		return AccessToken{}, fmt.Errorf("token: principal %s is disabled", p.ObjectID)
	}
	resource = strings.TrimSuffix(strings.TrimSpace(resource), "/.default")
	if resource == "" {
		return AccessToken{}, errors.New("token: IssueAccessToken: empty resource")
	}
	tid := strings.ToLower(p.TenantID)
	if _, err := s.dir.Tenant(ctx, tid); err != nil {
		return AccessToken{}, fmt.Errorf("token: tenant %s of principal %s: %w", tid, p.ObjectID, err)
	}
	acr := acrCert // Entra's managed-identity tokens carry appidacr 2
	g := &grantCtx{tid: tid, principal: p, appID: p.AppID, appACR: acr, aud: resource, ver: verV1}
	t, hit, err := s.access(ctx, g, true)
	if err != nil {
		return t, err
	}
	s.log.LogAttrs(ctx, levelInfo, "access token issued",
		attrGrant("managed_identity"), attrTenant(tid), attrOID(p.ObjectID), attrClient(p.AppID), attrAud(resource), attrCached(hit))
	return t, nil
}

// tokenCache is the per-(principal, client, audience) cache.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]AccessToken
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[string]AccessToken{}} }

func (c *tokenCache) get(key string, now time.Time) (AccessToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	if !ok || t.ExpiresOn.Sub(now) <= cacheMargin {
		return AccessToken{}, false
	}
	return t, true
}

func (c *tokenCache) put(key string, t AccessToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 10000 {
		c.sweepLocked(now)
	}
	c.m[key] = t
}

func (c *tokenCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
}

func (c *tokenCache) sweepLocked(now time.Time) {
	for k, t := range c.m {
		if t.ExpiresOn.Sub(now) <= cacheMargin {
			delete(c.m, k)
		}
	}
}

// dropPrincipal forgets cached tokens of one principal.
func (c *tokenCache) dropPrincipal(oid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if strings.Contains(k, "\x00"+oid+"\x00") {
			delete(c.m, k)
		}
	}
}

// InvalidateCache forgets the cached tokens of a principal (call it when a
// managed identity or service principal is deleted or its credentials or
// group memberships change; Verify refuses a deleted or disabled
// principal's tokens regardless).
func (s *Service) InvalidateCache(objectID string) { s.cache.dropPrincipal(strings.ToLower(objectID)) }

// IssueOnBehalfOf issues a v1 access token for a user to resource, as Azure
// ML does for a job submitted with user identity (DS-5): the job carries the
// submitting user's identity for its lifetime, and code inside it gets the
// user's token (AzureMLOnBehalfOfCredential). appID is the application the
// token is issued to. The caller has already decided the job may act for p.
func (s *Service) IssueOnBehalfOf(ctx context.Context, p *directory.Principal, appID, resource string) (AccessToken, error) {
	if p == nil || p.Type != directory.TypeUser {
		return AccessToken{}, errors.New("token: IssueOnBehalfOf: not a user")
	}
	if p.Disabled {
		return AccessToken{}, fmt.Errorf("token: principal %s is disabled", p.ObjectID)
	}
	resource = strings.TrimSuffix(strings.TrimSpace(resource), "/.default")
	if resource == "" {
		return AccessToken{}, errors.New("token: IssueOnBehalfOf: empty resource")
	}
	g := &grantCtx{tid: strings.ToLower(p.TenantID), principal: p, appID: appID, appACR: acrSecret, aud: resource, scp: "user_impersonation", ver: verV1, amr: []string{"pwd"}}
	t, _, err := s.access(ctx, g, true)
	return t, err
}
