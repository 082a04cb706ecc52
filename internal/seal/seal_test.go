package seal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
)

const secret = `{"keys":["c3VwZXItc2VjcmV0LWFjY291bnQta2V5"]}`

// Records of sealed kinds never reach the backend in clear, read back in
// clear, and do not open under another record's key; other kinds are
// untouched; clear records of an earlier version are sealed by Migrate.
func TestSealedStore(t *testing.T) {
	ctx := context.Background()
	raw := memory.New()
	keyFile := filepath.Join(t.TempDir(), "keys", "vault.key")
	// A record written before sealing existed.
	if _, err := store.Create(ctx, raw, store.Record{Kind: "arm.resource", Key: "/old", Value: []byte(secret)}); err != nil {
		t.Fatal(err)
	}
	s, err := Load(ctx, raw, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	st := s.Store(raw, "arm.resource")
	if got, err := st.Get(ctx, "arm.resource", "/old"); err != nil || string(got.Value) != secret {
		t.Fatalf("a clear record of an earlier version must still read: %s %v", got.Value, err)
	}
	if n, err := Migrate(ctx, st); err != nil || n != 1 {
		t.Fatalf("migrate: %d %v", n, err)
	}
	out, err := store.Put(ctx, st, store.Record{Kind: "arm.resource", Key: "/new", Value: []byte(secret)}, "")
	if err != nil || string(out.Value) != secret {
		t.Fatalf("put answers the clear value: %s %v", out.Value, err)
	}
	store.Put(ctx, st, store.Record{Kind: "other", Key: "k", Value: []byte(secret)}, "")
	for _, key := range []string{"/old", "/new"} {
		r, _ := raw.Get(ctx, "arm.resource", key)
		if bytes.Contains(r.Value, []byte("c3VwZXI")) || !IsSealedValue(r.Value) {
			t.Fatalf("%s is stored in clear: %s", key, r.Value)
		}
		got, err := st.Get(ctx, "arm.resource", key)
		if err != nil || string(got.Value) != secret {
			t.Fatalf("%s: %s %v", key, got.Value, err)
		}
	}
	if r, _ := raw.Get(ctx, "other", "k"); string(r.Value) != secret {
		t.Fatalf("kinds not listed stay as they are: %s", r.Value)
	}
	// A sealed value copied onto another record does not open.
	r, _ := raw.Get(ctx, "arm.resource", "/old")
	store.Put(ctx, raw, store.Record{Kind: "arm.resource", Key: "/copy", Value: r.Value}, "")
	if _, err := st.Get(ctx, "arm.resource", "/copy"); err == nil {
		t.Fatal("a sealed value must not open under another record's key")
	}
	// List and Tx reads open too.
	recs, err := st.List(ctx, "arm.resource", store.ListOptions{KeyPrefix: "/n"})
	if err != nil || len(recs) != 1 || string(recs[0].Value) != secret {
		t.Fatalf("list: %v %v", recs, err)
	}
	// Another key file is refused; a missing one names the file.
	other := filepath.Join(t.TempDir(), "vault.key")
	os.WriteFile(other, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600)
	if _, err := Load(ctx, raw, other); err == nil || !strings.Contains(err.Error(), "did not seal this store") {
		t.Fatalf("another key: %v", err)
	}
	if _, err := Load(ctx, raw, filepath.Join(t.TempDir(), "missing.key")); err == nil || !strings.Contains(err.Error(), "restore the file") {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := Load(ctx, raw, keyFile); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
}
