package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Key vaults end to end on a real `amlid up` (issue 8): the amlid CLI
// creates a vault and sets a secret; Debian's az sets and shows secrets by
// vault name (through amlid's vault proxy) and by ID; every acknowledged
// secret survives a restart and a kill -9; no value is ever on disk or in
// the log in clear.
func TestKeyVaultEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := start(t, dir)
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "kvrg", "-l", "eastus")
	v := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "kve2e", "-g", "kvrg", "--enable-rbac-authorization", "true"))
	vid := v["id"].(string)
	uri := v["properties"].(map[string]any)["vaultUri"].(string)
	// Owner of the subscription, yet no data role: refused, naming the fix (RBAC-2).
	_, se, code := in.cli(cfg, "keyvault", "secret", "set", "--vault-name", "kve2e", "-n", "cli-secret", "--value", "refused")
	if code == 0 || !strings.Contains(se, "Key Vault Secrets Officer") {
		t.Fatalf("set without a data role: exit %d %s", code, se)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", in.Boot.ObjectID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Key Vault Secrets Officer", "--scope", vid)
	values := []string{"cli-value-7f3a9c", "az-value-2b8d41", "after-restart-c91e", "before-kill-5d7a"}
	in.mustCLI(cfg, "keyvault", "secret", "set", "--vault-name", "kve2e", "-n", "cli-secret", "--value", values[0])

	az := newAz(t, in)
	az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", in.Boot.TenantID)
	// az builds https://kve2e.vault.azure.net from the cloud's keyVaultDns
	// suffix; amlid's proxy takes it to the vault (`amlid keyvault proxy-env`).
	az.env = append(az.env, "HTTPS_PROXY="+in.State.VaultProxyURL, "NO_PROXY=127.0.0.1,localhost")
	set := mustJSON(t, az.must(t, "keyvault", "secret", "set", "--vault-name", "kve2e", "-n", "az-secret", "--value", values[1], "-o", "json"))
	if set["value"] != values[1] || !strings.HasPrefix(set["id"].(string), "https://kve2e.vault.azure.net/secrets/az-secret/") || set["name"] != "az-secret" {
		t.Fatalf("az keyvault secret set: %v", set)
	}
	if got := strings.TrimSpace(az.must(t, "keyvault", "secret", "show", "--vault-name", "kve2e", "-n", "cli-secret", "--query", "value", "-o", "tsv")); got != values[0] {
		t.Fatalf("az keyvault secret show: %q", got)
	}
	// --id takes the identifier az printed (az's ID parser drops ports, so
	// the 127.0.0.1:PORT form is for the SDKs and the amlid CLI).
	if got := strings.TrimSpace(az.must(t, "keyvault", "secret", "show", "--id", set["id"].(string), "--query", "value", "-o", "tsv")); got != values[1] {
		t.Fatalf("az keyvault secret show --id: %q", got)
	}
	// The amlid CLI reads what az wrote.
	if got := strings.TrimSpace(in.mustCLI(cfg, "keyvault", "secret", "show", "--id", uri+"secrets/az-secret", "--query", "value", "-o", "tsv")); got != values[1] {
		t.Fatalf("amlid keyvault secret show: %q", got)
	}

	// Access-policy model through the CLI: the creator gets every permission
	// (as with az); delete-policy and set-policy change what it may do.
	in.mustCLI(cfg, "keyvault", "create", "-n", "kvpol", "-g", "kvrg")
	in.mustCLI(cfg, "keyvault", "secret", "set", "--vault-name", "kvpol", "-n", "p", "--value", "policy-value")
	in.mustCLI(cfg, "keyvault", "delete-policy", "-n", "kvpol", "--object-id", in.Boot.ObjectID)
	if _, se, code := in.cli(cfg, "keyvault", "secret", "show", "--vault-name", "kvpol", "-n", "p"); code == 0 || !strings.Contains(se, "secrets get permission") {
		t.Fatalf("show without a policy: exit %d %s", code, se)
	}
	in.mustCLI(cfg, "keyvault", "set-policy", "-n", "kvpol", "--object-id", in.Boot.ObjectID, "--secret-permissions", "get")
	in.mustCLI(cfg, "keyvault", "secret", "show", "--vault-name", "kvpol", "-n", "p")
	if _, se, code := in.cli(cfg, "keyvault", "secret", "list", "--vault-name", "kvpol"); code == 0 || !strings.Contains(se, "secrets list permission") {
		t.Fatalf("list with only get: exit %d %s", code, se)
	}

	// Restart: same vault address, every secret.
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	in = start(t, dir)
	cfg = t.TempDir() // the front door moved (--port -1): no cached token of the old issuer
	in.mustCLI(cfg, "keyvault", "secret", "set", "--vault-name", "kve2e", "-n", "restart-secret", "--value", values[2])
	if u := mustJSON(t, in.mustCLI(cfg, "keyvault", "show", "-n", "kve2e"))["properties"].(map[string]any)["vaultUri"]; u != uri {
		t.Fatalf("vaultUri changed across restart: %v → %v", uri, u)
	}
	// kill -9 right after an acknowledged write.
	in.mustCLI(cfg, "keyvault", "secret", "set", "--vault-name", "kve2e", "-n", "kill-secret", "--value", values[3])
	in.kill9()
	in = start(t, dir)
	cfg = t.TempDir()
	for name, want := range map[string]string{"cli-secret": values[0], "az-secret": values[1], "restart-secret": values[2], "kill-secret": values[3]} {
		if got := strings.TrimSpace(in.mustCLI(cfg, "keyvault", "secret", "show", "--vault-name", "kve2e", "-n", name, "--query", "value", "-o", "tsv")); got != want {
			t.Fatalf("%s after kill -9: %q, want %q", name, got, want)
		}
	}
	list := in.mustCLI(cfg, "keyvault", "secret", "list", "--vault-name", "kve2e", "--query", "[].name", "-o", "tsv")
	if strings.Count(list, "\n") != 4 {
		t.Fatalf("secret list: %q", list)
	}
	// No value in clear anywhere in the data directory (the SQLite store and
	// its WAL included), nor in the log; the key file is private.
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	scanDataDir(t, dir, values) // also: no private key in the database, files 0600
	if db, err := os.ReadFile(filepath.Join(dir, "amlid.db")); err != nil || !bytes.Contains(db, []byte("cli-secret")) {
		t.Fatalf("the grep looked at the wrong file: the store should name the secret (%v)", err)
	}
	st, err := os.Stat(filepath.Join(dir, "keys", "vault.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st)
	}
	for _, val := range values {
		if strings.Contains(in.Log.String(), val) {
			t.Errorf("the log holds secret value %q", val)
		}
	}
}
