package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// staticToken is a TokenCredential for one token (a token copied out of a
// compute).
type staticToken string

func (t staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(t), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Virtual-network rules (issue 18 item 5, rule DS-8): a storage account
// that denies by default and allows one subnet lets through the code of a
// job whose compute sits in that subnet — amlid's own input mount and the
// job's azure-storage-blob client alike — and refuses the same job on a
// compute outside any subnet or in another subnet, naming the rule, the
// compute's subnet and the fix. The compute's token, copied out of the job
// and used from the host (azblob, directly or through amlid's proxy), is
// refused: the origin comes from the network path, never from the token.
func TestJobVirtualNetworkRules(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "vnet-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=vnet-rg", "workspace=vnet-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "vnet-ws")
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "vnetdata", "-l", "eastus"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Owner", "--scope", acct)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	in.mustCLI(cfg, "storage", "container", "create", "-n", "data", "--account-name", "vnetdata", "--auth-mode", "login")
	in.mustCLI(cfg, "storage", "blob", "upload", "-f", write("x.csv", "team,a\n1,2\n"), "-c", "data", "-n", "x.csv", "--account-name", "vnetdata", "--auth-mode", "login")
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("ds.yml", "name: vnetds\ntype: azure_blob\naccount_name: vnetdata\ncontainer_name: data\n"))

	// Three clusters: in the allowed subnet (flags), in another subnet
	// (YAML network_settings), in none. Each identity may read the data:
	// only the network decides.
	sub := strings.Split(acct, "/")[2]
	training := "/subscriptions/" + sub + "/resourceGroups/vnet-rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/training"
	dev := "/subscriptions/" + sub + "/resourceGroups/vnet-rg/providers/Microsoft.Network/virtualNetworks/corp/subnets/dev"
	c := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-n", "in-vnet", "--type", "amlcompute", "--identity-type", "system_assigned",
		"--vnet-name", "corp", "--subnet", "training"))
	if ns, _ := c["network_settings"].(map[string]any); ns["subnet"] != training || ns["vnet_name"] != "corp" {
		t.Fatalf("compute in-vnet's network_settings: %v", c)
	}
	in.mustCLI(cfg, "ml", "compute", "create", "-f", write("other.yml", "name: other-vnet\ntype: amlcompute\nidentity:\n  type: system_assigned\nnetwork_settings:\n  vnet_name: corp\n  subnet: dev\n"))
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "no-vnet", "--type", "amlcompute", "--identity-type", "system_assigned")
	in.mustCLI(cfg, "ml", "compute", "create", "-n", "ci-vnet", "--type", "computeinstance", "--identity-type", "system_assigned", "--subnet", training)
	for _, name := range []string{"in-vnet", "other-vnet", "no-vnet", "ci-vnet"} {
		pid := strings.TrimSpace(in.mustCLI(cfg, "ml", "compute", "show", "-n", name, "--query", "identity.principal_id", "-o", "tsv"))
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
			"--role", "Storage Blob Data Reader", "--scope", acct)
	}
	// A compute's subnet is fixed at creation.
	if so, se, code := in.cli(cfg, "ml", "compute", "create", "-n", "no-vnet", "--type", "amlcompute", "--identity-type", "system_assigned", "--subnet", dev); code == 0 || !strings.Contains(se, "cannot change after creation") {
		t.Fatalf("moving a compute into a subnet: exit %d\n%s\n%s", code, so, se)
	}

	// Deny by default; allow the subnet training (az's flags).
	in.mustCLI(cfg, "storage", "account", "update", "-n", "vnetdata", "--default-action", "Deny", "--bypass", "None")
	rules := mustJSON(t, in.mustCLI(cfg, "storage", "account", "network-rule", "add", "-g", "vnet-rg", "--account-name", "vnetdata", "--vnet-name", "corp", "--subnet", "training"))
	if vr, _ := rules["virtualNetworkRules"].([]any); len(vr) != 1 || !strings.EqualFold(vr[0].(map[string]any)["id"].(string), training) {
		t.Fatalf("network-rule add: %v", rules)
	}

	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	write("src/read.py", `import os, sys
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient
cred = ManagedIdentityCredential()
if len(sys.argv) > 1:
    print("mounted:", open(sys.argv[1]).read().splitlines()[0])
print("TOKEN=" + cred.get_token("https://storage.azure.com/.default").token)
try:
    b = BlobClient("https://vnetdata.blob.core.windows.net", "data", "x.csv", credential=cred)
    print("sdk:", b.download_blob().readall().decode().splitlines()[0])
except Exception as e:
    print("sdk refused:", e)
    sys.exit(3)
`)
	jobYAML := func(name, compute string, withInput bool) string {
		y := "command: python read.py"
		if withInput {
			y += " ${{inputs.f}}\ninputs:\n  f:\n    type: uri_file\n    path: azureml://datastores/vnetds/paths/x.csv"
		}
		return write(name+".yml", y+"\ncode: src\ncompute: azureml:"+compute+"\n")
	}

	// The workspace's analysis shows, per compute, whether jobs reach the
	// datastore (optional: a compute outside the subnet is not an error).
	so, se, code := in.cli(cfg, "analyze", "-w", "vnet-ws")
	if code != 0 || !strings.Contains(so, "compute no-vnet sits in no subnet") || !strings.Contains(so, "compute in-vnet's subnet") {
		t.Fatalf("analyze -w: exit %d\n%s\n%s", code, so, se)
	}

	// The analyzer predicts it (what-if on the job YAML): DS-8 names the
	// compute's subnet and the fix.
	if so, se, code := in.cli(cfg, "analyze", "-f", jobYAML("ok", "in-vnet", true)); code != 0 || !strings.Contains(so, "subnets/training") {
		t.Fatalf("what-if for the compute in the allowed subnet: exit %d\n%s\n%s", code, so, se)
	}
	so, se, code = in.cli(cfg, "analyze", "-f", jobYAML("dev", "other-vnet", true))
	if code != 1 || !strings.Contains(so, `"rule": "DS-8"`) ||
		!strings.Contains(so, "network-rule add -g vnet-rg --account-name vnetdata --subnet "+dev) {
		t.Fatalf("what-if for the compute in another subnet: exit %d\n%s\n%s", code, so, se)
	}
	if so, se, code := in.cli(cfg, "analyze", "-f", jobYAML("pub", "no-vnet", true)); code != 1 || !strings.Contains(so, `"rule": "DS-8"`) || !strings.Contains(so, "sits in no subnet") {
		t.Fatalf("what-if for the compute in no subnet: exit %d\n%s\n%s", code, so, se)
	}

	// In the allowed subnet: amlid's input mount and the job's own client.
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", jobYAML("ok", "in-vnet", true), "--name", "vnet-ok", "--stream")
	if code != 0 || !strings.Contains(so, "mounted: team,a") || !strings.Contains(so, "sdk: team,a") {
		t.Fatalf("job on a compute in the allowed subnet: exit %d\n%s\n%s", code, so, se)
	}
	m := regexp.MustCompile(`TOKEN=(\S+)`).FindStringSubmatch(so)
	if m == nil {
		t.Fatalf("no token in the job's log:\n%s", so)
	}
	token := m[1]

	// No subnet: the job's client is refused, naming DS-8, the rule's
	// subnet, the compute and the fix.
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", jobYAML("pub", "no-vnet", false), "--name", "vnet-pub", "--stream")
	out := so + se
	if code == 0 || !strings.Contains(out, "sdk refused") || !strings.Contains(out, "AuthorizationFailure") || !strings.Contains(out, "DS-8") ||
		!strings.Contains(out, "compute no-vnet") || !strings.Contains(out, "sits in no subnet") || !strings.Contains(out, "subnets/training") ||
		!strings.Contains(out, "network_settings") {
		t.Fatalf("job on a compute outside any subnet: exit %d\n%s\n%s", code, so, se)
	}
	// Another subnet: amlid's input mount from that compute is refused.
	so, se, code = in.cli(cfg, "ml", "job", "create", "-f", jobYAML("dev", "other-vnet", true), "--name", "vnet-dev", "--stream")
	out = so + se
	if code == 0 || !strings.Contains(out, "DS-8") || !strings.Contains(out, "in subnet "+dev) || !strings.Contains(out, "subnets/training") ||
		!strings.Contains(out, "network-rule add -g vnet-rg --account-name vnetdata --subnet "+dev) {
		t.Fatalf("job on a compute in another subnet: exit %d\n%s\n%s", code, so, se)
	}

	// `amlid run --as <compute>` (a cluster, a compute instance): the
	// command's own proxy credential puts it on the compute's network too.
	runPy := `from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient
try:
    print("run:", BlobClient("https://vnetdata.blob.core.windows.net", "data", "x.csv", credential=ManagedIdentityCredential()).download_blob().readall().decode().splitlines()[0])
except Exception as e:
    print("run refused:", str(e).splitlines()[0])
`
	for name, want := range map[string]string{"in-vnet": "run: team,a", "ci-vnet": "run: team,a", "no-vnet": "run refused: This request is not authorized to perform this operation. (rule DS-8)"} {
		cid := strings.TrimSpace(in.mustCLI(cfg, "ml", "compute", "show", "-n", name, "--query", "id", "-o", "tsv"))
		if so, se, code := in.cli(cfg, "run", "--as", cid, "--", "/usr/bin/python3", "-c", runPy); code != 0 || !strings.Contains(so, want) {
			t.Fatalf("amlid run --as %s: exit %d\n%s\n%s", name, code, so, se)
		}
	}

	// Data preview runs in the service, in no subnet: the subnet rule does
	// not let it through, and the refusal says so (DS-8).
	in.mustCLI(cfg, "ml", "data", "create", "--name", "rows", "--path", "azureml://datastores/vnetds/paths/x.csv", "--type", "uri_file")
	in.cliFails(t, cfg, []string{"DS-8", "AuthorizationFailure", "never on a compute in your subnets", "--bypass AzureServices"}, "ml", "data", "show", "-n", "rows", "--preview")

	// The in-vnet compute's token, used from the host: refused, directly
	// and through amlid's proxy with the host's shared credential.
	pem, err := os.ReadFile(in.State.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	read := func(accountURL string, proxy *url.URL) error {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		if proxy != nil {
			tr.Proxy = http.ProxyURL(proxy)
		}
		cl, err := azblob.NewClient(accountURL, staticToken(token), &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
			Transport: &http.Client{Transport: tr}, Retry: policy.RetryOptions{MaxRetries: -1}}})
		if err != nil {
			return err
		}
		_, err = cl.DownloadBuffer(context.Background(), "data", "x.csv", make([]byte, 64), nil)
		return err
	}
	for what, err := range map[string]error{
		"directly":              read(in.State.BlobURL+"/vnetdata", nil),
		"through amlid's proxy": read("https://vnetdata.blob.core.windows.net", &url.URL{Scheme: "http", User: url.UserPassword("azure", "hostnames"), Host: strings.TrimPrefix(in.State.VaultProxyURL, "http://")}),
	} {
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthorizationFailure" ||
			!strings.Contains(err.Error(), "public network") || !strings.Contains(err.Error(), "subnets/training") {
			t.Fatalf("the compute's token used from the host (%s) must be refused by the network rules: %v", what, err)
		}
	}
	// A made-up workload credential does not open a tunnel.
	forged := &url.URL{Scheme: "http", User: url.UserPassword("azure", strings.Repeat("ab", 32)), Host: strings.TrimPrefix(in.State.VaultProxyURL, "http://")}
	if err := read("https://vnetdata.blob.core.windows.net", forged); err == nil || !strings.Contains(err.Error(), "knows no running workload") {
		t.Fatalf("a forged proxy credential: %v", err)
	}
}

// DS-4 on an ADLS Gen2 datastore: creating an identity-based one checks
// the creator's own access, and on a hierarchical-namespace account the
// file system's ACLs count when no role does (DS-9): refused naming both
// fixes without either, created once the root's ACL gives read+execute.
func TestDatastoreCreateChecksADLSACLs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "acl-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=acl-rg", "workspace=acl-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "acl-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "acl-rg", "--query", "id", "-o", "tsv"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "acllake", "-l", "eastus", "--hns", "true"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Owner", "--scope", acct)
	in.mustCLI(cfg, "storage", "fs", "create", "-n", "data", "--account-name", "acllake", "--auth-mode", "login")
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Cy", "--user-principal-name", "cy@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	cy := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(cy, "login", "-u", "cy@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	cyID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "cy@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", cyID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	ds := filepath.Join(t.TempDir(), "lake.yml")
	os.WriteFile(ds, []byte("name: lake\ntype: azure_data_lake_gen2\naccount_name: acllake\nfilesystem: data\n"), 0o644)
	create := func() (string, string, int) {
		return in.cliNoEnvCreds(cy, "ml", "datastore", "create", "-f", ds, "-g", "acl-rg", "-w", "acl-ws")
	}
	// Neither a role nor an ACL entry: refused, naming both fixes.
	so, se, code := create()
	if code == 0 || !strings.Contains(se, "DS-4") || !strings.Contains(se, cyID) || !strings.Contains(se, "Storage Blob Data Reader") ||
		!strings.Contains(se, "role assignment create") || !strings.Contains(se, "access update-recursive --acl user:"+cyID+":r-x -p / -f data") {
		t.Fatalf("identity-based ADLS datastore without role or ACL: exit %d\n%s\n%s", code, so, se)
	}
	// Execute alone on the root is not enough to list it.
	setRoot := func(perm string) {
		in.mustCLI(cfg, "storage", "fs", "access", "set", "--acl", "user::rwx,user:"+cyID+":"+perm+",group::r-x,mask::r-x,other::---",
			"-p", "/", "-f", "data", "--account-name", "acllake", "--auth-mode", "login")
	}
	setRoot("--x")
	if so, se, code := create(); code == 0 || !strings.Contains(se, "DS-4") {
		t.Fatalf("with execute only on the root: exit %d\n%s\n%s", code, so, se)
	}
	// Read and execute on the root, still no role: created.
	setRoot("r-x")
	if so, se, code := create(); code != 0 {
		t.Fatalf("with r-x on the root: exit %d\n%s\n%s", code, so, se)
	}
}

// Deleting a workspace deletes the secrets its credential-based datastores
// (its own default ones, and one created with an account key) wrote to the
// workspace key vault, as Azure's soft delete does: gone from get and list,
// listed as deleted. The vault itself stays.
func TestWorkspaceDeleteRemovesDatastoreSecrets(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "dsdel-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=dsdel-rg", "workspace=dsdel-ws")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "dsdel-ws"))
	vaultID := ws["key_vault"].(string)
	vault := vaultID[strings.LastIndex(vaultID, "/")+1:]
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Key Vault Secrets Officer", "--scope", vaultID)
	in.mustCLI(cfg, "storage", "account", "create", "-n", "dsdeldata")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "dsdeldata", "--query", "[0].value", "-o", "tsv"))
	yml := filepath.Join(t.TempDir(), "ds.yml")
	os.WriteFile(yml, []byte("name: keyed\ntype: azure_blob\naccount_name: dsdeldata\ncontainer_name: c1\ncredentials:\n  account_key: "+key+"\n"), 0o644)
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", yml)
	datastoreSecrets := func(verb string) []string {
		var out []string
		for _, n := range strings.Fields(in.mustCLI(cfg, "keyvault", "secret", verb, "--vault-name", vault, "--query", "[].name", "-o", "tsv")) {
			if strings.HasPrefix(n, "datastore-") {
				out = append(out, n)
			}
		}
		return out
	}
	before := datastoreSecrets("list")
	var keyed string
	for _, n := range before {
		if strings.HasPrefix(n, "datastore-keyed-") {
			keyed = n
		}
	}
	if keyed == "" || len(before) < 2 {
		t.Fatalf("datastore secrets in the workspace vault: %v", before)
	}
	if v := strings.TrimSpace(in.mustCLI(cfg, "keyvault", "secret", "show", "--vault-name", vault, "-n", keyed, "--query", "value", "-o", "tsv")); v != key {
		t.Fatalf("the keyed datastore's secret: %q", v)
	}
	in.mustCLI(cfg, "ml", "workspace", "delete", "-n", "dsdel-ws", "--yes")
	if after := datastoreSecrets("list"); len(after) != 0 {
		t.Fatalf("datastore secrets left in the vault after the workspace's deletion: %v", after)
	}
	in.cliFails(t, cfg, []string{"SecretNotFound"}, "keyvault", "secret", "show", "--vault-name", vault, "-n", keyed)
	deleted := strings.Join(datastoreSecrets("list-deleted"), " ")
	for _, n := range before {
		if !strings.Contains(deleted, n) {
			t.Fatalf("%s is not among the vault's deleted secrets: %s", n, deleted)
		}
	}
}
