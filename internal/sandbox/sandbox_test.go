package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without bubblewrap, Auto falls back with a warning that says what the
// workload can then read and how to fix it; Require refuses; Off is quiet
// about bwrap but still warns.
func TestFallback(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bwrap")
	l, err := New(Options{Mode: Auto, Bwrap: missing})
	if err != nil || l.Active() {
		t.Fatalf("auto without bwrap: %v %v", l, err)
	}
	if w := l.Warning(); !strings.Contains(w, "apt-get install bubblewrap") || !strings.Contains(w, "signing keys") {
		t.Fatalf("warning: %s", w)
	}
	if _, err := New(Options{Mode: Require, Bwrap: missing}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("require without bwrap: %v", err)
	}
	off, _ := New(Options{Mode: Off})
	if off.Active() || !strings.Contains(off.Warning(), "--workload-sandbox off") {
		t.Fatalf("off: %s", off.Warning())
	}
	if _, err := ParseMode("chroot"); err == nil {
		t.Fatal("an unknown mode must be refused")
	}
	cmd := off.Command(Jail{Dir: "/tmp"}, []string{"A=1"}, "/usr/bin/true")
	if cmd.Path != "/usr/bin/true" || cmd.Dir != "/tmp" {
		t.Fatalf("unsandboxed command: %v", cmd)
	}
}

// A hidden folder stays hidden even when the working folder contains it
// (amlid run from the folder above the data dir), except for the paths the
// jail names inside it.
func TestHideInsideWorkingFolder(t *testing.T) {
	l, err := New(Options{Mode: Require})
	if err != nil {
		t.Fatalf("the sandbox must run here (scripts/test.sh installs bubblewrap): %v", err)
	}
	work := t.TempDir()
	data := filepath.Join(work, ".amlid")
	os.MkdirAll(filepath.Join(data, "tls"), 0o700)
	os.WriteFile(filepath.Join(data, "amlid.db"), []byte("SECRET"), 0o600)
	os.WriteFile(filepath.Join(data, "tls", "bundle.pem"), []byte("PUBLIC"), 0o644)
	os.WriteFile(filepath.Join(work, "mine.txt"), []byte("MINE"), 0o644)
	l.hide = []string{data}
	cmd := l.Command(Jail{Dir: work, ReadOnly: []string{filepath.Join(data, "tls", "bundle.pem")}}, nil,
		"/bin/sh", "-c", "cat mine.txt; cat .amlid/tls/bundle.pem; cat .amlid/amlid.db 2>/dev/null || echo REFUSED; echo x > new.txt")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if string(out) != "MINEPUBLICREFUSED\n" {
		t.Fatalf("got %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "new.txt")); string(b) != "x\n" {
		t.Fatalf("the working folder must be writable: %q", b)
	}
}

// An interpreter outside /usr (a virtualenv: <root>/bin/python) has its
// tree bound read-only; the folders next to it stay out of sight.
func TestInterpreterTreeOutsideUsr(t *testing.T) {
	l, err := New(Options{Mode: Require})
	if err != nil {
		t.Fatalf("the sandbox must run here (scripts/test.sh installs bubblewrap): %v", err)
	}
	base := t.TempDir()
	venv := filepath.Join(base, "venv")
	os.MkdirAll(filepath.Join(venv, "bin"), 0o755)
	os.MkdirAll(filepath.Join(venv, "lib"), 0o755)
	os.WriteFile(filepath.Join(venv, "lib", "site.txt"), []byte("SITE"), 0o644)
	os.WriteFile(filepath.Join(base, "neighbour.txt"), []byte("NEIGHBOUR"), 0o644)
	tool := filepath.Join(venv, "bin", "tool")
	os.WriteFile(tool, []byte("#!/bin/sh\ncat \"$(dirname \"$0\")/../lib/site.txt\"; cat \"$(dirname \"$0\")/../../neighbour.txt\" 2>/dev/null || echo HIDDEN\n"), 0o755)
	work := t.TempDir()
	out, err := l.Command(Jail{Dir: work}, nil, tool).CombinedOutput()
	if err != nil || string(out) != "SITEHIDDEN\n" {
		t.Fatalf("%v: %q", err, out)
	}
}
