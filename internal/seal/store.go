package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/amlid/amlid/internal/store"
)

// A sealed record value is a JSON object with one member, so the stored
// value stays JSON: {"sealed":"v1:<base64>"} (base64 needs no JSON
// escaping, so it is written and read without a JSON codec).
var (
	sealedHead = []byte(`{"sealed":"` + Prefix)
	sealedTail = []byte(`"}`)
)

// IsSealedValue reports whether a stored record value is sealed.
func IsSealedValue(v []byte) bool { return bytes.HasPrefix(v, sealedHead) }

// Store wraps st so that the records of the given kinds are sealed on every
// write and opened on every read, with the record's kind and key as
// additional data. Records written before (in clear) still read; Migrate
// seals them.
func (s *Sealer) Store(st store.Store, kinds ...string) store.Store {
	return &sealedStore{inner: st, s: s, kinds: slices.Clone(kinds)}
}

type sealedStore struct {
	inner store.Store
	s     *Sealer
	kinds []string
}

func (ss *sealedStore) sealed(kind string) bool { return slices.Contains(ss.kinds, kind) }

func recordAD(kind, key string) string { return "amlid record\x00" + kind + "\x00" + key }

func (ss *sealedStore) seal(rec store.Record) (store.Record, error) {
	if !ss.sealed(rec.Kind) {
		return rec, nil
	}
	v, err := ss.s.Seal(rec.Value, recordAD(rec.Kind, rec.Key))
	if err != nil {
		return rec, err
	}
	b := make([]byte, 0, len(sealedHead)+len(v)+len(sealedTail))
	b = append(append(append(b, sealedHead[:len(sealedHead)-len(Prefix)]...), v...), sealedTail...)
	rec.Value = b
	return rec, nil
}

func (ss *sealedStore) open(rec store.Record) (store.Record, error) {
	if !ss.sealed(rec.Kind) || !IsSealedValue(rec.Value) {
		return rec, nil
	}
	if !bytes.HasSuffix(rec.Value, sealedTail) {
		return rec, fmt.Errorf("seal: record %s/%s: sealed value is corrupt", rec.Kind, rec.Key)
	}
	sealed := rec.Value[len(sealedHead)-len(Prefix) : len(rec.Value)-len(sealedTail)]
	plain, err := ss.s.open(sealed, recordAD(rec.Kind, rec.Key))
	if err != nil {
		return rec, fmt.Errorf("seal: record %s/%s: %w", rec.Kind, rec.Key, err)
	}
	rec.Value = plain
	return rec, nil
}

func (ss *sealedStore) openAll(recs []store.Record) ([]store.Record, error) {
	for i := range recs {
		var err error
		if recs[i], err = ss.open(recs[i]); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (ss *sealedStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	rec, err := ss.inner.Get(ctx, kind, key)
	if err != nil {
		return rec, err
	}
	return ss.open(rec)
}

func (ss *sealedStore) List(ctx context.Context, kind string, opts store.ListOptions) ([]store.Record, error) {
	recs, err := ss.inner.List(ctx, kind, opts)
	if err != nil {
		return nil, err
	}
	return ss.openAll(recs)
}

func (ss *sealedStore) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return ss.inner.Tx(ctx, func(tx store.Tx) error { return fn(&sealedTx{inner: tx, ss: ss}) })
}

func (ss *sealedStore) Revision(ctx context.Context) (int64, error) { return ss.inner.Revision(ctx) }
func (ss *sealedStore) Close() error                                { return ss.inner.Close() }

// Unwrap returns the store underneath.
func (ss *sealedStore) Unwrap() store.Store { return ss.inner }

type sealedTx struct {
	inner store.Tx
	ss    *sealedStore
}

func (t *sealedTx) Get(ctx context.Context, kind, key string) (store.Record, error) {
	rec, err := t.inner.Get(ctx, kind, key)
	if err != nil {
		return rec, err
	}
	return t.ss.open(rec)
}

func (t *sealedTx) List(ctx context.Context, kind string, opts store.ListOptions) ([]store.Record, error) {
	recs, err := t.inner.List(ctx, kind, opts)
	if err != nil {
		return nil, err
	}
	return t.ss.openAll(recs)
}

// written returns what a write answered with the caller's clear value.
func written(out store.Record, err error, plain []byte) (store.Record, error) {
	if err == nil {
		out.Value = plain
	}
	return out, err
}

func (t *sealedTx) Create(ctx context.Context, rec store.Record) (store.Record, error) {
	plain := rec.Value
	sealed, err := t.ss.seal(rec)
	if err != nil {
		return store.Record{}, err
	}
	out, err := t.inner.Create(ctx, sealed)
	return written(out, err, plain)
}

func (t *sealedTx) Put(ctx context.Context, rec store.Record, ifMatch string) (store.Record, error) {
	plain := rec.Value
	sealed, err := t.ss.seal(rec)
	if err != nil {
		return store.Record{}, err
	}
	out, err := t.inner.Put(ctx, sealed, ifMatch)
	return written(out, err, plain)
}

func (t *sealedTx) Delete(ctx context.Context, kind, key, ifMatch string) error {
	return t.inner.Delete(ctx, kind, key, ifMatch)
}

// Migrate seals the records of the wrapped store's kinds that are still in
// clear (written before sealing existed), page by page, each only if it did
// not change meanwhile. It returns how many it sealed.
func Migrate(ctx context.Context, st store.Store) (int, error) {
	ss, ok := st.(*sealedStore)
	if !ok {
		return 0, errors.New("seal: Migrate needs a store made by Sealer.Store")
	}
	n := 0
	for _, kind := range ss.kinds {
		after := ""
		for {
			recs, err := ss.inner.List(ctx, kind, store.ListOptions{After: after, Limit: 500})
			if err != nil {
				return n, err
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				if IsSealedValue(r.Value) {
					continue
				}
				err := ss.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.Put(ctx, store.Record{Kind: r.Kind, Key: r.Key, Parent: r.Parent, Value: r.Value}, r.ETag)
					return err
				})
				switch {
				case err == nil:
					n++
				case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
					// Rewritten (hence sealed) or deleted meanwhile.
				default:
					return n, err
				}
			}
			after = recs[len(recs)-1].Key
		}
	}
	return n, nil
}
