package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A replica that dies mid-job (kill -9) leaves the job Failed with the
// reason when amlid comes back, never lost or stuck Running; a queued job
// submitted before the crash still runs.
func TestJobSurvivesReplicaDeath(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	in := start(t, dataDir)
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "crash-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=crash-rg", "workspace=crash-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "crash-ws")
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "one-node", "--type", "amlcompute", "--identity-type", "system_assigned", "--max-instances", "1")
	dir := t.TempDir()
	y := filepath.Join(dir, "sleep.yml")
	os.WriteFile(y, []byte("command: echo started; sleep 300\ncompute: azureml:one-node\n"), 0o644)
	in.mustCLI(cfg, "ml", "job", "create", "-f", y, "-n", "long")
	for i := 0; ; i++ {
		if st := mustJSON(t, in.mustCLI(cfg, "ml", "job", "show", "-n", "long"))["status"]; st == "Running" {
			break
		}
		if i > 300 {
			t.Fatal("the job never ran")
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.kill9()
	in2 := start(t, dataDir)
	for i := 0; ; i++ {
		job := mustJSON(t, in2.mustCLI(cfg, "ml", "job", "show", "-n", "long"))
		if job["status"] == "Failed" {
			if msg, _ := job["error"].(string); !strings.Contains(msg, "stopped before it finished") {
				t.Fatalf("the failed job should say why: %v", job)
			}
			break
		}
		if i > 300 {
			t.Fatalf("after the crash the job is %v, not Failed", job["status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The queue still works after the restart.
	os.WriteFile(y, []byte("command: echo after-restart\ncompute: azureml:one-node\n"), 0o644)
	if so, se, code := in2.cli(cfg, "ml", "job", "create", "-f", y, "-n", "after", "--stream"); code != 0 || !strings.Contains(so, "after-restart") {
		t.Fatalf("a job after the restart: exit %d\n%s\n%s", code, so, se)
	}
}
