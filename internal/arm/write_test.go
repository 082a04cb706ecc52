package arm

import (
	"net/http"
	"testing"
)

// The location rule of a write, step by step (applyLocation).
func TestApplyLocation(t *testing.T) {
	id, err := ParseID("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Test/things/t1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		tracked   bool
		old, body string // "" = no old document / no location in the body
		want      string
		status    int
		code      string
	}{
		{name: "untracked drops the location", tracked: false, body: "eastus", want: ""},
		{name: "create normalises", tracked: true, body: "East US", want: "eastus"},
		{name: "create without a location", tracked: true, status: http.StatusBadRequest, code: "LocationRequired"},
		{name: "update keeps the old location", tracked: true, old: "westeurope", want: "westeurope"},
		{name: "update with the same location in other spelling", tracked: true, old: "eastus", body: "East US", want: "eastus"},
		{name: "a resource cannot move", tracked: true, old: "eastus", body: "westus", status: http.StatusConflict, code: "InvalidResourceLocation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var old *Resource
			if tc.old != "" {
				old = &Resource{Location: tc.old}
			}
			nu := &Resource{Location: tc.body}
			err := applyLocation(tc.tracked, id, old, nu)
			if tc.status != 0 {
				e := AsError(err)
				if err == nil || e.Status != tc.status || e.Code != tc.code {
					t.Fatalf("err = %v, want %d %s", err, tc.status, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if nu.Location != tc.want {
				t.Fatalf("location %q, want %q", nu.Location, tc.want)
			}
		})
	}
}

// A PATCH body merges onto the current document; the envelope a client
// cannot set is dropped from the body (the hooks see it without them).
func TestMergeOnto(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old      *Resource
		raw      map[string]any
		check    func(*Resource) bool
		keptBody []string
	}{
		{
			name: "properties merge, null deletes",
			old:  &Resource{ID: "/x", Name: "x", Properties: map[string]any{"a": "1", "b": "2"}},
			raw:  map[string]any{"properties": map[string]any{"b": nil, "c": "3"}},
			check: func(r *Resource) bool {
				return r.Properties["a"] == "1" && r.Properties["b"] == nil && r.Properties["c"] == "3" && len(r.Properties) == 2
			},
		},
		{
			name:     "read-only envelope ignored",
			old:      &Resource{ID: "/x", Name: "x", Type: "T", Tags: map[string]string{"k": "v"}},
			raw:      map[string]any{"id": "/evil", "name": "evil", "type": "Evil", "etag": "e", "systemData": map[string]any{}, "tags": map[string]any{"k": "w"}},
			check:    func(r *Resource) bool { return r.ID == "/x" && r.Name == "x" && r.Type == "T" && r.Tags["k"] == "w" },
			keptBody: []string{"tags"},
		},
		{
			name:  "tags replaced key by key",
			old:   &Resource{Tags: map[string]string{"a": "1"}},
			raw:   map[string]any{"tags": map[string]any{"b": "2"}},
			check: func(r *Resource) bool { return r.Tags["a"] == "1" && r.Tags["b"] == "2" },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nu, err := mergeOnto(tc.old, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(nu) {
				t.Fatalf("merged %+v", nu)
			}
			for _, k := range readOnlyTop {
				if _, ok := tc.raw[k]; ok {
					t.Fatalf("body still has read-only %q", k)
				}
			}
			for _, k := range tc.keptBody {
				if _, ok := tc.raw[k]; !ok {
					t.Fatalf("body lost %q", k)
				}
			}
		})
	}
}
