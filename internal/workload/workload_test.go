package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/amlid/amlid/internal/directory"
)

const (
	resSAI = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/computes/cpu"
	resUAI = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep"
)

var (
	sai  = &directory.Principal{ObjectID: "o-sai", AppID: "c-sai", Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity, ResourceID: resSAI, SystemAssigned: true}
	uai1 = &directory.Principal{ObjectID: "o-uai1", AppID: "c-uai1", Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity, ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"}
	app  = &directory.Principal{ObjectID: "o-app", AppID: "c-app", Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication}
)

func resolver() ResolverFunc {
	return func(_ context.Context, id string) ([]*directory.Principal, error) {
		switch strings.ToLower(id) {
		case strings.ToLower(resSAI):
			return []*directory.Principal{sai, uai1}, nil
		case strings.ToLower(resUAI):
			return []*directory.Principal{uai1, nil, app}, nil
		case "broken":
			return nil, errors.New("boom")
		}
		return nil, fmt.Errorf("resource %s: %w", id, directory.ErrNotFound)
	}
}

var (
	hex64    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	handleRE = regexp.MustCompile(`^wl-[0-9a-f]{12}$`)
)

func TestRegisterCredentials(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		w, err := r.Register(ctx, resSAI, WithLabel("job"))
		if err != nil {
			t.Fatal(err)
		}
		if !hex64.MatchString(w.ID) || !hex64.MatchString(w.Secret) || len(w.ID) != IDLen {
			t.Fatalf("ID %q / secret %q: want 64 lower-case hex characters (256 bits)", w.ID, w.Secret)
		}
		if seen[w.ID] || seen[w.Secret] || w.ID == w.Secret {
			t.Fatal("credentials repeat")
		}
		seen[w.ID], seen[w.Secret] = true, true
		if !handleRE.MatchString(w.Handle) || strings.Contains(w.ID, w.Handle[3:]) || strings.Contains(w.Secret, w.Handle[3:]) {
			t.Fatalf("handle %q", w.Handle)
		}
		if w.Label != "job" || w.ResourceID != resSAI || w.Created.IsZero() {
			t.Fatalf("%+v", *w)
		}
	}
	if r.Len() != 200 {
		t.Fatalf("Len %d", r.Len())
	}
}

func TestDefaultClientID(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	w, err := r.Register(ctx, resSAI)
	if err != nil {
		t.Fatal(err)
	}
	if w.DefaultClientID != "" {
		t.Fatalf("system-assigned default: DefaultClientID %q, want empty", w.DefaultClientID)
	}
	w, err = r.Register(ctx, resUAI)
	if err != nil {
		t.Fatal(err)
	}
	if w.DefaultClientID != uai1.AppID {
		t.Fatalf("user-assigned default: DefaultClientID %q, want %q (rule CMP-3)", w.DefaultClientID, uai1.AppID)
	}
	ids, err := r.Identities(ctx, w)
	if err != nil || len(ids) != 1 || ids[0] != uai1 {
		t.Fatalf("Identities keeps only managed identities: %v %v", ids, err)
	}
}

func TestRegisterErrors(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	if _, err := r.Register(ctx, " "); !errors.Is(err, ErrNoResource) {
		t.Fatalf("empty resource: %v", err)
	}
	if _, err := r.Register(ctx, "/subscriptions/s/nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown resource: %v", err)
	}
	if _, err := r.Register(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("resolver error: %v", err)
	}
	if r.Len() != 0 {
		t.Fatal("a failed registration left a workload")
	}
}

func TestAuthenticate(t *testing.T) {
	r := NewRegistry(resolver())
	w, err := r.Register(context.Background(), resSAI)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Authenticate(w.ID, w.Secret); !ok || got.ID != w.ID {
		t.Fatal("right secret refused")
	}
	for name, c := range map[string][2]string{
		"wrong secret":   {w.ID, strings.Repeat("0", 64)},
		"empty secret":   {w.ID, ""},
		"secret prefix":  {w.ID, w.Secret[:63]},
		"secret + more":  {w.ID, w.Secret + "0"},
		"upper secret":   {w.ID, strings.ToUpper(w.Secret)},
		"unknown ID":     {strings.Repeat("1", 64), w.Secret},
		"upper ID":       {strings.ToUpper(w.ID), w.Secret},
		"swapped":        {w.Secret, w.ID},
		"empty":          {"", ""},
		"short ID":       {w.ID[:10], w.Secret},
		"ID with suffix": {w.ID + "/", w.Secret},
	} {
		if _, ok := r.Authenticate(c[0], c[1]); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if !SecretMatches(w, w.Secret) || SecretMatches(w, "") || SecretMatches(nil, "") || SecretMatches(&Workload{}, "") {
		t.Fatal("SecretMatches")
	}
}

func TestCopiesAndUnregister(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	w, _ := r.Register(ctx, resSAI)
	w.ResourceID, w.Secret = resUAI, "changed"
	got, ok := r.ByID(w.ID)
	if !ok || got.ResourceID != resSAI || got.Secret == "changed" {
		t.Fatal("changing a returned workload changed the registry")
	}
	for _, l := range r.List() {
		if l.ID != "" || l.Secret != "" {
			t.Fatal("List exposes credentials")
		}
	}
	r.Unregister(w.ID)
	r.Unregister(w.ID) // idempotent
	if _, ok := r.ByID(w.ID); ok {
		t.Fatal("still registered")
	}
	if _, ok := r.Authenticate(got.ID, got.Secret); ok {
		t.Fatal("an ended workload authenticated")
	}
	if _, err := r.Identities(ctx, got); !errors.Is(err, ErrUnknownWorkload) {
		t.Fatalf("Identities of an ended workload: %v", err)
	}
	a, _ := r.Register(ctx, resUAI)
	b, _ := r.Register(ctx, resUAI)
	c, _ := r.Register(ctx, resSAI)
	if n := r.UnregisterResource(strings.ToUpper(resUAI)); n != 2 {
		t.Fatalf("UnregisterResource: %d", n)
	}
	for _, x := range []*Workload{a, b} {
		if _, ok := r.ByID(x.ID); ok {
			t.Fatal("workload of a deleted resource lives on")
		}
	}
	if _, ok := r.ByID(c.ID); !ok {
		t.Fatal("another resource's workload died")
	}
}

// TestResourceGoneMeansNoIdentity: a resource deleted while its workload
// runs has no identities (the endpoint answers 400, not 500).
func TestResourceGoneMeansNoIdentity(t *testing.T) {
	gone := false
	r := NewRegistry(ResolverFunc(func(ctx context.Context, id string) ([]*directory.Principal, error) {
		if gone {
			return nil, directory.ErrNotFound
		}
		return []*directory.Principal{uai1}, nil
	}))
	w, err := r.Register(context.Background(), resUAI)
	if err != nil {
		t.Fatal(err)
	}
	gone = true
	ids, err := r.Identities(context.Background(), w)
	if err != nil || len(ids) != 0 {
		t.Fatalf("%v %v", ids, err)
	}
}

func TestNoCredentialsInLogsOrStrings(t *testing.T) {
	r := NewRegistry(resolver())
	w, _ := r.Register(context.Background(), resSAI, WithLabel("job j1"))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("started", "workload", w)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("started", "workload", w)
	out := buf.String() + fmt.Sprint(w) + fmt.Sprintf("%v %s", w, w)
	if strings.Contains(out, w.ID) || strings.Contains(out, w.Secret) {
		t.Fatalf("credentials in %q", out)
	}
	if !strings.Contains(out, w.Handle) || !strings.Contains(out, resSAI) {
		t.Fatalf("log lacks the handle/resource: %q", out)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := NewRegistry(resolver())
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				w, err := r.Register(ctx, resSAI)
				if err != nil {
					t.Error(err)
					return
				}
				if _, ok := r.Authenticate(w.ID, w.Secret); !ok {
					t.Error("authenticate")
				}
				_, _ = r.Identities(ctx, w)
				_ = r.List()
				r.Unregister(w.ID)
			}
		}()
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("Len %d", r.Len())
	}
}
