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
	"github.com/google/btree"
	"github.com/google/uuid"
)

var _ store.Store = (*Memory)(nil)

type key struct{ kind, key string }

// Memory is a map guarded by a read-write lock. Transactions are serialised
// by a writer lock and stage their writes, which become visible in one step
// at commit: readers outside a transaction (an RBAC check made while a write
// is in flight, as with SQLite's WAL) never wait for it, and a failed
// transaction leaves nothing behind.
//
// Two ordered indexes, by (kind, key) and by (kind, parent, key), answer List
// in O(log n + page): a page of a listing never reads the whole kind.
type Memory struct {
	wmu      sync.Mutex   // one transaction at a time
	mu       sync.RWMutex // guards recs, the indexes and rev
	recs     map[key]store.Record
	byKey    *btree.BTreeG[ikey]
	byParent *btree.BTreeG[ikey]
	rev      int64
}

// ikey is an index entry: parent is empty in byKey.
type ikey struct{ kind, parent, key string }

func lessIKey(a, b ikey) bool {
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	if a.parent != b.parent {
		return a.parent < b.parent
	}
	return a.key < b.key
}

// New returns an empty store.
func New() *Memory {
	return &Memory{recs: map[key]store.Record{},
		byKey: btree.NewG(32, lessIKey), byParent: btree.NewG(32, lessIKey)}
}

func (m *Memory) Get(ctx context.Context, kind, k string) (store.Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.recs[key{kind, k}]
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return clone(r), nil
}

func (m *Memory) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.list(nil, kind, o), nil
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
	m.wmu.Lock()
	defer m.wmu.Unlock()
	tx := &tx{m: m, staged: map[key]*store.Record{}}
	if err := fn(tx); err != nil {
		return err // staged writes are dropped (a panic drops them too)
	}
	if len(tx.staged) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range tx.staged {
		if old, ok := m.recs[k]; ok {
			m.byParent.Delete(ikey{k.kind, old.Parent, k.key})
		}
		if r == nil {
			delete(m.recs, k)
			m.byKey.Delete(ikey{k.kind, "", k.key})
		} else {
			m.recs[k] = *r
			m.byKey.ReplaceOrInsert(ikey{k.kind, "", k.key})
			m.byParent.ReplaceOrInsert(ikey{k.kind, r.Parent, k.key})
		}
	}
	m.rev++
	return nil
}

func clone(r store.Record) store.Record {
	r.Value = append([]byte(nil), r.Value...)
	return r
}

// list reads committed records from the index that fits, overlaid with
// staged (nil = deleted in the transaction; staged is small: one
// transaction's writes). It stops after o.Limit records.
func (m *Memory) list(staged map[key]*store.Record, kind string, o store.ListOptions) []store.Record {
	match := func(k string, r store.Record) bool {
		return (o.Parent == "" || r.Parent == o.Parent) && strings.HasPrefix(k, o.KeyPrefix) && (o.After == "" || k > o.After)
	}
	var out []store.Record
	// Committed records, in key order, not touched by the transaction.
	from := o.KeyPrefix
	if o.After >= from {
		from = o.After // strictly after: skipped below
	}
	idx, start := m.byKey, ikey{kind, "", from}
	if o.Parent != "" {
		idx, start = m.byParent, ikey{kind, o.Parent, from}
	}
	idx.AscendGreaterOrEqual(start, func(ik ikey) bool {
		if ik.kind != kind || ik.parent != start.parent || !strings.HasPrefix(ik.key, o.KeyPrefix) {
			return false // past the range: keys with the prefix are contiguous
		}
		if o.After != "" && ik.key <= o.After {
			return true
		}
		k := key{kind, ik.key}
		if _, touched := staged[k]; touched {
			return true
		}
		out = append(out, clone(m.recs[k]))
		return o.Limit <= 0 || len(out) < o.Limit
	})
	if len(staged) == 0 {
		return out
	}
	for k, r := range staged {
		if r != nil && k.kind == kind && match(k.key, *r) {
			out = append(out, clone(*r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

// tx reads the committed records through its own staged writes. Only the
// transaction holding wmu changes recs (at commit), so it reads them
// without the read lock.
type tx struct {
	m      *Memory
	staged map[key]*store.Record
}

func (t *tx) lookup(k key) (store.Record, bool) {
	if r, ok := t.staged[k]; ok {
		if r == nil {
			return store.Record{}, false
		}
		return *r, true
	}
	r, ok := t.m.recs[k]
	return r, ok
}

func (t *tx) Get(ctx context.Context, kind, k string) (store.Record, error) {
	r, ok := t.lookup(key{kind, k})
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	return clone(r), nil
}

func (t *tx) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	return t.m.list(t.staged, kind, o), nil
}

func (t *tx) Create(ctx context.Context, r store.Record) (store.Record, error) {
	k := key{r.Kind, r.Key}
	if _, ok := t.lookup(k); ok {
		return store.Record{}, store.ErrAlreadyExists
	}
	now := time.Now().UTC()
	r.Created, r.Updated, r.ETag = now, now, uuid.NewString()
	r = clone(r)
	t.staged[k] = &r
	return clone(r), nil // the caller's copy is its own
}

func (t *tx) Put(ctx context.Context, r store.Record, ifMatch string) (store.Record, error) {
	k := key{r.Kind, r.Key}
	old, exists := t.lookup(k)
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return store.Record{}, err
	}
	now := time.Now().UTC()
	r.Created = now
	if exists {
		r.Created = old.Created
	}
	r.Updated, r.ETag = now, uuid.NewString()
	r = clone(r)
	t.staged[k] = &r
	return clone(r), nil
}

func (t *tx) Delete(ctx context.Context, kind, k, ifMatch string) error {
	kk := key{kind, k}
	old, exists := t.lookup(kk)
	if !exists {
		return store.ErrNotFound
	}
	if err := store.CheckIfMatch(exists, old.ETag, ifMatch); err != nil {
		return err
	}
	t.staged[kk] = nil
	return nil
}
