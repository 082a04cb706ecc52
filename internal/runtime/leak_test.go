package runtime

import (
	goruntime "runtime"
	"testing"
	"time"
)

// TestNoGoroutineLeak: after Stop, nothing of a deployment keeps running
// in amlid: instance loops, output and status readers, waiters, HTTP
// connections. Not parallel, so that no other test starts goroutines
// meanwhile.
func TestNoGoroutineLeak(t *testing.T) {
	before := goruntime.NumGoroutine()
	s := newSup(t)
	id := depID("leak")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score.py": pidScript}), ScoringScript: "score.py", Instances: 2})
	for range 4 {
		score(t, s, id, "pid")
	}
	_, _, _, _ = s.Score(t.Context(), id, []byte("crash"), "")
	eventually(t, "the restart", func() bool { st := s.Status(id); return st.Restarts == 1 && st.Ready == 2 })
	score(t, s, id, "pid")
	must(t, s.Stop(t.Context(), id))
	// A failed start leaves nothing either.
	bad := Spec{ID: depID("leak-bad"), CodeDir: code(t, map[string]string{"score.py": "def init():\n    raise RuntimeError('x')\n"}),
		ScoringScript: "score.py", Instances: 2}
	if err := s.Start(t.Context(), bad); err == nil {
		t.Fatal("a failing init() started")
	}
	after := goruntime.NumGoroutine()
	for deadline := time.Now().Add(30 * time.Second); after > before && time.Now().Before(deadline); after = goruntime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:goruntime.Stack(buf, true)])
	}
}
