package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/seal"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/sqlstore"
	"github.com/amlid/amlid/internal/token"
)

// A data dir an earlier version left behind (amlid.db 0644, a resource's
// storage key in clear) is narrowed and sealed when amlid
// starts on it; the server still reads what it sealed.
func TestStartSealsAndNarrowsAnEarlierDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "amlid.db")
	st, err := sqlstore.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	const key = "c3RvcmFnZS1hY2NvdW50LWtleS1pbi1jbGVhcg=="
	resID := "/subscriptions/00000000-0000-0000-0000-000000000001/resourcegroups/old/providers/microsoft.storage/storageaccounts/oldacct"
	res := `{"resource":{"id":"` + resID + `","name":"oldacct","type":"Microsoft.Storage/storageAccounts","location":"eastus","properties":{}},"internal":{"keys":["` + key + `"]}}`
	if _, err := store.Put(ctx, st, store.Record{Kind: arm.KindResource, Key: resID, Value: []byte(res)}, ""); err != nil {
		t.Fatal(err)
	}
	st.Close()
	os.Chmod(db, 0o644)
	os.MkdirAll(filepath.Join(dir, "ml", "logs"), 0o755)

	s, err := Start(ctx, Options{DataDir: dir, Port: -1, MSIPort: -1, BlobPort: -1, ResourcePortBase: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s.Close(c)
	}()
	got, err := s.Store.Get(ctx, arm.KindResource, resID)
	if err != nil || !strings.Contains(string(got.Value), key) {
		t.Fatalf("the server must read the record it sealed: %s %v", got.Value, err)
	}
	for _, p := range []string{db, filepath.Join(dir, "ml"), filepath.Join(dir, "ml", "logs")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	raw, err := sqlstore.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	r, err := raw.Get(ctx, arm.KindResource, resID)
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealedValue(r.Value) || strings.Contains(string(r.Value), key) {
		t.Errorf("the earlier version's record is still in clear: %.120s", r.Value)
	}
	// The signing key the token service made is sealed too.
	keys, err := raw.List(ctx, token.KindKey, store.ListOptions{})
	if err != nil || len(keys) == 0 {
		t.Fatalf("signing keys: %d %v", len(keys), err)
	}
	for _, k := range keys {
		if !seal.IsSealedValue(k.Value) || strings.Contains(string(k.Value), "PRIVATE KEY") {
			t.Errorf("signing key %s is in clear", k.Key)
		}
	}
}
