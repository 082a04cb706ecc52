package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

var pageTests = []subtest{
	{"WalkEqualsList", testPageWalk},
	{"Filtered", testPageFiltered},
	{"WalkWhileWriting", testPageWalkWhileWriting},
	{"InTx", testPageInTx},
}

// walk pages through kind with o (After and Limit set per page), checking
// that no page exceeds its size, and returns the keys in visit order.
func walk(t *testing.T, s store.Reader, kind string, o store.PageOptions, between func(page int)) []string {
	t.Helper()
	var got []string
	o.After = ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("%+v: the walk does not end", o)
		}
		p, err := store.ListPage(t.Context(), s, kind, o)
		if err != nil {
			t.Fatalf("ListPage(%s, %+v): %v", kind, o, err)
		}
		if len(p.Records) > o.Limit {
			t.Fatalf("page %d of size %d holds %d records", page, o.Limit, len(p.Records))
		}
		if o.Keep == nil && p.Next != "" && len(p.Records) != o.Limit {
			t.Fatalf("page %d without a filter is short (%d of %d) but not the last", page, len(p.Records), o.Limit)
		}
		if p.Next != "" && p.Next <= o.After {
			t.Fatalf("page %d: cursor %q does not advance past %q", page, p.Next, o.After)
		}
		got = append(got, keys(p.Records)...)
		if p.Next == "" {
			return got
		}
		o.After = p.Next
		if between != nil {
			between(page)
		}
	}
}

func testPageWalk(t *testing.T, s store.Store) {
	const n = 53
	var all []string
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i := range n {
			k := fmt.Sprintf("g%d/%03d", i%2, (i*17)%n)
			all = append(all, k)
			if _, err := tx.Create(t.Context(), rec("conf.page", k, fmt.Sprintf("p%d", i%3), `{}`)); err != nil {
				return err
			}
		}
		_, err := tx.Create(t.Context(), rec("conf.other", "g0/000", "p0", `{}`))
		return err
	})
	wantErr(t, "bulk Tx", err, nil)
	for _, o := range []store.PageOptions{
		{}, {Parent: "p1"}, {KeyPrefix: "g1/"}, {Parent: "p2", KeyPrefix: "g0/"}, {KeyPrefix: "none"},
	} {
		want := keys(mustList(t, s, "conf.page", store.ListOptions{Parent: o.Parent, KeyPrefix: o.KeyPrefix}))
		for _, size := range []int{1, 2, 7, n, n + 1} {
			o.Limit = size
			if got := walk(t, s, "conf.page", o, nil); !slices.Equal(got, want) {
				t.Fatalf("%+v: walk\n got  %q\n want %q", o, got, want)
			}
		}
	}
	if p, err := store.ListPage(t.Context(), s, "conf.page", store.PageOptions{}); err != nil || len(p.Records) != n || p.Next != "" {
		t.Fatalf("default page size: %d records, next %q, %v", len(p.Records), p.Next, err)
	}
}

func testPageFiltered(t *testing.T, s store.Store) {
	const n = 300
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.Create(t.Context(), rec("conf.page", fmt.Sprintf("k%03d", i), "", fmt.Sprintf(`{"i":%d}`, i))); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, "bulk Tx", err, nil)
	var want []string
	for i := range n {
		if i%7 == 0 || i > 290 {
			want = append(want, fmt.Sprintf("k%03d", i))
		}
	}
	keep := func(r store.Record) bool {
		var i int
		fmt.Sscanf(r.Key, "k%d", &i)
		return i%7 == 0 || i > 290
	}
	for _, size := range []int{1, 3, 10, 100} {
		for _, scan := range []int{0, 1, 5, 40, 1000} {
			o := store.PageOptions{Limit: size, Keep: keep, MaxScan: scan}
			if got := walk(t, s, "conf.page", o, nil); !slices.Equal(got, want) {
				t.Fatalf("size %d, max scan %d: walk\n got  %q\n want %q", size, scan, got, want)
			}
		}
	}
	// The scan budget holds: with MaxScan 5 a page reads at most 5 records.
	p, err := store.ListPage(t.Context(), s, "conf.page", store.PageOptions{Limit: 10, Keep: keep, MaxScan: 5})
	if err != nil || len(p.Records) != 1 || p.Next != "k004" {
		t.Fatalf("budgeted page: %q next %q, %v; want [k000] next k004", keys(p.Records), p.Next, err)
	}
}

// A walk visits every record that lives through it exactly once, in key
// order, while records before and after the cursor are created and deleted
// between pages.
func testPageWalkWhileWriting(t *testing.T, s store.Store) {
	const n = 120
	live := map[string]bool{}
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i := range n {
			k := fmt.Sprintf("w%04d", i*10)
			live[k] = true
			if _, err := tx.Create(t.Context(), rec("conf.page", k, "p", `{}`)); err != nil {
				return err
			}
		}
		return nil
	})
	wantErr(t, "bulk Tx", err, nil)
	stable := map[string]bool{} // never touched during the walk
	for k := range live {
		stable[k] = true
	}
	deletedBefore := map[string]bool{} // deleted before the walk could reach them
	var visited []string
	seen := func() map[string]bool {
		m := map[string]bool{}
		for _, k := range visited {
			m[k] = true
		}
		return m
	}
	between := func(page int) {
		cursor := visited[len(visited)-1]
		seenNow := seen()
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			for i := range n {
				k := fmt.Sprintf("w%04d", i*10)
				if !live[k] || i%3 != 0 || (i/3+page)%4 != 0 {
					continue
				}
				// Delete some of every third record, visited or not.
				if err := tx.Delete(t.Context(), "conf.page", k, ""); err != nil {
					return err
				}
				delete(live, k)
				delete(stable, k)
				if !seenNow[k] {
					deletedBefore[k] = true
				}
			}
			// Create new keys both behind and ahead of the cursor.
			for _, k := range []string{fmt.Sprintf("w%04d", page*7+1), cursor + "a", fmt.Sprintf("w%04d", 1200-page*3-1)} {
				if live[k] || deletedBefore[k] {
					continue
				}
				if _, err := tx.Create(t.Context(), rec("conf.page", k, "p", `{}`)); err != nil {
					return err
				}
				live[k] = true
			}
			return nil
		})
		wantErr(t, "writes during the walk", err, nil)
	}
	o := store.PageOptions{Parent: "p", Limit: 7}
	// walk appends to visited page by page so between sees the cursor.
	o.After = ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("the walk does not end")
		}
		p, err := store.ListPage(t.Context(), s, "conf.page", o)
		wantErr(t, "ListPage", err, nil)
		if len(p.Records) > o.Limit {
			t.Fatalf("page of %d records, limit %d", len(p.Records), o.Limit)
		}
		visited = append(visited, keys(p.Records)...)
		if p.Next == "" {
			break
		}
		o.After = p.Next
		between(page)
	}
	if !slices.IsSorted(visited) {
		t.Fatalf("visited out of order: %q", visited)
	}
	count := map[string]int{}
	for _, k := range visited {
		count[k]++
		if count[k] > 1 {
			t.Fatalf("%s visited twice", k)
		}
		if deletedBefore[k] {
			t.Fatalf("%s visited after it was deleted", k)
		}
	}
	for k := range stable {
		if count[k] != 1 {
			t.Fatalf("%s lived through the walk but was visited %d times", k, count[k])
		}
	}
	if len(stable) < n/3 {
		t.Fatalf("test setup: only %d records untouched", len(stable))
	}
}

// Inside a transaction a page sees the transaction's own writes.
func testPageInTx(t *testing.T, s store.Store) {
	for _, k := range []string{"a", "c", "e"} {
		mustCreate(t, s, rec("conf.page", k, "", `{}`))
	}
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.Create(t.Context(), rec("conf.page", "b", "", `{}`)); err != nil {
			return err
		}
		if err := tx.Delete(t.Context(), "conf.page", "c", ""); err != nil {
			return err
		}
		var got []string
		o := store.PageOptions{Limit: 1}
		for {
			p, err := store.ListPage(t.Context(), tx, "conf.page", o)
			if err != nil {
				return err
			}
			got = append(got, keys(p.Records)...)
			if p.Next == "" {
				break
			}
			o.After = p.Next
		}
		if want := []string{"a", "b", "e"}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("walk inside the transaction: %q, want %q", got, want)
		}
		return nil
	})
	wantErr(t, "Tx", err, nil)
}
