package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/store"
)

var concurrencyTests = []subtest{
	{"CounterNoLostUpdate", testConcurrentCounter},
	{"CreateSameKey", testConcurrentCreateSameKey},
	{"StaleETag", testConcurrentStaleETag},
	{"DeleteSameKey", testConcurrentDeleteSameKey},
	{"DisjointWriters", testConcurrentDisjointWriters},
	{"AtomicVisibility", testConcurrentAtomicVisibility},
}

const (
	workers    = 8
	increments = 25
	// concurrencyTimeout bounds each concurrency test: a backend that
	// deadlocks fails here instead of hanging the test binary.
	concurrencyTimeout = 45 * time.Second
)

// parallel runs fn(i) for i in [0,n) on n goroutines released together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrentCounter(t *testing.T, s store.Store) {
	ctx := withTimeout(t, concurrencyTimeout)
	mustCreate(t, s, rec("conf.conc", "counter", "", `{"n":0}`))
	rev0 := mustRevision(t, s)
	var mu sync.Mutex
	etags := map[string]bool{}
	parallel(workers, func(w int) {
		for i := range increments {
			r, err := store.Update(ctx, s, "conf.conc", "counter", bump)
			if err != nil {
				t.Errorf("worker %d increment %d: %v", w, i, err)
				return
			}
			mu.Lock()
			if etags[r.ETag] {
				t.Errorf("ETag %q returned by two Updates", r.ETag)
			}
			etags[r.ETag] = true
			mu.Unlock()
		}
	})
	if t.Failed() {
		return
	}
	if got := counterValue(t, mustGet(t, s, "conf.conc", "counter")); got != workers*increments {
		t.Fatalf("counter = %d after %d×%d concurrent increments: lost updates", got, workers, increments)
	}
	if rev := mustRevision(t, s); rev-rev0 < workers*increments {
		t.Fatalf("Revision grew by %d over %d committed writes", rev-rev0, workers*increments)
	}
}

func testConcurrentCreateSameKey(t *testing.T, s store.Store) {
	ctx := withTimeout(t, concurrencyTimeout)
	for round := range 5 {
		key := fmt.Sprint("same-", round)
		var ok, exists atomic.Int32
		var winner atomic.Value
		parallel(workers, func(w int) {
			r, err := store.Create(ctx, s, rec("conf.conc", key, "", fmt.Sprintf(`{"w":%d}`, w)))
			switch {
			case err == nil:
				ok.Add(1)
				winner.Store(r)
			case errors.Is(err, store.ErrAlreadyExists):
				exists.Add(1)
			default:
				t.Errorf("round %d worker %d: Create: %v", round, w, err)
			}
		})
		if ok.Load() != 1 || exists.Load() != workers-1 {
			t.Fatalf("round %d: %d Creates succeeded and %d got ErrAlreadyExists, want 1 and %d",
				round, ok.Load(), exists.Load(), workers-1)
		}
		sameRecord(t, "the winner's record", mustGet(t, s, "conf.conc", key), winner.Load().(store.Record))
	}
}

func testConcurrentStaleETag(t *testing.T, s store.Store) {
	ctx := withTimeout(t, concurrencyTimeout)
	r := mustCreate(t, s, rec("conf.conc", "k", "", `{"v":"orig"}`))
	for round := range 10 {
		etag := r.ETag // both writers read the same version
		var wins, conflicts atomic.Int32
		var winner atomic.Value
		parallel(2, func(w int) {
			got, err := store.Put(ctx, s, rec("conf.conc", "k", "", fmt.Sprintf(`{"round":%d,"w":%d}`, round, w)), etag)
			switch {
			case err == nil:
				wins.Add(1)
				winner.Store(got)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("round %d writer %d: Put: %v", round, w, err)
			}
		})
		if wins.Load() != 1 || conflicts.Load() != 1 {
			t.Fatalf("round %d: %d writers won and %d got ErrConflict with the same ETag, want 1 and 1",
				round, wins.Load(), conflicts.Load())
		}
		r = winner.Load().(store.Record)
		sameRecord(t, "the winner's record", mustGet(t, s, "conf.conc", "k"), r)
	}
}

func testConcurrentDeleteSameKey(t *testing.T, s store.Store) {
	ctx := withTimeout(t, concurrencyTimeout)
	for round := range 5 {
		r := mustCreate(t, s, rec("conf.conc", "victim", "", `{}`))
		ifMatch := []string{"", "*", r.ETag}[round%3]
		var ok, missing atomic.Int32
		parallel(workers, func(w int) {
			err := store.Delete(ctx, s, "conf.conc", "victim", ifMatch)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrNotFound):
				missing.Add(1)
			default:
				t.Errorf("round %d worker %d: Delete(ifMatch %q): %v", round, w, ifMatch, err)
			}
		})
		if ok.Load() != 1 || missing.Load() != workers-1 {
			t.Fatalf("round %d: %d Deletes succeeded and %d got ErrNotFound, want 1 and %d",
				round, ok.Load(), missing.Load(), workers-1)
		}
		wantMissing(t, s, "conf.conc", "victim")
	}
}

func testConcurrentDisjointWriters(t *testing.T, s store.Store) {
	// Writers that touch different keys must all succeed: no spurious
	// conflicts or "database is locked" errors surface to callers.
	ctx := withTimeout(t, concurrencyTimeout)
	const perWorker = 20
	parallel(workers, func(w int) {
		for i := range perWorker {
			key := fmt.Sprintf("w%d-%02d", w, i)
			if _, err := store.Create(ctx, s, rec("conf.conc", key, fmt.Sprint("w", w), `{}`)); err != nil {
				t.Errorf("Create %s: %v", key, err)
				return
			}
			if _, err := store.Update(ctx, s, "conf.conc", key, func(old store.Record) (store.Record, error) {
				old.Value = []byte(`{"updated":true}`)
				return old, nil
			}); err != nil {
				t.Errorf("Update %s: %v", key, err)
				return
			}
			if _, err := s.Get(ctx, "conf.conc", key); err != nil {
				t.Errorf("Get %s: %v", key, err)
				return
			}
		}
	})
	if t.Failed() {
		return
	}
	if l := mustList(t, s, "conf.conc", store.ListOptions{}); len(l) != workers*perWorker {
		t.Fatalf("%d records after %d concurrent Creates", len(l), workers*perWorker)
	}
	for w := range workers {
		if l := mustList(t, s, "conf.conc", store.ListOptions{Parent: fmt.Sprint("w", w)}); len(l) != perWorker {
			t.Fatalf("worker %d: %d records, want %d", w, len(l), perWorker)
		}
	}
}

func testConcurrentAtomicVisibility(t *testing.T, s store.Store) {
	// Writers move both records of a pair in one Tx; readers listing the
	// pair must never see one moved and not the other.
	ctx := withTimeout(t, concurrencyTimeout)
	mustCreate(t, s, rec("conf.pair", "a", "", `{"n":0}`))
	mustCreate(t, s, rec("conf.pair", "b", "", `{"n":0}`))
	var writersDone atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for !writersDone.Load() || reads.Load() < 2 {
				l, err := s.List(ctx, "conf.pair", store.ListOptions{})
				if err != nil {
					t.Errorf("reader %d: List: %v", r, err)
					return
				}
				reads.Add(1)
				if len(l) != 2 {
					t.Errorf("reader %d: List returned %d records, want 2", r, len(l))
					return
				}
				var a, b counter
				if json.Unmarshal(l[0].Value, &a) != nil || json.Unmarshal(l[1].Value, &b) != nil || a.N != b.N {
					t.Errorf("reader %d saw a half-applied Tx: %q / %q", r, l[0].Value, l[1].Value)
					return
				}
			}
		})
	}
	parallel(4, func(w int) {
		for i := range 15 {
			err := s.Tx(ctx, func(tx store.Tx) error {
				for _, k := range []string{"a", "b"} {
					old, err := tx.Get(ctx, "conf.pair", k)
					if err != nil {
						return err
					}
					nu, err := bump(old)
					if err != nil {
						return err
					}
					if _, err := tx.Put(ctx, nu, old.ETag); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("writer %d Tx %d: %v", w, i, err)
				return
			}
		}
	})
	writersDone.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, k := range []string{"a", "b"} {
		if got := counterValue(t, mustGet(t, s, "conf.pair", k)); got != 60 {
			t.Fatalf("%s = %d after 4×15 pair increments, want 60", k, got)
		}
	}
}
