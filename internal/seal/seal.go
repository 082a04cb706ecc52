// Package seal is amlid's encryption at rest: AES-256-GCM under one key kept
// in a file outside the store (<data-dir>/keys/vault.key, 0600), so a copy
// of the database, or a PostgreSQL reader, reveals no secret and cannot
// mint tokens. Key Vault secret values, the token-signing RSA keys, the
// registry's ES256 key and every ARM resource's record (storage account
// keys, registry admin passwords, online endpoints' keys and aml_token HMAC
// key, later datastore and connection secrets) are sealed with it.
//
// Each sealed value carries additional data naming what it is (a secret's
// vault, name and version; a record's kind and key), so a sealed value
// copied onto another record does not open.
//
// The store holds a key-check record sealed with the key: a key file that
// does not match the store refuses to start instead of failing later, and a
// missing key file with a sealed store is an error naming the file to
// restore. Replicas sharing one PostgreSQL database share the key file (copy
// the first replica's).
package seal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/amlid/amlid/internal/store"
)

// Prefix starts every sealed string.
const Prefix = "v1:"

// The key-check record (the name predates this package: Key Vault sealed
// first, and existing stores keep their record).
const (
	CheckKind = "keyvault.meta"
	CheckKey  = "keycheck"
	checkAD   = "amlid keyvault key check"
)

// Sealer seals and opens values. Safe for concurrent use.
type Sealer struct{ aead cipher.AEAD }

// ErrNotSealed is Open's error for a value without Prefix.
var ErrNotSealed = errors.New("seal: value is not sealed")

// Load reads keyFile (creating it with a random key when neither the file
// nor sealed data exist) and proves it against the store's key-check
// record.
func Load(ctx context.Context, st store.Store, keyFile string) (*Sealer, error) {
	if keyFile == "" {
		return nil, errors.New("seal: no key file configured")
	}
	raw, err := os.ReadFile(keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, gerr := st.Get(ctx, CheckKind, CheckKey); gerr == nil {
			return nil, fmt.Errorf("seal: the key file %s is missing but the store holds values sealed with it (signing keys, credentials, secrets); restore the file (replicas sharing a database share it)", keyFile)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeKey(keyFile, key); err != nil {
			return nil, err
		}
		// Another process may have won the race to create it.
		if raw, err = os.ReadFile(keyFile); err != nil {
			return nil, fmt.Errorf("seal: read key file: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("seal: read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("seal: %s does not hold a base64 AES-256 key", keyFile)
	}
	s, err := New(key)
	if err != nil {
		return nil, err
	}
	rec, err := st.Get(ctx, CheckKind, CheckKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		sealed, err := s.Seal([]byte("ok"), checkAD)
		if err != nil {
			return nil, err
		}
		if _, err := store.Create(ctx, st, store.Record{Kind: CheckKind, Key: CheckKey, Value: []byte(`"` + sealed + `"`)}); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return nil, err
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			return Load(ctx, st, keyFile) // a replica sealed it first: check against it
		}
	case err != nil:
		return nil, err
	default:
		if _, err := s.Open(strings.Trim(string(rec.Value), `"`), checkAD); err != nil {
			return nil, fmt.Errorf("seal: the key in %s did not seal this store (another data directory's key?); restore the right key file", keyFile)
		}
	}
	return s, nil
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

func writeKey(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link, not rename: two processes racing on first start keep one key.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// Seal encrypts plain for the identity ad.
func (s *Sealer) Seal(plain []byte, ad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(ad))
	return Prefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value for ad.
func (s *Sealer) Open(sealed, ad string) ([]byte, error) {
	return s.open([]byte(sealed), ad)
}

func (s *Sealer) open(sealed []byte, ad string) ([]byte, error) {
	if !bytes.HasPrefix(sealed, []byte(Prefix)) {
		return nil, ErrNotSealed
	}
	enc := sealed[len(Prefix):]
	b := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	m, err := base64.StdEncoding.Decode(b, enc)
	b = b[:m]
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("seal: sealed value is corrupt")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(b[n:n], b[:n], b[n:], []byte(ad))
	if err != nil {
		return nil, errors.New("seal: sealed value does not open with this key and identity")
	}
	return plain, nil
}
