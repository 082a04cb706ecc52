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
		// azure-ai-ml's node shape.
		{"node-shaped step wins", map[string]any{"type": "managed_identity"}, user, false, managed, "step"},
		{"node-shaped user step", map[string]any{"type": "user_identity"}, managed, true, user, "step"},
		{"empty node identity: root", map[string]any{}, user, false, user, "pipeline"},
	}
	for _, c := range cases {
		got, src := StepIdentity(c.step, c.root, c.inComponent)
		if src != c.source || (got == nil) != (c.want == nil) || (got != nil && got["identityType"] != c.want["identityType"]) {
			t.Errorf("%s: got %v from %s, want %v from %s", c.name, got, src, c.want, c.source)
		}
	}
}

func TestJobIdentityShapes(t *testing.T) {
	got := JobIdentity(map[string]any{"type": "managed_identity", "client_id": "c", "object_id": "o", "msi_resource_id": "r"})
	if got["identityType"] != "Managed" || got["clientId"] != "c" || got["objectId"] != "o" || got["resourceId"] != "r" {
		t.Errorf("managed node identity: %v", got)
	}
	if got := JobIdentity(map[string]any{"type": "aml_token"}); got["identityType"] != "AMLToken" {
		t.Errorf("aml_token: %v", got)
	}
	rest := map[string]any{"identityType": "UserIdentity"}
	if got := JobIdentity(rest); got["identityType"] != "UserIdentity" || len(got) != 1 {
		t.Errorf("REST shape should pass through: %v", got)
	}
	if got := JobIdentity(map[string]any{"type": "bogus"}); got["identityType"] != "bogus" {
		t.Errorf("an unknown type is kept to be refused by name: %v", got)
	}
}
