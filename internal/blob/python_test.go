package blob_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/testenv"
)

const debianPython = "/usr/bin/python3"

// pySeed is the seed's access_blob_storage_sdk() (../shared/seeds/002_*)
// with amlid's account URL and a client-secret credential instead of the
// managed identity, plus uploads with the token and with the account key.
const pySeed = `
import json, logging, os
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobClient, BlobServiceClient
from azure.core.exceptions import HttpResponseError

host, tid = os.environ["AMLID_HOST"], os.environ["AMLID_TENANT"]
out = {}

def access_blob_storage_sdk():
    credential = ClientSecretCredential(tenant_id=tid, client_id=os.environ["READER_ID"],
        client_secret=os.environ["READER_SECRET"], authority=host, instance_discovery=False)
    storage_account = os.getenv("STORAGE_ACCOUNT_NAME")
    storage_container = os.getenv("STORAGE_CONTAINER_NAME")
    file_name = os.getenv("FILE_NAME")

    blob_client = BlobClient(
        account_url=os.environ["ACCOUNT_URL"],
        container_name=storage_container,
        blob_name=file_name,
        credential=credential,
    )
    blob_contents = blob_client.download_blob().content_as_text()
    logging.info(f"Blob contains: {blob_contents}")
    out["seed"] = blob_contents
    # Storage Blob Data Reader cannot write.
    try:
        blob_client.upload_blob(b"nope", overwrite=True)
        out["reader_write"] = "allowed"
    except HttpResponseError as e:
        out["reader_write"] = e.error_code

access_blob_storage_sdk()

writer = ClientSecretCredential(tenant_id=tid, client_id=os.environ["WRITER_ID"],
    client_secret=os.environ["WRITER_SECRET"], authority=host, instance_discovery=False)
svc = BlobServiceClient(account_url=os.environ["ACCOUNT_URL"], credential=writer)
cc = svc.get_container_client(os.environ["STORAGE_CONTAINER_NAME"])
data = os.urandom(9 * 1024 * 1024 + 17)   # above the 4 MiB block size: Put Block + Put Block List
cc.upload_blob("py/big.bin", data, overwrite=True, max_concurrency=3)
out["big_ok"] = cc.download_blob("py/big.bin", max_concurrency=3).readall() == data
cc.upload_blob("py/empty", b"", overwrite=True)
out["empty"] = cc.download_blob("py/empty").readall().decode()
try:
    cc.upload_blob("py/empty", b"again")
    out["no_overwrite"] = "allowed"
except HttpResponseError as e:
    out["no_overwrite"] = e.error_code
out["names"] = [b.name for b in cc.walk_blobs(name_starts_with="py/")]
props = cc.get_blob_client("py/big.bin").get_blob_properties()
out["size"] = props.size

keysvc = BlobServiceClient(account_url=os.environ["ACCOUNT_URL"], credential={"account_name": os.environ["STORAGE_ACCOUNT_NAME"], "account_key": os.environ["ACCOUNT_KEY"]})
kb = keysvc.get_blob_client(os.environ["STORAGE_CONTAINER_NAME"], "py/key.txt")
kb.upload_blob("with a key", overwrite=True, metadata={"Source": "python"})
out["key_text"] = kb.download_blob(encoding="utf-8").readall()
out["key_meta"] = kb.get_blob_properties().metadata
print(json.dumps(out))
`

func TestPythonSDK(t *testing.T) {
	t.Parallel()
	if exec.Command(debianPython, "-c", "import azure.storage.blob, azure.identity").Run() != nil {
		t.Fatal("Debian's python3-azure and python3-azure-storage are required (scripts/test.sh installs them)")
	}
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("pyacct", nil)
	key := e.AccountKey("pyacct")
	kc := keyClient(t, e, "pyacct", key)
	_, err := kc.CreateContainer(t.Context(), "models", nil)
	must(t, err)
	_, err = kc.UploadBuffer(t.Context(), "models", "hello.txt", []byte("Hello from amlid"), nil)
	must(t, err)
	reader := e.NewApp("reader", e.Tenant())
	e.Grant(reader.ObjectID, testenv.RoleStorageBlobDataReader, e.AccountID("pyacct"))
	writer := e.NewApp("writer", e.Tenant())
	e.Grant(writer.ObjectID, testenv.RoleStorageBlobDataContrib, e.AccountID("pyacct"))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "-c", pySeed)
	cmd.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+e.CAFile(), "AMLID_HOST="+e.URL(), "AMLID_TENANT="+e.Tenant(),
		"READER_ID="+reader.AppID, "READER_SECRET="+reader.Secret, "WRITER_ID="+writer.AppID, "WRITER_SECRET="+writer.Secret,
		"ACCOUNT_URL="+e.AccountURL("pyacct"), "ACCOUNT_KEY="+key,
		"STORAGE_ACCOUNT_NAME=pyacct", "STORAGE_CONTAINER_NAME=models", "FILE_NAME=hello.txt")
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, stderr)
	}
	var out map[string]any
	must(t, json.Unmarshal(outb, &out))
	if out["seed"] != "Hello from amlid" {
		t.Errorf("seed download: %v", out["seed"])
	}
	if out["reader_write"] != "AuthorizationPermissionMismatch" {
		t.Errorf("reader write: %v", out["reader_write"])
	}
	if out["big_ok"] != true || out["size"] != float64(9*1024*1024+17) {
		t.Errorf("9 MiB round trip: %v size %v", out["big_ok"], out["size"])
	}
	if out["empty"] != "" || out["no_overwrite"] != "BlobAlreadyExists" {
		t.Errorf("empty blob %v, overwrite refusal %v", out["empty"], out["no_overwrite"])
	}
	if names, _ := json.Marshal(out["names"]); string(names) != `["py/big.bin","py/empty"]` {
		t.Errorf("walk_blobs: %s", names)
	}
	if out["key_text"] != "with a key" || !strings.Contains(strings.ToLower(jsonString(out["key_meta"])), `"source":"python"`) {
		t.Errorf("shared key: %v %v", out["key_text"], out["key_meta"])
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
