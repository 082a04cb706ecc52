package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Rule DS-8: a workspace's identity is the trusted Azure service a storage
// account behind a firewall lets through when its network rules bypass
// AzureServices; with bypass None the same identity is refused.
func TestMLWorkspaceTrustedServiceBypass(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "fw-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=fw-rg")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "fw-ws"))
	pid := ws["identity"].(map[string]any)["principal_id"].(string)
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "fwdata", "-l", "eastus"))
	in.mustCLI(cfg, "storage", "container", "create", "--account-name", "fwdata", "-n", "data")
	f := filepath.Join(t.TempDir(), "x.txt")
	os.WriteFile(f, []byte("behind the firewall"), 0o644)
	in.mustCLI(cfg, "storage", "blob", "upload", "--account-name", "fwdata", "-c", "data", "-n", "x.txt", "-f", f)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct["id"].(string))
	in.mustCLI(cfg, "storage", "account", "update", "-n", "fwdata", "--default-action", "Deny", "--bypass", "AzureServices")

	script := `import os, requests
tok = requests.get(os.environ["MSI_ENDPOINT"] + "?resource=https://storage.azure.com/",
                   headers={"secret": os.environ["MSI_SECRET"], "Metadata": "true"}).json()["access_token"]
r = requests.get(os.environ["BLOB"], headers={"Authorization": "Bearer " + tok, "x-ms-version": "2021-06-08"})
print(r.status_code, r.headers.get("x-ms-error-code"), r.text[:300])`
	read := func() string {
		cmd := exec.Command(amlidBin, "run", "--as", ws["id"].(string), "--", "/usr/bin/python3", "-c", script)
		cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg, "BLOB="+in.State.BlobURL+"/fwdata/data/x.txt")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			t.Fatalf("amlid run: %v\n%s%s", err, so.String(), se.String())
		}
		return so.String()
	}
	if out := read(); !strings.HasPrefix(out, "200") || !strings.Contains(out, "behind the firewall") {
		t.Fatalf("the workspace identity through bypass AzureServices: %s", out)
	}
	in.mustCLI(cfg, "storage", "account", "update", "-n", "fwdata", "--bypass", "None")
	if out := read(); !strings.HasPrefix(out, "403 AuthorizationFailure") {
		t.Fatalf("with bypass None the firewall must refuse the workspace identity: %s", out)
	}
}
