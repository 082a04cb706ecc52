package sqlstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

func benchSQLite(b *testing.B) *DB {
	db, err := open(b.Context(), "sqlite://"+filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

var benchValue = []byte(`{"id":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id","location":"westeurope","properties":{"principalId":"11111111-1111-1111-1111-111111111111"}}`)

func BenchmarkSQLiteGet(b *testing.B) {
	db := benchSQLite(b)
	const n = 1000
	err := db.Tx(b.Context(), func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.Create(b.Context(), store.Record{Kind: "bench", Key: fmt.Sprint("k", i), Value: benchValue}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := db.Get(b.Context(), "bench", fmt.Sprint("k", i%n)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkSQLitePut measures a durable (fsynced) single-record write.
func BenchmarkSQLitePut(b *testing.B) {
	db := benchSQLite(b)
	i := 0
	for b.Loop() {
		if _, err := store.Put(b.Context(), db, store.Record{Kind: "bench", Key: fmt.Sprint("k", i%1000), Value: benchValue}, ""); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
