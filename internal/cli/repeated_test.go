package cli

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A single-value option given twice with different values is warned about
// (the last counts, as in az), naming -w when --name was meant for the
// workspace; slices, switches, equal repeats and words after `--` are not.
func TestRepeatedOptionWarnings(t *testing.T) {
	root := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
	w := repeatedOptionWarnings(root, []string{"ml", "compute", "show", "--name", "cpu-cluster", "-n", "ws1", "-g", "rg"})
	if len(w) != 1 || !strings.Contains(w[0], "'cpu-cluster' as --name, then 'ws1' as -n") || !strings.Contains(w[0], "--workspace-name/-w") {
		t.Fatalf("compute show --name X -n Y: %q", w)
	}
	for _, args := range [][]string{
		{"ml", "compute", "show", "--name", "a", "--name=a"},
		{"ml", "online-deployment", "create", "--set", "a=1", "--set", "b=2", "--all-traffic", "--all-traffic"},
		{"run", "--as", "x", "--", "cmd", "--name", "a", "--name", "b"},
	} {
		if w := repeatedOptionWarnings(root, args); len(w) != 0 {
			t.Fatalf("%v: unexpected warnings %q", args, w)
		}
	}
}

// `configure --defaults` warns about a default no command reads, suggesting
// the one meant, and still keeps it (az does).
func TestConfigureWarnsOnUnreadDefault(t *testing.T) {
	t.Setenv("AMLID_CONFIG_DIR", t.TempDir())
	var stderr bytes.Buffer
	a := &app{stdout: io.Discard, stderr: &stderr}
	if code := a.execute(a.rootCmd(), []string{"configure", "--defaults", "gitworkspace=ws", "group=rg"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if s := stderr.String(); !strings.Contains(s, "no default named 'gitworkspace'") || !strings.Contains(s, "Did you mean workspace=") || strings.Contains(s, "'group'") {
		t.Fatalf("stderr: %s", s)
	}
	if s, _ := loadSettings(); s.Defaults["gitworkspace"] != "ws" || s.Defaults["group"] != "rg" {
		t.Fatalf("defaults: %v", s.Defaults)
	}
}
