package seal

import (
	"bytes"
	"context"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
)

// BenchmarkGet measures what sealing costs an ARM read: a 1 KiB record
// through the plain memory store and through the sealing decorator.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s, _ := New(bytes.Repeat([]byte{7}, 32))
	value := []byte(`{"resource":{"properties":{"x":"` + string(bytes.Repeat([]byte("a"), 1000)) + `"}}}`)
	for _, c := range []struct {
		name string
		st   store.Store
	}{{"clear", memory.New()}, {"sealed", s.Store(memory.New(), "arm.resource")}} {
		if _, err := store.Put(ctx, c.st, store.Record{Kind: "arm.resource", Key: "/r", Value: value}, ""); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.st.Get(ctx, "arm.resource", "/r"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
