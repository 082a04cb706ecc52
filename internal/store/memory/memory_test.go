package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/conformance"
	"github.com/amlid/amlid/internal/store/memory"
)

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return memory.New() })
}

// A read outside a transaction (an RBAC check made while a write is in
// flight) neither waits for the transaction nor sees its uncommitted writes.
func TestReadDuringTransaction(t *testing.T) {
	m := memory.New()
	ctx := context.Background()
	err := m.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, store.Record{Kind: "k", Key: "a", Value: []byte("1")}); err != nil {
			return err
		}
		if _, err := m.Get(ctx, "k", "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an uncommitted write is visible outside the transaction: %v", err)
		}
		if r, err := tx.Get(ctx, "k", "a"); err != nil || string(r.Value) != "1" {
			t.Errorf("the transaction does not see its own write: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := m.Get(ctx, "k", "a"); err != nil || string(r.Value) != "1" {
		t.Fatalf("after commit: %v", err)
	}
}
