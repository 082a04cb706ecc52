package keyvault_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// BenchmarkGetSecret: azsecrets GetSecret against an in-process amlid over
// HTTPS (token verification, RBAC decision, store read, AES-GCM open). Not
// run by the test command: go test -run '^$' -bench . ./internal/keyvault/
func BenchmarkGetSecret(b *testing.B) {
	e := newEnv(b, "")
	uri := e.createVault("kv-bench", true)
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-bench"))
	c := e.secrets(uri, e.admin)
	if _, err := c.SetSecret(b.Context(), "s", azsecrets.SetSecretParameters{Value: to("value")}, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.GetSecret(b.Context(), "s", "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetSecret: a new version per call (SQLite store, fsync per commit).
func BenchmarkSetSecret(b *testing.B) {
	e := newEnv(b, "sqlite")
	uri := e.createVault("kv-bench", false, e.policy(e.s.Bootstrap.ObjectID, "all"))
	c := e.secrets(uri, e.admin)
	for b.Loop() {
		if _, err := c.SetSecret(b.Context(), "s", azsecrets.SetSecretParameters{Value: to("value")}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
