package token

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// client is the authenticated (or public) client of a token request.
type client struct {
	appID string
	sp    *directory.Principal // nil for the well-known public clients
	acr   string               // appidacr: 0 public, 1 secret, 2 certificate
}

// authClient authenticates the client. With confidential, a secret or a
// certificate assertion is required; otherwise a public client ID (a
// well-known one or any registered application) is enough, and a secret
// or assertion, when sent, is still checked.
func (s *Service) authClient(ctx context.Context, tr *tokenReq, confidential bool) (*client, *oauthError) {
	assertion := tr.form.Get("client_assertion")
	if tr.clientID == "" {
		return nil, errMissing("client_id")
	}
	if tr.secret == "" && assertion == "" {
		if confidential {
			return nil, newErr(http.StatusUnauthorized, "invalid_client", 7000218,
				"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		if wellKnownPublicClients[strings.ToLower(tr.clientID)] != "" || s.extraPublic(tr.clientID) {
			return &client{appID: strings.ToLower(tr.clientID), acr: acrPublic}, nil
		}
	}
	sp, oe := s.findApp(ctx, tr)
	if oe != nil {
		return nil, oe
	}
	switch {
	case tr.secret != "":
		return s.checkSecret(sp, tr.secret)
	case assertion != "":
		if t := tr.form.Get("client_assertion_type"); t != clientAssertionType {
			return nil, newErr(http.StatusBadRequest, "invalid_request", 7000219,
				"'client_assertion_type' must be '%s' (got %q).", clientAssertionType, t)
		}
		return s.checkAssertion(sp, tr, assertion)
	}
	return &client{appID: sp.AppID, sp: sp, acr: acrPublic}, nil
}

func (s *Service) extraPublic(id string) bool {
	for _, c := range s.cfg.PublicClientIDs {
		if strings.EqualFold(c, id) {
			return true
		}
	}
	return false
}

// findApp finds the service principal of client_id.
func (s *Service) findApp(ctx context.Context, tr *tokenReq) (*directory.Principal, *oauthError) {
	where := tr.ref.ID
	if where == "" {
		where = tr.ref.Seg
	}
	sp, err := s.lookup(ctx, tr.ref, directory.IndexAppID, tr.clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errServer(err)
	}
	if sp == nil || sp.Type != directory.TypeServicePrincipal {
		return nil, errUnknownClient(tr.clientID, where)
	}
	if sp.Disabled {
		return nil, newErr(http.StatusBadRequest, "unauthorized_client", 7000112,
			"Application '%s'(%s) is disabled.", sp.AppID, sp.DisplayName)
	}
	return sp, nil
}

// checkSecret compares the secret with each of the application's secret
// credentials (salted SHA-256, so this stays cheap on every request).
func (s *Service) checkSecret(sp *directory.Principal, secret string) (*client, *oauthError) {
	now := s.now()
	var disabled, expired bool
	for _, c := range sp.Secrets {
		if !directory.CheckSecret(c.Hash, secret) {
			continue
		}
		switch {
		case c.Disabled:
			disabled = true
		case !c.StartTime.IsZero() && now.Before(c.StartTime.Add(-s.cfg.ClockSkew)):
			expired = true
		case !c.EndTime.IsZero() && !now.Before(c.EndTime):
			expired = true
		default:
			return &client{appID: sp.AppID, sp: sp, acr: acrSecret}, nil
		}
	}
	switch {
	case expired:
		return nil, newErr(http.StatusUnauthorized, "invalid_client", 7000222,
			"The provided client secret keys for app '%s' are expired or not yet valid. Create a new client secret for the app.", sp.AppID)
	case disabled:
		e := errBadSecret(sp.AppID)
		e.Desc += " The secret sent is disabled."
		return nil, e
	}
	return nil, errBadSecret(sp.AppID)
}

// assertionClaims are the claims of a client assertion.
type assertionClaims struct {
	jwt.Claims
}

// checkAssertion verifies a certificate-signed client assertion
// (private_key_jwt): x5t / x5t#S256 (or kid) names a registered
// certificate, the signature verifies with its key, aud is one of this
// tenant's token endpoints, iss = sub = client_id, and exp/nbf hold.
func (s *Service) checkAssertion(sp *directory.Principal, tr *tokenReq, assertion string) (*client, *oauthError) {
	bad := func(code int, format string, args ...any) (*client, *oauthError) {
		return nil, newErr(http.StatusUnauthorized, "invalid_client", code, format, args...)
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.RS384, jose.RS512, jose.PS384, jose.PS512})
	if err != nil || len(tok.Headers) != 1 {
		return bad(50027, "Client assertion is not a valid signed JWT (RS256 or PS256 with an x5t or x5t#S256 header).")
	}
	h := tok.Headers[0]
	var tp256, tp1 []byte
	if v, ok := h.ExtraHeaders["x5t#S256"].(string); ok {
		tp256 = decodeThumbprint(v)
	}
	if v, ok := h.ExtraHeaders["x5t"].(string); ok {
		tp1 = decodeThumbprint(v)
	}
	if tp1 == nil && h.KeyID != "" {
		if b, err := hex.DecodeString(h.KeyID); err == nil && len(b) == sha1.Size {
			tp1 = b
		}
	}
	if tp1 == nil && tp256 == nil {
		return bad(700027, "Client assertion has no x5t or x5t#S256 header naming the certificate of application '%s'.", sp.AppID)
	}
	var cred *directory.CertificateCredential
	var cert *x509.Certificate
	for i := range sp.Certificates {
		c := &sp.Certificates[i]
		x, err := parseCertPEM(c.CertPEM)
		if err != nil {
			continue
		}
		s1, s256 := sha1.Sum(x.Raw), sha256.Sum256(x.Raw)
		if (tp1 != nil && bytes.Equal(tp1, s1[:])) || (tp256 != nil && bytes.Equal(tp256, s256[:])) {
			cred, cert = c, x
			break
		}
	}
	if cred == nil {
		return bad(700027, "Client assertion failed signature validation: the key was not found. No certificate credential of application '%s' has the thumbprint in the assertion header.", sp.AppID)
	}
	now := s.now()
	switch {
	case cred.Disabled:
		return bad(700027, "The certificate credential %s of application '%s' is disabled.", cred.KeyID, sp.AppID)
	case !cred.EndTime.IsZero() && !now.Before(cred.EndTime):
		return bad(700027, "The certificate with identifier %s used to sign the client assertion is expired on application '%s'.", cred.KeyID, sp.AppID)
	case !cred.StartTime.IsZero() && now.Add(s.cfg.ClockSkew).Before(cred.StartTime):
		return bad(700027, "The certificate with identifier %s used to sign the client assertion is not yet valid on application '%s'.", cred.KeyID, sp.AppID)
	}
	var c assertionClaims
	if err := tok.Claims(cert.PublicKey, &c); err != nil {
		return bad(700027, "Client assertion contains an invalid signature. [Reason - The key used to sign it does not match the registered certificate %s of application '%s'.]", cred.KeyID, sp.AppID)
	}
	if c.Expiry == nil {
		return bad(50027, "Client assertion has no exp claim.")
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Time: now}, s.cfg.ClockSkew); err != nil {
		return bad(700024, "Client assertion is not within its valid time range (now %s, nbf %v, exp %v).",
			now.Format(time.RFC3339), timeOf(c.NotBefore), timeOf(c.Expiry))
	}
	if !strings.EqualFold(c.Issuer, sp.AppID) || !strings.EqualFold(c.Subject, sp.AppID) {
		return bad(50027, "Client assertion must have iss and sub equal to the client ID '%s' (got iss %q, sub %q).", sp.AppID, c.Issuer, c.Subject)
	}
	want := s.tokenEndpoints(tr)
	ok := false
	for _, a := range c.Audience {
		for _, w := range want {
			if strings.EqualFold(strings.TrimSuffix(a, "/"), w) {
				ok = true
			}
		}
	}
	if !ok {
		return bad(50027, "Client assertion audience %v does not match the token endpoint; expected %s.", []string(c.Audience), want[0])
	}
	return &client{appID: sp.AppID, sp: sp, acr: acrCert}, nil
}

// tokenEndpoints are the aud values accepted in a client assertion: the
// endpoint the request came to, and this tenant's v1/v2 endpoints under
// its ID and under the path segment used.
func (s *Service) tokenEndpoints(tr *tokenReq) []string {
	b := s.baseOf(tr.r)
	out := []string{b + tr.r.URL.Path}
	for _, seg := range []string{tr.ref.Seg, tr.ref.ID} {
		if seg != "" {
			out = append(out, b+"/"+seg+"/oauth2/v2.0/token", b+"/"+seg+"/oauth2/token")
		}
	}
	return out
}

func timeOf(d *jwt.NumericDate) any {
	if d == nil {
		return "none"
	}
	return d.Time().UTC().Format(time.RFC3339)
}

// decodeThumbprint accepts base64url or standard base64, padded or not
// (MSAL Go sends standard base64, the RFC says base64url).
func decodeThumbprint(v string) []byte {
	v = strings.TrimRight(v, "=")
	if b, err := base64.RawURLEncoding.DecodeString(v); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(v); err == nil {
		return b
	}
	return nil
}

func parseCertPEM(p string) (*x509.Certificate, error) {
	rest := []byte(p)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("no certificate in PEM")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}
