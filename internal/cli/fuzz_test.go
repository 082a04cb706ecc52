package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzMLSpec: the ml YAML files and --set values are user input. Loading,
// --set and the identity conversion never panic.
func FuzzMLSpec(f *testing.F) {
	for _, s := range []string{
		"name: ep\nauth_mode: key\nidentity:\n  type: user_assigned\n  user_assigned_identities:\n    - resource_id: /subscriptions/s/x\n",
		"identity:\n  type: system_assigned,user_assigned\n  user_assigned_identities:\n    '/x': {}\n",
		"code_configuration:\n  code: ../../etc\n  scoring_script: score.py\ninstance_count: 1e9\n", "[1, 2]", "a: &a [*a]", "---\n...\n", ":",
		"identity: 3\n", "identity:\n  user_assigned_identities: 7\n", "environment_variables: {A: 1, B: [x]}\n",
	} {
		f.Add(s, "environment_variables.X=1")
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, doc, set string) {
		p := filepath.Join(dir, "spec.yml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := loadMLSpec(p, []string{set})
		if err != nil {
			return
		}
		_ = s.checkKeys("online endpoint", endpointYAMLKeys...)
		_ = s.checkKeys("online deployment", deploymentYAMLKeys...)
		_, _ = restIdentity(s.m["identity"])
		_ = snakeIdentity(s.m["identity"])
		for _, k := range []string{"name", "auth_mode", "code_configuration.code", "model", "environment", "instance_count"} {
			_ = s.str(k)
			_ = s.sub(k)
			_ = s.path(k)
		}
	})
}
