package azurehost

import "testing"

func TestParse(t *testing.T) {
	for host, want := range map[string]Name{
		"management.azure.com":                    {Service: ARM, Cloud: Public},
		"MANAGEMENT.chinacloudapi.cn:443":         {Service: ARM, Cloud: China},
		"login.microsoftonline.com":               {Service: Login, Cloud: Public},
		"graph.microsoft.com":                     {Service: Graph, Cloud: Public},
		"acct1.blob.core.windows.net":             {Service: Blob, Cloud: Public, Resource: "acct1"},
		"acct1.blob.core.chinacloudapi.cn":        {Service: Blob, Cloud: China, Resource: "acct1"},
		"acct1.dfs.core.windows.net":              {Service: DFS, Cloud: Public, Resource: "acct1"},
		"my-vault.vault.azure.net":                {Service: Vault, Cloud: Public, Resource: "my-vault"},
		"my-vault.vault.azure.cn":                 {Service: Vault, Cloud: China, Resource: "my-vault"},
		"reg1.azurecr.io":                         {Service: Registry, Cloud: Public, Resource: "reg1"},
		"reg1.azurecr.cn":                         {Service: Registry, Cloud: China, Resource: "reg1"},
		"my-ep.eastus.inference.ml.azure.com":     {Service: Scoring, Cloud: Public, Resource: "my-ep"},
		"my-ep.chinaeast2.inference.ml.azure.cn.": {Service: Scoring, Cloud: China, Resource: "my-ep"},
		"eastus.api.azureml.ms":                   {Service: MLAPI, Cloud: Public, Resource: "eastus"},
		"chinaeast2.api.ml.azure.cn":              {Service: MLAPI, Cloud: China, Resource: "chinaeast2"},
	} {
		got, ok := Parse(host)
		want.Host = got.Host
		if !ok || got != want {
			t.Errorf("Parse(%q) = %+v %v, want %+v", host, got, ok, want)
		}
	}
	for _, host := range []string{"", "example.com", "blob.core.windows.net", ".blob.core.windows.net", "a.b.blob.core.windows.net",
		"evil.com.blob.core.windows.net.evil.com", "x_y.vault.azure.net", "my-ep.inference.ml.azure.com", "a.b.c.inference.ml.azure.com", "a.b.api.azureml.ms",
		"127.0.0.1", "[::1]:443", "management.azure.com.evil.com"} {
		if n, ok := Parse(host); ok {
			t.Errorf("Parse(%q) = %+v, want refused", host, n)
		}
	}
}
