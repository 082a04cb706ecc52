package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// After eval "$(amlid env)", DefaultAzureCredential works in Go with no code
// change beyond the endpoint (issue 3). Not parallel: azidentity reads the
// environment.
func TestGoDefaultAzureCredentialFromAmlidEnv(t *testing.T) {
	in := start(t, "")
	for _, kv := range in.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil) // trusts the CA through SSL_CERT_FILE
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatalf("DefaultAzureCredential: %v", err)
	}
	rgc, err := armresources.NewResourceGroupsClient(os.Getenv("AZURE_SUBSCRIPTION_ID"), cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	pg := rgc.NewListPager(nil)
	if _, err := pg.NextPage(t.Context()); err != nil {
		t.Fatalf("ARM with DefaultAzureCredential: %v", err)
	}
	if len(tok.Token) < 100 {
		t.Fatal("no token")
	}
}

// The same in Python with Debian's azure-identity.
func TestPythonDefaultAzureCredentialFromAmlidEnv(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	script := `
import os, sys, json, urllib.request
from azure.identity import DefaultAzureCredential
tok = DefaultAzureCredential().get_token("https://management.azure.com/.default").token
req = urllib.request.Request(os.environ["AMLID_ARM_URL"] + "/subscriptions?api-version=2022-12-01", headers={"Authorization": "Bearer " + tok})
import ssl
ctx = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
body = json.load(urllib.request.urlopen(req, context=ctx))
print(body["value"][0]["subscriptionId"])
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Env = append(cleanEnv(), in.env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != in.State.SubscriptionID {
		t.Fatalf("python output: %s", out)
	}
	_ = http.StatusOK
}
