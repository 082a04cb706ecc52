package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// querier is what *sql.DB and *sql.Tx share for reading.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtQuerier runs one prepared statement whatever query text it is given
// (get passes the statement's own text).
type stmtQuerier struct{ st *sql.Stmt }

func (q stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return q.st.QueryContext(ctx, args...)
}

func (q stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return q.st.QueryRowContext(ctx, args...)
}

// tx is a store.Tx on an open SQL transaction.
type tx struct {
	db    *DB
	tx    *sql.Tx
	dirty bool // something was written: bump the revision at commit
}

func (t *tx) Get(ctx context.Context, kind, key string) (store.Record, error) {
	return get(ctx, t.tx, &t.db.q, kind, key)
}

func (t *tx) List(ctx context.Context, kind string, o store.ListOptions) ([]store.Record, error) {
	return list(ctx, t.tx, t.db.d, kind, o)
}

func (t *tx) Create(ctx context.Context, r store.Record) (store.Record, error) {
	now := now()
	r.Created, r.Updated, r.ETag = now, now, newETag()
	r.Value = clone(r.Value)
	res, err := t.tx.ExecContext(ctx, t.db.q.insert,
		r.Kind, r.Key, r.Parent, r.Value, r.ETag, r.Created.UnixNano(), r.Updated.UnixNano())
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlstore: create %s/%s: %w", r.Kind, r.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlstore: create %s/%s: %w", r.Kind, r.Key, err)
	}
	if n == 0 {
		return store.Record{}, store.ErrAlreadyExists
	}
	t.dirty = true
	return r, nil
}

func (t *tx) Put(ctx context.Context, r store.Record, ifMatch string) (store.Record, error) {
	etag, created, exists, err := t.current(ctx, r.Kind, r.Key)
	if err != nil {
		return store.Record{}, err
	}
	if err := store.CheckIfMatch(exists, etag, ifMatch); err != nil {
		return store.Record{}, err
	}
	now := now()
	r.Created, r.Updated, r.ETag = now, now, newETag()
	r.Value = clone(r.Value)
	var res sql.Result
	if exists {
		r.Created = created
		res, err = t.tx.ExecContext(ctx, t.db.q.update,
			r.Parent, r.Value, r.ETag, r.Updated.UnixNano(), r.Kind, r.Key)
	} else {
		res, err = t.tx.ExecContext(ctx, t.db.q.insert,
			r.Kind, r.Key, r.Parent, r.Value, r.ETag, r.Created.UnixNano(), r.Updated.UnixNano())
	}
	if err == nil {
		err = wantOneRow(res)
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("sqlstore: put %s/%s: %w", r.Kind, r.Key, err)
	}
	t.dirty = true
	return r, nil
}

func (t *tx) Delete(ctx context.Context, kind, key, ifMatch string) error {
	etag, _, exists, err := t.current(ctx, kind, key)
	if err != nil {
		return err
	}
	if !exists {
		return store.ErrNotFound
	}
	if err := store.CheckIfMatch(exists, etag, ifMatch); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, t.db.q.delete, kind, key)
	if err == nil {
		err = wantOneRow(res)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: delete %s/%s: %w", kind, key, err)
	}
	t.dirty = true
	return nil
}

// current reads the ETag and creation time of kind/key, if it exists.
func (t *tx) current(ctx context.Context, kind, key string) (etag string, created time.Time, exists bool, err error) {
	var createdNS int64
	err = t.tx.QueryRowContext(ctx, t.db.q.current, kind, key).Scan(&etag, &createdNS)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", time.Time{}, false, nil
	case err != nil:
		return "", time.Time{}, false, fmt.Errorf("sqlstore: read %s/%s: %w", kind, key, err)
	}
	return etag, fromNanos(createdNS), true, nil
}

// wantOneRow checks that a write touched exactly one row. Writers run one at
// a time, so anything else means the database changed under us.
func wantOneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%w: %d rows affected, want 1", store.ErrConflict, n)
	}
	return nil
}

func get(ctx context.Context, q querier, qs *queries, kind, key string) (store.Record, error) {
	r := store.Record{Kind: kind, Key: key}
	var created, updated int64
	err := q.QueryRowContext(ctx, qs.get, kind, key).Scan(&r.Parent, &r.Value, &r.ETag, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Record{}, store.ErrNotFound
	case err != nil:
		return store.Record{}, fmt.Errorf("sqlstore: get %s/%s: %w", kind, key, err)
	}
	r.Created, r.Updated = fromNanos(created), fromNanos(updated)
	return r, nil
}

func list(ctx context.Context, q querier, d *dialect, kind string, o store.ListOptions) ([]store.Record, error) {
	var sb strings.Builder
	sb.WriteString("SELECT key, parent, value, etag, created, updated FROM records WHERE kind = ?")
	args := []any{kind}
	if o.Parent != "" {
		sb.WriteString(" AND parent = ?")
		args = append(args, o.Parent)
	}
	if o.KeyPrefix != "" {
		// A range on the primary key instead of LIKE: LIKE has wildcards
		// to escape, is case-insensitive in SQLite and cannot use the
		// index under PostgreSQL's "C" collation without a special opclass.
		sb.WriteString(" AND key >= ?")
		args = append(args, o.KeyPrefix)
		if end, ok := prefixEnd(o.KeyPrefix); ok {
			sb.WriteString(" AND key < ?")
			args = append(args, end)
		}
	}
	if o.After != "" {
		sb.WriteString(" AND key > ?")
		args = append(args, o.After)
	}
	sb.WriteString(" ORDER BY key")
	if o.Limit > 0 {
		sb.WriteString(" LIMIT ?")
		args = append(args, o.Limit)
	}
	rows, err := q.QueryContext(ctx, d.rebind(sb.String()), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list %s: %w", kind, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r := store.Record{Kind: kind}
		var created, updated int64
		if err := rows.Scan(&r.Key, &r.Parent, &r.Value, &r.ETag, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlstore: list %s: %w", kind, err)
		}
		r.Created, r.Updated = fromNanos(created), fromNanos(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list %s: %w", kind, err)
	}
	return out, nil
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, in bytewise order, so that "key >= prefix AND key <
// end" selects exactly the keys with that prefix. It increments the last
// code point (skipping the surrogate range, which UTF-8 cannot encode),
// dropping trailing U+10FFFF; ok is false when no such bound exists.
// Invalid UTF-8 is handled byte by byte.
func prefixEnd(prefix string) (end string, ok bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		head := prefix[:len(prefix)-size]
		switch {
		case r == utf8.RuneError && size == 1:
			if b := prefix[len(prefix)-1]; b < 0xff {
				return head + string([]byte{b + 1}), true
			}
		case r < utf8.MaxRune:
			r++
			if r == 0xD800 {
				r = 0xE000
			}
			return head + string(r), true
		}
		prefix = head
	}
	return "", false
}

func now() time.Time { return fromNanos(time.Now().UnixNano()) }

// fromNanos is how times come back from the database; writes return the
// same value so a record read back equals the one a write returned.
func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func newETag() string { return uuid.NewString() }

// clone copies v and never returns nil (value is NOT NULL).
func clone(v []byte) []byte { return append([]byte{}, v...) }
