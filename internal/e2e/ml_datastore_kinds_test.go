package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/google/uuid"
)

// armRaw sends one ARM request with a raw body (which need not be JSON)
// and returns the status and the body as text.
func (in *instance) armRaw(t *testing.T, cred azcore.TokenCredential, method, path, body string) (int, string) {
	t.Helper()
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(method, in.State.ARMURL+path+sep+"api-version=2024-04-01", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The datastore kinds and credentials the issue lists beyond the ones
// TestDatastoresSDK drives, through armmachinelearning v4 (issue 18 item
// 1): AzureDataLakeGen1 identity-based (DS-3 allows it; amlid serves no
// Gen1 store, so no DS-4 check), AzureFile with an account key and with a
// SAS, AzureBlob with a SAS (made by azblob's own sas package; listSecrets
// gives it back, data preview reads with it), ADLS Gen2 with a certificate,
// an account key in the sasToken field, WorkspaceUserAssignedIdentity on a
// workspace without one, and isDefault moving from one datastore to
// another.
func TestDatastoreKindsSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	cfg := t.TempDir()
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	in.mustCLI(cfg, "group", "create", "-n", "kinds-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=kinds-rg", "workspace=kinds-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "kinds-ws")
	in.mustCLI(cfg, "storage", "account", "create", "-n", "kindsdata")
	in.mustCLI(cfg, "storage", "container", "create", "-n", "cont1", "--account-name", "kindsdata", "--auth-mode", "key")
	dir := t.TempDir()
	csv := filepath.Join(dir, "rows.csv")
	os.WriteFile(csv, []byte("k,v\na,1\nb,2\n"), 0o644)
	in.mustCLI(cfg, "storage", "blob", "upload", "-f", csv, "-c", "cont1", "-n", "t/rows.csv", "--account-name", "kindsdata", "--auth-mode", "key")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "kindsdata", "--query", "[0].value", "-o", "tsv"))

	// A container SAS, signed with the account key by azblob.
	skc, err := azblob.NewSharedKeyCredential("kindsdata", key)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(in.State.BlobURL+"/kindsdata/cont1", skc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sasURL, err := cc.GetSASURL(sas.ContainerPermissions{Read: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sasToken := sasURL[strings.Index(sasURL, "?")+1:]

	dc, err := armmachinelearning.NewDatastoresClient(in.State.SubscriptionID, admin, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, props armmachinelearning.DatastorePropertiesClassification) (armmachinelearning.Datastore, error) {
		r, err := dc.CreateOrUpdate(ctx, "kinds-rg", "kinds-ws", name, armmachinelearning.Datastore{Properties: props}, nil)
		return r.Datastore, err
	}
	none := &armmachinelearning.NoneDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeNone)}

	// ADLS Gen1, identity-based: accepted (DS-3), and not checked against
	// a storage amlid does not serve, although the caller holds no data role.
	g1, err := put("gen1", &armmachinelearning.AzureDataLakeGen1Datastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureDataLakeGen1),
		StoreName: to.Ptr("mygen1store"), Credentials: none})
	if err != nil {
		t.Fatalf("identity-based AzureDataLakeGen1: %v", err)
	}
	if p, ok := g1.Properties.(*armmachinelearning.AzureDataLakeGen1Datastore); !ok || *p.StoreName != "mygen1store" ||
		*p.Credentials.GetDatastoreCredentials().CredentialsType != armmachinelearning.CredentialsTypeNone {
		t.Fatalf("AzureDataLakeGen1 as stored: %+v", g1.Properties)
	}
	_, err = put("gen1nostore", &armmachinelearning.AzureDataLakeGen1Datastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureDataLakeGen1), Credentials: none})
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "storeName") {
		t.Fatalf("AzureDataLakeGen1 without storeName: %v", err)
	}

	// AzureFile with an account key and with a SAS.
	if _, err := put("files_key", &armmachinelearning.AzureFileDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureFile),
		AccountName: to.Ptr("kindsdata"), FileShareName: to.Ptr("share"),
		Credentials: &armmachinelearning.AccountKeyDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeAccountKey),
			Secrets: &armmachinelearning.AccountKeyDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeAccountKey), Key: to.Ptr(key)}}}); err != nil {
		t.Fatalf("AzureFile with an account key: %v", err)
	}
	sasCreds := func(tok string) *armmachinelearning.SasDatastoreCredentials {
		return &armmachinelearning.SasDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeSas),
			Secrets: &armmachinelearning.SasDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeSas), SasToken: to.Ptr(tok)}}
	}
	if _, err := put("files_sas", &armmachinelearning.AzureFileDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureFile),
		AccountName: to.Ptr("kindsdata"), FileShareName: to.Ptr("share"), Credentials: sasCreds(sasToken)}); err != nil {
		t.Fatalf("AzureFile with a SAS: %v", err)
	}

	// AzureBlob with a SAS: the GET carries no signature, listSecrets
	// gives the token back.
	blobSas := &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("kindsdata"), ContainerName: to.Ptr("cont1"), Credentials: sasCreds(sasToken)}
	if _, err := put("blob_sas", blobSas); err != nil {
		t.Fatalf("AzureBlob with a SAS: %v", err)
	}
	ds, err := dc.Get(ctx, "kinds-rg", "kinds-ws", "blob_sas", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(ds.Datastore); bytes.Contains(b, []byte("sig=")) || bytes.Contains(b, []byte(sasToken)) {
		t.Fatalf("GET returns the SAS (DS-2): %s", b)
	}
	sec, err := dc.ListSecrets(ctx, "kinds-rg", "kinds-ws", "blob_sas", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := sec.DatastoreSecretsClassification.(*armmachinelearning.SasDatastoreSecrets); !ok || *s.SasToken != sasToken {
		t.Fatalf("listSecrets of a SAS datastore: %+v", sec.DatastoreSecretsClassification)
	}
	// An account key in the SAS field, and the reverse: 400 naming the field.
	_, err = put("blob_keyassas", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("kindsdata"), ContainerName: to.Ptr("cont1"), Credentials: sasCreds(key)})
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "sasToken holds an account key") {
		t.Fatalf("an account key given as sasToken: %v", err)
	}
	_, err = put("blob_sasaskey", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("kindsdata"), ContainerName: to.Ptr("cont1"),
		Credentials: &armmachinelearning.AccountKeyDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeAccountKey),
			Secrets: &armmachinelearning.AccountKeyDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeAccountKey), Key: to.Ptr(sasToken)}}})
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "holds a SAS token") {
		t.Fatalf("a SAS given as the account key: %v", err)
	}

	// Data preview reads with the cached SAS (the blob plane checks it).
	in.mustCLI(cfg, "ml", "data", "create", "--name", "sasrows", "--path", "azureml://datastores/blob_sas/paths/t/rows.csv", "--type", "uri_file")
	pv := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "sasrows", "--preview", "--rows", "2"))
	if who, _ := pv["identity"].(map[string]any); who["kind"] != "credential" || !strings.Contains(who["label"].(string), "Sas") || jsonText(pv["rows"]) != `["k,v","a,1"]` {
		t.Fatalf("preview through the cached SAS: %v", pv)
	}

	// ADLS Gen2 with a certificate (tenant, client, thumbprint and the
	// certificate kept in the vault).
	cert := "MIIC-" + uuid.NewString()
	if _, err := put("lake_cert", &armmachinelearning.AzureDataLakeGen2Datastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureDataLakeGen2),
		AccountName: to.Ptr("kindsdata"), Filesystem: to.Ptr("cont1"),
		Credentials: &armmachinelearning.CertificateDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeCertificate),
			TenantID: to.Ptr(in.Boot.TenantID), ClientID: to.Ptr(uuid.NewString()), Thumbprint: to.Ptr("0123456789ABCDEF0123456789ABCDEF01234567"),
			Secrets: &armmachinelearning.CertificateDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeCertificate), Certificate: to.Ptr(cert)}}}); err != nil {
		t.Fatalf("ADLS Gen2 with a certificate: %v", err)
	}
	sec, err = dc.ListSecrets(ctx, "kinds-rg", "kinds-ws", "lake_cert", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := sec.DatastoreSecretsClassification.(*armmachinelearning.CertificateDatastoreSecrets); !ok || *s.Certificate != cert {
		t.Fatalf("listSecrets of a certificate datastore: %+v", sec.DatastoreSecretsClassification)
	}
	// A certificate without its thumbprint: 400 naming the field.
	_, err = put("lake_nothumb", &armmachinelearning.AzureDataLakeGen2Datastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureDataLakeGen2),
		AccountName: to.Ptr("kindsdata"), Filesystem: to.Ptr("cont1"),
		Credentials: &armmachinelearning.CertificateDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeCertificate),
			TenantID: to.Ptr(in.Boot.TenantID), ClientID: to.Ptr(uuid.NewString()),
			Secrets: &armmachinelearning.CertificateDatastoreSecrets{SecretsType: to.Ptr(armmachinelearning.SecretsTypeCertificate), Certificate: to.Ptr(cert)}}})
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "thumbprint") {
		t.Fatalf("a certificate without thumbprint: %v", err)
	}

	// WorkspaceUserAssignedIdentity on a workspace with only a system
	// identity: 400 naming the missing identity.
	_, err = put("by_uai", &armmachinelearning.AzureBlobDatastore{DatastoreType: to.Ptr(armmachinelearning.DatastoreTypeAzureBlob),
		AccountName: to.Ptr("kindsdata"), ContainerName: to.Ptr("cont1"), Credentials: sasCreds(sasToken),
		ServiceDataAccessAuthIdentity: to.Ptr(armmachinelearning.ServiceDataAccessAuthIdentityWorkspaceUserAssignedIdentity)})
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "no primary user-assigned identity") {
		t.Fatalf("WorkspaceUserAssignedIdentity without one: %v", err)
	}

	// isDefault moves: one default per workspace, ?isDefault=true finds it.
	blobSas.IsDefault = to.Ptr(true)
	blobSas.Credentials = &armmachinelearning.SasDatastoreCredentials{CredentialsType: to.Ptr(armmachinelearning.CredentialsTypeSas)} // the cached SAS stays
	if _, err := put("blob_sas", blobSas); err != nil {
		t.Fatalf("blob_sas as the default: %v", err)
	}
	var defaults []string
	for pg := dc.NewListPager("kinds-rg", "kinds-ws", nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			if p := d.Properties.GetDatastoreProperties(); p.IsDefault != nil && *p.IsDefault {
				defaults = append(defaults, *d.Name)
			}
		}
	}
	if strings.Join(defaults, ",") != "blob_sas" {
		t.Fatalf("default datastores after moving isDefault: %v", defaults)
	}
	page, err := dc.NewListPager("kinds-rg", "kinds-ws", &armmachinelearning.DatastoresClientListOptions{IsDefault: to.Ptr(true)}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name != "blob_sas" {
		t.Fatalf("isDefault=true after the move: %v %v", page.Value, err)
	}
	if sec, err := dc.ListSecrets(ctx, "kinds-rg", "kinds-ws", "blob_sas", nil); err != nil || *sec.DatastoreSecretsClassification.(*armmachinelearning.SasDatastoreSecrets).SasToken != sasToken {
		t.Fatalf("the SAS after an update without secrets: %v", err)
	}
	// The default datastore cannot be deleted; the former default can.
	_, err = dc.Delete(ctx, "kinds-rg", "kinds-ws", "blob_sas", nil)
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "default datastore") {
		t.Fatalf("deleting the default datastore: %v", err)
	}
	if _, err := dc.Delete(ctx, "kinds-rg", "kinds-ws", "workspaceblobstore", nil); err != nil {
		t.Fatalf("deleting the former default: %v", err)
	}

	// The analyzer takes every kind in its stride (Gen1 has no account).
	if so, se, code := in.cli(cfg, "analyze", "-w", "kinds-ws", "-o", "json"); code != 0 || !strings.Contains(so, "Datastore gen1 is identity-based (rule DS-1)") ||
		!strings.Contains(so, "datastore lake_cert's cached secret") {
		t.Errorf("analyze -w with every datastore kind: exit %d\n%s\n%s", code, so, se)
	}

	// The certificate and the SAS signature are nowhere in the data
	// directory (the vault seals them) nor in the log, even after a
	// preview read with the SAS.
	sig := sasToken[strings.Index(sasToken, "sig="):]
	if i := strings.IndexByte(sig, '&'); i > 0 {
		sig = sig[:i]
	}
	for what, secret := range map[string]string{"certificate": cert, "SAS signature": sig} {
		filepath.WalkDir(in.DataDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
					t.Errorf("the datastore's %s is in %s", what, p)
				}
			}
			return nil
		})
		if strings.Contains(in.Log.String(), secret) {
			t.Errorf("the datastore's %s is in amlid's log", what)
		}
	}
}

// Data asset versions through armmachinelearning v4 (issue 18 item 3, and
// the "bad input" bullet): uri_file, uri_folder and mltable over a
// datastore, https:// and wasbs:// URLs; refused with 400 naming the
// reason: '..' (also percent-encoded) and backslashes, an unknown
// datastore, a path naming another asset, an unknown type, a uri_file
// ending in '/', a changed path. Then malformed datastore, data and
// preview bodies: every one a 4xx, never a 5xx, and amlid keeps serving.
func TestDataVersionsSDKBadInput(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	cfg := t.TempDir()
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	in.mustCLI(cfg, "group", "create", "-n", "dv-rg", "-l", "eastus")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "dv-ws", "-g", "dv-rg"))
	wsID := ws["id"].(string)
	dv, err := armmachinelearning.NewDataVersionsClient(in.State.SubscriptionID, admin, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	put := func(name, version string, props armmachinelearning.DataVersionBasePropertiesClassification) (armmachinelearning.DataVersionBase, error) {
		r, err := dv.CreateOrUpdate(ctx, "dv-rg", "dv-ws", name, version, armmachinelearning.DataVersionBase{Properties: props}, nil)
		return r.DataVersionBase, err
	}
	file := func(uri string) *armmachinelearning.URIFileDataVersion {
		return &armmachinelearning.URIFileDataVersion{DataType: to.Ptr(armmachinelearning.DataTypeURIFile), DataURI: to.Ptr(uri)}
	}
	good := map[string]armmachinelearning.DataVersionBasePropertiesClassification{
		"afile":   file("azureml://datastores/workspaceblobstore/paths/data/a.csv"),
		"afolder": &armmachinelearning.URIFolderDataVersion{DataType: to.Ptr(armmachinelearning.DataTypeURIFolder), DataURI: to.Ptr("azureml://datastores/workspaceblobstore/paths/data/")},
		"atable":  &armmachinelearning.MLTableData{DataType: to.Ptr(armmachinelearning.DataTypeMltable), DataURI: to.Ptr("azureml://datastores/workspaceblobstore/paths/tables/")},
		"long":    file("azureml://subscriptions/" + in.State.SubscriptionID + "/resourcegroups/dv-rg/workspaces/dv-ws/datastores/workspaceblobstore/paths/data/a.csv"),
		"https":   file("https://somedata.blob.core.windows.net/c1/a.csv"),
		"wasbs":   file("wasbs://c1@somedata.blob.core.windows.net/a.csv"),
	}
	for name, props := range good {
		got, err := put(name, "1", props)
		if err != nil {
			t.Fatalf("data version %s: %v", name, err)
		}
		if *got.Properties.GetDataVersionBaseProperties().DataType != *props.GetDataVersionBaseProperties().DataType {
			t.Fatalf("data version %s: %+v", name, got.Properties)
		}
	}
	if _, ok := mustGet(t, dv, "atable").Properties.(*armmachinelearning.MLTableData); !ok {
		t.Fatal("the mltable version does not read back as MLTableData")
	}
	bad := []struct {
		name  string
		props armmachinelearning.DataVersionBasePropertiesClassification
		want  string
	}{
		{"climb", file("azureml://datastores/workspaceblobstore/paths/a/../../b.csv"), "'..' is not allowed"},
		{"climbenc", file("azureml://datastores/workspaceblobstore/paths/a/%2e%2e/%2E%2E/b.csv"), "'..' is not allowed"},
		{"climbhttps", file("https://somedata.blob.core.windows.net/c1/../c2/a.csv"), "'..' is not allowed"},
		{"backslash", file(`azureml://datastores/workspaceblobstore/paths/a\b.csv`), "backslashes"},
		{"nosuchds", file("azureml://datastores/nosuch/paths/a.csv"), "no datastore 'nosuch'"},
		{"asset", file("azureml:afile:1"), "names another data asset"},
		{"http", file("http://somedata.blob.core.windows.net/c1/a.csv"), "over https only"},
		{"s3", file("s3://bucket/a.csv"), "not a data reference"},
		{"folderasfile", file("azureml://datastores/workspaceblobstore/paths/data/"), "must point at a file"},
		{"nopath", &armmachinelearning.URIFileDataVersion{DataType: to.Ptr(armmachinelearning.DataTypeURIFile)}, "dataUri is required"},
	}
	for _, b := range bad {
		_, err := put(b.name, "1", b.props)
		if code, ec := respCode(err); code != http.StatusBadRequest || ec != "UserError" || !strings.Contains(errMessage(err), b.want) {
			t.Errorf("%s: want 400 UserError naming %q, got %v", b.name, b.want, err)
		}
	}
	// A version's path cannot change.
	_, err = put("afile", "1", file("azureml://datastores/workspaceblobstore/paths/data/other.csv"))
	if code, _ := respCode(err); code != http.StatusBadRequest || !strings.Contains(errMessage(err), "Create a new version") {
		t.Errorf("changing a version's path: %v", err)
	}
	// Unknown asset and version: 404.
	if _, err := dv.Get(ctx, "dv-rg", "dv-ws", "nosuch", "1", nil); func() int { c, _ := respCode(err); return c }() != http.StatusNotFound {
		t.Errorf("GET of an unknown data asset: %v", err)
	}

	// Malformed bodies: a 4xx each naming what is wrong, never a 5xx (nor
	// a panic). A real account, so checks run past the account lookup.
	in.mustCLI(cfg, "storage", "account", "create", "-n", "dvdata", "-g", "dv-rg")
	ds := wsID + "/datastores/"
	blob := `"datastoreType": "AzureBlob", "accountName": "dvdata", "containerName": "cont1"`
	dver := wsID + "/data/d%d/versions/1"
	n := 0
	for _, m := range []struct{ method, path, body, want string }{
		{"PUT", ds + "m1", `not json`, "could not be deserialized"},
		{"PUT", ds + "m1", `[]`, "must be of type object"},
		{"PUT", ds + "m1", `{}`, "needs a properties object"},
		{"PUT", ds + "m1", `{"properties": "AzureBlob"}`, "needs a properties object"},
		{"PUT", ds + "m1", `{"properties": null}`, "needs a properties object"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": 7}}`, "Unknown datastoreType '7'"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AmazonS3", "accountName": "dvdata"}}`, "Unknown datastoreType 'AmazonS3'"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AzureBlob", "accountName": ["a"], "containerName": "c"}}`, "needs properties.accountName"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AzureBlob", "accountName": "Not_An_Account", "containerName": "c"}}`, "is not a storage account name"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AzureBlob", "accountName": "dvdata", "containerName": {}}}`, "needs properties.containerName"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AzureBlob", "accountName": "nosuchacct", "containerName": "c"}}`, "storage account 'nosuchacct' does not exist"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": "AccountKey"}}`, "credentials must be an object"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": 3}}}`, "credentialsType must be a string"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "Kerberos"}}}`, "Unknown credentials.credentialsType"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "AccountKey"}}}`, "need credentials.secrets.key"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "AccountKey", "secrets": "k"}}}`, "secrets must be an object"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "AccountKey", "secrets": {"key": 12}}}}`, "secrets.key must be a string"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "AccountKey", "secrets": {"key": "not base64!"}}}}`, "not a storage account key"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "AccountKey", "secrets": {"sasToken": "sv=1&sig=x"}}}}`, "secrets.sasToken belongs to Sas"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "Sas", "secrets": {"sasToken": "sv=2021"}}}}`, "no sig= signature"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "Sas", "secrets": {"secretsType": "AccountKey", "sasToken": "sv=1&sig=x"}}}}`, "they must match"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "ServicePrincipal", "secrets": {"clientSecret": "s"}}}}`, "need credentials.tenantId"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "credentials": {"credentialsType": "None", "secrets": {"key": "a2V5a2V5a2V5a2V5a2V5a2V5"}}}}`, "DS-1"},
		{"PUT", ds + "m1", `{"properties": {"datastoreType": "AzureFile", "accountName": "dvdata", "fileShareName": "s", "credentials": {"credentialsType": "ServicePrincipal", "tenantId": "t", "clientId": "c", "secrets": {"clientSecret": "s"}}}}`, "does not take ServicePrincipal"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "serviceDataAccessAuthIdentity": 1}}`, "serviceDataAccessAuthIdentity must be"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "serviceDataAccessAuthIdentity": "Everyone"}}`, "serviceDataAccessAuthIdentity must be"},
		{"PUT", ds + "m1", `{"properties": {` + blob + `, "isDefault": "yes"}}`, "isDefault must be true or false"},
		{"PUT", ds + "Bad-Name!", `{"properties": {` + blob + `}}`, "is invalid"},
		{"PUT", ds + "workspaceblobstore", `{"properties": {"datastoreType": "AzureFile", "accountName": "dvdata", "fileShareName": "s"}}`, "cannot change"},
		{"POST", ds + "nosuch/listSecrets", ``, "was not found"},
		{"PUT", wsID + "/data/dc1", `{}`, ""},
		{"PUT", wsID + "/data/dc2", `{"properties": {"isArchived": "no"}}`, "isArchived must be true or false"},
		{"PUT", dver, `{"properties": "uri_file"}`, "needs properties.dataType"},
		{"PUT", dver, `{"properties": {"dataType": "csv", "dataUri": "azureml://datastores/workspaceblobstore/paths/a.csv"}}`, "dataType must be uri_file, uri_folder or mltable"},
		{"PUT", dver, `{"properties": {"dataType": ["uri_file"], "dataUri": "azureml://datastores/workspaceblobstore/paths/a.csv"}}`, "dataType must be"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": 5}}`, "dataUri must be a string"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/workspaceblobstore/paths/a.csv", "isArchived": "no"}}`, "isArchived must be true or false"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores//paths/a.csv"}}`, "dataUri"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/workspaceblobstore"}}`, "names no path"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml:"}}`, "dataUri"},
		// Ⱥ grows by a byte when lower-cased: offsets into a lowered copy
		// once sliced past the end of the original.
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://ȺȺȺȺ/paths/x"}}`, "is not an azureml:// datastore URI"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/ȺȺ/paths/x"}}`, "is not a datastore name"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml:x@newest"}}`, "the only label is @latest"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml:nosuch@latest"}}`, "no data asset 'nosuch'"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "wasbs://@/a"}}`, "dataUri"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "https://%zz/a"}}`, "dataUri"},
		{"PUT", dver, `{"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/workspaceblobstore/paths/%zz"}}`, "percent-encoding"},
		{"POST", wsID + "/data/afile/versions/1/preview", `{"rows": "ten"}`, "must be JSON"},
		{"POST", wsID + "/data/afile/versions/1/preview", `{"rows": 100000}`, "at most 1000"},
		{"POST", wsID + "/data/atable/versions/1/preview", `{"rows": -1}`, "no blobs under"},
		{"POST", wsID + "/data/https/versions/1/preview", ``, "not one of amlid's"},
		{"POST", wsID + "/data/nosuch/versions/1/preview", ``, "was not found"},
	} {
		path := m.path
		if strings.Contains(path, "%d") {
			n++
			path = fmt.Sprintf(path, n)
		}
		st, body := in.armRaw(t, admin, m.method, path, m.body)
		if m.want == "" { // a container with no properties is fine
			if st != http.StatusOK {
				t.Errorf("%s %s %s: %d %s", m.method, strings.TrimPrefix(path, wsID), m.body, st, body)
			}
			continue
		}
		if st < 400 || st >= 500 || !strings.Contains(body, `"message"`) || !strings.Contains(body, m.want) {
			t.Errorf("%s %s %s: want a 4xx naming %q, got %d %s", m.method, strings.TrimPrefix(path, wsID), m.body, m.want, st, body)
		}
	}
	if strings.Contains(in.Log.String(), "panic") {
		t.Fatalf("amlid logged a panic:\n%s", in.Log.String())
	}
	if _, err := put("after", "1", file("azureml://datastores/workspaceblobstore/paths/data/a.csv")); err != nil {
		t.Fatalf("amlid after the malformed requests: %v", err)
	}
}

func mustGet(t *testing.T, dv *armmachinelearning.DataVersionsClient, name string) armmachinelearning.DataVersionBase {
	t.Helper()
	r, err := dv.Get(t.Context(), "dv-rg", "dv-ws", name, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.DataVersionBase
}

// azure-ai-ml 1.4.0 beyond AzureBlobDatastore (issue 18): the Gen1, Azure
// Files (SAS) and ADLS Gen2 (service principal) entities, datastores.delete;
// data versions as the SDK numbers them (auto-increment, an explicit
// version), get(label="latest") (the most recently created, found with
// $orderBy=createdtime desc&$top=1), archive/restore and list with
// list_view_type; an unknown datastore and '..' refused with the reason.
func TestDataVersionsPythonSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pyver-rg", "-l", "eastus")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pyver-ws", "-g", "pyver-rg")
	in.mustCLI(cfg, "storage", "account", "create", "-n", "pyverdata", "-g", "pyver-rg")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "pyverdata", "-g", "pyver-rg", "--query", "[0].value", "-o", "tsv"))
	skc, err := azblob.NewSharedKeyCredential("pyverdata", key)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(in.State.BlobURL+"/pyverdata/share", skc, nil)
	if err != nil {
		t.Fatal(err)
	}
	sasURL, err := cc.GetSASURL(sas.ContainerPermissions{Read: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sasToken := sasURL[strings.Index(sasURL, "?")+1:]
	got := mustJSON(t, in.python(t, nil, filepath.Join("testdata", "ml", "sdk", "data_versions.py"), "pyver-rg", "pyver-ws", "pyverdata", sasToken))
	if g := jsonText(got["gen1"]); g != `{"credentials":"NoneCredentialConfiguration","store_name":"mygen1store","type":"AzureDataLakeGen1"}` {
		t.Errorf("AzureDataLakeGen1Datastore, identity-based: %s", g)
	}
	if f := got["file"].(map[string]any); f["type"] != "AzureFile" || f["share"] != "share" || f["sas"] != nil || got["file_secret"] != sasToken {
		t.Errorf("AzureFileDatastore with a SAS: %v, include_secrets: %v", f, got["file_secret"])
	}
	if l := got["lake"].(map[string]any); l["type"] != "AzureDataLakeGen2" || l["filesystem"] != "fs1" || l["client_secret"] != nil || got["deleted"] != true {
		t.Errorf("AzureDataLakeGen2Datastore with a service principal, then deleted: %v %v", l, got["deleted"])
	}
	for k, want := range map[string]string{
		"versions":   `["1","2","10","11"]`,
		"latest":     `"11"`,
		"active":     `["10","11","2"]`,
		"all":        `["1","10","11","2"]`,
		"archived":   `["1"]`,
		"containers": `["ver"]`,
		"restored":   `["gone","ver"]`,
	} {
		if g := jsonText(got[k]); g != want {
			t.Errorf("%s: %s, want %s", k, g, want)
		}
	}
	for k, want := range map[string]string{"unknown_datastore": "no datastore 'nosuch'", "climb": "'..' is not allowed"} {
		if r, _ := got[k].(map[string]any); r == nil || r["status"] != float64(400) || !strings.Contains(r["message"].(string), want) {
			t.Errorf("%s: %v, want 400 naming %q", k, got[k], want)
		}
	}
}

// The CLI's remaining datastore and data paths (issue 18 item 6):
// `ml datastore create -f` for azure_file (sas_token), azure_data_lake_gen1
// (identity-based) and azure_data_lake_gen2 (service principal) YAML, an
// unknown YAML type refused; `ml data create --name --path <local file>
// --type uri_file` uploading with progress, `show` without --preview,
// `list --name` hiding an archived version, `restore`.
func TestDataCLIKindsAndFlags(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "clik-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=clik-rg", "workspace=clik-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "clik-ws")
	in.mustCLI(cfg, "storage", "account", "create", "-n", "clikdata")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sasTok := "sv=2022-11-02&sr=c&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=" + strings.Repeat("A", 43) + "%3D"
	files := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("file.yml",
		"name: file_sas\ntype: azure_file\naccount_name: clikdata\nfile_share_name: share\ncredentials:\n  sas_token: \""+sasTok+"\"\n")))
	if files["type"] != "azure_file" || files["file_share_name"] != "share" || files["credentials"].(map[string]any)["type"] != "sas" || strings.Contains(jsonText(files), "sig=") {
		t.Fatalf("azure_file with sas_token: %v", files)
	}
	if s := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "show", "-n", "file_sas", "--include-secrets")); s["secrets"].(map[string]any)["sasToken"] != sasTok {
		t.Fatalf("show --include-secrets of the SAS datastore: %v", s)
	}
	gen1 := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("gen1.yml", "name: gen1\ntype: azure_data_lake_gen1\nstore_name: mystore\n")))
	if gen1["type"] != "azure_data_lake_gen1" || gen1["store_name"] != "mystore" {
		t.Fatalf("azure_data_lake_gen1: %v", gen1)
	}
	lake := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "create", "-f", write("lake.yml", "name: lake_sp\ntype: azure_data_lake_gen2\naccount_name: clikdata\nfilesystem: fs1\ncredentials:\n  tenant_id: "+
		in.Boot.TenantID+"\n  client_id: 00000000-0000-0000-0000-000000000002\n  client_secret: cli-sp-secret\n")))
	if c := lake["credentials"].(map[string]any); lake["filesystem"] != "fs1" || c["type"] != "service_principal" || c["tenant_id"] != in.Boot.TenantID || strings.Contains(jsonText(lake), "cli-sp-secret") {
		t.Fatalf("azure_data_lake_gen2 with a service principal: %v", lake)
	}
	in.cliFails(t, cfg, []string{"is the workspace's default datastore", "cannot be deleted"}, "ml", "datastore", "delete", "-n", "workspaceblobstore", "--yes")
	in.cliFails(t, cfg, []string{"azure_blob, azure_data_lake_gen2, azure_file, azure_data_lake_gen1"}, "ml", "datastore", "create", "-f", write("s3.yml", "name: s3\ntype: amazon_s3\n"))
	in.cliFails(t, cfg, []string{"sasToken is not a SAS token"}, "ml", "datastore", "create", "-f", write("badsas.yml",
		"name: bad_sas\ntype: azure_blob\naccount_name: clikdata\ncontainer_name: c1\ncredentials:\n  sas_token: notasas\n"))

	// A local file through flags: uploaded with progress.
	so, se, code := in.cli(cfg, "ml", "data", "create", "--name", "one", "--path", write("one.csv", "a,b\n1,2\n"), "--type", "uri_file")
	if code != 0 || !strings.Contains(se, "Uploading one.csv (1 file(s)") {
		t.Fatalf("data create --path <local file>: exit %d\n%s\n%s", code, so, se)
	}
	d := mustJSON(t, so)
	if d["type"] != "uri_file" || !strings.HasPrefix(d["path"].(string), "azureml://datastores/workspaceblobstore/paths/LocalUpload/") || !strings.HasSuffix(d["path"].(string), "/one.csv") {
		t.Fatalf("data create --path <local file>: %v", d)
	}
	if pv := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "one", "--preview")); jsonText(pv["rows"]) != `["a,b","1,2"]` {
		t.Fatalf("preview of the uploaded file: %v", pv)
	}
	// The local path must match the type, as azure-ai-ml checks it; an
	// mltable folder carries its MLTable file, which preview skips.
	in.cliFails(t, cfg, []string{"is a file; a uri_folder data asset needs a folder"}, "ml", "data", "create", "--name", "x", "--path", filepath.Join(dir, "one.csv"), "--type", "uri_folder")
	tbl := filepath.Join(dir, "tbl")
	os.MkdirAll(tbl, 0o755)
	os.WriteFile(filepath.Join(tbl, "rows.csv"), []byte("c\n7\n"), 0o644)
	in.cliFails(t, cfg, []string{"has none"}, "ml", "data", "create", "--name", "x", "--path", tbl, "--type", "mltable")
	os.WriteFile(filepath.Join(tbl, "MLTable"), []byte("paths:\n  - file: ./rows.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"), 0o644)
	in.mustCLI(cfg, "ml", "data", "create", "--name", "tbl", "--path", tbl, "--type", "mltable")
	if pv := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "tbl", "--preview")); jsonText(pv["rows"]) != `["c","7"]` || !strings.HasSuffix(pv["file"].(string), "/tbl/rows.csv") {
		t.Fatalf("preview of an mltable folder: %v", pv)
	}

	in.mustCLI(cfg, "ml", "data", "create", "--name", "one", "--version", "2", "--path", "azureml://datastores/workspaceblobstore/paths/x/two.csv", "--type", "uri_file")
	if s := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "one")); s["version"] != "2" || s["path"] != "azureml://datastores/workspaceblobstore/paths/x/two.csv" {
		t.Fatalf("show (latest): %v", s)
	}
	in.mustCLI(cfg, "ml", "data", "archive", "-n", "one", "--version", "2")
	if v := in.mustCLI(cfg, "ml", "data", "list", "-n", "one", "--query", "[].version", "-o", "tsv"); strings.Join(strings.Fields(v), ",") != "1" {
		t.Fatalf("versions after archiving 2: %q", v)
	}
	if s := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "one")); s["version"] != "1" {
		t.Fatalf("latest skips the archived version: %v", s)
	}
	in.mustCLI(cfg, "ml", "data", "restore", "-n", "one", "--version", "2")
	if v := in.mustCLI(cfg, "ml", "data", "list", "-n", "one", "--query", "[].version", "-o", "tsv"); strings.Join(strings.Fields(v), ",") != "1,2" {
		t.Fatalf("versions after restoring 2: %q", v)
	}
}

// serviceDataAccessAuthIdentity WorkspaceUserAssignedIdentity (issue 18
// item 1, DS-4 and DS-8): on a workspace whose primary identity is
// user-assigned, data preview reads as that identity, refused (naming it,
// the role and the fix) until it holds Storage Blob Data Reader; the
// analyzer's DS-4 finding names the same identity, unmet then met.
func TestDatastoreUserAssignedIdentity(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "uai-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=uai-rg", "workspace=uai-ws")
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "ws-reader"))
	uaiID, uaiPID := uai["id"].(string), uai["principalId"].(string)
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "uai-ws", "--identity-type", "system_assigned,user_assigned",
		"--user-assigned-identities", uaiID, "--primary-user-assigned-identity", uaiID)
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "uaidata"))["id"].(string)
	in.mustCLI(cfg, "storage", "container", "create", "-n", "cont1", "--account-name", "uaidata", "--auth-mode", "key")
	dir := t.TempDir()
	csv := filepath.Join(dir, "r.csv")
	os.WriteFile(csv, []byte("x\n1\n"), 0o644)
	in.mustCLI(cfg, "storage", "blob", "upload", "-f", csv, "-c", "cont1", "-n", "r.csv", "--account-name", "uaidata", "--auth-mode", "key")
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	grant := func(pid string) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
			"--role", "Storage Blob Data Reader", "--scope", acct)
	}
	grant(admin) // DS-4 at creation: the creator's own access
	yml := filepath.Join(dir, "ds.yml")
	os.WriteFile(yml, []byte("name: by_uai\ntype: azure_blob\naccount_name: uaidata\ncontainer_name: cont1\nservice_data_access_auth_identity: workspace_user_assigned_identity\n"), 0o644)
	if ds := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "create", "-f", yml)); ds["service_data_access_auth_identity"] != "workspace_user_assigned_identity" {
		t.Fatalf("datastore as the workspace's user-assigned identity: %v", ds)
	}
	ds4 := func() (bool, bool, string) {
		met, found, fix := analyzeFinding(t, in.analyze(t, cfg, "-w", "uai-ws"), "/datastores/by_uai", "DS-4")
		return found, met, fix
	}
	if found, met, fix := ds4(); !found || met || !strings.Contains(fix, uaiPID) || !strings.Contains(fix, "Storage Blob Data Reader") {
		t.Fatalf("DS-4 for the user-assigned reader before the grant: found %v met %v fix %q", found, met, fix)
	}
	in.mustCLI(cfg, "ml", "data", "create", "--name", "r", "--path", "azureml://datastores/by_uai/paths/r.csv", "--type", "uri_file")
	in.cliFails(t, cfg, []string{"DS-8", uaiPID, "Storage Blob Data Reader", "role assignment create"}, "ml", "data", "show", "-n", "r", "--preview")
	grant(uaiPID)
	pv := mustJSON(t, in.mustCLI(cfg, "ml", "data", "show", "-n", "r", "--preview"))
	if who := pv["identity"].(map[string]any); who["kind"] != "workspace" || who["principalId"] != uaiPID || jsonText(pv["rows"]) != `["x","1"]` {
		t.Fatalf("preview as the user-assigned identity: %v", pv)
	}
	if found, met, _ := ds4(); !found || !met {
		t.Fatalf("DS-4 after the grant: found %v met %v", found, met)
	}
}

// DS-2 under the RBAC model: the secret is written and read as the
// workspace identity through the vault's own RBAC decision. A brought
// vault with enableRbacAuthorization gets the workspace identity's role at
// workspace creation; without it, creating a credential-based datastore
// and reading a cached secret are refused naming DS-2, the identity, the
// data action and the role; with Key Vault Secrets Officer both work.
func TestDatastoreSecretRBACVault(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "rv-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=rv-rg", "workspace=rv-ws")
	kv := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "rbacvault1", "--enable-rbac-authorization", "true"))["id"].(string)
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "rv-ws", "--key-vault", kv))
	pid := ws["identity"].(map[string]any)["principal_id"].(string)
	in.mustCLI(cfg, "role", "assignment", "delete", "--assignee", pid, "--scope", kv)
	in.mustCLI(cfg, "storage", "account", "create", "-n", "rvdata")
	key := strings.TrimSpace(in.mustCLI(cfg, "storage", "account", "keys", "list", "-n", "rvdata", "--query", "[0].value", "-o", "tsv"))
	yml := filepath.Join(t.TempDir(), "ds.yml")
	os.WriteFile(yml, []byte("name: keyed\ntype: azure_blob\naccount_name: rvdata\ncontainer_name: cont1\ncredentials:\n  account_key: "+key+"\n"), 0o644)
	in.cliFails(t, cfg, []string{"KeyVaultAccessDenied", "DS-2", pid, "secrets/setSecret/action", "Key Vault Secrets Officer", "amlid role assignment create"},
		"ml", "datastore", "create", "-f", yml)
	in.cliFails(t, cfg, []string{"KeyVaultAccessDenied", "DS-2", pid, "secrets/getSecret/action", "Key Vault Secrets User"},
		"ml", "datastore", "show", "-n", "workspaceblobstore", "--include-secrets")
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal", "--role", "Key Vault Secrets Officer", "--scope", kv)
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", yml)
	if s := mustJSON(t, in.mustCLI(cfg, "ml", "datastore", "show", "-n", "keyed", "--include-secrets")); s["secrets"].(map[string]any)["key"] != key {
		t.Fatalf("listSecrets with the role back: %v", s)
	}
}

// DS-8 with DS-9: data preview of an identity-based ADLS Gen2 datastore
// reads as the caller, and on a hierarchical-namespace account where no
// role covers the caller the file system's POSIX ACLs decide, as they do
// for the studio's read with the user's token: refused (naming DS-8, the
// user and both fixes) without an ACL entry, read once the user has r-x
// on every path.
func TestDataPreviewADLSACLs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pacl-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=pacl-rg", "workspace=pacl-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pacl-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "pacl-rg", "--query", "id", "-o", "tsv"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "pacllake", "--hns", "true"))["id"].(string)
	admin := strings.TrimSpace(in.mustCLI(cfg, "ad", "sp", "show", "--id", in.Boot.ClientID, "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", admin, "--assignee-principal-type", "ServicePrincipal",
		"--role", "Storage Blob Data Owner", "--scope", acct)
	in.mustCLI(cfg, "storage", "fs", "create", "-n", "data", "--account-name", "pacllake", "--auth-mode", "login")
	src := filepath.Join(t.TempDir(), "rows.csv")
	os.WriteFile(src, []byte("id,v\n1,a\n2,b\n"), 0o644)
	in.mustCLI(cfg, "storage", "fs", "file", "upload", "-s", src, "-p", "t/rows.csv", "-f", "data", "--account-name", "pacllake", "--auth-mode", "login")
	ds := filepath.Join(t.TempDir(), "lake.yml")
	os.WriteFile(ds, []byte("name: lake\ntype: azure_data_lake_gen2\naccount_name: pacllake\nfilesystem: data\n"), 0o644)
	in.mustCLI(cfg, "ml", "datastore", "create", "-f", ds)
	in.mustCLI(cfg, "ml", "data", "create", "--name", "rows", "--path", "azureml://datastores/lake/paths/t/rows.csv", "--type", "uri_file")

	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Dee", "--user-principal-name", "dee@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	dee := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(dee, "login", "-u", "dee@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	deeID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "dee@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", deeID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	preview := func() (string, string, int) {
		return in.cliNoEnvCreds(dee, "ml", "data", "show", "-n", "rows", "--preview", "-g", "pacl-rg", "-w", "pacl-ws")
	}
	so, se, code := preview()
	if code == 0 || !strings.Contains(se, "DS-8") || !strings.Contains(se, deeID) || !strings.Contains(se, "Storage Blob Data Reader") ||
		!strings.Contains(se, "access update-recursive --acl user:"+deeID+":r-x -p / -f data") {
		t.Fatalf("preview without role or ACL: exit %d\n%s\n%s", code, so, se)
	}
	in.mustCLI(cfg, "storage", "fs", "access", "update-recursive", "--acl", "user:"+deeID+":r-x", "-p", "/", "-f", "data", "--account-name", "pacllake", "--auth-mode", "login")
	so, se, code = preview()
	if code != 0 {
		t.Fatalf("preview with r-x ACLs: exit %d\n%s\n%s", code, so, se)
	}
	pv := mustJSON(t, so)
	if who := pv["identity"].(map[string]any); who["kind"] != "caller" || who["principalId"] != deeID || !strings.Contains(who["why"].(string), "DS-9") ||
		jsonText(pv["rows"]) != `["id,v","1,a","2,b"]` {
		t.Fatalf("preview through the ACLs: %v", pv)
	}
}

// DS-4 through a group: a user whose only storage role comes from a group
// is refused an identity-based datastore before joining it and allowed
// after (the check resolves the caller's groups as the data plane does).
func TestDatastoreCreateDS4ThroughGroup(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "grp-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=grp-rg", "workspace=grp-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "grp-ws")
	rgID := strings.TrimSpace(in.mustCLI(cfg, "group", "show", "-n", "grp-rg", "--query", "id", "-o", "tsv"))
	acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "grpdata"))["id"].(string)
	in.mustCLI(cfg, "ad", "user", "create", "--display-name", "Eve", "--user-principal-name", "eve@amlid.onmicrosoft.com", "--password", "Secr3t-pass!")
	eveID := strings.TrimSpace(in.mustCLI(cfg, "ad", "user", "show", "--id", "eve@amlid.onmicrosoft.com", "--query", "id", "-o", "tsv"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", eveID, "--assignee-principal-type", "User", "--role", "Contributor", "--scope", rgID)
	grp := mustJSON(t, in.mustCLI(cfg, "ad", "group", "create", "--display-name", "data-readers", "--mail-nickname", "data-readers"))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", grp["id"].(string), "--assignee-principal-type", "Group", "--role", "Storage Blob Data Reader", "--scope", acct)
	eve := t.TempDir()
	if so, se, code := in.cliNoEnvCreds(eve, "login", "-u", "eve@amlid.onmicrosoft.com", "-p", "Secr3t-pass!"); code != 0 {
		t.Fatalf("login: %s%s", so, se)
	}
	yml := filepath.Join(t.TempDir(), "ds.yml")
	os.WriteFile(yml, []byte("name: by_identity\ntype: azure_blob\naccount_name: grpdata\ncontainer_name: cont1\n"), 0o644)
	create := func() (string, string, int) {
		return in.cliNoEnvCreds(eve, "ml", "datastore", "create", "-f", yml, "-g", "grp-rg", "-w", "grp-ws")
	}
	if so, se, code := create(); code == 0 || !strings.Contains(se, "DS-4") || !strings.Contains(se, eveID) || !strings.Contains(se, "Storage Blob Data Reader") {
		t.Fatalf("outside the group: exit %d\n%s\n%s", code, so, se)
	}
	in.mustCLI(cfg, "ad", "group", "member", "add", "--group", "data-readers", "--member-id", eveID)
	if so, se, code := create(); code != 0 {
		t.Fatalf("in the group: exit %d\n%s\n%s", code, so, se)
	}
}
