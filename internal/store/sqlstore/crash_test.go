package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/amlid/amlid/internal/store"
)

// crashChildEnv, when set to a database path, makes the test binary the
// writer process of TestSQLiteCrashDurability (see TestMain).
const crashChildEnv = "AMLID_SQLSTORE_CRASH_CHILD"

// crashChild writes records until killed. Each Tx creates one record and
// bumps a counter record; the key goes to stdout only after Tx returned, so
// every printed key is an acknowledged commit.
func crashChild(path string) int {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	n, err := st.List(ctx, "crash.rec", store.ListOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	for i := len(n); ; i++ {
		key := fmt.Sprintf("key-%07d", i)
		err := st.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.Create(ctx, store.Record{Kind: "crash.rec", Key: key, Value: fmt.Appendf(nil, `{"i":%d}`, i)}); err != nil {
				return err
			}
			_, err := tx.Put(ctx, store.Record{Kind: "crash.count", Key: "n", Value: []byte(strconv.Itoa(i + 1))}, "")
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			return 3
		}
		// os.Stdout is unbuffered: the line is in the pipe when this returns.
		fmt.Fprintln(os.Stdout, key)
	}
}

// TestSQLiteCrashDurability kills a writer process with SIGKILL at a random
// point, several times over the same database, and checks that every write
// it acknowledged is there, that no transaction is half-applied and that the
// file is intact.
func TestSQLiteCrashDurability(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]bool{}
	for round := range 3 {
		killAfter := 40 + rand.IntN(80)
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		seen, killed := 0, false
		for sc.Scan() {
			acked[sc.Text()] = true
			if seen++; seen == killAfter {
				// Mid-stream: the child is somewhere inside its next Tx.
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !killed || !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended by itself after %d writes (%v): %s", round, seen, err, stderr.String())
		}
		t.Logf("round %d: killed after %d acknowledged writes (%d lines read in all)", round, killAfter, seen)
	}

	ctx := t.Context()
	db := mustOpen(t, "sqlite://"+path)
	var check string
	if err := db.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	for key := range acked {
		if _, err := db.Get(ctx, "crash.rec", key); err != nil {
			t.Errorf("acknowledged write %s lost: %v", key, err)
		}
	}
	recs, err := db.List(ctx, "crash.rec", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count, err := db.Get(ctx, "crash.count", "n")
	if err != nil {
		t.Fatal(err)
	}
	if string(count.Value) != strconv.Itoa(len(recs)) {
		t.Fatalf("half-applied transaction: %d records but the counter says %s", len(recs), count.Value)
	}
	if len(recs) < len(acked) || len(recs) > len(acked)+3 { // at most one unacknowledged commit per kill
		t.Fatalf("%d records for %d acknowledged writes", len(recs), len(acked))
	}
	for i, r := range recs { // gap-free: each round resumed where the last commit was
		if want := fmt.Sprintf("key-%07d", i); r.Key != want {
			t.Fatalf("record %d is %s, want %s", i, r.Key, want)
		}
	}
}
