package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/store"
)

var txTests = []subtest{
	{"Commit", testTxCommit},
	{"ReadsOwnWrites", testTxReadsOwnWrites},
	{"Rollback", testTxRollback},
	{"RollbackSameKeyTwice", testTxRollbackSameKeyTwice},
	{"RollbackOnSentinel", testTxRollbackOnSentinel},
	{"ErrorReturnedAsIs", testTxErrorReturnedAsIs},
	{"ConditionalInside", testTxConditionalInside},
	{"UncommittedInvisible", testTxUncommittedInvisible},
	{"CancelledContext", testTxCancelledContext},
	{"UsableAfterRollback", testTxUsableAfterRollback},
}

func testTxCommit(t *testing.T, s store.Store) {
	keep := mustCreate(t, s, rec("conf.tx", "keep", "", `{"v":1}`))
	gone := mustCreate(t, s, rec("conf.tx", "gone", "", `{}`))
	var created, replaced store.Record
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		if created, err = tx.Create(t.Context(), rec("conf.tx", "new", "", `{"new":true}`)); err != nil {
			return err
		}
		if replaced, err = tx.Put(t.Context(), rec("conf.tx", "keep", "", `{"v":2}`), keep.ETag); err != nil {
			return err
		}
		return tx.Delete(t.Context(), "conf.tx", "gone", gone.ETag)
	})
	wantErr(t, "Tx", err, nil)
	sameRecord(t, "created in Tx", mustGet(t, s, "conf.tx", "new"), created)
	sameRecord(t, "replaced in Tx", mustGet(t, s, "conf.tx", "keep"), replaced)
	wantMissing(t, s, "conf.tx", "gone")
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	mustCreate(t, s, rec("conf.tx", "a", "p", `{"v":"a"}`))
	mustCreate(t, s, rec("conf.tx", "b", "p", `{"v":"b"}`))
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		ctx := t.Context()
		c, err := tx.Create(ctx, rec("conf.tx", "c", "p", `{"v":"c"}`))
		if err != nil {
			return err
		}
		got, err := tx.Get(ctx, "conf.tx", "c")
		if err != nil {
			return fmt.Errorf("Get own Create: %w", err)
		}
		if got.ETag != c.ETag || string(got.Value) != `{"v":"c"}` {
			return fmt.Errorf("Get own Create: %s, want %s", show(got), show(c))
		}
		a2, err := tx.Put(ctx, rec("conf.tx", "a", "p", `{"v":"a2"}`), "")
		if err != nil {
			return err
		}
		if got, err = tx.Get(ctx, "conf.tx", "a"); err != nil || got.ETag != a2.ETag || string(got.Value) != `{"v":"a2"}` {
			return fmt.Errorf("Get own Put: %s, %v", show(got), err)
		}
		if err := tx.Delete(ctx, "conf.tx", "b", ""); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "conf.tx", "b"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("Get own Delete: %v, want ErrNotFound", err)
		}
		l, err := tx.List(ctx, "conf.tx", store.ListOptions{Parent: "p"})
		if err != nil {
			return err
		}
		if got, want := keys(l), []string{"a", "c"}; !slices.Equal(got, want) {
			return fmt.Errorf("List in Tx: %q, want %q", got, want)
		}
		if string(l[0].Value) != `{"v":"a2"}` {
			return fmt.Errorf("List in Tx shows old value %q", l[0].Value)
		}
		// Second Create of a key made in this Tx fails like any other.
		if _, err := tx.Create(ctx, rec("conf.tx", "c", "", `{}`)); !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("Create twice in Tx: %v, want ErrAlreadyExists", err)
		}
		return nil
	})
	// The failed Create inside was handled by fn, so the Tx commits.
	wantErr(t, "Tx", err, nil)
	if got := keys(mustList(t, s, "conf.tx", store.ListOptions{})); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after Tx: %q, want [a c]", got)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	mod := mustCreate(t, s, rec("conf.tx", "mod", "p", `{"v":1}`))
	del := mustCreate(t, s, rec("conf.tx", "del", "p", `{"v":1}`))
	rev := mustRevision(t, s)
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		ctx := t.Context()
		if _, err := tx.Create(ctx, rec("conf.tx", "new", "p", `{}`)); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, rec("conf.tx", "mod", "q", `{"v":2}`), mod.ETag); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "conf.tx", "del", ""); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, rec("conf.tx", "put-new", "", `{}`), ""); err != nil {
			return err
		}
		return errBoom
	})
	wantErr(t, "Tx", err, errBoom)
	wantMissing(t, s, "conf.tx", "new")
	wantMissing(t, s, "conf.tx", "put-new")
	sameRecord(t, "modified then rolled back", mustGet(t, s, "conf.tx", "mod"), mod)
	sameRecord(t, "deleted then rolled back", mustGet(t, s, "conf.tx", "del"), del)
	if got := keys(mustList(t, s, "conf.tx", store.ListOptions{Parent: "p"})); !slices.Equal(got, []string{"del", "mod"}) {
		t.Fatalf("List after rollback: %q", got)
	}
	if r := mustRevision(t, s); r != rev {
		t.Fatalf("Revision moved from %d to %d on a rolled-back Tx", rev, r)
	}
	// The old ETag still works: the rolled-back Put left no trace.
	mustPut(t, s, rec("conf.tx", "mod", "p", `{"v":3}`), mod.ETag)
}

func testTxRollbackSameKeyTwice(t *testing.T, s store.Store) {
	orig := mustCreate(t, s, rec("conf.tx", "k", "", `{"v":"orig"}`))
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		ctx := t.Context()
		if err := tx.Delete(ctx, "conf.tx", "k", ""); err != nil {
			return err
		}
		if _, err := tx.Create(ctx, rec("conf.tx", "k", "", `{"v":"second"}`)); err != nil {
			return err
		}
		if _, err := tx.Put(ctx, rec("conf.tx", "k", "", `{"v":"third"}`), "*"); err != nil {
			return err
		}
		if _, err := tx.Create(ctx, rec("conf.tx", "tmp", "", `{}`)); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "conf.tx", "tmp", ""); err != nil {
			return err
		}
		return errBoom
	})
	wantErr(t, "Tx", err, errBoom)
	sameRecord(t, "after rollback", mustGet(t, s, "conf.tx", "k"), orig)
	wantMissing(t, s, "conf.tx", "tmp")
}

func testTxRollbackOnSentinel(t *testing.T, s store.Store) {
	mustCreate(t, s, rec("conf.tx", "taken", "", `{}`))
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.Create(t.Context(), rec("conf.tx", "first", "", `{}`)); err != nil {
			return err
		}
		_, err := tx.Create(t.Context(), rec("conf.tx", "taken", "", `{}`))
		return err // ErrAlreadyExists: the whole Tx fails
	})
	wantErr(t, "Tx", err, store.ErrAlreadyExists)
	wantMissing(t, s, "conf.tx", "first")

	err = s.Tx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.Create(t.Context(), rec("conf.tx", "second", "", `{}`)); err != nil {
			return err
		}
		return tx.Delete(t.Context(), "conf.tx", "missing", "")
	})
	wantErr(t, "Tx", err, store.ErrNotFound)
	wantMissing(t, s, "conf.tx", "second")
}

type customErr struct{ code int }

func (e *customErr) Error() string { return fmt.Sprintf("custom %d", e.code) }

func testTxErrorReturnedAsIs(t *testing.T, s store.Store) {
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		return fmt.Errorf("wrapped: %w", &customErr{code: 42})
	})
	var ce *customErr
	if !errors.As(err, &ce) || ce.code != 42 {
		t.Fatalf("Tx returned %v, want fn's error", err)
	}
}

func testTxConditionalInside(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("conf.tx", "k", "", `{"v":1}`))
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		ctx := t.Context()
		r2, err := tx.Put(ctx, rec("conf.tx", "k", "", `{"v":2}`), r.ETag)
		if err != nil {
			return err
		}
		// The ETag from the first Put is current inside the Tx; the original is stale.
		if _, err := tx.Put(ctx, rec("conf.tx", "k", "", `{"v":3}`), r.ETag); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("stale ETag inside Tx: %v, want ErrConflict", err)
		}
		if _, err := tx.Put(ctx, rec("conf.tx", "k", "", `{"v":3}`), r2.ETag); err != nil {
			return fmt.Errorf("fresh ETag inside Tx: %w", err)
		}
		return nil
	})
	wantErr(t, "Tx", err, nil)
	if got := mustGet(t, s, "conf.tx", "k"); string(got.Value) != `{"v":3}` {
		t.Fatalf("after Tx: %s", show(got))
	}
}

func testTxUncommittedInvisible(t *testing.T, s store.Store) {
	// While a Tx is open, another reader either waits for it (a store with
	// one lock) or sees the state before it; never the uncommitted write.
	mustCreate(t, s, rec("conf.tx", "existing", "", `{"v":"old"}`))
	type result struct {
		created  error
		existing store.Record
		err      error
	}
	done := make(chan result, 1)
	started, consumed := false, false
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		if _, err := tx.Create(t.Context(), rec("conf.tx", "pending", "", `{}`)); err != nil {
			return err
		}
		if _, err := tx.Put(t.Context(), rec("conf.tx", "existing", "", `{"v":"new"}`), ""); err != nil {
			return err
		}
		if started { // fn runs again on a backend retry: one reader is enough
			return errBoom
		}
		started = true
		go func() {
			var r result
			_, r.created = s.Get(t.Context(), "conf.tx", "pending")
			r.existing, r.err = s.Get(t.Context(), "conf.tx", "existing")
			done <- r
		}()
		select {
		case r := <-done:
			consumed = true
			if !errors.Is(r.created, store.ErrNotFound) {
				return fmt.Errorf("uncommitted Create seen from outside: Get = %v", r.created)
			}
			if r.err != nil || string(r.existing.Value) != `{"v":"old"}` {
				return fmt.Errorf("uncommitted Put seen from outside: %s, %v", show(r.existing), r.err)
			}
		case <-time.After(300 * time.Millisecond):
			// The reader is blocked until commit: also fine.
		}
		return errBoom
	})
	wantErr(t, "Tx", err, errBoom)
	if consumed || !started {
		return
	}
	select {
	case r := <-done:
		// A blocked reader finishes after the rollback and must see the old state.
		if !errors.Is(r.created, store.ErrNotFound) || r.err != nil || string(r.existing.Value) != `{"v":"old"}` {
			t.Fatalf("reader after rollback: pending=%v existing=%s err=%v", r.created, show(r.existing), r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reader still blocked 10s after the Tx ended")
	}
}

func testTxCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.Create(ctx, rec("conf.tx", "k", "", `{}`))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Tx with cancelled context: %v, want context.Canceled", err)
	}
	wantMissing(t, s, "conf.tx", "k")
	// The store still works with a live context.
	mustCreate(t, s, rec("conf.tx", "k", "", `{}`))
}

func testTxUsableAfterRollback(t *testing.T, s store.Store) {
	// Many failing transactions in a row must not leak whatever a backend
	// holds per transaction (a connection, a lock).
	for i := range 50 {
		err := s.Tx(t.Context(), func(tx store.Tx) error {
			if _, err := tx.Create(t.Context(), rec("conf.tx", fmt.Sprint(i), "", `{}`)); err != nil {
				return err
			}
			return errBoom
		})
		wantErr(t, "Tx", err, errBoom)
	}
	ctx := withTimeout(t, 20*time.Second)
	if _, err := store.Create(ctx, s, rec("conf.tx", "after", "", `{}`)); err != nil {
		t.Fatalf("Create after 50 rollbacks: %v", err)
	}
	if l := mustList(t, s, "conf.tx", store.ListOptions{}); len(l) != 1 {
		t.Fatalf("List after rollbacks: %q", keys(l))
	}
}
