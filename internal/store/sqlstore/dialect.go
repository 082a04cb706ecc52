package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// dialect is what differs between the SQL databases; everything else in this
// package is shared.
type dialect struct {
	name string
	// connect opens the handle for transactions (w) and the one for reads
	// outside them (r); they may be the same.
	connect func(ctx context.Context, dsn string) (w, r *sql.DB, err error)
	// text and blob are the column types for strings compared bytewise
	// and for raw bytes.
	text, blob string
	// txOptions are passed to BeginTx for every transaction.
	txOptions *sql.TxOptions
	// lockWriters, if set, is the first statement of every Tx; it makes
	// write transactions run one at a time.
	lockWriters string
	// lockMigrations, if set, is the first statement of the migration
	// transaction, so two processes opening a new database do not both
	// create its tables.
	lockMigrations string
	// numbered placeholders ($1, $2…) instead of '?'.
	numbered bool
	// retryable reports a transaction the database aborted because of a
	// concurrent one; Tx runs fn again.
	retryable func(error) bool
}

// SQLite.
//
// Concurrency: one writer connection plus a pool of read-only connections.
// All write transactions of this process queue for the single writer
// connection inside database/sql (honouring ctx), so they never meet inside
// SQLite: no SQLITE_BUSY, no busy-wait polling, no deadlock between two
// transactions that both read and then want to write. Reads outside a Tx use
// the reader pool; in WAL mode they run in parallel with the writer and see
// the last committed state. The writer still begins with BEGIN IMMEDIATE
// (_txlock=immediate) because another process may share the file (a second
// replica, `amlid` CLI tooling): IMMEDIATE takes the write lock up front and
// waits for it under busy_timeout, whereas a deferred transaction that read
// first would fail with SQLITE_BUSY_SNAPSHOT when upgrading to a write, which
// busy_timeout cannot resolve.
//
// Durability: WAL with synchronous=FULL syncs the WAL on every commit, so a
// transaction that Tx reported committed survives kill -9 and power loss.
var sqlite = &dialect{
	name:      "sqlite",
	connect:   connectSQLite,
	text:      "TEXT",
	blob:      "BLOB",
	retryable: func(error) bool { return false },
}

// busyTimeout is how long SQLite waits for a lock held by another process.
const busyTimeout = 10 * time.Second

func connectSQLite(ctx context.Context, path string) (w, r *sql.DB, err error) {
	busy := strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	wDSN, err := sqliteFileDSN(path, url.Values{
		"_txlock":       {"immediate"},
		"_busy_timeout": {busy},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
	})
	if err != nil {
		return nil, nil, err
	}
	rDSN, err := sqliteFileDSN(path, url.Values{
		"_busy_timeout": {busy},
		"_foreign_keys": {"1"},
		"_query_only":   {"1"},
	})
	if err != nil {
		return nil, nil, err
	}
	w, err = sql.Open("sqlite", wDSN)
	if err != nil {
		return nil, nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL before any
	// reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, nil, err
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, nil, fmt.Errorf("journal_mode is %q, want wal (is the file on a filesystem without shared memory?)", mode)
	}
	r, err = sql.Open("sqlite", rDSN)
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return w, r, nil
}

// PostgreSQL.
//
// Isolation: READ COMMITTED plus one writer lock. Every Tx first locks the
// single store_meta row (SELECT … FOR UPDATE), which it must update anyway
// to bump the revision; write transactions therefore run one at a time, in
// every process sharing the database, and each statement after the lock
// sees everything committed before it. Serial execution is serialisable, so
// fn's reads (Get, List) and writes form an atomic read-modify-write with no
// lost updates, without SERIALIZABLE's aborts. Taking the lock first rather
// than last also means no deadlocks: every writer waits on the same row
// before touching any other. Reads outside a Tx take no lock and see the
// last committed state.
//
// The alternative, SERIALIZABLE with retries, would conflict anyway on the
// revision row (every write transaction updates it), so writers would run
// one at a time there too, but by aborting and re-running fn. Tx still
// retries fn on 40001/40P01 in case the server forces a stricter level or a
// future query needs it.
var postgres = &dialect{
	name:           "postgres",
	connect:        connectPostgres,
	text:           `TEXT COLLATE "C"`,
	blob:           "BYTEA",
	txOptions:      &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	lockWriters:    "SELECT revision FROM store_meta WHERE id = 1 FOR UPDATE",
	lockMigrations: "SELECT pg_advisory_xact_lock(8314159265358979)", // any constant unique to amlid
	numbered:       true,
	retryable: func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) &&
			(pgErr.Code == "40001" || pgErr.Code == "40P01") // serialization_failure, deadlock_detected
	},
}

func connectPostgres(ctx context.Context, dsn string) (w, r *sql.DB, err error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, db, nil
}

// rebind turns '?' placeholders into the dialect's own. The queries of this
// package hold no '?' other than placeholders.
func (d *dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// queries are the fixed statements, rebound once per dialect.
type queries struct {
	get, current, insert, update, delete string
	revision, bumpRevision, lockWriters  string
}

func newQueries(d *dialect) queries {
	return queries{
		get:          d.rebind("SELECT parent, value, etag, created, updated FROM records WHERE kind = ? AND key = ?"),
		current:      d.rebind("SELECT etag, created FROM records WHERE kind = ? AND key = ?"),
		insert:       d.rebind("INSERT INTO records (kind, key, parent, value, etag, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING"),
		update:       d.rebind("UPDATE records SET parent = ?, value = ?, etag = ?, updated = ? WHERE kind = ? AND key = ?"),
		delete:       d.rebind("DELETE FROM records WHERE kind = ? AND key = ?"),
		revision:     "SELECT revision FROM store_meta WHERE id = 1",
		bumpRevision: "UPDATE store_meta SET revision = revision + 1 WHERE id = 1",
		lockWriters:  d.lockWriters,
	}
}
