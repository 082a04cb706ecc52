package keyvault_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runPy runs testdata/secrets.py with Debian's python3 and azure-keyvault-secrets.
func (e *env) runPy(t *testing.T, uri string, a *app, mode string) map[string]any {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "testdata/secrets.py", uri, e.s.State.AuthorityHost, a.AppID, a.Secret, mode)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "REQUESTS_CA_BUNDLE=" + e.s.State.CABundle,
		"SSL_CERT_FILE=" + e.s.State.CABundle, "NO_PROXY=*"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python (%s): %v\n%s", mode, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("python output: %s", out)
	}
	return m
}

// Python azure-keyvault-secrets under both permission models.
func TestPythonSecretsBothModels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	// RBAC model: Secrets Officer does everything.
	uri := e.createVault("kv-py-rbac", true)
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-py-rbac"))
	m := e.runPy(t, uri, e.admin, "full")
	if m["value"] != "from python" || m["recovered"] != "from python" || len(m["version"].(string)) != 32 {
		t.Fatalf("rbac: %v", m)
	}
	// A Secrets User reads, and also lists (readMetadata), in RBAC.
	reader := e.newApp("py-reader", "")
	e.grant(reader.ObjectID, roleSecretsUser, e.vaultID("kv-py-rbac"))
	if m := e.runPy(t, uri, reader, "getter"); m["value"] != "from python" || m["list"] != "allowed" {
		t.Fatalf("rbac reader: %v", m)
	}
	// Access-policy model.
	getter := e.newApp("py-getter", "")
	uri = e.createVault("kv-py-pol", false,
		e.policy(e.admin.ObjectID, "get", "list", "set", "delete", "recover"), e.policy(getter.ObjectID, "get"))
	m = e.runPy(t, uri, e.admin, "full")
	if m["value"] != "from python" || m["recovered"] != "from python" {
		t.Fatalf("policy: %v", m)
	}
	m = e.runPy(t, uri, getter, "getter")
	if m["value"] != "from python" || !strings.HasPrefix(m["list"].(string), "403") || !strings.Contains(m["list"].(string), "secrets list permission") {
		t.Fatalf("policy getter: %v", m)
	}
}
