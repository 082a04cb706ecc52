package arm

import (
	"net/http"
	"reflect"
	"testing"
)

// The RBAC verb of a request on a resource, and which methods a type
// without its own Serve refuses before any authorization.
func TestResourceVerb(t *testing.T) {
	for _, tc := range []struct {
		method string
		serves bool
		verb   string
		ok     bool
	}{
		{http.MethodGet, false, "read", true},
		{http.MethodHead, false, "read", true},
		{http.MethodPut, false, "write", true},
		{http.MethodPatch, false, "write", true},
		{http.MethodDelete, false, "delete", true},
		{http.MethodPost, false, "", false},
		{http.MethodOptions, false, "", false},
		{http.MethodPost, true, "write", true},
		{http.MethodOptions, true, "read", true},
		{http.MethodDelete, true, "delete", true},
	} {
		verb, ok := resourceVerb(tc.method, tc.serves)
		if ok != tc.ok || (ok && verb != tc.verb) {
			t.Errorf("resourceVerb(%s, serves=%v) = %q %v, want %q %v", tc.method, tc.serves, verb, ok, tc.verb, tc.ok)
		}
	}
}

func TestSplitTypesAndNames(t *testing.T) {
	for _, tc := range []struct {
		rest         []string
		types, names []string
		trailing     string
	}{
		{[]string{"vaults", "v1"}, []string{"vaults"}, []string{"v1"}, ""},
		{[]string{"vaults"}, nil, nil, "vaults"},
		{[]string{"accounts", "a", "blobServices", "default", "containers"}, []string{"accounts", "blobServices"}, []string{"a", "default"}, "containers"},
		{[]string{"workspaces", "w", "listKeys"}, []string{"workspaces"}, []string{"w"}, "listKeys"},
	} {
		types, names, trailing := splitTypesAndNames(tc.rest)
		if !reflect.DeepEqual(types, tc.types) || !reflect.DeepEqual(names, tc.names) || trailing != tc.trailing {
			t.Errorf("splitTypesAndNames(%v) = %v %v %q", tc.rest, types, names, trailing)
		}
	}
}
