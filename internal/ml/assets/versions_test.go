package assets_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

// Models, codes and environments share the ML core's version lists
// (ml.AssetVersionTypes), in-process through ARM: $orderBy with $top keeps
// the first versions by creation time (1, 2, 10 created in that order: 10
// is the latest, whatever the string order), listViewType hides or shows
// archived versions, and the container answers latestVersion/nextVersion.
func TestAssetVersionLists(t *testing.T) {
	e := testenv.New(t, testenv.Options{Quiet: true})
	rg := e.CreateGroup("av")
	ws := rg + "/providers/Microsoft.MachineLearningServices/workspaces/av-ws"
	if st, b := e.ARM(e.Admin, http.MethodPut, ws, api, map[string]any{"location": "eastus", "identity": map[string]any{"type": "SystemAssigned"}}); st >= 300 {
		t.Fatalf("workspace: %d %v", st, b)
	}
	bodies := map[string]func(v string) map[string]any{
		"models": func(v string) map[string]any {
			return map[string]any{"properties": map[string]any{"modelUri": "https://acct.blob.core.windows.net/m/" + v}}
		},
		"codes": func(v string) map[string]any {
			return map[string]any{"properties": map[string]any{"codeUri": "https://acct.blob.core.windows.net/c/" + v}}
		},
		"environments": func(v string) map[string]any {
			return map[string]any{"properties": map[string]any{"image": "mcr.microsoft.com/azureml/minimal:" + v}}
		},
	}
	// names lists the versions of a (followed) list, sorted.
	names := func(path string, q url.Values) []string {
		t.Helper()
		q.Set("api-version", api)
		next := path + "?" + q.Encode()
		var out []string
		for next != "" {
			st, b := e.ARM(e.Admin, http.MethodGet, next, "", nil)
			if st != http.StatusOK {
				t.Fatalf("list %s: %d %v", next, st, b)
			}
			for _, it := range b["value"].([]any) {
				out = append(out, it.(map[string]any)["name"].(string))
			}
			n, _ := b["nextLink"].(string)
			next = strings.TrimPrefix(n, strings.TrimSuffix(e.URL(), "/"))
		}
		slices.Sort(out)
		return out
	}
	for kind, body := range bodies {
		c := ws + "/" + kind + "/a"
		for _, v := range []string{"1", "2", "10"} {
			if st, b := e.ARM(e.Admin, http.MethodPut, c+"/versions/"+v, api, body(v)); st != http.StatusOK {
				t.Fatalf("%s version %s: %d %v", kind, v, st, b)
			}
		}
		if g := names(c+"/versions", url.Values{"$orderBy": {"createdtime desc"}, "$top": {"1"}}); !slices.Equal(g, []string{"10"}) {
			t.Errorf("%s latest: %v", kind, g)
		}
		if g := names(c+"/versions", url.Values{"$orderBy": {"createdtime asc"}, "$top": {"2"}}); !slices.Equal(g, []string{"1", "2"}) {
			t.Errorf("%s first two: %v", kind, g)
		}
		arch := body("10")
		arch["properties"].(map[string]any)["isArchived"] = true
		if st, b := e.ARM(e.Admin, http.MethodPut, c+"/versions/10", api, arch); st != http.StatusOK {
			t.Fatalf("%s archive 10: %d %v", kind, st, b)
		}
		for view, want := range map[string][]string{"": {"1", "2"}, "All": {"1", "10", "2"}, "ArchivedOnly": {"10"}} {
			q := url.Values{}
			if view != "" {
				q.Set("listViewType", view)
			}
			if g := names(c+"/versions", q); !slices.Equal(g, want) {
				t.Errorf("%s listViewType=%q: %v, want %v", kind, view, g, want)
			}
		}
		if g := names(c+"/versions", url.Values{"$orderBy": {"createdtime desc"}, "$top": {"1"}}); !slices.Equal(g, []string{"2"}) {
			t.Errorf("%s latest active: %v", kind, g)
		}
		// Computed on read, never taken from a write.
		if st, b := e.ARM(e.Admin, http.MethodPut, c, api, map[string]any{"properties": map[string]any{"latestVersion": "99", "nextVersion": "100"}}); st != http.StatusOK {
			t.Fatalf("%s container: %d %v", kind, st, b)
		}
		st, b := e.ARM(e.Admin, http.MethodGet, c, api, nil)
		if p, _ := b["properties"].(map[string]any); st != http.StatusOK || p["latestVersion"] != "10" || p["nextVersion"] != "11" {
			t.Errorf("%s container: %d %v", kind, st, b)
		}
	}
}
