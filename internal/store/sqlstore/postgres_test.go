package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/conformance"
	"github.com/amlid/amlid/internal/store/pgtest"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPostgres runs against a real PostgreSQL server (see pgtest): a
// throwaway one started for this test binary, or $AMLID_TEST_POSTGRES_URL.
func TestPostgres(t *testing.T) {
	t.Parallel()
	t.Run("Conformance", func(t *testing.T) {
		t.Parallel()
		conformance.RunTests(t, func(t *testing.T) store.Store {
			st, err := Open(t.Context(), pgtest.Start(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	for _, st := range sharedTests {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			st.run(t, pgtest.Start(t))
		})
	}
	t.Run("PostgresqlScheme", func(t *testing.T) {
		t.Parallel()
		url := "postgresql" + strings.TrimPrefix(pgtest.Start(t), "postgres")
		db := mustOpen(t, url)
		if db.d != postgres {
			t.Fatalf("%s opened as %s", url, db.d.name)
		}
	})
	t.Run("RetriesSerializationFailure", func(t *testing.T) {
		t.Parallel()
		db := mustOpen(t, pgtest.Start(t))
		// fn sees a serialisation failure on its first two runs: Tx runs
		// it again, and only the successful run's writes are kept.
		calls := 0
		err := db.Tx(t.Context(), func(tx store.Tx) error {
			calls++
			if _, err := tx.Create(t.Context(), store.Record{Kind: "k", Key: fmt.Sprint("run", calls), Value: []byte(`{}`)}); err != nil {
				return err
			}
			if calls < 3 {
				return fmt.Errorf("some query: %w", &pgconn.PgError{Code: []string{"40001", "40P01"}[calls-1]})
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("Tx = %v after %d runs of fn, want success on the 3rd", err, calls)
		}
		l, err := db.List(t.Context(), "k", store.ListOptions{})
		if err != nil || len(l) != 1 || l[0].Key != "run3" {
			t.Fatalf("records after retries: %v, %v; want only run3", l, err)
		}
		// A failure that never goes away ends as ErrConflict.
		calls = 0
		err = db.Tx(t.Context(), func(tx store.Tx) error {
			calls++
			return &pgconn.PgError{Code: "40001"}
		})
		if !errors.Is(err, store.ErrConflict) || calls != maxAttempts {
			t.Fatalf("Tx = %v after %d runs, want ErrConflict after %d", err, calls, maxAttempts)
		}
		// Other errors are not retried.
		calls = 0
		err = db.Tx(t.Context(), func(tx store.Tx) error {
			calls++
			return &pgconn.PgError{Code: "23505"}
		})
		if calls != 1 || err == nil {
			t.Fatalf("Tx = %v after %d runs, want one run", err, calls)
		}
	})
	t.Run("Collation", func(t *testing.T) {
		t.Parallel()
		db := mustOpen(t, pgtest.Start(t))
		var coll string
		if err := db.r.QueryRowContext(t.Context(),
			`SELECT collation_name FROM information_schema.columns WHERE table_name = 'records' AND column_name = 'key'`).Scan(&coll); err != nil {
			t.Fatal(err)
		}
		if coll != "C" {
			t.Fatalf("records.key collation %q, want C (bytewise order)", coll)
		}
	})
}
