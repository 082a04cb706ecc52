// Package memory is the in-process store backend: fast, lost on exit. Tests
// and `amlid up --store memory` use it; it passes the same conformance suite
// as the durable backends.
package memory

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

var _ store.Store = (*Memory)(nil)

type key struct{ kind, key string }

// Memory is a map guarded by one lock; a transaction holds the write lock and
// keeps an undo log so a failed transaction leaves nothing behind.
type Memory struct {
	mu   sync.RWMutex
	recs map[key]store.Record
	rev  int64
}

// New returns an empty store.
func New() *Memory { return &Memory{recs: map[key]store.Record{}} }

func (m *Memory) Get(ctx context.Context, kind, k string) (store.Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return get(m.recs, kind, k)
}

func (m *Memory) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return list(m.recs, kind, o), nil
}

func (m *Memory) Revision(ctx context.Context) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rev, nil
}

func (m *Memory) Close() error { return nil }

func (m *Memory) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &tx{m: m, undo: map[key]*store.Record{}}
	committed := false
	defer func() {
		if !committed { // an error or a panic in fn: undo every write
			for k, old := range tx.undo {
				if old == nil {
					delete(m.recs, k)
				} else {
					m.recs[k] = *old
				}
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	committed = true
	if len(tx.undo) > 0 {
		m.rev++
	}
	return nil
}

func get(recs map[key]store.Record, kind, k string) (store.Record, error) {
	r, ok := recs[key{kind, k}]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	r.Value = append([]byte(nil), r.Value...)
	return r, nil
}

func list(recs map[key]store.Record, kind string, o store.ListOptions) []store.Record {
	var out []store.Record
	for k, r := range recs {
		if k.kind != kind || (o.Parent != "" && r.Parent != o.Parent) ||
			!strings.HasPrefix(k.key, o.KeyPrefix) || (o.After != "" && k.key <= o.After) {
			continue
		}
		r.Value = append([]byte(nil), r.Value...)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

type tx struct {
	m    *Memory
	undo map[key]*store.Record // first value seen for each key touched (nil = absent)
}

func (t *tx) remember(k key) {
	if _, seen := t.undo[k]; seen {
		return
	}
	if old, ok := t.m.recs[k]; ok {
		t.undo[k] = &old
	} else {
		t.undo[k] = nil
	}
}

func (t *tx) Get(ctx context.Context, kind, k string) (store.Record, error) {
	return get(t.m.recs, kind, k)
}

func (t *tx) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	return list(t.m.recs, kind, o), nil
}

func (t *tx) Create(ctx context.Context, r store.Record) (store.Record, error) {
	k := key{r.Kind, r.Key}
	if _, ok := t.m.recs[k]; ok {
		return store.Record{}, store.ErrAlreadyExists
	}
	now := time.Now().UTC()
	r.Created, r.Updated, r.ETag = now, now, uuid.NewString()
	r.Value = append([]byte(nil), r.Value...)
	t.remember(k)
	t.m.recs[k] = r
	r.Value = append([]byte(nil), r.Value...) // the caller's copy is its own
	return r, nil
}

func (t *tx) Put(ctx context.Context, r store.Record, ifMatch string) (store.Record, error) {
	k := key{r.Kind, r.Key}
	old, exists := t.m.recs[k]
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return store.Record{}, err
	}
	now := time.Now().UTC()
	r.Created = now
	if exists {
		r.Created = old.Created
	}
	r.Updated, r.ETag = now, uuid.NewString()
	r.Value = append([]byte(nil), r.Value...)
	t.remember(k)
	t.m.recs[k] = r
	r.Value = append([]byte(nil), r.Value...) // the caller's copy is its own
	return r, nil
}

func (t *tx) Delete(ctx context.Context, kind, k, ifMatch string) error {
	kk := key{kind, k}
	old, exists := t.m.recs[kk]
	if !exists {
		return store.ErrNotFound
	}
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return err
	}
	t.remember(kk)
	delete(t.m.recs, kk)
	return nil
}
