package conformance

import (
	"fmt"
	"slices"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

var listTests = []subtest{
	{"Empty", testListEmpty},
	{"OrderedByKeyBytes", testListOrder},
	{"Parent", testListParent},
	{"KeyPrefix", testListKeyPrefix},
	{"AfterAndLimit", testListAfterLimit},
	{"Paging", testListPaging},
	{"Combined", testListCombined},
	{"RecordsComplete", testListRecordsComplete},
}

// orderKeys are listed on purpose out of order. Byte order puts upper case
// before lower case, '-' before '/', and multi-byte UTF-8 last; a database
// sorting with a natural-language collation gets this wrong.
var orderKeys = []string{
	"a/b", "a-b", "a", "B", "b", "A", "ab", "a/b/c", "é", "z", "Z", "\U0010FFFF", "zz", "a b", "a_b", "a%b",
}

func testListEmpty(t *testing.T, s store.Store) {
	if l := mustList(t, s, "conf.none", store.ListOptions{}); len(l) != 0 {
		t.Fatalf("empty store lists %v", keys(l))
	}
	mustCreate(t, s, rec("conf.other", "k", "p", `{}`))
	for _, o := range []store.ListOptions{{}, {Parent: "p"}, {KeyPrefix: "k"}, {Limit: 3}} {
		if l := mustList(t, s, "conf.none", o); len(l) != 0 {
			t.Fatalf("List of another kind with %+v: %v", o, keys(l))
		}
	}
}

func testListOrder(t *testing.T, s store.Store) {
	for _, k := range orderKeys {
		mustCreate(t, s, rec("conf.list", k, "", `{}`))
	}
	want := slices.Clone(orderKeys)
	slices.Sort(want) // Go compares strings bytewise
	if got := keys(mustList(t, s, "conf.list", store.ListOptions{})); !slices.Equal(got, want) {
		t.Fatalf("List order:\n got  %q\n want %q", got, want)
	}
}

func testListParent(t *testing.T, s store.Store) {
	for i, k := range []string{"k5", "k1", "k4", "k2", "k3", "k0"} {
		parent := []string{"p/x", "p/y", "P/X"}[i%3]
		mustCreate(t, s, rec("conf.list", k, parent, `{}`))
	}
	mustCreate(t, s, rec("conf.list", "orphan", "", `{}`))
	mustCreate(t, s, rec("conf.other", "k9", "p/x", `{}`))
	cases := []struct {
		parent string
		want   []string
	}{
		{"p/x", []string{"k2", "k5"}},
		{"p/y", []string{"k1", "k3"}},
		{"P/X", []string{"k0", "k4"}},
		{"p", nil}, // exact match, not a prefix
		{"", []string{"k0", "k1", "k2", "k3", "k4", "k5", "orphan"}},
	}
	for _, c := range cases {
		got := keys(mustList(t, s, "conf.list", store.ListOptions{Parent: c.parent}))
		if !slices.Equal(got, c.want) && (len(got) != 0 || len(c.want) != 0) {
			t.Errorf("Parent %q: got %q, want %q", c.parent, got, c.want)
		}
	}
}

func testListKeyPrefix(t *testing.T, s store.Store) {
	all := append(slices.Clone(orderKeys),
		"/subscriptions/s1/resourcegroups/rg1",
		"/subscriptions/s1/resourcegroups/rg1/providers/x/y",
		"/subscriptions/s1/resourcegroups/rg10",
		"/subscriptions/s1/resourcegroups/rg2",
		"é1", "é\U0010FFFF", "\U0010FFFFx",
	)
	for _, k := range all {
		mustCreate(t, s, rec("conf.list", k, "", `{}`))
	}
	mustCreate(t, s, rec("conf.other", "a-other-kind", "", `{}`))
	for _, prefix := range []string{
		"", "a", "A", "a/", "a/b", "a_", "a%", "a-", "z", "é", "\U0010FFFF", "é\U0010FFFF",
		"/subscriptions/s1/resourcegroups/rg1", "/subscriptions/s1/resourcegroups/rg1/",
		"/subscriptions/", "/subscriptions/s2", "nothing", "zzz",
	} {
		var want []string
		for _, k := range all {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		got := keys(mustList(t, s, "conf.list", store.ListOptions{KeyPrefix: prefix}))
		if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Errorf("KeyPrefix %q:\n got  %q\n want %q", prefix, got, want)
		}
	}
}

func testListAfterLimit(t *testing.T, s store.Store) {
	for _, k := range []string{"k3", "k1", "k5", "k2", "k4"} {
		mustCreate(t, s, rec("conf.list", k, "", `{}`))
	}
	cases := []struct {
		o    store.ListOptions
		want []string
	}{
		{store.ListOptions{After: "k2"}, []string{"k3", "k4", "k5"}},
		{store.ListOptions{After: "k2x"}, []string{"k3", "k4", "k5"}}, // need not exist
		{store.ListOptions{After: "k0"}, []string{"k1", "k2", "k3", "k4", "k5"}},
		{store.ListOptions{After: "k5"}, nil},
		{store.ListOptions{Limit: 2}, []string{"k1", "k2"}},
		{store.ListOptions{Limit: 5}, []string{"k1", "k2", "k3", "k4", "k5"}},
		{store.ListOptions{Limit: 50}, []string{"k1", "k2", "k3", "k4", "k5"}},
		{store.ListOptions{After: "k1", Limit: 2}, []string{"k2", "k3"}},
		{store.ListOptions{After: "k4", Limit: 2}, []string{"k5"}},
	}
	for _, c := range cases {
		got := keys(mustList(t, s, "conf.list", c.o))
		if !slices.Equal(got, c.want) && (len(got) != 0 || len(c.want) != 0) {
			t.Errorf("%+v: got %q, want %q", c.o, got, c.want)
		}
	}
}

func testListPaging(t *testing.T, s store.Store) {
	const n = 103
	var want []string
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i := range n {
			k := fmt.Sprintf("item-%03d", (i*37)%n) // insert out of order
			want = append(want, k)
			if _, err := tx.Create(t.Context(), rec("conf.page", k, "p", fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, "bulk Tx", err, nil)
	slices.Sort(want)
	for _, pageSize := range []int{1, 7, 50, n, n + 1} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > n+1 {
				t.Fatalf("page size %d: paging does not end", pageSize)
			}
			page := mustList(t, s, "conf.page", store.ListOptions{Parent: "p", After: after, Limit: pageSize})
			if len(page) > pageSize {
				t.Fatalf("page size %d: got a page of %d", pageSize, len(page))
			}
			got = append(got, keys(page)...)
			if len(page) < pageSize {
				break
			}
			after = page[len(page)-1].Key
		}
		if !slices.Equal(got, want) {
			t.Fatalf("page size %d: paged through %d keys, want %d in order\n got %q", pageSize, len(got), len(want), got)
		}
	}
}

func testListCombined(t *testing.T, s store.Store) {
	for i := range 20 {
		parent := "even"
		if i%2 == 1 {
			parent = "odd"
		}
		mustCreate(t, s, rec("conf.list", fmt.Sprintf("g%d/%02d", i%3, i), parent, `{}`))
	}
	// g0: 00 03 06 09 12 15 18; g1: 01 04 07 10 13 16 19; g2: 02 05 08 11 14 17
	got := keys(mustList(t, s, "conf.list", store.ListOptions{Parent: "even", KeyPrefix: "g0/", After: "g0/06", Limit: 2}))
	if want := []string{"g0/12", "g0/18"}; !slices.Equal(got, want) {
		t.Fatalf("combined options: got %q, want %q", got, want)
	}
	got = keys(mustList(t, s, "conf.list", store.ListOptions{Parent: "odd", KeyPrefix: "g1/", Limit: 3}))
	if want := []string{"g1/01", "g1/07", "g1/13"}; !slices.Equal(got, want) {
		t.Fatalf("combined options: got %q, want %q", got, want)
	}
	// After before the prefix range, and after the whole range.
	got = keys(mustList(t, s, "conf.list", store.ListOptions{KeyPrefix: "g2/", After: "a"}))
	if want := []string{"g2/02", "g2/05", "g2/08", "g2/11", "g2/14", "g2/17"}; !slices.Equal(got, want) {
		t.Fatalf("After below prefix: got %q, want %q", got, want)
	}
	if l := mustList(t, s, "conf.list", store.ListOptions{KeyPrefix: "g1/", After: "g2"}); len(l) != 0 {
		t.Fatalf("After above prefix: got %q", keys(l))
	}
}

func testListRecordsComplete(t *testing.T, s store.Store) {
	a := mustCreate(t, s, rec("conf.list", "a", "p", `{"a":1}`))
	b := mustCreate(t, s, rec("conf.list", "b", "p", `{"b":2}`))
	b = mustPut(t, s, rec("conf.list", "b", "q", `{"b":3}`), b.ETag)
	l := mustList(t, s, "conf.list", store.ListOptions{})
	if len(l) != 2 {
		t.Fatalf("got %d records, want 2", len(l))
	}
	sameRecord(t, "listed a", l[0], a)
	sameRecord(t, "listed b", l[1], b)
}
