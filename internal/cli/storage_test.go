package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/amlid/amlid/internal/testenv"
)

// storageCLI runs the CLI in-process against a testenv environment, as
// the environment's admin (through the AZURE_CLIENT_* variables).
type storageCLI struct {
	t *testing.T
	e *testenv.Env
}

func newStorageCLI(t *testing.T) *storageCLI {
	e := testenv.NewStorage(t, testenv.Options{})
	for k, v := range map[string]string{
		"AMLID_ARM_URL": e.URL(), "AZURE_AUTHORITY_HOST": e.URL(), "AMLID_CA_FILE": e.CAFile(),
		"AMLID_TENANT_ID": e.Tenant(), "AZURE_SUBSCRIPTION_ID": e.Sub(), "AZURE_TENANT_ID": e.Tenant(),
		"AZURE_CLIENT_ID": e.Admin.AppID, "AZURE_CLIENT_SECRET": e.Admin.Secret,
		"AMLID_CONFIG_DIR": t.TempDir(), "AMLID_DATA_DIR": t.TempDir(),
		"AMLID_BLOB_URL": "", "AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_KEY": "", "AZURE_STORAGE_AUTH_MODE": "",
		"AZURE_STORAGE_SAS_TOKEN": "", "AZURE_STORAGE_SERVICE_ENDPOINT": "",
	} {
		t.Setenv(k, v)
	}
	return &storageCLI{t: t, e: e}
}

func (s *storageCLI) run(args ...string) (string, string, int) {
	var so, se bytes.Buffer
	code := Main(args, strings.NewReader(""), &so, &se)
	return so.String(), se.String(), code
}

func (s *storageCLI) must(args ...string) string {
	s.t.Helper()
	so, se, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("amlid %s: exit %d\n%s%s", strings.Join(args, " "), code, so, se)
	}
	return so
}

func (s *storageCLI) json(args ...string) any {
	s.t.Helper()
	out := s.must(args...)
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatalf("amlid %s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

func (s *storageCLI) obj(args ...string) map[string]any {
	s.t.Helper()
	m, ok := s.json(args...).(map[string]any)
	if !ok {
		s.t.Fatalf("amlid %s: not an object", strings.Join(args, " "))
	}
	return m
}

func TestStorageCLI(t *testing.T) {
	s := newStorageCLI(t)
	e := s.e
	g := []string{"-g", e.RG}

	// Accounts.
	acct := s.obj(append([]string{"storage", "account", "create", "-n", "cliacct", "--sku", "Standard_LRS", "--allow-shared-key-access", "true"}, g...)...)
	if acct["name"] != "cliacct" || acct["resourceGroup"] != e.RG || acct["primaryEndpoints"].(map[string]any)["blob"] != e.AccountURL("cliacct") ||
		acct["networkRuleSet"].(map[string]any)["defaultAction"] != "Allow" || acct["kind"] != "StorageV2" || acct["provisioningState"] != "Succeeded" {
		t.Fatalf("account create: %v", acct)
	}
	if _, ok := acct["properties"]; ok {
		t.Fatal("az flattens properties")
	}
	upd := s.obj(append([]string{"storage", "account", "update", "-n", "cliacct", "--allow-blob-public-access", "true", "--default-action", "Allow", "--bypass", "AzureServices Logging"}, g...)...)
	if upd["allowBlobPublicAccess"] != true || upd["networkRuleSet"].(map[string]any)["bypass"] != "AzureServices, Logging" {
		t.Fatalf("account update: %v", upd)
	}
	if list := s.json(append([]string{"storage", "account", "list", "--query", "[].name"}, g...)...).([]any); !slices.Equal(list, []any{"cliacct"}) {
		t.Fatalf("account list: %v", list)
	}
	if show := s.obj(append([]string{"storage", "account", "show", "-n", "cliacct"}, g...)...); show["allowBlobPublicAccess"] != true {
		t.Fatalf("account show: %v", show)
	}
	keys := s.json(append([]string{"storage", "account", "keys", "list", "-n", "cliacct"}, g...)...).([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["keyName"] != "key1" {
		t.Fatalf("keys list: %v", keys)
	}
	key1 := keys[0].(map[string]any)["value"].(string)
	renewed := s.json(append([]string{"storage", "account", "keys", "renew", "-n", "cliacct", "--key", "secondary"}, g...)...).([]any)
	if renewed[0].(map[string]any)["value"] != key1 || renewed[1].(map[string]any)["value"] == keys[1].(map[string]any)["value"] {
		t.Fatalf("keys renew: %v", renewed)
	}

	// Containers: the key is looked up through ARM, the endpoint too.
	if c := s.obj("storage", "container", "create", "-n", "box", "--account-name", "cliacct"); c["created"] != true {
		t.Fatalf("container create: %v", c)
	}
	if c := s.obj("storage", "container", "create", "-n", "box", "--account-name", "cliacct", "--account-key", key1); c["created"] != false {
		t.Fatalf("second container create: %v", c)
	}
	if c := s.obj("storage", "container", "exists", "-n", "box", "--account-name", "cliacct", "--account-key", key1); c["exists"] != true {
		t.Fatalf("container exists: %v", c)
	}
	if c := s.obj("storage", "container", "show", "-n", "box", "--account-name", "cliacct", "--account-key", key1); c["name"] != "box" ||
		c["properties"].(map[string]any)["lease"].(map[string]any)["state"] != "available" {
		t.Fatalf("container show: %v", c)
	}

	// Blobs with the key.
	dir := t.TempDir()
	small := filepath.Join(dir, "small.txt")
	must(t, os.WriteFile(small, []byte("hello from the amlid CLI\n"), 0o600))
	kf := []string{"--account-name", "cliacct", "--account-key", key1}
	up := s.obj(append([]string{"storage", "blob", "upload", "-f", small, "-c", "box", "-n", "dir/small.txt"}, kf...)...)
	if up["etag"] == "" || up["request_server_encrypted"] != true {
		t.Fatalf("upload: %v", up)
	}
	if _, se, code := s.run(append([]string{"storage", "blob", "upload", "-f", small, "-c", "box", "-n", "dir/small.txt"}, kf...)...); code == 0 || !strings.Contains(se, "BlobAlreadyExists") {
		t.Fatalf("upload over an existing blob without --overwrite: %d %s", code, se)
	}
	s.must(append([]string{"storage", "blob", "upload", "-f", small, "-c", "box", "-n", "dir/small.txt", "--overwrite"}, kf...)...)
	show := s.obj(append([]string{"storage", "blob", "show", "-c", "box", "-n", "dir/small.txt"}, kf...)...)
	props := show["properties"].(map[string]any)
	if props["contentLength"] != float64(25) || props["contentSettings"].(map[string]any)["contentType"] != "text/plain; charset=utf-8" || props["blobType"] != "BlockBlob" {
		t.Fatalf("blob show: %v", show)
	}

	// A large blob with --auth-mode login (blocks).
	e.Grant(e.Admin.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("cliacct"))
	big := filepath.Join(dir, "big.bin")
	data := make([]byte, 70<<20+3)
	rand.Read(data)
	must(t, os.WriteFile(big, data, 0o600))
	lf := []string{"--account-name", "cliacct", "--auth-mode", "login"}
	s.must(append([]string{"storage", "blob", "upload", "-f", big, "-c", "box", "-n", "big.bin"}, lf...)...)
	got := filepath.Join(dir, "got.bin")
	dl := s.obj(append([]string{"storage", "blob", "download", "-f", got, "-c", "box", "-n", "big.bin"}, lf...)...)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, data) || dl["properties"].(map[string]any)["contentLength"] != float64(len(data)) {
		t.Fatalf("download: %d bytes, %v", len(b), dl["properties"])
	}
	names := s.json(append([]string{"storage", "blob", "list", "-c", "box", "--query", "[].name"}, lf...)...).([]any)
	if !slices.Equal(names, []any{"big.bin", "dir/small.txt"}) {
		t.Fatalf("blob list: %v", names)
	}
	top := s.json(append([]string{"storage", "blob", "list", "-c", "box", "--delimiter", "/", "--query", "[].name"}, lf...)...).([]any)
	if !slices.Equal(top, []any{"dir/", "big.bin"}) {
		t.Fatalf("blob list with a delimiter: %v", top)
	}

	// A SAS token.
	cred, err := azblob.NewSharedKeyCredential("cliacct", key1)
	must(t, err)
	qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ContainerName: "box",
		Permissions: (&sas.ContainerPermissions{Read: true, List: true}).String()}.SignWithSharedKey(cred)
	must(t, err)
	sf := []string{"--account-name", "cliacct", "--sas-token", qp.Encode()}
	got2 := filepath.Join(dir, "got.txt")
	s.must(append([]string{"storage", "blob", "download", "-f", got2, "-c", "box", "-n", "dir/small.txt"}, sf...)...)
	if b, _ := os.ReadFile(got2); string(b) != "hello from the amlid CLI\n" {
		t.Fatalf("download with a SAS: %q", b)
	}
	if _, se, code := s.run(append([]string{"storage", "blob", "delete", "-c", "box", "-n", "dir/small.txt"}, sf...)...); code == 0 || !strings.Contains(se, "AuthorizationPermissionMismatch") {
		t.Fatalf("delete with a read-only SAS: %d %s", code, se)
	}

	// Batches.
	src := filepath.Join(dir, "tree")
	for _, p := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.json"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755))
		must(t, os.WriteFile(filepath.Join(src, p), []byte("content of "+p), 0o600))
	}
	ub := s.json(append([]string{"storage", "blob", "upload-batch", "-s", src, "-d", "box", "--destination-path", "tree"}, kf...)...).([]any)
	if len(ub) != 3 || !strings.HasSuffix(ub[0].(map[string]any)["Blob"].(string), "/box/tree/a.txt") {
		t.Fatalf("upload-batch: %v", ub)
	}
	out := filepath.Join(dir, "out")
	db := s.json(append([]string{"storage", "blob", "download-batch", "-s", "box", "-d", out, "--pattern", "tree/*"}, kf...)...).([]any)
	if len(db) != 3 {
		t.Fatalf("download-batch: %v", db)
	}
	for _, p := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.json"} {
		if b, _ := os.ReadFile(filepath.Join(out, "tree", p)); string(b) != "content of "+p {
			t.Fatalf("download-batch %s: %q", p, b)
		}
	}
	// A blob name that would escape the destination is refused.
	kc, err := azblob.NewClientWithSharedKeyCredential(e.AccountURL("cliacct"), cred, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	must(t, err)
	_, err = kc.UploadBuffer(t.Context(), "box", "../escape.txt", []byte("x"), nil)
	must(t, err)
	if _, se, code := s.run(append([]string{"storage", "blob", "download-batch", "-s", "box", "-d", filepath.Join(dir, "out2")}, kf...)...); code == 0 || !strings.Contains(se, "outside") {
		t.Fatalf("download-batch with a hostile name: %d %s", code, se)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.txt")); err == nil {
		t.Fatal("download-batch wrote outside its destination")
	}

	// Delete and exists.
	s.must(append([]string{"storage", "blob", "delete", "-c", "box", "-n", "big.bin"}, kf...)...)
	if c := s.obj(append([]string{"storage", "blob", "exists", "-c", "box", "-n", "big.bin"}, kf...)...); c["exists"] != false {
		t.Fatalf("blob exists after delete: %v", c)
	}
	if _, se, code := s.run(append([]string{"storage", "blob", "download", "-f", got, "-c", "box", "-n", "big.bin"}, kf...)...); code != exitNotFound || !strings.Contains(se, "BlobNotFound") {
		t.Fatalf("download of a deleted blob: %d %s", code, se)
	}
	if c := s.obj(append([]string{"storage", "container", "delete", "-n", "box"}, kf...)...); c["deleted"] != true {
		t.Fatalf("container delete: %v", c)
	}
	if c := s.json(append([]string{"storage", "container", "list"}, kf...)...).([]any); len(c) != 0 {
		t.Fatalf("container list after delete: %v", c)
	}
	s.must(append([]string{"storage", "account", "delete", "-n", "cliacct", "-y"}, g...)...)
	if _, _, code := s.run(append([]string{"storage", "account", "show", "-n", "cliacct"}, g...)...); code != exitNotFound {
		t.Fatalf("show after delete: exit %d", code)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// network-rule add, list and remove edit the account's IP rules as az
// does: an add of a rule already there changes nothing, remove drops it,
// and a rule given twice or not at all exits 2 before any request.
func TestStorageNetworkRuleCLI(t *testing.T) {
	s := newStorageCLI(t)
	acct := []string{"-g", s.e.RG, "--account-name", "netacct"}
	s.must("storage", "account", "create", "-n", "netacct", "-g", s.e.RG, "--sku", "Standard_LRS")
	rule := func(v map[string]any) []any { l, _ := v["ipRules"].([]any); return l }
	add := append([]string{"storage", "account", "network-rule", "add", "--ip-address", "203.0.113.0/24"}, acct...)
	for i := 0; i < 2; i++ {
		got := rule(s.obj(add...))
		if len(got) != 1 || got[0].(map[string]any)["value"] != "203.0.113.0/24" || got[0].(map[string]any)["action"] != "Allow" {
			t.Fatalf("add #%d: ipRules %v", i+1, got)
		}
	}
	if got := rule(s.obj(append([]string{"storage", "account", "network-rule", "list"}, acct...)...)); len(got) != 1 {
		t.Fatalf("list: ipRules %v", got)
	}
	if got := rule(s.obj(append([]string{"storage", "account", "network-rule", "remove", "--ip-address", "203.0.113.0/24"}, acct...)...)); len(got) != 0 {
		t.Fatalf("remove: ipRules %v", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--ip-address", "203.0.113.7", "--subnet", "s"}, "give either --ip-address or --subnet [--vnet-name], not both"},
		{[]string{"remove"}, "the following arguments are required: --ip-address or --subnet [--vnet-name]"},
		{[]string{"list", "-g", s.e.RG}, "the following arguments are required: --account-name"},
	} {
		args := append([]string{"storage", "account", "network-rule"}, tc.args...)
		if tc.args[0] != "list" {
			args = append(args, acct...)
		}
		if so, se, code := s.run(args...); code != exitUsage || !strings.Contains(se, tc.want) || so != "" {
			t.Errorf("amlid %s: exit %d\nstdout %q\nstderr %q\nwant exit %d saying %q", strings.Join(args, " "), code, so, se, exitUsage, tc.want)
		}
	}
}
