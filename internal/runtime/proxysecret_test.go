package runtime

import (
	"slices"
	"strings"
	"testing"
)

// A deployment's own proxy credential (in HTTPS_PROXY) is redacted from
// its logs like its MSI credentials.
func TestSecretsOfIncludesProxyCredential(t *testing.T) {
	cred := strings.Repeat("c3", 32)
	got := secretsOf(map[string]string{"HTTPS_PROXY": "http://azure:" + cred + "@127.0.0.1:8090", "https_proxy": "http://azure:" + cred + "@127.0.0.1:8090"})
	if !slices.Contains(got, cred) || len(got) != 1 {
		t.Fatalf("secretsOf: %v", got)
	}
	if got := secretsOf(map[string]string{"HTTPS_PROXY": "http://azure:hostnames@127.0.0.1:8090"}); len(got) != 0 {
		t.Fatalf("the shared credential is not a secret: %v", got)
	}
}
