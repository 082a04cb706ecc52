package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// KindKey holds the registry token signing key (one record). Registry
// tokens are amlid's own JWTs (ES256), as ACR's are its own: no client
// verifies them, only the registry does.
const KindKey = "registry.key"

// Token lifetimes: ACR refresh tokens last 3 hours, access tokens 75
// minutes.
const (
	RefreshLifetime = 3 * time.Hour
	AccessLifetime  = 75 * time.Minute
	tokenIssuer     = "Azure Container Registry"
	// EmptyGUID is the user name docker and az use with a refresh token.
	EmptyGUID = "00000000-0000-0000-0000-000000000000"
)

type signer struct {
	kid  string
	priv *ecdsa.PrivateKey
	sig  jose.Signer
}

type keyRec struct {
	KID   string `json:"kid"`
	PKCS8 []byte `json:"pkcs8"`
}

func loadSigner(ctx context.Context, st store.Store) (*signer, error) {
	for try := 0; try < 3; try++ {
		rec, err := st.Get(ctx, KindKey, "es256")
		if err == nil {
			var kr keyRec
			if err := json.Unmarshal(rec.Value, &kr); err != nil {
				return nil, err
			}
			k, err := x509.ParsePKCS8PrivateKey(kr.PKCS8)
			if err != nil {
				return nil, err
			}
			ec, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("stored key is %T, not ECDSA", k)
			}
			return newSigner(kr.KID, ec)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(keyRec{KID: uuid.NewString(), PKCS8: der})
		if _, err := store.Create(ctx, st, store.Record{Kind: KindKey, Key: "es256", Value: b}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return nil, err
		}
	}
	return nil, errors.New("could not load or create the key")
}

func newSigner(kid string, k *ecdsa.PrivateKey) (*signer, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, err
	}
	return &signer{kid: kid, priv: k, sig: sig}, nil
}

// Grant is one entry of an access token's "access" claim (the docker
// token format).
type Grant struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// claims are the registry token claims. Refresh tokens name a principal
// (or the admin user) and carry no permissions: RBAC decides when they
// are turned into access tokens. Access tokens carry the granted access.
type claims struct {
	jwt.Claims
	Kind     string  `json:"grant_type"` // refresh_token | access_token
	Tenant   string  `json:"tenant,omitempty"`
	ObjectID string  `json:"oid,omitempty"`
	AppID    string  `json:"appid,omitempty"`
	Registry string  `json:"rid"` // lower-cased registry resource ID
	Admin    bool    `json:"adm,omitempty"`
	Access   []Grant `json:"access,omitempty"`
	Version  string  `json:"version"`
}

func (s *signer) sign(c claims) (string, error) {
	return jwt.Signed(s.sig).Claims(c).Serialize()
}

// tokenError says why a registry token was refused.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }

// verify checks a registry token: our signature, the kind, expiry, and
// that it was issued for this registry (audience = login server, rid =
// resource ID): a token of another registry is refused.
func (s *signer) verify(raw, kind string, reg *registryView, now time.Time) (*claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, &tokenError{"the token is not a registry token amlid issued (malformed)"}
	}
	var c claims
	if err := tok.Claims(&s.priv.PublicKey, &c); err != nil {
		return nil, &tokenError{"the token's signature does not verify: it was not issued by this amlid"}
	}
	if c.Kind != kind {
		return nil, &tokenError{fmt.Sprintf("a %s was given where a %s is needed", strings.ReplaceAll(c.Kind, "_", " "), strings.ReplaceAll(kind, "_", " "))}
	}
	if !c.Audience.Contains(reg.LoginServer) || c.Registry != reg.Key {
		return nil, &tokenError{fmt.Sprintf("the token was issued for registry %v, not %s (rule ID-2: a token is valid for one audience)", []string(c.Audience), reg.LoginServer)}
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Time: now}, time.Minute); err != nil {
		return nil, &tokenError{"the token has expired or is not yet valid (" + err.Error() + "); get a new one (amlid acr login)"}
	}
	return &c, nil
}
