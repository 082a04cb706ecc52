package compute

import (
	"testing"
	"time"
)

func TestISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT120S": 120 * time.Second, "PT2M": 2 * time.Minute, "pt1h30m": 90 * time.Minute,
		"P1D": 24 * time.Hour, "PT0.5S": 500 * time.Millisecond} {
		if got, ok := isoDuration(in); !ok || got != want {
			t.Errorf("isoDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "120", "PT-5S", "PTXS", "1 minute"} {
		if _, ok := isoDuration(bad); ok {
			t.Errorf("isoDuration(%q) accepted", bad)
		}
	}
}

func TestValidateClusterDefaultsAndLimits(t *testing.T) {
	in := map[string]any{}
	if err := validateCluster(in); err != nil {
		t.Fatal(err)
	}
	ss := in["scaleSettings"].(map[string]any)
	if in["vmPriority"] != "Dedicated" || ss["minNodeCount"] != 0 || ss["maxNodeCount"] != 4 || ss["nodeIdleTimeBeforeScaleDown"] != "PT120S" {
		t.Fatalf("defaults: %v", in)
	}
	for _, bad := range []map[string]any{
		{"scaleSettings": map[string]any{"minNodeCount": 3.0, "maxNodeCount": 1.0}},
		{"scaleSettings": map[string]any{"minNodeCount": -1.0}},
		{"scaleSettings": map[string]any{"maxNodeCount": 1.5}},
		{"scaleSettings": map[string]any{"maxNodeCount": 0.0}},
		{"scaleSettings": map[string]any{"nodeIdleTimeBeforeScaleDown": "two minutes"}},
		{"vmPriority": "Spot"},
	} {
		if err := validateCluster(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	for _, bad := range []string{"PT5M", "PT90S", "PT5000M", "soon"} {
		if err := validateInstance(map[string]any{"idleTimeBeforeShutdown": bad}, nil); err == nil {
			t.Errorf("instance idle shutdown %q accepted", bad)
		}
	}
}
