package keyvault_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// FuzzVaultRequests: secret names, versions, Key Vault IDs in paths,
// api-versions and JSON bodies are client input. An authenticated
// administrator's request of any shape is answered 2xx/4xx, never 5xx.
func FuzzVaultRequests(f *testing.F) {
	e := newEnv(f, "")
	base := strings.TrimSuffix(e.createVault("fuzzkv", true), "/")
	e.grant(e.admin.ObjectID, roleKVAdmin, e.vaultID("fuzzkv"))
	tok, err := e.cred(e.admin).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range [][3]string{
		{"PUT", "/secrets/s1?api-version=7.4", `{"value":"v","contentType":"text/plain","attributes":{"enabled":true,"exp":1}}`},
		{"GET", "/secrets/s1/" + strings.Repeat("0", 32) + "?api-version=7.4", ""},
		{"GET", "/secrets?api-version=7.4&maxresults=0", ""},
		{"PATCH", "/secrets/s1/?api-version=7.4", `{"attributes":{"nbf":"x"}}`},
		{"POST", "/secrets/restore?api-version=7.4", `{"value":"AAAA"}`},
		{"POST", "/secrets/s1/backup?api-version=7.4", ""},
		{"DELETE", "/secrets/s1?api-version=7.4", ""},
		{"GET", "/deletedsecrets/s1?api-version=2016-10-01", ""},
		{"GET", "/secrets/..%2F..%2Fx?api-version=7.4", ""},
		{"PUT", "/secrets/" + strings.Repeat("n", 200) + "?api-version=7.6", `{"value":` + `"` + strings.Repeat("x", 100) + `"}`},
		{"GET", "/secrets?api-version=99", ""},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		switch method {
		case "GET", "PUT", "PATCH", "POST", "DELETE":
		default:
			return
		}
		req, err := http.NewRequest(method, base+target, strings.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.String(), base) {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.http.Do(req)
		if err != nil {
			return // a target the client refuses to send
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, target, body, resp.StatusCode, b)
		}
	})
}
