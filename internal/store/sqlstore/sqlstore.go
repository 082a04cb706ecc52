// Package sqlstore is the durable store backend: one SQL implementation of
// store.Store shared by two dialects, SQLite (modernc.org/sqlite, pure Go, so
// CGO_ENABLED=0 builds work) and PostgreSQL (github.com/jackc/pgx/v5 through
// its database/sql adapter).
//
// Open picks the dialect from the URL:
//
//	sqlite:///abs/path/amlid.db    SQLite file, created if missing; the part
//	                               after "sqlite://" is a literal file path
//	sqlite://rel/path/amlid.db     relative to the working directory
//	/abs/path/amlid.db, ./amlid.db a plain file path is SQLite too
//	postgres://user:pw@host:5432/db?sslmode=disable   (postgresql:// too;
//	                               any parameter pgx understands, e.g. search_path)
//
// "memory:" is not a database URL: callers that offer an in-memory store
// handle it before calling Open (server.OpenStore does).
//
// Schema. Records live in one table, records(kind, key, parent, value, etag,
// created, updated) with primary key (kind, key) and an index on
// (kind, parent, key). Keys and parents compare bytewise in both dialects
// (SQLite's BINARY collation, COLLATE "C" on PostgreSQL), which is the order
// Go's string comparison and the memory backend use. PostgreSQL text holds
// neither NUL nor invalid UTF-8, so kinds, keys and parents must be valid
// UTF-8 without NUL (a write that breaks this fails with a wrapped error).
// Values are stored as bytes (BLOB/BYTEA), exactly as given. Times are Unix
// nanoseconds (BIGINT).
// store_meta holds one row with the store revision, bumped in the same
// transaction as every committed write, so it is atomic with the data it
// announces and visible to every process sharing the database.
// schema_migrations records the numbered migrations applied (see migrate.go).
//
// Concurrency. Every Tx is a write transaction and write transactions run one
// at a time; reads outside a Tx run concurrently and see committed data only.
// See the SQLite and PostgreSQL dialects for how each enforces this.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a store.Store on a SQL database. Safe for concurrent use.
type DB struct {
	d *dialect
	// w runs transactions (store.Tx); r runs reads outside a transaction.
	// For PostgreSQL both are the same pool; for SQLite w is a single
	// connection and r a pool of read-only connections.
	w, r *sql.DB
	q    queries
	// Prepared reads outside transactions: a one-shot query makes the
	// driver compile the statement on every call (for SQLite about as much
	// work as running it), and Get runs several times per data-plane
	// request. database/sql prepares each on a connection once.
	getStmt, revStmt *sql.Stmt
}

// Open opens (creating if needed) the database named by rawURL and brings its
// schema up to date. A database whose schema is newer than this binary knows
// fails with an error wrapping store.ErrSchemaTooNew. The result is a *DB.
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	db, err := open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return db, nil
}

func open(ctx context.Context, rawURL string) (*DB, error) {
	d, dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := d.open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", redact(rawURL), err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %s: %w", redact(rawURL), err)
	}
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %s: prepare: %w", redact(rawURL), err)
	}
	return db, nil
}

// parseURL picks the dialect and returns the driver's data source name.
func parseURL(rawURL string) (*dialect, string, error) {
	scheme, rest, hasScheme := strings.Cut(rawURL, "://")
	switch {
	case rawURL == "":
		return nil, "", errors.New("sqlstore: empty database URL")
	case hasScheme && (scheme == "postgres" || scheme == "postgresql"):
		return postgres, rawURL, nil
	case hasScheme && scheme == "sqlite":
		// sqlite:///abs/path keeps its leading slash; sqlite://rel/path is
		// relative. The rest is taken literally as a file path (no
		// percent-decoding, no query: the store chooses the pragmas), which
		// is how server.OpenStore builds it from the data directory.
		if rest == "" {
			return nil, "", fmt.Errorf("sqlstore: %q names no file", rawURL)
		}
		return sqlite, rest, nil
	case strings.HasPrefix(rawURL, "memory:"):
		return nil, "", fmt.Errorf("sqlstore: %q is the in-memory store, which the caller opens (memory.New)", rawURL)
	case hasScheme || strings.HasPrefix(rawURL, "file:"):
		return nil, "", fmt.Errorf("sqlstore: unsupported database URL %q (want sqlite:///path, a file path, or postgres://…)", redact(rawURL))
	default:
		return sqlite, rawURL, nil // a plain file path
	}
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// open connects without migrating.
func (d *dialect) open(ctx context.Context, dsn string) (*DB, error) {
	w, r, err := d.connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &DB{d: d, w: w, r: r, q: newQueries(d)}, nil
}

// prepare makes the prepared statements (after migration: they name the
// tables).
func (db *DB) prepare(ctx context.Context) error {
	var err error
	if db.getStmt, err = db.r.PrepareContext(ctx, db.q.get); err != nil {
		return err
	}
	db.revStmt, err = db.r.PrepareContext(ctx, db.q.revision)
	return err
}

// Close closes the database handles.
func (db *DB) Close() error {
	for _, st := range []*sql.Stmt{db.getStmt, db.revStmt} {
		if st != nil {
			st.Close()
		}
	}
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Get reads one committed record.
func (db *DB) Get(ctx context.Context, kind, key string) (store.Record, error) {
	if db.getStmt == nil { // opened without migrating (tests)
		return get(ctx, db.r, &db.q, kind, key)
	}
	return get(ctx, stmtQuerier{db.getStmt}, &db.q, kind, key)
}

// List reads committed records ordered by key.
func (db *DB) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	return list(ctx, db.r, db.d, kind, o)
}

// Revision reads the store revision.
func (db *DB) Revision(ctx context.Context) (int64, error) {
	var rev int64
	var row *sql.Row
	if db.revStmt != nil {
		row = db.revStmt.QueryRowContext(ctx)
	} else { // opened without migrating (tests)
		row = db.r.QueryRowContext(ctx, db.q.revision)
	}
	if err := row.Scan(&rev); err != nil {
		return 0, fmt.Errorf("sqlstore: read revision: %w", err)
	}
	return rev, nil
}

// maxAttempts bounds how often Tx runs fn when the database reports a
// serialisation failure or deadlock.
const maxAttempts = 10

// Tx runs fn in a write transaction; see store.Store. fn runs again (up to
// maxAttempts in all) if the database aborts the transaction with a
// serialisation failure or a deadlock; after that Tx fails with an error
// wrapping store.ErrConflict. fn must not call Tx on the same store: write
// transactions are serialised, so a nested one waits for ever.
func (db *DB) Tx(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.tx(ctx, fn)
		if err == nil || !db.d.retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w: transaction aborted %d times by concurrent writers: %w", store.ErrConflict, attempt, err)
		}
		// Back off a little, with jitter, before the next attempt.
		wait := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (db *DB) tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sqlTx, err := db.w.BeginTx(ctx, db.d.txOptions)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	done := false
	defer func() {
		// Also runs when fn panics, so the connection (for SQLite, the one
		// writer connection) goes back to the pool.
		if !done {
			sqlTx.Rollback()
		}
	}()
	if db.q.lockWriters != "" {
		if _, err := sqlTx.ExecContext(ctx, db.q.lockWriters); err != nil {
			return fmt.Errorf("sqlstore: take the writer lock: %w", err)
		}
	}
	t := &tx{db: db, tx: sqlTx}
	if err := fn(t); err != nil {
		return err
	}
	if t.dirty {
		if _, err := sqlTx.ExecContext(ctx, db.q.bumpRevision); err != nil {
			return fmt.Errorf("sqlstore: bump revision: %w", err)
		}
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

// sqliteFileDSN turns a file path into the driver's file: URI, so that any
// character in the path ('?', '#', '%') is taken literally.
func sqliteFileDSN(path string, params url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	return u.String(), nil
}
