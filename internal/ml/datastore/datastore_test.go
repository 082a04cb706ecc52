package datastore

import (
	"encoding/base64"
	"strings"
	"testing"
)

// secretOf catches secrets given in the wrong field (the issue's "a SAS in
// the wrong field"), mismatched types and malformed values.
func TestSecretOf(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 64))
	sas := "sv=2021-06-08&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=abc%3D"
	ok := []struct {
		ct    string
		creds map[string]any
		want  string
	}{
		{"AccountKey", map[string]any{"secrets": map[string]any{"secretsType": "AccountKey", "key": key}}, key},
		{"Sas", map[string]any{"secrets": map[string]any{"secretsType": "Sas", "sasToken": "?" + sas}}, "?" + sas},
		{"ServicePrincipal", map[string]any{"secrets": map[string]any{"clientSecret": "s3cret"}}, "s3cret"},
		{"Certificate", map[string]any{"secrets": map[string]any{"certificate": "MIIB"}}, "MIIB"},
		{"AccountKey", map[string]any{}, ""}, // no secret given: the caller decides (update keeps the cached one)
	}
	for _, c := range ok {
		got, err := secretOf(c.ct, c.creds)
		if err != nil || got != c.want {
			t.Errorf("%s %v: %q %v", c.ct, c.creds, got, err)
		}
	}
	bad := []struct {
		ct    string
		creds map[string]any
		want  string
	}{
		{"AccountKey", map[string]any{"secrets": map[string]any{"key": sas}}, "holds a SAS token"},
		{"AccountKey", map[string]any{"secrets": map[string]any{"key": "not base64!"}}, "not a storage account key"},
		{"Sas", map[string]any{"secrets": map[string]any{"sasToken": key}}, "holds an account key"},
		{"Sas", map[string]any{"secrets": map[string]any{"sasToken": "sv=2021"}}, "no sig="},
		{"AccountKey", map[string]any{"secrets": map[string]any{"sasToken": sas}}, "belongs to Sas credentials"},
		{"Sas", map[string]any{"secrets": map[string]any{"secretsType": "AccountKey", "sasToken": sas}}, "must match"},
		{"AccountKey", map[string]any{"secrets": "k"}, "must be an object"},
		{"ServicePrincipal", map[string]any{"secrets": map[string]any{"clientSecret": 42}}, "must be a string"},
	}
	for _, c := range bad {
		_, err := secretOf(c.ct, c.creds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: want an error naming %q, got %v", c.ct, c.creds, c.want, err)
		}
	}
}

func TestKinds(t *testing.T) {
	for in, want := range map[string]string{"azureblob": "AzureBlob", "AZUREFILE": "AzureFile", "AzureDataLakeGen2": "AzureDataLakeGen2", "azuredatalakegen1": "AzureDataLakeGen1"} {
		if k, ok := kindOf(in); !ok || k.Name != want {
			t.Errorf("%s: %v %v", in, k, ok)
		}
	}
	if _, ok := kindOf("AmazonS3"); ok {
		t.Error("AmazonS3 is no datastore type")
	}
	if k, _ := kindOf("AzureFile"); k.Identity {
		t.Error("rule DS-3: AzureFile is never identity-based")
	}
}
