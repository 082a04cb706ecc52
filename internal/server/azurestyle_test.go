package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/azurehost"
)

func TestRewriteEndpoints(t *testing.T) {
	body := `{"value":[
{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/Acct1","properties":{"primaryEndpoints":{"blob":"https://127.0.0.1:8444/acct1/"},"big":12345678901234567890}},
{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv1","properties":{"vaultUri":"https://127.0.0.1:8501/"}},
{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/reg1","properties":{"loginServer":"127.0.0.1:8502"}},
{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep1","location":"East US","properties":{"scoringUri":"https://127.0.0.1:8503/score","swaggerUri":"https://127.0.0.1:8503/swagger.json"}},
{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv1/secrets/x","properties":{"vaultUri":"https://127.0.0.1:8501/"}}
]}`
	out, changed := rewriteEndpoints([]byte(body), azurehost.Public)
	if !changed {
		t.Fatal("nothing rewritten")
	}
	var v struct {
		Value []struct {
			Properties map[string]any `json:"properties"`
		} `json:"value"`
	}
	dec := json.NewDecoder(bytesReader(out))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	p := v.Value
	if p[0].Properties["primaryEndpoints"].(map[string]any)["blob"] != "https://acct1.blob.core.windows.net/" ||
		p[0].Properties["big"].(json.Number).String() != "12345678901234567890" ||
		p[1].Properties["vaultUri"] != "https://kv1.vault.azure.net/" || p[2].Properties["loginServer"] != "reg1.azurecr.io" ||
		p[3].Properties["scoringUri"] != "https://ep1.eastus.inference.ml.azure.com/score" ||
		p[4].Properties["vaultUri"] != "https://127.0.0.1:8501/" {
		t.Fatalf("%s", out)
	}
	cn, _ := rewriteEndpoints([]byte(body), azurehost.China)
	if !json.Valid(cn) || !contains(string(cn), "https://kv1.vault.azure.cn/") || !contains(string(cn), "reg1.azurecr.cn") {
		t.Fatalf("china: %s", cn)
	}
	if _, changed := rewriteEndpoints([]byte(`{"error":{"code":"x"}}`), azurehost.Public); changed {
		t.Fatal("an error body was rewritten")
	}
	if _, changed := rewriteEndpoints([]byte(`not json`), azurehost.Public); changed {
		t.Fatal("garbage rewritten")
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
func contains(s, sub string) bool        { return strings.Contains(s, sub) }
