package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

var revisionTests = []subtest{
	{"GrowsOnWrite", testRevisionGrows},
	{"StillOnFailure", testRevisionStillOnFailure},
}

var updateTests = []subtest{
	{"ReadModifyWrite", testUpdate},
	{"Missing", testUpdateMissing},
	{"FnError", testUpdateFnError},
	{"KeepsKindAndKey", testUpdateKeepsKindAndKey},
}

func testRevisionGrows(t *testing.T, s store.Store) {
	r0 := mustRevision(t, s)
	step := func(what string, write func()) {
		t.Helper()
		before := mustRevision(t, s)
		write()
		if after := mustRevision(t, s); after <= before {
			t.Fatalf("%s: Revision %d -> %d, want it to grow", what, before, after)
		}
	}
	var r store.Record
	step("Create", func() { r = mustCreate(t, s, rec("conf.rev", "k", "", `{}`)) })
	step("Put", func() { r = mustPut(t, s, rec("conf.rev", "k", "", `{"v":2}`), r.ETag) })
	step("Put insert", func() { mustPut(t, s, rec("conf.rev", "k2", "", `{}`), "") })
	step("Delete", func() { wantErr(t, "Delete", store.Delete(t.Context(), s, "conf.rev", "k", ""), nil) })
	step("Update", func() {
		_, err := store.Update(t.Context(), s, "conf.rev", "k2", func(old store.Record) (store.Record, error) { return old, nil })
		wantErr(t, "Update", err, nil)
	})
	step("multi-write Tx", func() {
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			for i := range 3 {
				if _, err := tx.Create(t.Context(), rec("conf.rev", fmt.Sprint("m", i), "", `{}`)); err != nil {
					return err
				}
			}
			return nil
		})
		wantErr(t, "Tx", err, nil)
	})
	if r1 := mustRevision(t, s); r1 <= r0 {
		t.Fatalf("Revision %d -> %d", r0, r1)
	}
}

func testRevisionStillOnFailure(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("conf.rev", "k", "", `{}`))
	rev := mustRevision(t, s)
	check := func(what string) {
		t.Helper()
		if got := mustRevision(t, s); got != rev {
			t.Fatalf("%s: Revision moved %d -> %d though nothing changed", what, rev, got)
		}
	}
	_, err := store.Create(t.Context(), s, rec("conf.rev", "k", "", `{}`))
	wantErr(t, "duplicate Create", err, store.ErrAlreadyExists)
	check("failed Create")
	_, err = store.Put(t.Context(), s, rec("conf.rev", "k", "", `{}`), "stale")
	wantErr(t, "stale Put", err, store.ErrConflict)
	check("failed Put")
	wantErr(t, "Delete missing", store.Delete(t.Context(), s, "conf.rev", "nope", ""), store.ErrNotFound)
	check("failed Delete")
	err = s.Tx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.Put(t.Context(), rec("conf.rev", "k", "", `{"v":2}`), r.ETag); err != nil {
			return err
		}
		if _, err := tx.Create(t.Context(), rec("conf.rev", "k2", "", `{}`)); err != nil {
			return err
		}
		return errBoom
	})
	wantErr(t, "rolled-back Tx", err, errBoom)
	check("rolled-back Tx")
	mustGet(t, s, "conf.rev", "k")
	mustList(t, s, "conf.rev", store.ListOptions{})
	check("reads")
}

type counter struct {
	N     int    `json:"n"`
	Extra string `json:"extra,omitempty"`
}

func bump(old store.Record) (store.Record, error) {
	var c counter
	if err := json.Unmarshal(old.Value, &c); err != nil {
		return store.Record{}, fmt.Errorf("decode counter %q: %w", old.Value, err)
	}
	c.N++
	v, err := json.Marshal(c)
	if err != nil {
		return store.Record{}, err
	}
	old.Value = v
	return old, nil
}

func counterValue(t *testing.T, r store.Record) int {
	t.Helper()
	var c counter
	if err := json.Unmarshal(r.Value, &c); err != nil {
		t.Fatalf("decode counter %q: %v", r.Value, err)
	}
	return c.N
}

func testUpdate(t *testing.T, s store.Store) {
	first := mustCreate(t, s, rec("conf.upd", "c", "p", `{"n":0}`))
	prev := first
	for i := 1; i <= 5; i++ {
		got, err := store.Update(t.Context(), s, "conf.upd", "c", bump)
		wantErr(t, "Update", err, nil)
		if counterValue(t, got) != i {
			t.Fatalf("Update %d returned %q", i, got.Value)
		}
		if got.ETag == prev.ETag || !got.Created.Equal(first.Created) || got.Parent != "p" {
			t.Fatalf("Update %d: %s after %s", i, show(got), show(prev))
		}
		sameRecord(t, "Get after Update", mustGet(t, s, "conf.upd", "c"), got)
		prev = got
	}
	// fn may change the parent.
	got, err := store.Update(t.Context(), s, "conf.upd", "c", func(old store.Record) (store.Record, error) {
		old.Parent = "q"
		return old, nil
	})
	wantErr(t, "Update parent", err, nil)
	if got.Parent != "q" || mustGet(t, s, "conf.upd", "c").Parent != "q" {
		t.Fatalf("Update did not move the parent: %s", show(got))
	}
}

func testUpdateMissing(t *testing.T, s store.Store) {
	called := false
	_, err := store.Update(t.Context(), s, "conf.upd", "none", func(old store.Record) (store.Record, error) {
		called = true
		return old, nil
	})
	wantErr(t, "Update missing", err, store.ErrNotFound)
	if called {
		t.Fatal("Update called fn for a missing record")
	}
	wantMissing(t, s, "conf.upd", "none")
}

func testUpdateFnError(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("conf.upd", "c", "", `{"n":0}`))
	rev := mustRevision(t, s)
	_, err := store.Update(t.Context(), s, "conf.upd", "c", func(old store.Record) (store.Record, error) {
		return store.Record{}, errBoom
	})
	wantErr(t, "Update", err, errBoom)
	sameRecord(t, "after failed Update", mustGet(t, s, "conf.upd", "c"), r)
	if got := mustRevision(t, s); got != rev {
		t.Fatalf("failed Update moved Revision %d -> %d", rev, got)
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update error %v does not wrap fn's error", err)
	}
}

func testUpdateKeepsKindAndKey(t *testing.T, s store.Store) {
	mustCreate(t, s, rec("conf.upd", "c", "", `{"n":0}`))
	got, err := store.Update(t.Context(), s, "conf.upd", "c", func(old store.Record) (store.Record, error) {
		return store.Record{Kind: "conf.elsewhere", Key: "other", Value: []byte(`{"n":7}`)}, nil
	})
	wantErr(t, "Update", err, nil)
	if got.Kind != "conf.upd" || got.Key != "c" || counterValue(t, mustGet(t, s, "conf.upd", "c")) != 7 {
		t.Fatalf("Update wrote %s", show(got))
	}
	wantMissing(t, s, "conf.elsewhere", "other")
}
