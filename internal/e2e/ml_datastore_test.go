package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"
)

// armDo sends one raw ARM request with cred's token and returns the status
// and decoded body (for requests the SDK cannot express: unknown types).
func (in *instance) armDo(t *testing.T, cred azcore.TokenCredential, method, path, apiVersion string, body any) (int, map[string]any) {
	t.Helper()
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, in.State.ARMURL+path+"?api-version="+apiVersion, rd)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func errMessage(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.Error()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// Datastores through armmachinelearning v4 (issue 18): the four default
// datastores; a credential-based datastore whose secret goes to the
// workspace key vault as the workspace identity and never comes back on a
// GET (DS-2), readable through listSecrets by AzureML Data Scientist but not
// by Reader, and through azsecrets by Key Vault Secrets User, and found
// nowhere in the data directory or the log; identity-based datastores (DS-1)
// checked against the creator's own storage access (DS-4); AzureFile
// refused identity-based (DS-3); bad input answered 400.
func TestDatastoresSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	sub := in.State.SubscriptionID
	cfg := t.TempDir()
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	in.mustCLI(cfg, "group", "create", "-n", "ds-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=ds-rg")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ds-ws"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "dsdata1"))
	acctID := acct["id"].(string)
	in.mustCLI(cfg, "storage", "container", "create", "-n", "training", "--account-name", "dsdata1", "--auth-mode", "key")
	keys := in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "dsdata1", "--query", "[0].value", "-o", "tsv")
	key := strings.TrimSpace(keys)
	adminOID := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))

	dc, err := armmachinelearning.NewDatastoresClient(sub, admin, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}

	// Default datastores, credential-based, workspaceblobstore the default.
	var names []string
	pager := dc.NewListPager("ds-rg", "ds-ws", nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			names = append(names, *d.Name)
			if c := d.Properties.GetDatastoreProperties().Credentials.GetDatastoreCredentials(); *c.CredentialsType != armmachinelearning.CredentialsTypeAccountKey {
				t.Fatalf("default datastore %s: credentials %s, want AccountKey", *d.Name, *c.CredentialsType)
			}
		}
	}
	if strings.Join(names, ",") != "workspaceartifactstore,workspaceblobstore,workspacefilestore,workspaceworkingdirectory" {
		t.Fatalf("default datastores: %v", names)
	}
	def := dc.NewListPager("ds-rg", "ds-ws", &armmachinelearning.DatastoresClientListOptions{IsDefault: to.Ptr(true)})
	page, err := def.NextPage(ctx)
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name != "workspaceblobstore" {
		t.Fatalf("isDefault=true: %v %v", page.Value, err)
	}
	blobDS := page.Value[0].Properties.(*armmachinelearning.AzureBlobDatastore)
	if !strings.HasPrefix(*blobDS.ContainerName, "azureml-blobstore-") || !*blobDS.IsDefault {
		t.Fatalf("workspaceblobstore: %+v", blobDS)
	}

	// systemDatastoresAuthMode identity: identity-based blob stores read as
	// the workspace identity; the file stores keep the key (DS-3).
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "ds-idws", "--system-datastores-auth-mode", "identity")
	for name, want := range map[string]armmachinelearning.CredentialsType{"workspaceblobstore": armmachinelearning.CredentialsTypeNone,
		"workspaceartifactstore": armmachinelearning.CredentialsTypeNone, "workspacefilestore": armmachinelearning.CredentialsTypeAccountKey} {
		d, err := dc.Get(ctx, "ds-rg", "ds-idws", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := d.Properties.GetDatastoreProperties()
		if *p.Credentials.GetDatastoreCredentials().CredentialsType != want {
			t.Fatalf("identity-mode workspace, %s: %s, want %s", name, *p.Credentials.GetDatastoreCredentials().CredentialsType, want)
		}
		if b, ok := d.Properties.(*armmachinelearning.AzureBlobDatastore); ok && *b.ServiceDataAccessAuthIdentity != armmachinelearning.ServiceDataAccessAuthIdentityWorkspaceSystemAssignedIdentity {
			t.Fatalf("identity-mode %s reads as %s", name, *b.ServiceDataAccessAuthIdentity)
		}
	}

	// A credential-based datastore (account key).
	put := func(name string, props armmachinelearning.DatastorePropertiesClassification) (armmachinelearning.Datastore, error) {
		r, err := dc.CreateOrUpdate(ctx, "ds-rg", "ds-ws", name, armmachinelearning.Datastore{Properties: props}, nil)
		return r.Datastore, err
	}
	created, err := put("keyed", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("dsdata1"), ContainerName: to.Ptr("training"),
		Credentials: &armmachinelearning.AccountKeyDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeAccountKey),
			Secrets: &armmachinelearning.AccountKeyDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeAccountKey), Key: to.Ptr(key)}}})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := created.Properties.GetDatastoreProperties().Credentials.(*armmachinelearning.AccountKeyDatastoreCredentials); !ok || c.Secrets != nil {
		t.Fatalf("the PUT answer carries the secret: %+v", created.Properties.GetDatastoreProperties().Credentials)
	}
	dsPath := ws["id"].(string) + "/datastores/keyed"
	if st, body := in.armDo(t, admin, http.MethodGet, dsPath, "2024-04-01", nil); st != 200 || strings.Contains(jsonText(body), key) {
		t.Fatalf("GET returns the secret (DS-2): %d %v", st, body)
	}
	sec, err := dc.ListSecrets(ctx, "ds-rg", "ds-ws", "keyed", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := sec.DatastoreSecretsClassification.(*armmachinelearning.AccountKeyDatastoreSecrets); !ok || *s.Key != key {
		t.Fatalf("listSecrets: %+v", sec.DatastoreSecretsClassification)
	}

	// A service principal's secret: unique, so it can be searched for.
	spSecret := "ds-sp-secret-" + uuid.NewString()
	if _, err := put("spstore", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("dsdata1"), ContainerName: to.Ptr("training"),
		Credentials: &armmachinelearning.ServicePrincipalDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeServicePrincipal),
			TenantID: to.Ptr(in.Boot.TenantID), ClientID: to.Ptr(uuid.NewString()),
			Secrets: &armmachinelearning.ServicePrincipalDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeServicePrincipal), ClientSecret: to.Ptr(spSecret)}}}); err != nil {
		t.Fatal(err)
	}

	// A reader of the workspace may see datastores but not their secrets;
	// AzureML Data Scientist may (workspaces/*/action: the seed's warning).
	sp := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", "ds-reader"))
	appID, secret := sp["appId"].(string), sp["password"].(string)
	oid := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", appID, "--query", "id", "-o", "tsv"))
	worker := in.credential(t, in.Boot.TenantID, appID, secret)
	grant := func(principal, role, scope string) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", principal, "--assignee-principal-type", "ServicePrincipal", "--role", role, "--scope", scope)
	}
	grant(oid, "Reader", ws["id"].(string))
	wdc, _ := armmachinelearning.NewDatastoresClient(sub, worker, in.armOptions())
	if _, err := wdc.Get(ctx, "ds-rg", "ds-ws", "keyed", nil); err != nil {
		t.Fatalf("Reader GET: %v", err)
	}
	_, err = wdc.ListSecrets(ctx, "ds-rg", "ds-ws", "keyed", nil)
	if code, ec := respCode(err); code != http.StatusForbidden || ec != "AuthorizationFailed" || !strings.Contains(errMessage(err), "datastores/listSecrets/action") {
		t.Fatalf("Reader listSecrets: %d %s %v", code, ec, err)
	}
	grant(oid, "AzureML Data Scientist", ws["id"].(string))
	sec, err = wdc.ListSecrets(ctx, "ds-rg", "ds-ws", "spstore", nil)
	if err != nil {
		t.Fatalf("AzureML Data Scientist listSecrets: %v", err)
	}
	if s, ok := sec.DatastoreSecretsClassification.(*armmachinelearning.ServicePrincipalDatastoreSecrets); !ok || *s.ClientSecret != spSecret {
		t.Fatalf("listSecrets (service principal): %+v", sec.DatastoreSecretsClassification)
	}

	// The secret is in the workspace's vault, readable with azsecrets by a
	// Key Vault Secrets User.
	kvID := ws["key_vault"].(string)
	vault := mustJSON(t, in.mustCLI(cfg, "keyvault", "show", "-n", kvID[strings.LastIndex(kvID, "/")+1:]))
	vaultURI := vault["properties"].(map[string]any)["vaultUri"].(string)
	kv, err := azsecrets.NewClient(vaultURI, in.credential(t, "adfs", appID, secret), &azsecrets.ClientOptions{DisableChallengeResourceVerification: true,
		ClientOptions: in.armOptions().ClientOptions})
	if err != nil {
		t.Fatal(err)
	}
	findSecret := func() (string, error) {
		sp := kv.NewListSecretPropertiesPager(nil)
		for sp.More() {
			pg, err := sp.NextPage(ctx)
			if err != nil {
				return "", err
			}
			for _, it := range pg.Value {
				got, err := kv.GetSecret(ctx, it.ID.Name(), "", nil)
				if err != nil {
					return "", err
				}
				if *got.Value == spSecret {
					return it.ID.Name(), nil
				}
			}
		}
		return "", nil
	}
	if _, err := findSecret(); err == nil {
		t.Fatal("a principal without a Key Vault role read the vault")
	} else if code, _ := respCode(err); code != http.StatusForbidden {
		t.Fatalf("no role: %v", err)
	}
	grant(oid, "Key Vault Secrets User", ws["key_vault"].(string))
	name, err := findSecret()
	if err != nil || name == "" {
		t.Fatalf("the datastore's secret is not in the workspace vault: %q %v", name, err)
	}
	// …and nowhere else: not in the data directory (the vault seals it),
	// not in the log.
	filepath.WalkDir(in.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(spSecret)) {
			t.Errorf("the datastore secret is in %s", p)
		}
		return nil
	})
	if strings.Contains(in.Log.String(), spSecret) {
		t.Error("the datastore secret is in amlid's log")
	}

	// Identity-based (DS-1, DS-4): the creator's own token must reach the
	// storage; Owner grants no data action.
	identity := &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("dsdata1"), ContainerName: to.Ptr("training"),
		ServiceDataAccessAuthIdentity: to.Ptr(armmachinelearning.ServiceDataAccessAuthIdentityWorkspaceSystemAssignedIdentity),
		Credentials:                   &armmachinelearning.NoneDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeNone)}}
	_, err = put("byidentity", identity)
	if code, _ := respCode(err); code != http.StatusForbidden || !strings.Contains(errMessage(err), "DS-4") ||
		!strings.Contains(errMessage(err), "Storage Blob Data Reader") || !strings.Contains(errMessage(err), "amlid role assignment create") {
		t.Fatalf("identity-based datastore without storage access: %v", err)
	}
	grant(adminOID, "Storage Blob Data Reader", acctID)
	got, err := put("byidentity", identity)
	if err != nil {
		t.Fatalf("identity-based datastore with Storage Blob Data Reader: %v", err)
	}
	if c := got.Properties.GetDatastoreProperties().Credentials.GetDatastoreCredentials(); *c.CredentialsType != armmachinelearning.CredentialsTypeNone {
		t.Fatalf("identity-based: %+v", c)
	}
	_, err = dc.ListSecrets(ctx, "ds-rg", "ds-ws", "byidentity", nil)
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "DS-1") {
		t.Fatalf("listSecrets of an identity-based datastore: %v", err)
	}
	// ADLS Gen2, identity-based, same check.
	if _, err := put("lake", &armmachinelearning.AzureDataLakeGen2Datastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureDataLakeGen2),
		AccountName: to.Ptr("dsdata1"), Filesystem: to.Ptr("training"),
		Credentials: &armmachinelearning.NoneDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeNone)}}); err != nil {
		t.Fatalf("ADLS Gen2 identity-based: %v", err)
	}

	// The analyzer reports the identity-based datastore whose reader (the
	// workspace identity it names) lacks Storage Blob Data Reader (DS-4).
	ds4 := func() (found, met bool, fix string) {
		met, found, fix = analyzeFinding(t, in.analyze(t, cfg, "-w", "ds-ws"), "/datastores/byidentity", "DS-4")
		return found, met, fix
	}
	if found, met, fix := ds4(); !found || met || !strings.Contains(fix, "Storage Blob Data Reader") || !strings.Contains(fix, ws["identity"].(map[string]any)["principal_id"].(string)) {
		t.Fatalf("analyze before the grant: found %v met %v fix %q", found, met, fix)
	}
	grant(ws["identity"].(map[string]any)["principal_id"].(string), "Storage Blob Data Reader", acctID)
	if found, met, _ := ds4(); !found || !met {
		t.Fatalf("analyze after the grant: found %v met %v", found, met)
	}
	// Who can read the cached secret: the Data Scientist through
	// listSecrets, the Key Vault Secrets User and the workspace identity
	// through the vault.
	var readers []map[string]any
	json.Unmarshal([]byte(in.mustCLI(cfg, "ml", "datastore", "secret-readers", "-n", "spstore", "-w", "ds-ws")), &readers)
	has := func(pid, via, role string) bool {
		for _, r := range readers {
			if strings.EqualFold(r["principalId"].(string), pid) && r["via"] == via && r["role"] == role {
				return true
			}
		}
		return false
	}
	if !has(oid, "listSecrets", "AzureML Data Scientist") || !has(oid, "vault-rbac", "Key Vault Secrets User") || !has(adminOID, "listSecrets", "Owner") ||
		!has(ws["identity"].(map[string]any)["principal_id"].(string), "vault-rbac", "Key Vault Administrator") {
		t.Fatalf("secret readers: %v", readers)
	}
	// …and the analyzer says the same of every credential-based datastore.
	var rep struct {
		Resources []struct {
			ID            string
			SecretReaders []map[string]any
		}
	}
	so, _, _ := in.cli(cfg, "analyze", "-w", "ds-ws", "-o", "json")
	json.Unmarshal([]byte(so), &rep)
	found := false
	for _, r := range rep.Resources {
		if strings.HasSuffix(r.ID, "/datastores/spstore") {
			readers, found = r.SecretReaders, true
		}
	}
	if !found || !has(oid, "listSecrets", "AzureML Data Scientist") || !has(oid, "vault-rbac", "Key Vault Secrets User") {
		t.Fatalf("analyze: secret readers of spstore: %v", readers)
	}

	// Bad input → 400 with the reason.
	bad := []struct {
		name  string
		props armmachinelearning.DatastorePropertiesClassification
		want  string
	}{
		{"file-identity", &armmachinelearning.AzureFileDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureFile),
			AccountName: to.Ptr("dsdata1"), FileShareName: to.Ptr("share"),
			Credentials: &armmachinelearning.NoneDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeNone)}}, "DS-3"},
		{"noaccount", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
			ContainerName: to.Ptr("training"), Credentials: &armmachinelearning.NoneDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeNone)}}, "accountName"},
		{"sasaskey", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
			AccountName: to.Ptr("dsdata1"), ContainerName: to.Ptr("training"),
			Credentials: &armmachinelearning.AccountKeyDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeAccountKey),
				Secrets: &armmachinelearning.AccountKeyDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeAccountKey),
					Key: to.Ptr("sv=2021-06-08&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=abc%3D")}}}, "SAS token"},
	}
	for _, b := range bad {
		_, err := put(strings.ReplaceAll(b.name, "-", "_"), b.props)
		if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), b.want) {
			t.Errorf("%s: want 400 naming %q, got %v", b.name, b.want, err)
		}
	}
	st, body := in.armDo(t, admin, http.MethodPut, ws["id"].(string)+"/datastores/s3", "2022-10-01",
		map[string]any{"properties": map[string]any{"datastoreType": "AmazonS3", "accountName": "dsdata1"}})
	if st != http.StatusBadRequest || !strings.Contains(jsonText(body), "Unknown datastoreType") {
		t.Errorf("unknown datastore type: %d %v", st, body)
	}

	// Delete removes the datastore and its vault secret.
	if _, err := dc.Delete(ctx, "ds-rg", "ds-ws", "spstore", nil); err != nil {
		t.Fatal(err)
	}
	if n, err := findSecret(); err != nil || n != "" {
		t.Fatalf("after delete the secret is still in the vault: %q %v", n, err)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// azure-ai-ml 1.4.0 datastores (issue 18): create_or_update with and
// without an account key, get (with and without include_secrets, which
// calls listSecrets), list and get_default; the identity-based datastore is
// refused until the caller can read the storage (DS-4).
func TestDatastoresPythonSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pyds-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=pyds-rg")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pyds-ws")
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "pydsdata"))
	in.mustCLI(cfg, "storage", "container", "create", "-n", "data", "--account-name", "pydsdata", "--auth-mode", "key")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "pydsdata", "--query", "[0].value", "-o", "tsv"))
	script := filepath.Join("testdata", "ml", "sdk", "datastores.py")
	got := mustJSON(t, in.python(t, nil, script, "pyds-rg", "pyds-ws", "pydsdata", "data", key))
	ck := got["created_keyed"].(map[string]any)
	if ck["name"] != "blob_with_key" || ck["type"] != "AzureBlob" || ck["credentials"] != "AccountKeyConfiguration" || ck["account_key"] != nil {
		t.Fatalf("create_or_update with account_key: %v", ck)
	}
	ref, _ := got["identity_refused"].(map[string]any)
	if ref == nil || ref["status"] != float64(403) || !strings.Contains(ref["message"].(string), "DS-4") || !strings.Contains(ref["message"].(string), "Storage Blob Data Reader") {
		t.Fatalf("identity-based datastore without storage access: %v", got["identity_refused"])
	}
	if g := got["get"].(map[string]any); g["account_key"] != nil || g["container_name"] != "data" {
		t.Fatalf("get returns the key: %v", g)
	}
	if g := got["get_with_secret"].(map[string]any); g["account_key"] != key {
		t.Fatalf("get(include_secrets=True): %v", g)
	}
	if l := jsonText(got["list"]); l != `["blob_with_key","workspaceartifactstore","workspaceblobstore","workspacefilestore","workspaceworkingdirectory"]` {
		t.Fatalf("list: %s", l)
	}
	if d := got["default"].(map[string]any); d["name"] != "workspaceblobstore" {
		t.Fatalf("get_default: %v", d)
	}
	adminOID := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", adminOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct["id"].(string))
	id := mustJSON(t, in.python(t, nil, script, "identity", "pyds-rg", "pyds-ws", "pydsdata", "data"))
	if id["name"] != "blob_identity" || id["credentials"] != nil && id["credentials"] != "NoneCredentialConfiguration" {
		t.Fatalf("identity-based datastore with Storage Blob Data Reader: %v", id)
	}

	// Data(path="./local") uploads through the default datastore, reached
	// as {account}.blob.core.windows.net through amlid's resource proxy.
	work := t.TempDir()
	os.MkdirAll(filepath.Join(work, "local"), 0o755)
	os.WriteFile(filepath.Join(work, "local", "titanic.csv"), []byte("PassengerId,Survived\n1,0\n2,1\n"), 0o644)
	proxy := []string{"HTTPS_PROXY=" + in.State.VaultProxyURL, "NO_PROXY=127.0.0.1,localhost"}
	d := mustJSON(t, in.python(t, proxy, filepath.Join("testdata", "ml", "sdk", "data.py"), "pyds-rg", "pyds-ws", work))
	if d["name"] != "local-folder" || d["version"] != "1" || d["type"] != "uri_folder" || jsonText(d["listed"]) != `["local-folder"]` ||
		!strings.HasPrefix(d["path"].(string), "azureml://") || !strings.Contains(d["path"].(string), "/datastores/workspaceblobstore/paths/LocalUpload/") {
		t.Fatalf("data.create_or_update(Data(path=./local)): %v", d)
	}
	// The uploaded rows are there: the CLI previews them.
	pv := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "local-folder", "-w", "pyds-ws", "--preview"))
	if jsonText(pv["rows"]) != `["PassengerId,Survived","1,0","2,1"]` || !strings.HasSuffix(pv["file"].(string), "/local/titanic.csv") {
		t.Fatalf("preview of the uploaded folder: %v", pv)
	}
}

// The CLI (issue 18): `amlid ml datastore create -f|show|list|delete` with
// azure-ai-ml's YAML, `amlid ml data create -f` of a local folder (uploaded
// to the default datastore with progress), `create --name --path --type`,
// show/list/archive, bad references refused; data preview (DS-8) as the
// cached credential, as the workspace identity named by the datastore, as
// the caller (refused without a blob data role, naming it), and behind a
// firewall as the workspace identity, refused until trusted services may
// bypass it.
func TestDataCLI(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "cli-ds", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=cli-ds", "workspace=cli-ws")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "cli-ws"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "clidsdata"))
	in.mustCLI(cfg, "storage", "container", "create", "-n", "raw", "--account-name", "clidsdata", "--auth-mode", "key")
	dir := t.TempDir()
	csv := filepath.Join(dir, "rows.csv")
	os.WriteFile(csv, []byte("id,label\n1,cat\n2,dog\n3,fish\n"), 0o644)
	in.mustCLI(cfg, "storage", "blob", "upload", "-f", csv, "-c", "raw", "-n", "tables/rows.csv", "--account-name", "clidsdata", "--auth-mode", "key")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "clidsdata", "--query", "[0].value", "-o", "tsv"))
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Datastores from the docs' YAML shapes.
	keyed := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("blob.yml", `$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: blob_example
type: azure_blob
description: Datastore pointing to a blob container.
account_name: clidsdata
container_name: raw
credentials:
  account_key: `+key+"\n")))
	if keyed["type"] != "azure_blob" || keyed["container_name"] != "raw" || strings.Contains(jsonText(keyed), key) {
		t.Fatalf("datastore create: %v", keyed)
	}
	in.cliFails(t, cfg, []string{"DS-3"}, "ml", "datastore", "create", "-f", write("file.yml", "name: files\ntype: azure_file\naccount_name: clidsdata\nfile_share_name: share\n"))
	in.cliFails(t, cfg, []string{"DS-4", "Storage Blob Data Reader"}, "ml", "datastore", "create", "-f",
		write("id.yml", "name: by_identity\ntype: azure_blob\naccount_name: clidsdata\ncontainer_name: raw\n"))
	adminOID := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", adminOID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct["id"].(string))
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", filepath.Join(dir, "id.yml"))
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("wsid.yml", "name: as_workspace\ntype: azure_blob\naccount_name: clidsdata\ncontainer_name: raw\nservice_data_access_auth_identity: workspace_system_assigned_identity\n"))
	names := in.mustCLI(cfg, "ml", "datastore", "list", "--query", "[].name", "-o", "tsv")
	if strings.Join(strings.Fields(names), ",") != "as_workspace,blob_example,by_identity,workspaceartifactstore,workspaceblobstore,workspacefilestore,workspaceworkingdirectory" {
		t.Fatalf("datastore list: %s", names)
	}
	shown := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "show", "-n", "blob_example", "--include-secrets"))
	if shown["secrets"].(map[string]any)["key"] != key {
		t.Fatalf("show --include-secrets: %v", shown)
	}

	// A local folder becomes a uri_folder asset in the default datastore.
	local := filepath.Join(dir, "local")
	os.MkdirAll(filepath.Join(local, "sub"), 0o755)
	os.WriteFile(filepath.Join(local, "a.csv"), []byte("x,y\n1,2\n"), 0o644)
	os.WriteFile(filepath.Join(local, "sub", "b.csv"), []byte("x,y\n3,4\n"), 0o644)
	so, se, code := in.cli(cfg, "ml", "data", "create", "-f", write("data.yml", `$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
name: local-folder
description: Data asset created from local folder.
type: uri_folder
path: local
`))
	if code != 0 || !strings.Contains(se, "Uploading local (2 file(s)") {
		t.Fatalf("data create from a local folder: %d\n%s%s", code, so, se)
	}
	d := mustJSON(t, so)
	if d["version"] != "1" || d["type"] != "uri_folder" || !strings.HasPrefix(d["path"].(string), "azureml://datastores/workspaceblobstore/paths/LocalUpload/") {
		t.Fatalf("data create: %v", d)
	}
	blobs := in.mustCLI(cfg, "storage", "blob", "list", "-c", "azureml-blobstore-"+ws["workspace_id"].(string), "--account-name", accountName(ws), "--auth-mode", "key", "--query", "[].name", "-o", "tsv")
	if !strings.Contains(blobs, "/local/sub/b.csv") {
		t.Fatalf("uploaded blobs: %s", blobs)
	}
	d2 := mustJSON(t, in.mustCLI(cfg, "ml", "data", "create", "-f", filepath.Join(dir, "data.yml")))
	if d2["version"] != "2" {
		t.Fatalf("second create: version %v", d2["version"])
	}
	f := mustJSON(t, in.mustCLI(cfg, "ml", "data", "create", "--name", "rows", "--path", "azureml://datastores/blob_example/paths/tables/rows.csv", "--type", "uri_file"))
	if f["path"] != "azureml://datastores/blob_example/paths/tables/rows.csv" {
		t.Fatalf("data create --path: %v", f)
	}
	in.cliFails(t, cfg, []string{"no datastore 'nosuch'"}, "ml", "data", "create", "--name", "x", "--path", "azureml://datastores/nosuch/paths/a.csv", "--type", "uri_file")
	in.cliFails(t, cfg, []string{"'..' is not allowed"}, "ml", "data", "create", "--name", "x", "--path", "azureml://datastores/blob_example/paths/a/../../b.csv", "--type", "uri_file")

	// Preview (DS-8), by who reads.
	preview := func(name string) map[string]any {
		return mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", name, "--preview", "--rows", "2"))
	}
	pv := preview("rows")
	if pv["identity"].(map[string]any)["kind"] != "credential" || jsonText(pv["rows"]) != `["id,label","1,cat"]` {
		t.Fatalf("preview through the cached key: %v", pv)
	}
	for _, ds := range []string{"by_identity", "as_workspace"} {
		in.mustCLI(cfg, "ml", "data", "create", "--name", ds+"-rows", "--path", "azureml://datastores/"+ds+"/paths/tables/rows.csv", "--type", "uri_file")
	}
	if pv := preview("by_identity-rows"); pv["identity"].(map[string]any)["kind"] != "caller" || len(pv["rows"].([]any)) != 2 {
		t.Fatalf("preview as the caller: %v", pv)
	}
	in.cliFails(t, cfg, []string{"DS-8", "Storage Blob Data Reader", "amlid role assignment create"}, "ml", "data", "show", "-n", "as_workspace-rows", "--preview")
	wsPID := ws["identity"].(map[string]any)["principal_id"].(string)
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", wsPID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Reader", "--scope", acct["id"].(string))
	if pv := preview("as_workspace-rows"); pv["identity"].(map[string]any)["principalId"] != wsPID {
		t.Fatalf("preview as the workspace identity: %v", pv)
	}
	// Behind a firewall the workspace identity reads, as a trusted service.
	in.mustCLI(cfg, "storage", "account", "update", "-n", "clidsdata", "--default-action", "Deny", "--bypass", "None")
	in.cliFails(t, cfg, []string{"DS-8", "allows only chosen networks", "AuthorizationFailure", "--bypass AzureServices"}, "ml", "data", "show", "-n", "by_identity-rows", "--preview")
	in.mustCLI(cfg, "storage", "account", "update", "-n", "clidsdata", "--bypass", "AzureServices")
	if pv := preview("by_identity-rows"); pv["identity"].(map[string]any)["principalId"] != wsPID {
		t.Fatalf("preview behind the firewall: %v", pv)
	}

	// Archive hides the asset from the list; delete a datastore.
	in.mustCLI(cfg, "ml", "data", "archive", "-n", "local-folder")
	if l := in.mustCLI(cfg, "ml", "data", "list", "--query", "[].name", "-o", "tsv"); strings.Contains(l, "local-folder") || !strings.Contains(l, "rows") {
		t.Fatalf("list after archive: %s", l)
	}
	in.mustCLI(cfg, "ml", "datastore", "delete", "-n", "blob_example", "--yes")
	if _, _, code := in.cli(cfg, "ml", "datastore", "show", "-n", "blob_example"); code != 3 {
		t.Fatalf("show after delete: exit %d", code)
	}
}

func accountName(ws map[string]any) string {
	s := ws["storage_account"].(string)
	return s[strings.LastIndex(s, "/")+1:]
}

// DS-2 under the access-policy model: a workspace that brings a vault
// using access policies writes datastore secrets only once its identity has
// the "set" policy permission; the refusal is the vault's, naming the model,
// the permission and the set-policy command. Default datastores wait for it
// too (created on the next workspace write).
func TestDatastoreSecretAccessPolicyVault(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "apds", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=apds", "workspace=apws")
	kv := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "apvault1"))
	if kv["properties"].(map[string]any)["enableRbacAuthorization"] == true {
		t.Fatal("the vault should use access policies")
	}
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "apws", "--key-vault", kv["id"].(string)))
	pid := ws["identity"].(map[string]any)["principal_id"].(string)
	if l := in.mustCLI(cfg, "ml", "datastore", "list", "--query", "[].name", "-o", "tsv"); strings.TrimSpace(l) != "" {
		t.Fatalf("default datastores were created without a vault policy: %s", l)
	}
	in.mustCLI(cfg, "storage", "account", "create", "-n", "apdsdata")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "apdsdata", "--query", "[0].value", "-o", "tsv"))
	dir := t.TempDir()
	yml := filepath.Join(dir, "ds.yml")
	os.WriteFile(yml, []byte("name: keyed\ntype: azure_blob\naccount_name: apdsdata\ncontainer_name: c1\ncredentials:\n  account_key: "+key+"\n"), 0o644)
	in.cliFails(t, cfg, []string{"DS-2", "KeyVaultAccessDenied", "access-policy", "amlid keyvault set-policy", pid}, "ml", "datastore", "create", "-f", yml)
	in.mustCLI(cfg, "keyvault", "set-policy", "-n", "apvault1", "--object-id", pid, "--secret-permissions", "get", "list", "set", "delete")
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", yml)
	shown := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "show", "-n", "keyed", "--include-secrets"))
	if shown["secrets"].(map[string]any)["key"] != key {
		t.Fatalf("listSecrets through an access-policy vault: %v", shown)
	}
	// The next workspace write creates the default datastores.
	in.mustCLI(cfg, "ml", "workspace", "update", "-n", "apws", "--description", "now with a vault policy")
	if d := strings.TrimSpace(in.mustCLI(cfg, "ml", "datastore", "list", "--query", "[?is_default].name", "-o", "tsv")); d != "workspaceblobstore" {
		t.Fatalf("default datastore after the policy: %q", d)
	}
	var readers []map[string]any
	json.Unmarshal([]byte(in.mustCLI(cfg, "ml", "datastore", "secret-readers", "-n", "keyed")), &readers)
	found := false
	for _, r := range readers {
		if strings.EqualFold(r["principalId"].(string), pid) && r["via"] == "vault-access-policy" {
			found = true
		}
	}
	if !found {
		t.Fatalf("secret readers through the access policy: %v", readers)
	}
}
