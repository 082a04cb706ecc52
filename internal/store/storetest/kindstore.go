// Package storetest holds store.Store implementations and wrappers that
// only tests and benchmarks use: KindStore (a proposal measured by the
// blob benchmark) and CountingStore (counts reads).
package storetest

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// KindStore is an in-memory store.Store whose records are grouped by kind,
// so List costs O(records of that kind) instead of O(all records) as in
// store/memory. It exists to measure that proposal (AMLID_TEST_STORE=
// memidx in the benchmark); it passes the store conformance suite.
type KindStore struct {
	mu   sync.RWMutex
	recs map[string]map[string]store.Record
	rev  int64
}

var _ store.Store = (*KindStore)(nil)

// NewKindStore returns an empty store.
func NewKindStore() *KindStore { return &KindStore{recs: map[string]map[string]store.Record{}} }

func copyRec(r store.Record) store.Record {
	r.Value = append([]byte(nil), r.Value...)
	return r
}

func (s *KindStore) get(kind, key string) (store.Record, error) {
	r, ok := s.recs[kind][key]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return copyRec(r), nil
}

func (s *KindStore) list(kind string, o store.ListOptions) []store.Record {
	var out []store.Record
	for k, r := range s.recs[kind] {
		if (o.Parent != "" && r.Parent != o.Parent) || !strings.HasPrefix(k, o.KeyPrefix) || (o.After != "" && k <= o.After) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	for i := range out {
		out[i] = copyRec(out[i])
	}
	return out
}

func (s *KindStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.get(kind, key)
}

func (s *KindStore) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list(kind, o), nil
}

func (s *KindStore) Revision(ctx context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev, nil
}

func (s *KindStore) Close() error { return nil }

type undoKey struct{ kind, key string }

type kindTx struct {
	s    *KindStore
	undo map[undoKey]*store.Record
}

func (s *KindStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &kindTx{s: s, undo: map[undoKey]*store.Record{}}
	if err := fn(tx); err != nil {
		for k, old := range tx.undo {
			if old == nil {
				delete(s.recs[k.kind], k.key)
			} else {
				s.recs[k.kind][k.key] = *old
			}
		}
		return err
	}
	if len(tx.undo) > 0 {
		s.rev++
	}
	return nil
}

func (t *kindTx) remember(kind, key string) {
	k := undoKey{kind, key}
	if _, seen := t.undo[k]; seen {
		return
	}
	if old, ok := t.s.recs[kind][key]; ok {
		t.undo[k] = &old
	} else {
		t.undo[k] = nil
	}
}

func (t *kindTx) set(r store.Record) {
	m := t.s.recs[r.Kind]
	if m == nil {
		m = map[string]store.Record{}
		t.s.recs[r.Kind] = m
	}
	m[r.Key] = r
}

func (t *kindTx) Get(ctx context.Context, kind, key string) (store.Record, error) {
	return t.s.get(kind, key)
}

func (t *kindTx) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	return t.s.list(kind, o), nil
}

func (t *kindTx) Create(ctx context.Context, r store.Record) (store.Record, error) {
	if _, ok := t.s.recs[r.Kind][r.Key]; ok {
		return store.Record{}, store.ErrAlreadyExists
	}
	now := time.Now().UTC()
	r.Created, r.Updated, r.ETag = now, now, uuid.NewString()
	r = copyRec(r)
	t.remember(r.Kind, r.Key)
	t.set(r)
	return r, nil
}

func (t *kindTx) Put(ctx context.Context, r store.Record, ifMatch string) (store.Record, error) {
	old, exists := t.s.recs[r.Kind][r.Key]
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return store.Record{}, err
	}
	now := time.Now().UTC()
	r.Created = now
	if exists {
		r.Created = old.Created
	}
	r.Updated, r.ETag = now, uuid.NewString()
	r = copyRec(r)
	t.remember(r.Kind, r.Key)
	t.set(r)
	return r, nil
}

func (t *kindTx) Delete(ctx context.Context, kind, key, ifMatch string) error {
	old, exists := t.s.recs[kind][key]
	if !exists {
		return store.ErrNotFound
	}
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return err
	}
	t.remember(kind, key)
	delete(t.s.recs[kind], key)
	return nil
}

// CountingStore counts the reads made outside transactions (Get and List)
// of the store it wraps.
type CountingStore struct {
	store.Store
	Reads atomic.Int64
}

func (s *CountingStore) Get(ctx context.Context, kind, key string) (store.Record, error) {
	s.Reads.Add(1)
	return s.Store.Get(ctx, kind, key)
}

func (s *CountingStore) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	s.Reads.Add(1)
	return s.Store.List(ctx, kind, o)
}
