package runtime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// python is the interpreter every test runs: Debian's, where apt installs
// python3-sklearn, python3-joblib, python3-numpy and python3-azure
// (scripts/test.sh does).
func python(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(DefaultPython); err != nil {
		t.Fatalf("%s is missing: apt-get install -y python3 (scripts/test.sh does): %v", DefaultPython, err)
	}
	return DefaultPython
}

type testSup struct {
	*Supervisor
	dir string
}

func newSup(t testing.TB, mod ...func(*Config)) *testSup {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{LogDir: filepath.Join(dir, "logs"), Python: python(t),
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&cfg)
	}
	s := New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.StopAll(ctx)
	})
	return &testSup{Supervisor: s, dir: dir}
}

// code writes a code folder with the given files (path → content).
func code(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func depID(name string) string {
	return "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep/deployments/" + name
}

// eventually polls cond until it holds; the deadline only keeps a broken
// build from hanging.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func score(t testing.TB, s *testSup, id, body string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code, out, ct, err := s.Score(ctx, id, []byte(body), "application/json")
	if err != nil {
		t.Fatalf("Score(%q): %v", body, err)
	}
	return code, string(out), ct
}

func start(t testing.TB, s *testSup, spec Spec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := s.Start(ctx, spec); err != nil {
		var ie *InitError
		if errors.As(err, &ie) {
			t.Fatalf("Start: %v\nlog tail:\n%s", err, ie.Tail)
		}
		t.Fatalf("Start: %v", err)
	}
}
