package paging_test

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/store/memory"
)

func TestTokens(t *testing.T) {
	st := memory.New()
	c := paging.New(st)
	ctx := t.Context()
	tok, err := c.Token(ctx, "/subscriptions/s/resourcegroups", "/subscriptions/s/resourcegroups/rg1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Cursor(ctx, "/subscriptions/s/resourcegroups", tok); err != nil || got != "/subscriptions/s/resourcegroups/rg1" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	// Another codec on the same store (a restart, a replica) reads it.
	if got, err := paging.New(st).Cursor(ctx, "/subscriptions/s/resourcegroups", tok); err != nil || got != "/subscriptions/s/resourcegroups/rg1" {
		t.Fatalf("second codec: %q, %v", got, err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for name, bad := range map[string]string{
		"empty": "", "not base64": "%%%", "short": "AQ", "number": "100",
		"cursor changed": flip(5), "mac changed": flip(len(raw) - 1), "version changed": flip(0),
		"truncated": tok[:len(tok)-2],
	} {
		if _, err := c.Cursor(ctx, "/subscriptions/s/resourcegroups", bad); !errors.Is(err, paging.ErrInvalid) {
			t.Errorf("%s token %q: %v, want ErrInvalid", name, bad, err)
		}
	}
	if _, err := c.Cursor(ctx, "/subscriptions/s/resourcegroups/rg1/resources", tok); !errors.Is(err, paging.ErrInvalid) {
		t.Errorf("a token of another listing: %v, want ErrInvalid", err)
	}
	if _, err := paging.New(memory.New()).Cursor(ctx, "/subscriptions/s/resourcegroups", tok); !errors.Is(err, paging.ErrInvalid) {
		t.Errorf("a token of another store's key: %v, want ErrInvalid", err)
	}
}
