// Package conformance is the test suite every store backend must pass. A
// backend's test calls RunTests with a constructor that returns a fresh,
// empty, isolated store:
//
//	func TestMemory(t *testing.T) {
//		conformance.RunTests(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// The suite runs its subtests in parallel, so newStore must return a store
// that shares nothing with the others (a new database, a new file). It closes
// each store itself when the subtest ends.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/store"
)

// RunTests runs the whole suite against stores made by newStore.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"CRUD", crudTests},
		{"List", listTests},
		{"Page", pageTests},
		{"Tx", txTests},
		{"Revision", revisionTests},
		{"Update", updateTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					st.run(t, s)
				})
			}
		})
	}
}

type subtest struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// errBoom is what test transactions return to force a rollback.
var errBoom = errors.New("conformance: boom")

// rec builds a record with a JSON value.
func rec(kind, key, parent, value string) store.Record {
	return store.Record{Kind: kind, Key: key, Parent: parent, Value: []byte(value)}
}

func mustCreate(t *testing.T, s store.Store, r store.Record) store.Record {
	t.Helper()
	out, err := store.Create(t.Context(), s, r)
	if err != nil {
		t.Fatalf("Create(%s/%s): %v", r.Kind, r.Key, err)
	}
	return out
}

func mustPut(t *testing.T, s store.Store, r store.Record, ifMatch string) store.Record {
	t.Helper()
	out, err := store.Put(t.Context(), s, r, ifMatch)
	if err != nil {
		t.Fatalf("Put(%s/%s, %q): %v", r.Kind, r.Key, ifMatch, err)
	}
	return out
}

func mustGet(t *testing.T, s store.Reader, kind, key string) store.Record {
	t.Helper()
	out, err := s.Get(t.Context(), kind, key)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", kind, key, err)
	}
	return out
}

func mustList(t *testing.T, s store.Reader, kind string, o store.ListOptions) []store.Record {
	t.Helper()
	out, err := s.List(t.Context(), kind, o)
	if err != nil {
		t.Fatalf("List(%s, %+v): %v", kind, o, err)
	}
	return out
}

func mustRevision(t *testing.T, s store.Store) int64 {
	t.Helper()
	r, err := s.Revision(t.Context())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return r
}

// wantErr fails unless err matches want (nil means "no error").
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// wantMissing fails unless kind/key does not exist.
func wantMissing(t *testing.T, s store.Reader, kind, key string) {
	t.Helper()
	_, err := s.Get(t.Context(), kind, key)
	wantErr(t, fmt.Sprintf("Get(%s/%s)", kind, key), err, store.ErrNotFound)
}

// sameRecord fails unless got and want are the same stored record
// (timestamps compared as instants).
func sameRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.Key != want.Key || got.Parent != want.Parent ||
		!bytes.Equal(got.Value, want.Value) || got.ETag != want.ETag ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

func show(r store.Record) string {
	return fmt.Sprintf("{kind=%q key=%q parent=%q value=%q etag=%q created=%s updated=%s}",
		r.Kind, r.Key, r.Parent, r.Value, r.ETag,
		r.Created.Format(time.RFC3339Nano), r.Updated.Format(time.RFC3339Nano))
}

func keys(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

// withTimeout bounds a test that could hang on a broken backend (a lost
// wake-up, a deadlock) so it fails with a message instead of the whole
// binary timing out.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
