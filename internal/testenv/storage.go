package testenv

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/amlid/amlid/internal/access/catalog"
)

// StorageAPIVersion is the Microsoft.Storage API version the helpers use.
const StorageAPIVersion = "2022-09-01"

// Built-in role GUIDs (from the access catalog).
var (
	RoleOwner                  = catalog.Owner.ID
	RoleContributor            = catalog.Contributor.ID
	RoleStorageBlobDataReader  = catalog.StorageBlobDataReader.ID
	RoleStorageBlobDataContrib = catalog.StorageBlobDataContributor.ID
	RoleStorageBlobDataOwner   = catalog.StorageBlobDataOwner.ID
)

// NewStorage is New with a resource group, RG ("rg1"), where the storage
// helpers (CreateAccount, AccountPath…) put accounts.
func NewStorage(t testing.TB, o Options) *Env {
	t.Helper()
	e := New(t, o)
	e.RG = "rg1"
	e.CreateGroup(e.RG)
	return e
}

// BlobURL is the Blob data plane (path-style, no trailing slash).
func (e *Env) BlobURL() string { return e.S.State.BlobURL }

// BlobDir is where the Blob data plane keeps blob contents.
func (e *Env) BlobDir() string { return filepath.Join(e.S.Opts.DataDir, "blobs") }

// CAFile is the PEM file of amlid's CA.
func (e *Env) CAFile() string { return e.S.CA.CAPath() }

// AccountPath is the ARM path of an account in RG.
func (e *Env) AccountPath(name string) string {
	return "/subscriptions/" + e.Sub() + "/resourceGroups/" + e.RG + "/providers/Microsoft.Storage/storageAccounts/" + name
}

// AccountID is the account's resource ID.
func (e *Env) AccountID(name string) string { return e.AccountPath(name) }

// AccountURL is the account's blob endpoint (path-style, trailing slash).
func (e *Env) AccountURL(name string) string { return e.BlobURL() + "/" + name + "/" }

// CreateAccount creates a StorageV2 account in RG as the admin (extra
// properties merged in).
func (e *Env) CreateAccount(name string, props map[string]any) map[string]any {
	e.T.Helper()
	body := map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}, "properties": props}
	st, out := e.ARM(e.Admin, http.MethodPut, e.AccountPath(name), StorageAPIVersion, body)
	if st != http.StatusOK {
		e.T.Fatalf("create storage account %s: %d %v", name, st, out)
	}
	return out
}

// AccountKey returns key1 through listKeys.
func (e *Env) AccountKey(name string) string {
	e.T.Helper()
	st, out := e.ARM(e.Admin, http.MethodPost, e.AccountPath(name)+"/listKeys", StorageAPIVersion, nil)
	if st != http.StatusOK {
		e.T.Fatalf("listKeys %s: %d %v", name, st, out)
	}
	keys, _ := out["keys"].([]any)
	if len(keys) != 2 {
		e.T.Fatalf("listKeys %s: %v", name, out)
	}
	return keys[0].(map[string]any)["value"].(string)
}

// MustStatus fails unless status is want.
func MustStatus(t testing.TB, what string, got, want int, body any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %v", what, got, want, body)
	}
}
