package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/amlid/amlid/internal/store"
)

// migration is one numbered schema step. Migrations are append-only: never
// edit one that has shipped, add the next number. A migration's statements
// and its schema_migrations row are committed in one transaction, so a
// database is always at exactly one version.
type migration struct {
	version int
	name    string
	stmts   func(d *dialect) []string
}

var migrations = []migration{
	{
		version: 1,
		name:    "records and revision",
		stmts: func(d *dialect) []string {
			return []string{
				`CREATE TABLE records (
					kind    ` + d.text + ` NOT NULL,
					key     ` + d.text + ` NOT NULL,
					parent  ` + d.text + ` NOT NULL DEFAULT '',
					value   ` + d.blob + ` NOT NULL,
					etag    ` + d.text + ` NOT NULL,
					created BIGINT NOT NULL,
					updated BIGINT NOT NULL,
					PRIMARY KEY (kind, key)
				)`,
				`CREATE INDEX records_kind_parent_key ON records (kind, parent, key)`,
				`CREATE TABLE store_meta (
					id       INTEGER PRIMARY KEY CHECK (id = 1),
					revision BIGINT NOT NULL
				)`,
				`INSERT INTO store_meta (id, revision) VALUES (1, 0)`,
			}
		},
	},
}

// SchemaVersion is the schema version this binary writes: the number of the
// last migration.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema up to SchemaVersion in one transaction, or fails
// with store.ErrSchemaTooNew if the database is already past it.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, db.d.txOptions)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback()
		}
	}()
	if db.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, db.d.lockMigrations); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT NOT NULL,
		applied TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if latest := SchemaVersion(); current > latest {
		return fmt.Errorf("%w: database is at schema version %d, this binary knows up to %d", store.ErrSchemaTooNew, current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		for _, stmt := range m.stmts(db.d) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.d.rebind("INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("migration %d (%s): record it: %w", m.version, m.name, err)
		}
	}
	committed = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
