package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path)) // the child half of TestSQLiteCrashDurability
	}
	pgtest.Main(m)
}

// The tests below run against both dialects; url gives a fresh database.

func mustOpen(t *testing.T, url string) *DB {
	t.Helper()
	db, err := open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rawOpen connects without running migrations.
func rawOpen(t *testing.T, url string) *DB {
	t.Helper()
	d, dsn, err := parseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	db, err := d.open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func testSchemaTooNew(t *testing.T, url string) {
	db := mustOpen(t, url)
	if _, err := store.Create(t.Context(), db, store.Record{Kind: "k", Key: "survives", Value: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// A newer amlid migrated the database further.
	future := SchemaVersion() + 1
	if _, err := db.w.ExecContext(t.Context(), db.d.rebind("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)"),
		future, "from the future", time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := Open(t.Context(), url)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open of a database at schema version %d: %v, want ErrSchemaTooNew", future, err)
	}
	t.Logf("Open: %v", err)

	// Refusing changed nothing: without the future row it opens, data intact.
	raw := rawOpen(t, url)
	if _, err := raw.w.ExecContext(t.Context(), raw.d.rebind("DELETE FROM schema_migrations WHERE version = ?"), future); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	again := mustOpen(t, url)
	if _, err := again.Get(t.Context(), "k", "survives"); err != nil {
		t.Fatalf("record after a refused open: %v", err)
	}
}

func testReopen(t *testing.T, url string) {
	db := mustOpen(t, url)
	r, err := store.Create(t.Context(), db, store.Record{Kind: "k", Key: "a", Parent: "p", Value: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := db.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db = mustOpen(t, url) // migrations run again: must be a no-op
	got, err := db.Get(t.Context(), "k", "a")
	if err != nil || got.ETag != r.ETag || string(got.Value) != `{"a":1}` || !got.Created.Equal(r.Created) || got.Parent != "p" {
		t.Fatalf("after reopen: %+v, %v; want %+v", got, err, r)
	}
	if rev2, err := db.Revision(t.Context()); err != nil || rev2 != rev {
		t.Fatalf("Revision after reopen: %d, %v; want %d", rev2, err, rev)
	}
	var n, top int
	if err := db.r.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || top != SchemaVersion() {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, top, len(migrations), SchemaVersion())
	}
}

// testTwoHandles opens the database twice, as two processes would.
func testTwoHandles(t *testing.T, url string) {
	a, b := mustOpen(t, url), mustOpen(t, url)
	ctx := t.Context()
	revB, err := b.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	created, err := store.Create(ctx, a, store.Record{Kind: "k", Key: "counter", Value: []byte(`{"n":0}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Revision(ctx); err != nil || got <= revB {
		t.Fatalf("Revision seen by the other handle: %d -> %d (%v), want it to grow", revB, got, err)
	}
	if got, err := b.Get(ctx, "k", "counter"); err != nil || got.ETag != created.ETag {
		t.Fatalf("other handle Get: %+v, %v", got, err)
	}

	// Writers on both handles: no lost update, no "database is locked".
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 8 {
		h := []*DB{a, b}[i%2]
		wg.Go(func() {
			for j := range 25 {
				_, err := store.Update(ctx, h, "k", "counter", func(old store.Record) (store.Record, error) {
					var n int
					if _, err := fmt.Sscanf(string(old.Value), `{"n":%d}`, &n); err != nil {
						return old, err
					}
					old.Value = fmt.Appendf(nil, `{"n":%d}`, n+1)
					return old, nil
				})
				if err != nil {
					t.Errorf("writer %d increment %d: %v", i, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, h := range []*DB{a, b} {
		got, err := h.Get(ctx, "k", "counter")
		if err != nil || string(got.Value) != `{"n":200}` {
			t.Fatalf("counter after 8×25 increments over two handles: %q, %v", got.Value, err)
		}
	}
	ra, _ := a.Revision(ctx)
	rb, _ := b.Revision(ctx)
	if ra != rb {
		t.Fatalf("the handles disagree on Revision: %d vs %d", ra, rb)
	}
}

func testPanicInTx(t *testing.T, url string) {
	db := mustOpen(t, url)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic in fn was swallowed")
			}
		}()
		db.Tx(t.Context(), func(tx store.Tx) error {
			if _, err := tx.Create(t.Context(), store.Record{Kind: "k", Key: "half", Value: []byte(`{}`)}); err != nil {
				return err
			}
			panic("fn panics")
		})
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := db.Get(ctx, "k", "half"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("write of a panicking Tx: Get = %v, want ErrNotFound", err)
	}
	for i := range 3 { // the transaction's connection went back to the pool
		if _, err := store.Create(ctx, db, store.Record{Kind: "k", Key: fmt.Sprint(i), Value: []byte(`{}`)}); err != nil {
			t.Fatalf("Tx after a panicking one: %v", err)
		}
	}
}

func testBackendErrorsWrapped(t *testing.T, url string) {
	db := mustOpen(t, url)
	db.Close()
	ctx := t.Context()
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s on a closed store: no error", what)
		}
		for _, s := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict} {
			if errors.Is(err, s) {
				t.Fatalf("%s on a closed store: %v looks like %v", what, err, s)
			}
		}
	}
	_, err := db.Get(ctx, "k", "x")
	check("Get", err)
	_, err = db.List(ctx, "k", store.ListOptions{})
	check("List", err)
	_, err = db.Revision(ctx)
	check("Revision", err)
	check("Tx", db.Tx(ctx, func(store.Tx) error { return nil }))
}

// sharedTests are run by TestSQLite and TestPostgres.
var sharedTests = []struct {
	name string
	run  func(t *testing.T, url string)
}{
	{"SchemaTooNew", testSchemaTooNew},
	{"Reopen", testReopen},
	{"TwoHandles", testTwoHandles},
	{"PanicInTx", testPanicInTx},
	{"BackendErrorsWrapped", testBackendErrorsWrapped},
}
