// Package store is amlid's persistence seam: one small interface that every
// backend (memory, SQLite, PostgreSQL) implements and that every backend proves
// through the shared conformance suite in store/conformance.
//
// The model is a set of collections ("kinds") of JSON records addressed by a
// key. ARM resources, directory objects, role assignments and data-plane
// metadata are all records; callers own the JSON shape. Every write bumps the
// record's ETag, which gives ARM its optimistic concurrency (If-Match).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap nothing else around them: callers test with
// errors.Is.
var (
	// ErrNotFound: no record with that kind and key.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: Create on a key that is taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: a precondition (ETag) did not hold, or a concurrent
	// transaction won the race.
	ErrConflict = errors.New("store: conflict")
	// ErrSchemaTooNew: the database was written by a newer amlid.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// Record is one stored object.
type Record struct {
	Kind string // collection, e.g. "arm.resource", "directory.principal"
	Key  string // unique within Kind; callers normalise (ARM IDs are lower-cased)
	// Parent groups records for listing (an ARM resource's parent scope, a
	// principal's tenant). Optional.
	Parent  string
	Value   []byte // JSON document owned by the caller
	ETag    string // set by the store on every write
	Created time.Time
	Updated time.Time
}

// ListOptions selects records of one kind. Zero values mean "no constraint".
type ListOptions struct {
	Parent    string // exact parent match
	KeyPrefix string // keys starting with this prefix
	After     string // keys strictly greater than this (paging cursor)
	Limit     int    // at most this many (0 = all)
}

// Reader is what both a Store and a transaction can read.
type Reader interface {
	Get(ctx context.Context, kind, key string) (Record, error)
	// List returns records ordered by key. With Limit it must cost
	// O(log n + Limit), not O(records of the kind): backends answer it from
	// an ordered index (see ListPage).
	List(ctx context.Context, kind string, opts ListOptions) ([]Record, error)
}

// Tx is a read-write transaction. Writes become visible to others only when
// the function passed to Store.Tx returns nil.
type Tx interface {
	Reader
	// Create inserts a new record; ErrAlreadyExists if the key is taken.
	Create(ctx context.Context, rec Record) (Record, error)
	// Put inserts or replaces. If ifMatch is non-empty the existing record
	// must have that ETag ("*" = must exist), else ErrConflict (or
	// ErrNotFound when it does not exist and ifMatch is not "*").
	Put(ctx context.Context, rec Record, ifMatch string) (Record, error)
	// Delete removes a record; ErrNotFound if absent. ifMatch as in Put.
	Delete(ctx context.Context, kind, key, ifMatch string) error
}

// Store is a backend. Implementations are safe for concurrent use.
type Store interface {
	Reader
	// Tx runs fn in a serialisable read-modify-write transaction. If fn
	// returns an error nothing it wrote is kept. Backends may retry fn on
	// a serialisation failure, so fn must not have outside effects.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// Revision is a number that grows whenever anything in the store
	// changes (also through another process sharing the database); caches
	// compare it to know when to reload.
	Revision(ctx context.Context) (int64, error)
	Close() error
}

// Update is the read-modify-write helper: it loads kind/key, passes it to fn
// and writes what fn returns, all in one transaction.
func Update(ctx context.Context, s Store, kind, key string, fn func(old Record) (Record, error)) (Record, error) {
	var out Record
	err := s.Tx(ctx, func(tx Tx) error {
		old, err := tx.Get(ctx, kind, key)
		if err != nil {
			return err
		}
		nu, err := fn(old)
		if err != nil {
			return err
		}
		nu.Kind, nu.Key = kind, key
		out, err = tx.Put(ctx, nu, old.ETag)
		return err
	})
	return out, err
}

// Create is Tx+Create in one call.
func Create(ctx context.Context, s Store, rec Record) (Record, error) {
	var out Record
	err := s.Tx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Create(ctx, rec)
		return err
	})
	return out, err
}

// Put is Tx+Put in one call.
func Put(ctx context.Context, s Store, rec Record, ifMatch string) (Record, error) {
	var out Record
	err := s.Tx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Put(ctx, rec, ifMatch)
		return err
	})
	return out, err
}

// Delete is Tx+Delete in one call.
func Delete(ctx context.Context, s Store, kind, key, ifMatch string) error {
	return s.Tx(ctx, func(tx Tx) error { return tx.Delete(ctx, kind, key, ifMatch) })
}

// CheckIfMatch applies the ifMatch precondition rule shared by every backend:
// "" always holds; "*" needs the record to exist; anything else must equal the
// current ETag. A missing record with a specific ETag is ErrNotFound.
func CheckIfMatch(exists bool, current, ifMatch string) error {
	switch {
	case ifMatch == "":
		return nil
	case !exists && ifMatch == "*":
		return ErrConflict
	case !exists:
		return ErrNotFound
	case ifMatch == "*" || ifMatch == current:
		return nil
	default:
		return ErrConflict
	}
}
