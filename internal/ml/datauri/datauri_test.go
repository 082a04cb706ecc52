package datauri

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/arm"
)

type fakeLookup map[string]*arm.Resource

func (f fakeLookup) Datastore(ctx context.Context, name string) (*arm.Resource, error) {
	if r, ok := f["ds/"+strings.ToLower(name)]; ok {
		return r, nil
	}
	return nil, ErrNotFound
}

func (f fakeLookup) DataVersion(ctx context.Context, name, version string) (*arm.Resource, error) {
	if version == "" {
		version = "latest"
	}
	if r, ok := f["data/"+name+"/"+version]; ok {
		return r, nil
	}
	return nil, ErrNotFound
}

func TestParse(t *testing.T) {
	ok := []struct {
		in   string
		want Ref
	}{
		{"azureml://datastores/workspaceblobstore/paths/data/train.csv", Ref{Kind: KindDatastore, Datastore: "workspaceblobstore", Path: "data/train.csv"}},
		{"azureml://datastores/d1/paths/folder/", Ref{Kind: KindDatastore, Datastore: "d1", Path: "folder/"}},
		{"azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/d1/paths/a/./b", Ref{Kind: KindDatastore, Subscription: "s", ResourceGroup: "rg", Workspace: "w", Datastore: "d1", Path: "a/b"}},
		{"azureml:census:3", Ref{Kind: KindAsset, Name: "census", Version: "3"}},
		{"azureml:census@latest", Ref{Kind: KindAsset, Name: "census", Label: "latest"}},
		{"https://acct1.blob.core.windows.net/cont/x/y.csv", Ref{Kind: KindHTTPS, Host: "acct1.blob.core.windows.net", Account: "acct1", Container: "cont", Path: "x/y.csv"}},
		{"https://127.0.0.1:8444/acct1/cont/x", Ref{Kind: KindHTTPS, Host: "127.0.0.1:8444", Account: "acct1", Container: "cont", Path: "x"}},
		{"wasbs://cont@acct1.blob.core.windows.net/x/y.csv", Ref{Kind: KindWASBS, Host: "acct1.blob.core.windows.net", Account: "acct1", Container: "cont", Path: "x/y.csv"}},
	}
	for _, c := range ok {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		c.want.Raw = c.in
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	bad := map[string]string{
		"": "empty",
		"azureml://datastores/d1/paths/../secret":    "'..'",
		"azureml://datastores/d1/paths/a/%2e%2e/b":   "'..'",
		"azureml://datastores/d1/paths/a\\b":         "backslash",
		"azureml://datastores/d1":                    "no path",
		"azureml://foo/d1/paths/x":                   "not an azureml://",
		"azureml:census":                             "without a version",
		"azureml:census@best":                        "@latest",
		"https://example.com/a/b":                    "not a storage URL",
		"https://acct1.blob.core.windows.net/c/../x": "'..'",
		"wasbs://acct1.blob.core.windows.net/x":      "wasbs",
		"http://acct1.blob.core.windows.net/c/x":     "https only",
		"s3://bucket/x":                              "not a data reference",
	}
	for in, want := range bad {
		_, err := Parse(in)
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an *Error naming %q, got %v", in, want, err)
		}
	}
}

func TestResolve(t *testing.T) {
	ds := &arm.Resource{Name: "workspaceblobstore", Properties: map[string]any{"datastoreType": "AzureBlob", "accountName": "acct1", "containerName": "c1"}}
	v := &arm.Resource{Name: "2", Properties: map[string]any{"dataType": "uri_folder", "dataUri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/abc/local/"}}
	l := fakeLookup{"ds/workspaceblobstore": ds, "data/census/2": v, "data/census/latest": v}
	r, err := Resolve(context.Background(), l, "azureml:census@latest")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindAsset || r.Version != "2" || r.Account != "acct1" || r.Container != "c1" || r.Path != "LocalUpload/abc/local/" || r.DataType != "uri_folder" || r.DatastoreType != "AzureBlob" {
		t.Fatalf("resolved: %+v", r)
	}
	if _, err := Resolve(context.Background(), l, "azureml://datastores/nosuch/paths/x"); err == nil || !strings.Contains(err.Error(), "no datastore 'nosuch'") {
		t.Fatalf("unknown datastore: %v", err)
	}
	if _, err := Resolve(context.Background(), l, "azureml:census:9"); err == nil || !strings.Contains(err.Error(), "version '9'") {
		t.Fatalf("unknown version: %v", err)
	}
}
