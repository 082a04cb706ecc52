package access

import "testing"

func TestStepIdentityDS6(t *testing.T) {
	user := map[string]any{"identityType": "UserIdentity"}
	managed := map[string]any{"identityType": "Managed"}
	cases := []struct {
		name        string
		step, root  map[string]any
		inComponent bool
		want        map[string]any
		source      string
	}{
		{"step wins over root", managed, user, false, managed, "step"},
		{"root inherited", nil, user, false, user, "pipeline"},
		{"neither: compute", nil, nil, false, nil, "compute"},
		{"component ignores root", nil, user, true, nil, "compute"},
		{"component step counts", user, managed, true, user, "step"},
	}
	for _, c := range cases {
		got, src := StepIdentity(c.step, c.root, c.inComponent)
		if src != c.source || (got == nil) != (c.want == nil) || (got != nil && got["identityType"] != c.want["identityType"]) {
			t.Errorf("%s: got %v from %s, want %v from %s", c.name, got, src, c.want, c.source)
		}
	}
}
