package keyvault

// Encryption at rest: secret values are sealed with AES-256-GCM under a key
// kept in a file outside the store (<data-dir>/keys/vault.key, 0600), with
// the secret's identity (vault ID, name, version) as additional data, so a
// sealed value copied onto another secret's record does not open. The store
// never holds a value in clear; a stolen database without the key file
// reveals names and attributes only.

import (
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

const (
	sealPrefix = "v1:"
	keyCheck   = "keycheck"
	keyCheckAD = "amlid keyvault key check"
)

type sealer struct{ aead cipher.AEAD }

// loadSealer reads keyFile (creating it with a random key when neither the
// file nor sealed data exist) and proves it against the store's key-check
// record: a key that does not match what sealed the store refuses to start
// instead of failing every secret read later.
func loadSealer(ctx context.Context, st store.Store, keyFile string) (*sealer, error) {
	if keyFile == "" {
		return nil, errors.New("keyvault: no key file configured")
	}
	raw, err := os.ReadFile(keyFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, gerr := st.Get(ctx, KindMeta, keyCheck); gerr == nil {
			return nil, fmt.Errorf("keyvault: the key file %s is missing but the store holds secrets sealed with it; restore the file (secret values cannot be read without it)", keyFile)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeKey(keyFile, key); err != nil {
			return nil, err
		}
		raw = []byte(base64.StdEncoding.EncodeToString(key))
	case err != nil:
		return nil, fmt.Errorf("keyvault: read key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("keyvault: %s does not hold a base64 AES-256 key", keyFile)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &sealer{aead: aead}
	rec, err := st.Get(ctx, KindMeta, keyCheck)
	switch {
	case errors.Is(err, store.ErrNotFound):
		sealed, err := s.seal([]byte("ok"), keyCheckAD)
		if err != nil {
			return nil, err
		}
		if _, err := store.Put(ctx, st, store.Record{Kind: KindMeta, Key: keyCheck, Value: []byte(`"` + sealed + `"`)}, ""); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if _, err := s.open(strings.Trim(string(rec.Value), `"`), keyCheckAD); err != nil {
			return nil, fmt.Errorf("keyvault: the key in %s did not seal this store's secrets (another data directory's key?); restore the right key file", keyFile)
		}
	}
	return s, nil
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

// seal encrypts plain for the secret identity ad.
func (s *sealer) seal(plain []byte, ad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(ad))
	return sealPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// open decrypts a sealed value for ad.
func (s *sealer) open(sealed, ad string) ([]byte, error) {
	if !strings.HasPrefix(sealed, sealPrefix) {
		return nil, errors.New("keyvault: value is not sealed")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, errors.New("keyvault: sealed value is corrupt")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(ad))
	if err != nil {
		return nil, errors.New("keyvault: sealed value does not open with this key and identity")
	}
	return plain, nil
}

// base64URL re-encodes a std-base64 string as unpadded base64url (the
// backup blob's wire form); fromBase64URL undoes it.
func base64URL(std string) string {
	b, _ := base64.StdEncoding.DecodeString(std)
	return base64.RawURLEncoding.EncodeToString(b)
}

func fromBase64URL(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
