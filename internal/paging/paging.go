// Package paging makes the continuation tokens of every list API ($skipToken
// in ARM nextLinks, Graph's $skiptoken, Key Vault's $skiptoken, Blob's
// marker). A token carries the store cursor (the last key of the page, see
// store.ListPage) and an HMAC that binds it to one listing, so a token is
// opaque to clients, and an invalid, tampered or transplanted one (taken from
// another listing) is refused: callers answer ErrInvalid with a 400.
//
// The HMAC key is a random secret kept in the store (kind KindKey), shared by
// every process on the same database, so tokens survive a restart and work
// across replicas.
package paging

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"

	"github.com/amlid/amlid/internal/store"
)

// KindKey is the store kind of the HMAC secret.
const KindKey = "paging.key"

// ErrInvalid is a token this service did not make for this listing.
var ErrInvalid = errors.New("paging: invalid continuation token")

const (
	version = 1
	macLen  = 16
)

// Codec makes and checks tokens. Safe for concurrent use.
type Codec struct {
	st  store.Store
	mu  sync.Mutex
	key []byte
}

// New returns a codec whose secret lives in st (created on first use).
func New(st store.Store) *Codec { return &Codec{st: st} }

// NewWithKey returns a codec with a fixed secret (tests, benchmarks).
func NewWithKey(key []byte) *Codec { return &Codec{key: key} }

func (c *Codec) secret(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != nil {
		return c.key, nil
	}
	var key []byte
	err := c.st.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, KindKey, "hmac")
		if err == nil {
			key = rec.Value
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		key = make([]byte, 32)
		rand.Read(key)
		_, err = tx.Create(ctx, store.Record{Kind: KindKey, Key: "hmac", Value: key})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.key = key
	return key, nil
}

func mac(key []byte, list, cursor string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("amlid-page-v1\x00"))
	h.Write([]byte(list))
	h.Write([]byte{0})
	h.Write([]byte(cursor))
	return h.Sum(nil)[:macLen]
}

// Token returns the token resuming listing list after cursor. list names
// the listing (path and filters) so a token works for it alone.
func (c *Codec) Token(ctx context.Context, list, cursor string) (string, error) {
	key, err := c.secret(ctx)
	if err != nil {
		return "", err
	}
	b := make([]byte, 0, 1+len(cursor)+macLen)
	b = append(b, version)
	b = append(b, cursor...)
	b = append(b, mac(key, list, cursor)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Cursor checks token against list and returns the cursor it carries, or
// ErrInvalid.
func (c *Codec) Cursor(ctx context.Context, list, token string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+macLen || b[0] != version {
		return "", ErrInvalid
	}
	key, err := c.secret(ctx)
	if err != nil {
		return "", err
	}
	cursor := string(b[1 : len(b)-macLen])
	if !hmac.Equal(b[len(b)-macLen:], mac(key, list, cursor)) {
		return "", ErrInvalid
	}
	return cursor, nil
}
