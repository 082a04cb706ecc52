package sqlstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/conformance"
)

func sqliteURL(t *testing.T) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "amlid.db")
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	t.Run("Conformance", func(t *testing.T) {
		t.Parallel()
		conformance.RunTests(t, func(t *testing.T) store.Store {
			st, err := Open(t.Context(), sqliteURL(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	for _, st := range sharedTests {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			st.run(t, sqliteURL(t))
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	db := mustOpen(t, sqliteURL(t))
	ctx := t.Context()
	for _, c := range []struct {
		h      string
		pragma string
		want   string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "10000"},
		{"reader", "journal_mode", "wal"},
		{"reader", "busy_timeout", "10000"},
		{"reader", "query_only", "1"},
	} {
		h := db.w
		if c.h == "reader" {
			h = db.r
		}
		var got string
		if err := h.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", c.h, c.pragma, err)
		}
		if !strings.EqualFold(got, c.want) {
			t.Errorf("%s PRAGMA %s = %s, want %s", c.h, c.pragma, got, c.want)
		}
	}
	if n := db.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
}

func TestSQLiteURLForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct{ url, file string }{
		{"sqlite://" + filepath.Join(dir, "a.db"), "a.db"},
		{filepath.Join(dir, "plain.db"), "plain.db"},
		// Characters that mean something in a URI are part of the name.
		{"sqlite://" + filepath.Join(dir, "we?ird %41 #name.db"), "we?ird %41 #name.db"},
		{filepath.Join(dir, "q?x=1.db"), "q?x=1.db"},
	} {
		st, err := Open(t.Context(), c.url)
		if err != nil {
			t.Fatalf("Open(%q): %v", c.url, err)
		}
		if _, err := store.Create(t.Context(), st, store.Record{Kind: "k", Key: "x", Value: []byte(`{}`)}); err != nil {
			t.Fatalf("%q: Create: %v", c.url, err)
		}
		st.Close()
		if _, err := os.Stat(filepath.Join(dir, c.file)); err != nil {
			t.Fatalf("Open(%q) did not create %q: %v", c.url, c.file, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"",
		"memory:",
		"memory",
		"mysql://root@localhost/amlid",
		"sqlite://",
		"file:/tmp/x.db",
	} {
		if u == "memory" {
			continue // a plain (relative) file name: not an error
		}
		if st, err := Open(t.Context(), u); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		} else {
			t.Logf("Open(%q): %v", u, err)
		}
	}
	// A directory that does not exist: wrapped driver error, not a panic.
	_, err := Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "missing", "dir", "amlid.db"))
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Open in a missing directory: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url, dialect, dsn string
	}{
		{"sqlite:///var/lib/amlid/amlid.db", "sqlite", "/var/lib/amlid/amlid.db"},
		{"sqlite://rel/amlid.db", "sqlite", "rel/amlid.db"},
		{"/abs/amlid.db", "sqlite", "/abs/amlid.db"},
		{"amlid.db", "sqlite", "amlid.db"},
		{"postgres://u:p@h:5432/db?sslmode=disable", "postgres", "postgres://u:p@h:5432/db?sslmode=disable"},
		{"postgresql://h/db", "postgres", "postgresql://h/db"},
	} {
		d, dsn, err := parseURL(c.url)
		if err != nil || d.name != c.dialect || dsn != c.dsn {
			t.Errorf("parseURL(%q) = %v, %q, %v; want %s, %q", c.url, d, dsn, err, c.dialect, c.dsn)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"a", "b", true},
		{"a/", "a0", true},
		{"az", "a{", true},
		{"é", "ê", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF\U0010FFFF", "", false},
		{"a\uD7FF", "a\uE000", true},
		{"a\xff", "b", true},
		{"a\x80", "a\x81", true},
	} {
		got, ok := prefixEnd(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
