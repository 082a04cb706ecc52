package blob_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/testenv"
)

// az is Debian's az 2.45 with its own config dir, registered against the
// test servers as a custom cloud and logged in as a service principal.
type az struct {
	t   *testing.T
	env []string
}

func newAz(t *testing.T, e *testenv.Env, app *testenv.App) *az {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatal("az not found: install Debian's azure-cli (scripts/test.sh does)")
	}
	a := &az{t: t}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AZURE_") || k == "REQUESTS_CA_BUNDLE" {
			continue
		}
		a.env = append(a.env, kv)
	}
	a.env = append(a.env, "AZURE_CONFIG_DIR="+t.TempDir(), "REQUESTS_CA_BUNDLE="+e.CAFile(), "AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_NO_COLOR=true", "AZURE_CORE_ONLY_SHOW_ERRORS=true")
	a.must("cloud", "register", "-n", "AmlidTest", "--endpoint-resource-manager", e.URL()+"/",
		"--endpoint-active-directory", e.URL()+"/adfs",
		"--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
		"--endpoint-active-directory-graph-resource-id", "https://graph.windows.net/",
		"--endpoint-management", "https://management.core.windows.net/",
		"--suffix-storage-endpoint", "core.windows.net")
	a.must("cloud", "set", "-n", "AmlidTest")
	a.must("login", "--service-principal", "-u", app.AppID, "-p", app.Secret, "--tenant", app.TenantID)
	return a
}

func (a *az) run(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "az", args...)
	cmd.Env = a.env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return so.String(), se.String(), err
}

func (a *az) must(args ...string) string {
	a.t.Helper()
	so, se, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("az %s: %v\n%s%s", strings.Join(args, " "), err, so, se)
	}
	return so
}

// TestAzCLI: Debian's az creates a container and uploads with
// --auth-mode login, uploads with --account-key, downloads both ways.
func TestAzCLI(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("azacct", nil)
	key := e.AccountKey("azacct")
	app := e.NewApp("az-sp", e.Tenant())
	e.Grant(app.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("azacct"))
	reader := e.NewApp("az-reader", e.Tenant())
	e.Grant(reader.ObjectID, testenv.RoleStorageBlobDataReader, e.AccountID("azacct"))
	ep := strings.TrimSuffix(e.AccountURL("azacct"), "/")
	a := newAz(t, e, app)

	out := a.must("storage", "container", "create", "-n", "azc", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep)
	if !strings.Contains(out, `"created": true`) {
		t.Fatalf("container create: %s", out)
	}
	// 409 ContainerAlreadyExists is reported as created: false.
	if out := a.must("storage", "container", "create", "-n", "azc", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep); !strings.Contains(out, `"created": false`) {
		t.Fatalf("second container create: %s", out)
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "small.txt")
	must(t, os.WriteFile(small, []byte("uploaded by az with a token\n"), 0o600))
	big := filepath.Join(dir, "big.bin")
	bigData := streamBytes(9, 70<<20) // above az's 64 MiB single-shot bound: blocks
	must(t, os.WriteFile(big, bigData, 0o600))

	a.must("storage", "blob", "upload", "-f", small, "-c", "azc", "-n", "login/small.txt", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep)
	a.must("storage", "blob", "upload", "-f", big, "-c", "azc", "-n", "key/big.bin", "--account-name", "azacct", "--account-key", key, "--blob-endpoint", ep)

	got := filepath.Join(dir, "got.txt")
	a.must("storage", "blob", "download", "-f", got, "-c", "azc", "-n", "login/small.txt", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep)
	if b, _ := os.ReadFile(got); string(b) != "uploaded by az with a token\n" {
		t.Fatalf("download (login): %q", b)
	}
	gotBig := filepath.Join(dir, "got.bin")
	a.must("storage", "blob", "download", "-f", gotBig, "-c", "azc", "-n", "key/big.bin", "--account-name", "azacct", "--account-key", key, "--blob-endpoint", ep)
	if b, _ := os.ReadFile(gotBig); !bytes.Equal(b, bigData) {
		t.Fatalf("download (key): %d bytes differ", len(b))
	}
	list := a.must("storage", "blob", "list", "-c", "azc", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep, "--query", "[].name", "-o", "tsv")
	if strings.Fields(list)[0] != "key/big.bin" || strings.Fields(list)[1] != "login/small.txt" {
		t.Fatalf("blob list: %q", list)
	}
	// The ARM side through az: create (200), show, keys, update.
	owner := newAz(t, e, e.Admin)
	created := owner.must("storage", "account", "create", "-n", "azarm", "-g", e.RG, "-l", "eastus", "--sku", "Standard_LRS",
		"--allow-blob-public-access", "false", "--query", "[provisioningState, primaryEndpoints.blob]", "-o", "tsv")
	if f := strings.Fields(created); len(f) != 2 || f[0] != "Succeeded" || f[1] != e.AccountURL("azarm") {
		t.Fatalf("az storage account create: %q", created)
	}
	if keys := owner.must("storage", "account", "keys", "list", "-n", "azarm", "-g", e.RG, "--query", "length(@)"); strings.TrimSpace(keys) != "2" {
		t.Fatalf("az storage account keys list: %q", keys)
	}
	if upd := owner.must("storage", "account", "update", "-n", "azarm", "-g", e.RG, "--default-action", "Deny", "--query", "networkRuleSet.defaultAction", "-o", "tsv"); strings.TrimSpace(upd) != "Deny" {
		t.Fatalf("az storage account update: %q", upd)
	}
	// A reader's upload is refused with the service's code.
	r := newAz(t, e, reader)
	_, se, err := r.run("storage", "blob", "upload", "-f", small, "-c", "azc", "-n", "reader.txt", "--account-name", "azacct", "--auth-mode", "login", "--blob-endpoint", ep)
	// az turns 403 AuthorizationPermissionMismatch into its role hint.
	if err == nil || !(strings.Contains(se, "AuthorizationPermissionMismatch") || strings.Contains(se, "You do not have the required permissions")) {
		t.Fatalf("reader upload: err=%v\n%s", err, se)
	}
}
