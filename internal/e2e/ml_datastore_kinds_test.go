package e2e

import (
	"bytes"
	"encoding/json"
	"io"
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
}
