package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/go-jose/go-jose/v4"
)

// keyRecord is the stored form of a signing key (KindKey, key = kid).
// The private key is kept in the record for now; an HSM/KMS-backed signer
// would keep only a handle here.
type keyRecord struct {
	KID        string    `json:"kid"`
	Alg        string    `json:"alg"`
	PrivateKey string    `json:"privateKeyPem"` // PKCS#8
	CertPEM    string    `json:"certPem"`       // self-signed, published as x5c like Entra
	Created    time.Time `json:"created"`
	// RetiredAt is when another key took over signing; zero while active.
	RetiredAt time.Time `json:"retiredAt,omitzero"`
	// ExpiresAt is when the key stops verifying: RetiredAt + the longest
	// token lifetime + clock skew. Zero while active.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// signingKey is a loaded key.
type signingKey struct {
	rec    keyRecord
	pub    *rsa.PublicKey
	signer jose.Signer
	jwk    jose.JSONWebKey // public, with x5c/x5t
}

// keyring holds the keys in memory, reloading from the store when its
// revision moves (another process may have rotated).
type keyring struct {
	s *Service

	mu     sync.RWMutex
	active *signingKey
	byKID  map[string]*signingKey
	rev    int64 // store revision at the last reload
}

// overlap is how long a retired key keeps verifying.
func (s *Service) overlap() time.Duration {
	lt := s.cfg.TokenLifetime
	if lt <= 0 {
		lt = maxLifetime
	}
	return lt + s.cfg.ClockSkew
}

// ensure loads the keys and makes one when there is no active key.
func (k *keyring) ensure(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	k.mu.RLock()
	ok := k.active != nil
	k.mu.RUnlock()
	if ok {
		return nil
	}
	return k.rotate(ctx, false)
}

// reload reads every key record and rebuilds the in-memory view.
func (k *keyring) reload(ctx context.Context) error {
	rev, err := k.s.st.Revision(ctx)
	if err != nil {
		return err
	}
	recs, err := k.s.st.List(ctx, KindKey, store.ListOptions{})
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	by := make(map[string]*signingKey, len(recs))
	var active *signingKey
	for _, r := range recs {
		var kr keyRecord
		if err := json.Unmarshal(r.Value, &kr); err != nil {
			return fmt.Errorf("token: corrupt signing key record %q: %w", r.Key, err)
		}
		sk := k.byKID[kr.KID]
		if sk == nil || sk.rec.PrivateKey != kr.PrivateKey {
			if sk, err = loadKey(kr); err != nil {
				return fmt.Errorf("token: signing key %q: %w", kr.KID, err)
			}
		} else {
			cp := *sk
			cp.rec = kr
			sk = &cp
		}
		by[kr.KID] = sk
		if kr.RetiredAt.IsZero() && (active == nil || kr.Created.After(active.rec.Created)) {
			active = sk
		}
	}
	k.byKID, k.active, k.rev = by, active, rev
	return nil
}

// reloadIfChanged reloads when the store's revision moved (another
// process may have rotated). An unknown kid costs one Revision call.
func (k *keyring) reloadIfChanged(ctx context.Context) {
	k.mu.RLock()
	rev := k.rev
	k.mu.RUnlock()
	if cur, err := k.s.st.Revision(ctx); err == nil && cur != rev {
		_ = k.reload(ctx)
	}
}

// rotate makes a new signing key and retires the active one (which keeps
// verifying for the overlap). With onlyIfDue it rotates only when the
// active key is older than the rotation period (checked inside the
// transaction, so concurrent processes rotate once).
func (k *keyring) rotate(ctx context.Context, onlyIfDue bool) error {
	now := k.s.now()
	nk, err := newKeyRecord(now)
	if err != nil {
		return err
	}
	rotated := false
	err = k.s.st.Tx(ctx, func(tx store.Tx) error {
		rotated = false
		recs, err := tx.List(ctx, KindKey, store.ListOptions{})
		if err != nil {
			return err
		}
		var actives []keyRecord
		var etags []string
		for _, r := range recs {
			var kr keyRecord
			if err := json.Unmarshal(r.Value, &kr); err != nil {
				return err
			}
			if kr.RetiredAt.IsZero() {
				actives = append(actives, kr)
				etags = append(etags, r.ETag)
			}
		}
		if onlyIfDue {
			for _, a := range actives {
				if now.Sub(a.Created) < k.s.cfg.RotationPeriod {
					return nil // someone rotated already
				}
			}
		}
		for i, a := range actives {
			a.RetiredAt = now
			a.ExpiresAt = now.Add(k.s.overlap())
			b, _ := json.Marshal(a)
			if _, err := tx.Put(ctx, store.Record{Kind: KindKey, Key: a.KID, Value: b}, etags[i]); err != nil {
				return err
			}
		}
		b, _ := json.Marshal(nk)
		if _, err := tx.Create(ctx, store.Record{Kind: KindKey, Key: nk.KID, Value: b}); err != nil {
			return err
		}
		rotated = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("token: rotating the signing key: %w", err)
	}
	if rotated {
		k.s.log.Info("signing key rotated", "kid", nk.KID, "old_keys_verify_for", k.s.overlap().String())
	}
	return k.reload(ctx)
}

// maybeRotate rotates when the active key is due and prunes expired keys.
func (k *keyring) maybeRotate(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	now := k.s.now()
	k.mu.RLock()
	active := k.active
	var expired []string
	for kid, sk := range k.byKID {
		if !sk.rec.ExpiresAt.IsZero() && !now.Before(sk.rec.ExpiresAt) {
			expired = append(expired, kid)
		}
	}
	k.mu.RUnlock()
	for _, kid := range expired {
		if err := store.Delete(ctx, k.s.st, KindKey, kid, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if p := k.s.cfg.RotationPeriod; p > 0 && (active == nil || now.Sub(active.rec.Created) >= p) {
		return k.rotate(ctx, active != nil)
	}
	if len(expired) > 0 {
		return k.reload(ctx)
	}
	return nil
}

// signing returns the active key.
func (k *keyring) signing() (*signingKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.active == nil {
		return nil, errors.New("token: no active signing key")
	}
	return k.active, nil
}

// verifying returns the key for kid if it still verifies at now.
func (k *keyring) verifying(ctx context.Context, kid string, now time.Time) *signingKey {
	get := func() *signingKey {
		k.mu.RLock()
		defer k.mu.RUnlock()
		sk := k.byKID[kid]
		if sk == nil || (!sk.rec.ExpiresAt.IsZero() && !now.Before(sk.rec.ExpiresAt)) {
			return nil
		}
		return sk
	}
	if sk := get(); sk != nil {
		return sk
	}
	k.reloadIfChanged(ctx)
	return get()
}

// published returns the public keys that still verify, newest first.
func (k *keyring) published(now time.Time) []jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var ks []*signingKey
	for _, sk := range k.byKID {
		if sk.rec.ExpiresAt.IsZero() || now.Before(sk.rec.ExpiresAt) {
			ks = append(ks, sk)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].rec.Created.After(ks[j].rec.Created) })
	out := make([]jose.JSONWebKey, len(ks))
	for i, sk := range ks {
		out[i] = sk.jwk
	}
	return out
}

// newKeyRecord generates an RSA-2048 key with a self-signed certificate.
func newKeyRecord(now time.Time) (keyRecord, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return keyRecord{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keyRecord{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(uint64(now.UnixNano())),
		Subject:      pkix.Name{CommonName: "amlid token signing"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return keyRecord{}, err
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return keyRecord{}, err
	}
	return keyRecord{
		KID:        base64.RawURLEncoding.EncodeToString(tp),
		Alg:        string(jose.RS256),
		PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		CertPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})),
		Created:    now,
	}, nil
}

func loadKey(kr keyRecord) (*signingKey, error) {
	if kr.Alg != string(jose.RS256) {
		return nil, fmt.Errorf("unsupported algorithm %q", kr.Alg)
	}
	blk, _ := pem.Decode([]byte(kr.PrivateKey))
	if blk == nil {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	priv.Precompute()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kr.KID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kr.KID, Algorithm: string(jose.RS256), Use: "sig"}
	if cb, _ := pem.Decode([]byte(kr.CertPEM)); cb != nil {
		if cert, err := x509.ParseCertificate(cb.Bytes); err == nil {
			s1 := sha1.Sum(cert.Raw)
			s256 := sha256.Sum256(cert.Raw)
			jwk.Certificates = []*x509.Certificate{cert}
			jwk.CertificateThumbprintSHA1 = s1[:]
			jwk.CertificateThumbprintSHA256 = s256[:]
		}
	}
	return &signingKey{rec: kr, pub: &priv.PublicKey, signer: signer, jwk: jwk}, nil
}

// Rotate makes a new signing key now. Tokens signed by the previous key
// keep verifying until their last one could have expired (token lifetime
// plus clock skew); the old public key stays in the JWKS until then.
func (s *Service) Rotate(ctx context.Context) error { return s.keys.rotate(ctx, false) }

// JWKS returns the published key set (what /discovery/keys serves).
func (s *Service) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: s.keys.published(s.now())}
}
