package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/amlid/amlid/internal/store/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// privateKeyMarkers betray a private key in a database file: PEM headers
// and the base64 openings of PKCS#8 RSA and P-256 keys (the token-signing
// and registry keys).
var privateKeyMarkers = []string{"PRIVATE KEY", "IBADANBgkqhkiG9w0BAQEFAASC", "MIGHAgEAMBMGByqGSM49"}

// scanDataDir fails when a file of the data dir (the SQLite store, its WAL
// and shared memory included) holds one of secrets in clear, when a
// database file holds a private key, or when a file is not 0600 (folders
// 0700). The TLS CA's key (tls/ca-key.pem) and the sealing key
// (keys/vault.key) are the private files that must exist in clear.
func scanDataDir(t *testing.T, dir string, secrets []string) {
	t.Helper()
	sawDB := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("folder %s is %v, want 0700", rel, fi.Mode().Perm())
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("file %s is %v, want 0600", rel, fi.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q in clear", rel, s)
			}
		}
		if strings.HasPrefix(filepath.Base(p), "amlid.db") {
			sawDB = true
			for _, m := range privateKeyMarkers {
				if bytes.Contains(b, []byte(m)) {
					t.Errorf("%s holds a private key in clear (%q)", rel, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawDB {
		t.Fatalf("no database file in %s: the scan looked at the wrong folder", dir)
	}
}

// armPost sends an ARM POST as the bootstrap admin and returns the body.
func (in *instance) armPost(t *testing.T, path, apiVersion string) map[string]any {
	t.Helper()
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, in.State.ARMURL+path+"?api-version="+apiVersion, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := in.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %v", path, resp.StatusCode, m)
	}
	return m
}

// Secrets at rest (issue 15): after creating a service principal's client
// secret, storage account keys, a Key Vault secret, registry admin
// passwords and an online endpoint's keys, no file of the data dir (the
// database, its WAL, every other file) and not the server log holds any of
// them, nor a private key in a database file; every file is 0600, every
// folder 0700. Checked while amlid runs (WAL not checkpointed) and after it
// stopped.
func TestNoSecretAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := start(t, dir)
	cfg := t.TempDir()
	var secrets []string
	add := func(v any) {
		s, _ := v.(string)
		if len(s) < 8 {
			t.Fatalf("not a secret: %v", v)
		}
		secrets = append(secrets, s)
	}
	in.mustCLI(cfg, "group", "create", "-n", "scan-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=scan-rg", "workspace=scan-ws")

	add(mustJSON(t, in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "scan-sp"))["password"])

	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "scanacct", "-l", "eastus"))
	for _, k := range in.armPost(t, acct["id"].(string)+"/listKeys", "2023-01-01")["keys"].([]any) {
		add(k.(map[string]any)["value"])
	}

	in.mustCLI(cfg, "keyvault", "create", "-n", "scankv")
	const vaultValue = "vault-value-scan-8e41c7"
	in.mustCLI(cfg, "keyvault", "secret", "set", "--vault-name", "scankv", "-n", "s1", "--value", vaultValue)
	add(vaultValue)

	in.mustCLI(cfg, "acr", "create", "-n", "scanreg", "--admin-enabled", "true")
	for _, p := range mustJSON(t, in.mustCLI(cfg, "acr", "credential", "show", "-n", "scanreg"))["passwords"].([]any) {
		add(p.(map[string]any)["value"])
	}

	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "scan-ws")
	ep := filepath.Join(t.TempDir(), "endpoint.yml")
	os.WriteFile(ep, []byte("name: scan-ep\nauth_mode: key\n"), 0o644)
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", ep)
	keys := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "-n", "scan-ep"))
	add(keys["primaryKey"])
	add(keys["secondaryKey"])

	scanDataDir(t, dir, secrets)
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
	scanDataDir(t, dir, secrets)
	for _, s := range secrets {
		if strings.Contains(in.Log.String(), s) {
			t.Errorf("the server log holds the secret %q", s)
		}
	}
	// The store still opens every sealed record after a restart.
	in = start(t, dir)
	cfg = t.TempDir()
	in.mustCLI(cfg, "configure", "--defaults", "group=scan-rg", "workspace=scan-ws")
	got := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "get-credentials", "-n", "scan-ep"))
	if got["primaryKey"] != keys["primaryKey"] {
		t.Fatalf("endpoint keys after a restart: %v", got)
	}
	if v := strings.TrimSpace(in.mustCLI(cfg, "keyvault", "secret", "show", "--vault-name", "scankv", "-n", "s1", "--query", "value", "-o", "tsv")); v != vaultValue {
		t.Fatalf("vault secret after a restart: %q", v)
	}
}

// A PostgreSQL reader (issue 15): with the state in PostgreSQL, a plain SQL
// read of every record finds no storage account key, registry admin
// password, endpoint key or private key: the token-signing and registry
// keys and every ARM resource are sealed, so the database alone cannot
// mint a token.
func TestPostgresReaderFindsNoSecret(t *testing.T) {
	t.Parallel()
	url := pgtest.Start(t)
	in := start(t, "", "--store", url)
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pg-rg", "-l", "eastus")
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "pgscan", "-g", "pg-rg", "-l", "eastus"))
	var secrets []string
	for _, k := range in.armPost(t, acct["id"].(string)+"/listKeys", "2023-01-01")["keys"].([]any) {
		secrets = append(secrets, k.(map[string]any)["value"].(string))
	}
	in.mustCLI(cfg, "acr", "create", "-n", "pgscanreg", "-g", "pg-rg", "--admin-enabled", "true")
	for _, p := range mustJSON(t, in.mustCLI(cfg, "acr", "credential", "show", "-n", "pgscanreg", "-g", "pg-rg"))["passwords"].([]any) {
		secrets = append(secrets, p.(map[string]any)["value"].(string))
	}
	// The registry's signing key is made on its first token.
	in.mustCLI(cfg, "acr", "login", "-n", "pgscanreg", "-g", "pg-rg", "--expose-token")

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "SELECT kind, key, value FROM records")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	kinds := map[string]int{}
	for rows.Next() {
		var kind, key string
		var value []byte
		if err := rows.Scan(&kind, &key, &value); err != nil {
			t.Fatal(err)
		}
		kinds[kind]++
		for _, s := range secrets {
			if bytes.Contains(value, []byte(s)) {
				t.Errorf("record %s/%s holds the secret %q in clear", kind, key, s)
			}
		}
		for _, m := range privateKeyMarkers {
			if bytes.Contains(value, []byte(m)) {
				t.Errorf("record %s/%s holds a private key in clear (%q)", kind, key, m)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"arm.resource", "token.key", "registry.key"} {
		if kinds[k] == 0 {
			t.Errorf("no %s record in PostgreSQL: the scan looked at the wrong database (%v)", k, kinds)
		}
	}
}
