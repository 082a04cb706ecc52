package datauri

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/arm"
)

// FuzzResolve: any reference either resolves to a location that stays in
// its container (no '..' segment, no backslash) or is refused with an
// *Error (a 400 for the callers), never a panic. The seeds run with every
// `go test`; `go test -fuzz FuzzResolve` explores further.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"azureml://datastores/workspaceblobstore/paths/a/b.csv",
		"azureml://subscriptions/s/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/a/",
		"azureml://datastores/workspaceblobstore/paths/a/../../b.csv",
		"azureml://datastores/workspaceblobstore/paths/a/%2e%2E/b.csv",
		"azureml://datastores/workspaceblobstore/paths/a%5cb",
		"azureml:census:2", "azureml:census@latest", "azureml:census", "azureml:loop@latest", "azureml:",
		"https://acct1.blob.core.windows.net/c1/a.csv", "https://127.0.0.1:1234/acct1/c1/a.csv",
		"wasbs://c1@acct1.blob.core.windows.net/a.csv", "abfss://fs@acct1.dfs.core.windows.net/x/",
		"http://acct1.blob.core.windows.net/c1/a", "s3://b/k", "", " ", "azureml://datastores//paths/", "https://%zz/",
	} {
		f.Add(s)
	}
	ds := &arm.Resource{Name: "workspaceblobstore", Properties: map[string]any{"datastoreType": "AzureBlob", "accountName": "acct1", "containerName": "c1"}}
	v := &arm.Resource{Name: "2", Properties: map[string]any{"dataType": "uri_file", "dataUri": "azureml://datastores/workspaceblobstore/paths/a.csv"}}
	loop := &arm.Resource{Name: "1", Properties: map[string]any{"dataType": "uri_file", "dataUri": "azureml:loop@latest"}}
	l := fakeLookup{"ds/workspaceblobstore": ds, "data/census/2": v, "data/census/latest": v, "data/loop/latest": loop}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := Resolve(context.Background(), l, raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%q: an error that is not a user error: %v", raw, err)
			}
			return
		}
		for _, seg := range strings.Split(r.Path, "/") {
			if seg == ".." {
				t.Fatalf("%q resolved to a path that climbs: %q", raw, r.Path)
			}
		}
		if strings.Contains(r.Path, `\`) {
			t.Fatalf("%q resolved to a path with a backslash: %q", raw, r.Path)
		}
		if r.Kind == "" {
			t.Fatalf("%q resolved without a kind: %+v", raw, r)
		}
	})
}
