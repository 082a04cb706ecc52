package conformance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

var crudTests = []subtest{
	{"CreateGet", testCreateGet},
	{"CreateDuplicate", testCreateDuplicate},
	{"GetMissing", testGetMissing},
	{"KindsAreSeparate", testKindsAreSeparate},
	{"ValueBytesPreserved", testValueBytesPreserved},
	{"ValueNotAliased", testValueNotAliased},
	{"LargeValue", testLargeValue},
	{"PutInsert", testPutInsert},
	{"PutReplace", testPutReplace},
	{"PutIfMatch", testPutIfMatch},
	{"PutIfMatchMissing", testPutIfMatchMissing},
	{"Delete", testDelete},
	{"DeleteIfMatch", testDeleteIfMatch},
	{"ETagChangesOnEveryWrite", testETagChangesOnEveryWrite},
}

func testCreateGet(t *testing.T, s store.Store) {
	in := rec("conf.thing", "/subscriptions/1/a", "/subscriptions/1", `{"name":"a"}`)
	got := mustCreate(t, s, in)
	if got.Kind != in.Kind || got.Key != in.Key || got.Parent != in.Parent || !bytes.Equal(got.Value, in.Value) {
		t.Fatalf("Create returned %s, want the input back", show(got))
	}
	if got.ETag == "" {
		t.Fatal("Create: empty ETag")
	}
	if got.Created.IsZero() || !got.Created.Equal(got.Updated) {
		t.Fatalf("Create: Created %v and Updated %v must be set and equal", got.Created, got.Updated)
	}
	sameRecord(t, "Get after Create", mustGet(t, s, in.Kind, in.Key), got)

	// A record without parent and with an empty key is still a record.
	empty := mustCreate(t, s, rec("conf.thing", "", "", `{}`))
	sameRecord(t, "Get empty key", mustGet(t, s, "conf.thing", ""), empty)
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	first := mustCreate(t, s, rec("conf.thing", "k", "p", `{"v":1}`))
	_, err := store.Create(t.Context(), s, rec("conf.thing", "k", "other", `{"v":2}`))
	wantErr(t, "second Create", err, store.ErrAlreadyExists)
	sameRecord(t, "record after failed Create", mustGet(t, s, "conf.thing", "k"), first)
}

func testGetMissing(t *testing.T, s store.Store) {
	wantMissing(t, s, "conf.thing", "nope")
	mustCreate(t, s, rec("conf.thing", "k", "", `{}`))
	wantMissing(t, s, "conf.thing", "K")  // keys are case-sensitive
	wantMissing(t, s, "conf.thing", "k ") // and exact
	wantMissing(t, s, "conf.other", "k")
}

func testKindsAreSeparate(t *testing.T, s store.Store) {
	a := mustCreate(t, s, rec("conf.a", "same", "", `{"kind":"a"}`))
	b := mustCreate(t, s, rec("conf.b", "same", "", `{"kind":"b"}`))
	sameRecord(t, "kind a", mustGet(t, s, "conf.a", "same"), a)
	sameRecord(t, "kind b", mustGet(t, s, "conf.b", "same"), b)
	wantErr(t, "Delete a", store.Delete(t.Context(), s, "conf.a", "same", ""), nil)
	wantMissing(t, s, "conf.a", "same")
	sameRecord(t, "kind b after deleting a", mustGet(t, s, "conf.b", "same"), b)
}

func testValueBytesPreserved(t *testing.T, s store.Store) {
	// The store keeps the caller's bytes: no re-encoding, reordering or
	// whitespace changes (a JSONB column would fail this).
	values := []string{
		`{ "b": 1,  "a": [2, 1],` + "\n\t" + `"z": null }`,
		`{"unicode":"héllo wörld ☃ 𝄞","escaped":"\u00e9\n\u0000"}`,
		`"just a string"`,
		`12345678901234567890`,
		``,
	}
	for i, v := range values {
		key := "v" + string(rune('0'+i))
		created := mustCreate(t, s, rec("conf.thing", key, "", v))
		got := mustGet(t, s, "conf.thing", key)
		if !bytes.Equal(got.Value, []byte(v)) || !bytes.Equal(created.Value, []byte(v)) {
			t.Errorf("value %d: stored %q, got back %q (Create returned %q)", i, v, got.Value, created.Value)
		}
	}
}

func testValueNotAliased(t *testing.T, s store.Store) {
	buf := []byte(`{"a":1}`)
	mustCreate(t, s, store.Record{Kind: "conf.thing", Key: "k", Value: buf})
	buf[6] = '9' // caller reuses its buffer
	// (The Value in the record Create returns is not covered: the memory
	// backend hands back its own copy there.)
	got := mustGet(t, s, "conf.thing", "k")
	if string(got.Value) != `{"a":1}` {
		t.Fatalf("store shares memory with the caller: got %q", got.Value)
	}
	got.Value[6] = '7'
	if again := mustGet(t, s, "conf.thing", "k"); string(again.Value) != `{"a":1}` {
		t.Fatalf("Get returned the store's own buffer: got %q", again.Value)
	}
	list := mustList(t, s, "conf.thing", store.ListOptions{})
	list[0].Value[6] = '6'
	if again := mustGet(t, s, "conf.thing", "k"); string(again.Value) != `{"a":1}` {
		t.Fatalf("List returned the store's own buffer: got %q", again.Value)
	}
}

func testLargeValue(t *testing.T, s store.Store) {
	big := `{"blob":"` + strings.Repeat("0123456789abcdef", 1<<16) + `"}` // ~1 MiB
	mustCreate(t, s, rec("conf.thing", "big", "", big))
	if got := mustGet(t, s, "conf.thing", "big"); string(got.Value) != big {
		t.Fatalf("1 MiB value not returned intact (got %d bytes)", len(got.Value))
	}
}

func testPutInsert(t *testing.T, s store.Store) {
	in := rec("conf.thing", "k", "p", `{"v":1}`)
	got := mustPut(t, s, in, "")
	if got.ETag == "" || got.Created.IsZero() || !got.Created.Equal(got.Updated) {
		t.Fatalf("Put insert: %s: want ETag and equal Created/Updated", show(got))
	}
	if got.Kind != in.Kind || got.Key != in.Key || got.Parent != in.Parent || !bytes.Equal(got.Value, in.Value) {
		t.Fatalf("Put returned %s, want the input back", show(got))
	}
	sameRecord(t, "Get after Put insert", mustGet(t, s, "conf.thing", "k"), got)
}

func testPutReplace(t *testing.T, s store.Store) {
	first := mustCreate(t, s, rec("conf.thing", "k", "p1", `{"v":1}`))
	second := mustPut(t, s, rec("conf.thing", "k", "p2", `{"v":2}`), "")
	if second.ETag == first.ETag {
		t.Fatal("Put kept the old ETag")
	}
	if !second.Created.Equal(first.Created) {
		t.Fatalf("Put changed Created from %v to %v", first.Created, second.Created)
	}
	if second.Updated.Before(first.Updated) {
		t.Fatalf("Updated went back: %v then %v", first.Updated, second.Updated)
	}
	got := mustGet(t, s, "conf.thing", "k")
	sameRecord(t, "Get after Put replace", got, second)
	if got.Parent != "p2" || string(got.Value) != `{"v":2}` {
		t.Fatalf("Put did not replace parent/value: %s", show(got))
	}
	// The record moved to the new parent for listing.
	if l := mustList(t, s, "conf.thing", store.ListOptions{Parent: "p1"}); len(l) != 0 {
		t.Fatalf("old parent still lists %v", keys(l))
	}
	if l := mustList(t, s, "conf.thing", store.ListOptions{Parent: "p2"}); len(l) != 1 {
		t.Fatalf("new parent lists %v, want [k]", keys(l))
	}
}

func testPutIfMatch(t *testing.T, s store.Store) {
	v1 := mustCreate(t, s, rec("conf.thing", "k", "", `{"v":1}`))
	v2 := mustPut(t, s, rec("conf.thing", "k", "", `{"v":2}`), v1.ETag)
	if v2.ETag == v1.ETag {
		t.Fatal("conditional Put kept the ETag")
	}
	// Stale ETag: conflict, nothing changes.
	_, err := store.Put(t.Context(), s, rec("conf.thing", "k", "", `{"v":3}`), v1.ETag)
	wantErr(t, "Put with stale ETag", err, store.ErrConflict)
	_, err = store.Put(t.Context(), s, rec("conf.thing", "k", "", `{"v":3}`), "not-an-etag")
	wantErr(t, "Put with made-up ETag", err, store.ErrConflict)
	sameRecord(t, "after failed conditional Puts", mustGet(t, s, "conf.thing", "k"), v2)
	// "*" matches any existing record.
	v3 := mustPut(t, s, rec("conf.thing", "k", "", `{"v":3}`), "*")
	if !v3.Created.Equal(v1.Created) || v3.ETag == v2.ETag {
		t.Fatalf("Put \"*\": %s", show(v3))
	}
	sameRecord(t, "after Put \"*\"", mustGet(t, s, "conf.thing", "k"), v3)
}

func testPutIfMatchMissing(t *testing.T, s store.Store) {
	_, err := store.Put(t.Context(), s, rec("conf.thing", "k", "", `{}`), "*")
	wantErr(t, `Put "*" on a missing record`, err, store.ErrConflict)
	wantMissing(t, s, "conf.thing", "k")
	_, err = store.Put(t.Context(), s, rec("conf.thing", "k", "", `{}`), "some-etag")
	wantErr(t, "Put with an ETag on a missing record", err, store.ErrNotFound)
	wantMissing(t, s, "conf.thing", "k")

	// A deleted record's old ETag does not resurrect it.
	old := mustCreate(t, s, rec("conf.thing", "gone", "", `{}`))
	wantErr(t, "Delete", store.Delete(t.Context(), s, "conf.thing", "gone", ""), nil)
	_, err = store.Put(t.Context(), s, rec("conf.thing", "gone", "", `{}`), old.ETag)
	wantErr(t, "Put with the ETag of a deleted record", err, store.ErrNotFound)
	wantMissing(t, s, "conf.thing", "gone")
}

func testDelete(t *testing.T, s store.Store) {
	mustCreate(t, s, rec("conf.thing", "k", "", `{}`))
	wantErr(t, "Delete", store.Delete(t.Context(), s, "conf.thing", "k", ""), nil)
	wantMissing(t, s, "conf.thing", "k")
	wantErr(t, "Delete again", store.Delete(t.Context(), s, "conf.thing", "k", ""), store.ErrNotFound)
	wantErr(t, "Delete never existed", store.Delete(t.Context(), s, "conf.thing", "zz", ""), store.ErrNotFound)
	wantErr(t, `Delete "*" missing`, store.Delete(t.Context(), s, "conf.thing", "zz", "*"), store.ErrNotFound)
	wantErr(t, "Delete with ETag missing", store.Delete(t.Context(), s, "conf.thing", "zz", "e"), store.ErrNotFound)

	// The key can be created again, as a new record.
	again := mustCreate(t, s, rec("conf.thing", "k", "", `{"again":true}`))
	sameRecord(t, "re-created", mustGet(t, s, "conf.thing", "k"), again)
}

func testDeleteIfMatch(t *testing.T, s store.Store) {
	v1 := mustCreate(t, s, rec("conf.thing", "k", "", `{"v":1}`))
	v2 := mustPut(t, s, rec("conf.thing", "k", "", `{"v":2}`), "")
	wantErr(t, "Delete with stale ETag", store.Delete(t.Context(), s, "conf.thing", "k", v1.ETag), store.ErrConflict)
	sameRecord(t, "after failed Delete", mustGet(t, s, "conf.thing", "k"), v2)
	wantErr(t, "Delete with current ETag", store.Delete(t.Context(), s, "conf.thing", "k", v2.ETag), nil)
	wantMissing(t, s, "conf.thing", "k")

	mustCreate(t, s, rec("conf.thing", "star", "", `{}`))
	wantErr(t, `Delete "*"`, store.Delete(t.Context(), s, "conf.thing", "star", "*"), nil)
	wantMissing(t, s, "conf.thing", "star")
}

func testETagChangesOnEveryWrite(t *testing.T, s store.Store) {
	seen := map[string]bool{}
	note := func(r store.Record) {
		t.Helper()
		if seen[r.ETag] {
			t.Fatalf("ETag %q handed out twice", r.ETag)
		}
		seen[r.ETag] = true
	}
	r := mustCreate(t, s, rec("conf.thing", "k", "", `{"same":true}`))
	note(r)
	for range 20 {
		// Same value every time: the ETag still changes.
		r = mustPut(t, s, rec("conf.thing", "k", "", `{"same":true}`), r.ETag)
		note(r)
	}
	// Other keys never reuse an ETag either.
	note(mustCreate(t, s, rec("conf.thing", "k2", "", `{"same":true}`)))
	wantErr(t, "Delete", store.Delete(t.Context(), s, "conf.thing", "k", ""), nil)
	note(mustCreate(t, s, rec("conf.thing", "k", "", `{"same":true}`)))
}
