package arm_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// walkARM follows nextLinks from path, checking every page's size, and
// calls between after each page but the last. It returns the names seen.
func walkARM(t *testing.T, srv *httptest.Server, path string, top int, between func(seen []string)) []string {
	t.Helper()
	var seen []string
	for pages := 0; path != ""; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: paging does not end", path)
		}
		m := mustDo(t, srv, call{method: "GET", path: path}, 200)
		items := m["value"].([]any)
		if len(items) > top {
			t.Fatalf("%s: page of %d items with $top=%d", path, len(items), top)
		}
		for _, it := range items {
			seen = append(seen, strings.ToLower(it.(map[string]any)["name"].(string)))
		}
		next, _ := m["nextLink"].(string)
		path = ""
		if next != "" {
			u, err := url.Parse(next)
			if err != nil || u.Scheme != "https" {
				t.Fatalf("nextLink %q", next)
			}
			path = u.RequestURI()
			if between != nil {
				between(seen)
			}
		}
	}
	return seen
}

// Every list pages with $skipToken: a walk visits each resource that lives
// through it exactly once while others are created and deleted between
// pages, and no page exceeds $top.
func TestListPagingWhileWriting(t *testing.T) {
	t.Parallel()
	const n = 30
	for _, tc := range []struct {
		name, path string
		extra      []string // listed besides rg1's identities
	}{
		{"resource group", strings.TrimSuffix(uaiPath, "/") + "?api-version=2023-01-31&$top=4", nil},
		{"subscription", "/subscriptions/" + sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31&$top=4", []string{"other"}},
		{"generic resources", rgPath + "/resources?api-version=2021-04-01&$top=4", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newARM(t)
			mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
			mustDo(t, srv, call{method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/rg0?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
			put := func(name string) {
				mustDo(t, srv, call{method: "PUT", path: uaiPath + name + "?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
			}
			live := map[string]bool{}
			for i := range n {
				live[fmt.Sprintf("id%03d", i*10)] = true
				put(fmt.Sprintf("id%03d", i*10))
			}
			// An identity in another group is not part of rg1's lists.
			mustDo(t, srv, call{method: "PUT", path: "/subscriptions/" + sub + "/resourceGroups/rg0/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
			stable := map[string]bool{}
			for k := range live {
				stable[k] = true
			}
			deletedUnseen := map[string]bool{}
			page := 0
			seen := walkARM(t, srv, tc.path, 4, func(seen []string) {
				page++
				// Delete one identity behind the cursor and one ahead; create
				// one behind and one ahead.
				for _, name := range []string{fmt.Sprintf("id%03d", (page-1)*10), fmt.Sprintf("id%03d", 290-(page-1)*10)} {
					if live[name] && name != "id000" {
						mustDo(t, srv, call{method: "DELETE", path: uaiPath + name + "?api-version=2023-01-31"}, 200)
						delete(live, name)
						delete(stable, name)
						if !slices.Contains(seen, name) {
							deletedUnseen[name] = true
						}
					}
				}
				for _, name := range []string{fmt.Sprintf("id%03d", (page-1)*10+1), fmt.Sprintf("id%03d", 295-(page-1)*10)} {
					put(name)
					live[name] = true
				}
			})
			count := map[string]int{}
			for _, name := range seen {
				count[name]++
				if count[name] > 1 {
					t.Fatalf("%s listed twice: %q", name, seen)
				}
				if deletedUnseen[name] {
					t.Fatalf("%s listed after its deletion", name)
				}
			}
			for name := range stable {
				if count[name] != 1 {
					t.Fatalf("%s lived through the walk but was listed %d times: %q", name, count[name], seen)
				}
			}
			for _, x := range tc.extra {
				if count[x] != 1 {
					t.Fatalf("%s listed %d times: %q", x, count[x], seen)
				}
			}
			if page < 5 || len(stable) < n/2 {
				t.Fatalf("test setup: %d pages, %d stable identities", page, len(stable))
			}
		})
	}
}

// A continuation token is opaque and tamper-evident: changed, invented or
// taken from another listing, it gets 400 InvalidSkipToken.
func TestListSkipTokenTampered(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	for i := range 3 {
		mustDo(t, srv, call{method: "PUT", path: fmt.Sprintf("/subscriptions/%s/resourcegroups/rg%d?api-version=2021-04-01", sub, i), body: `{"location":"eastus"}`}, 201)
	}
	list := "/subscriptions/" + sub + "/resourcegroups?api-version=2021-04-01&$top=1"
	m := mustDo(t, srv, call{method: "GET", path: list}, 200)
	next, _ := url.Parse(m["nextLink"].(string))
	tok := next.Query().Get("$skipToken")
	if tok == "" || strings.Contains(tok, "rg0") {
		t.Fatalf("token %q must be present and opaque", tok)
	}
	mustDo(t, srv, call{method: "GET", path: next.RequestURI()}, 200)
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	for name, path := range map[string]string{
		"tampered":        list + "&$skipToken=" + url.QueryEscape(string(flipped)),
		"a number":        list + "&$skipToken=1",
		"invented":        list + "&$skipToken=AXJnMA",
		"another listing": strings.TrimSuffix(uaiPath, "/") + "?api-version=2023-01-31&$skipToken=" + url.QueryEscape(tok),
	} {
		if name == "another listing" {
			mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 200)
		}
		_, m, _ := do(t, srv, call{method: "GET", path: path})
		if errCode(m) != "InvalidSkipToken" {
			t.Errorf("%s token: %v, want 400 InvalidSkipToken", name, m)
		}
	}
}
