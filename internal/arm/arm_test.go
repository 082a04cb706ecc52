package arm_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/identity"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/store/memory"
)

const (
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	sub    = "00000000-1111-2222-3333-444444444444"
)

func newARM(t *testing.T) *httptest.Server {
	t.Helper()
	st := memory.New()
	dir := directory.New(st)
	ctx := t.Context()
	if err := dir.PutTenant(ctx, directory.Tenant{ID: tenant, DisplayName: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := dir.PutSubscription(ctx, directory.Subscription{ID: sub, TenantID: tenant, DisplayName: "s", State: "Enabled"}); err != nil {
		t.Fatal(err)
	}
	reg := arm.NewRegistry()
	(&identity.Provider{}).Register(reg)
	srv := httptest.NewServer(arm.New(arm.Config{Store: st, Directory: dir, Registry: reg, DefaultTenant: tenant}))
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, srv *httptest.Server, c call) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: non-JSON body %q", c.method, c.path, b)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

const rgPath = "/subscriptions/" + sub + "/resourcegroups/rg1"
const uaiPath = "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"

func mustDo(t *testing.T, srv *httptest.Server, c call, want int) map[string]any {
	t.Helper()
	got, m, _ := do(t, srv, c)
	if got != want {
		t.Fatalf("%s %s: status %d, want %d (%v)", c.method, c.path, got, want, m)
	}
	return m
}

func TestResourceGroupLifecycle(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	m := mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"East US","tags":{"a":"b"}}`}, 201)
	if m["id"] != "/subscriptions/"+sub+"/resourceGroups/rg1" || m["location"] != "eastus" {
		t.Fatalf("canonical id/location: %v", m)
	}
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 200)
	mustDo(t, srv, call{method: "HEAD", path: "/subscriptions/" + sub + "/resourceGroups/RG1?api-version=2021-04-01"}, 204)
	mustDo(t, srv, call{method: "HEAD", path: "/subscriptions/" + sub + "/resourceGroups/nope?api-version=2021-04-01"}, 404)
	m = mustDo(t, srv, call{method: "PATCH", path: rgPath + "?api-version=2021-04-01", body: `{"tags":{"x":"y"}}`}, 200)
	if tags := m["tags"].(map[string]any); tags["x"] != "y" || len(tags) != 1 {
		t.Fatalf("patch tags: %v", m)
	}
	m = mustDo(t, srv, call{method: "GET", path: "/subscriptions/" + sub + "/resourcegroups?api-version=2021-04-01"}, 200)
	if len(m["value"].([]any)) != 1 {
		t.Fatalf("list: %v", m)
	}
	// A resource inside, then delete the group: the resource goes with it.
	mustDo(t, srv, call{method: "PUT", path: uaiPath + "id1?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
	mustDo(t, srv, call{method: "DELETE", path: rgPath + "?api-version=2021-04-01"}, 200)
	mustDo(t, srv, call{method: "GET", path: rgPath + "?api-version=2021-04-01"}, 404)
	m = mustDo(t, srv, call{method: "GET", path: "/subscriptions/" + sub + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31"}, 200)
	if len(m["value"].([]any)) != 0 {
		t.Fatalf("identity must be deleted with its group: %v", m)
	}
}

func TestUserAssignedIdentity(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	m := mustDo(t, srv, call{method: "PUT", path: uaiPath + "Id1?api-version=2023-01-31", body: `{"location":"eastus","properties":{"principalId":"forged"}}`}, 201)
	props := m["properties"].(map[string]any)
	if props["tenantId"] != tenant || props["principalId"] == "forged" || props["clientId"] == "" {
		t.Fatalf("properties: %v", props)
	}
	// Stable on update, any casing.
	m2 := mustDo(t, srv, call{method: "PUT", path: strings.ToLower(uaiPath) + "id1?api-version=2022-01-31-preview", body: `{"location":"eastus","tags":{"k":"v"}}`}, 200)
	p2 := m2["properties"].(map[string]any)
	if p2["principalId"] != props["principalId"] || p2["clientId"] != props["clientId"] || m2["name"] != "Id1" {
		t.Fatalf("identity must be stable: %v vs %v", p2, props)
	}
	if !strings.Contains(m2["id"].(string), "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/Id1") {
		t.Fatalf("canonical id: %v", m2["id"])
	}
	mustDo(t, srv, call{method: "DELETE", path: uaiPath + "id1?api-version=2023-01-31"}, 200)
	mustDo(t, srv, call{method: "DELETE", path: uaiPath + "id1?api-version=2023-01-31"}, 204)
	mustDo(t, srv, call{method: "GET", path: uaiPath + "id1?api-version=2023-01-31"}, 404)
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	p := uaiPath + "cc1?api-version=2023-01-31"
	mustDo(t, srv, call{method: "PUT", path: p, body: `{"location":"eastus"}`, header: map[string]string{"If-Match": "*"}}, 412)
	mustDo(t, srv, call{method: "PUT", path: p, body: `{"location":"eastus"}`, header: map[string]string{"If-None-Match": "*"}}, 201)
	mustDo(t, srv, call{method: "PUT", path: p, body: `{"location":"eastus"}`, header: map[string]string{"If-None-Match": "*"}}, 412)
	mustDo(t, srv, call{method: "PUT", path: p, body: `{"location":"eastus"}`, header: map[string]string{"If-Match": `"stale"`}}, 412)
	mustDo(t, srv, call{method: "PATCH", path: uaiPath + "missing?api-version=2023-01-31", body: `{"tags":{}}`}, 404)
}

// Bad input gets an ARM 4xx with Azure's code, never a 5xx or a panic.
func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	big := `{"location":"eastus","tags":{"a":"` + strings.Repeat("x", arm.MaxBodyBytes) + `"}}`
	cases := []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"malformed JSON", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `{"location":`}, 400, "InvalidRequestContent"},
		{"not an object", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `[1,2]`}, 400, "InvalidRequestContent"},
		{"empty body", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: ``}, 400, "InvalidRequestContent"},
		{"wrong type for tags", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `{"location":"eastus","tags":5}`}, 400, "InvalidRequestContent"},
		{"wrong type for location", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `{"location":7}`}, 400, "InvalidRequestContent"},
		{"wrong type for isolationScope", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `{"location":"eastus","properties":{"isolationScope":3}}`}, 400, "InvalidRequestContent"},
		{"missing location", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: `{}`}, 400, "LocationRequired"},
		{"identity name too short", call{method: "PUT", path: uaiPath + "ab?api-version=2023-01-31", body: `{"location":"eastus"}`}, 400, "InvalidResourceName"},
		{"identity name bad chars", call{method: "PUT", path: uaiPath + "a$b!c?api-version=2023-01-31", body: `{"location":"eastus"}`}, 400, "InvalidResourceName"},
		{"group name bad chars", call{method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/bad%21name?api-version=2021-04-01", body: `{"location":"eastus"}`}, 400, "InvalidResourceGroupName"},
		{"group name ends with period", call{method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/rg.?api-version=2021-04-01", body: `{"location":"eastus"}`}, 400, "InvalidResourceGroupName"},
		{"oversized body", call{method: "PUT", path: uaiPath + "xx1?api-version=2023-01-31", body: big}, 413, "RequestEntityTooLarge"},
		{"missing api-version", call{method: "GET", path: rgPath}, 400, "MissingApiVersionParameter"},
		{"malformed api-version", call{method: "GET", path: rgPath + "?api-version=banana"}, 400, "InvalidApiVersionParameter"},
		{"unknown api-version for the type", call{method: "GET", path: uaiPath + "xx1?api-version=2099-01-01"}, 400, "NoRegisteredProviderFound"},
		{"unknown resource type", call{method: "GET", path: "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/widgets/w?api-version=2023-01-31"}, 400, "InvalidResourceType"},
		{"unknown namespace", call{method: "GET", path: "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.Nope/widgets/w?api-version=2023-01-31"}, 404, "InvalidResourceNamespace"},
		{"dot-dot segment", call{method: "GET", path: "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/../../x?api-version=2023-01-31"}, 400, "InvalidRequestUri"},
		{"encoded slash", call{method: "GET", path: "/subscriptions/" + sub + "/resourceGroups/rg1%2Fevil/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x?api-version=2023-01-31"}, 400, "InvalidRequestUri"},
		{"double slash", call{method: "GET", path: "/subscriptions/" + sub + "//resourceGroups/rg1?api-version=2021-04-01"}, 400, "InvalidRequestUri"},
		{"unknown subscription", call{method: "GET", path: "/subscriptions/nope/resourcegroups?api-version=2021-04-01"}, 404, "SubscriptionNotFound"},
		{"missing resource group", call{method: "PUT", path: "/subscriptions/" + sub + "/resourceGroups/ghost/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x1?api-version=2023-01-31", body: `{"location":"eastus"}`}, 404, "ResourceGroupNotFound"},
		{"missing resource", call{method: "GET", path: uaiPath + "ghost?api-version=2023-01-31"}, 404, "ResourceNotFound"},
		{"unsupported resources filter", call{method: "GET", path: "/subscriptions/" + sub + "/resources?api-version=2021-04-01&$filter=name%20eq%20%27x%27"}, 400, "InvalidFilterInQueryString"},
		{"bad $top", call{method: "GET", path: "/subscriptions/" + sub + "/resourcegroups?api-version=2021-04-01&$top=-1"}, 400, "InvalidTopInQueryString"},
		{"method not allowed", call{method: "POST", path: rgPath + "?api-version=2021-04-01"}, 405, "MethodNotAllowed"},
		{"location change", call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"westus"}`}, 409, "InvalidResourceGroupLocation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, m, h := do(t, srv, tc.c)
			if got != tc.status || errCode(m) != tc.code {
				t.Fatalf("got %d %q (%v), want %d %q", got, errCode(m), m, tc.status, tc.code)
			}
			if h.Get("x-ms-error-code") != tc.code {
				t.Fatalf("x-ms-error-code header %q", h.Get("x-ms-error-code"))
			}
		})
	}
}

func TestPagingAndFilters(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	for _, n := range []string{"a", "b", "c"} {
		mustDo(t, srv, call{method: "PUT", path: "/subscriptions/" + sub + "/resourcegroups/" + n + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	}
	m := mustDo(t, srv, call{method: "GET", path: "/subscriptions/" + sub + "/resourcegroups?api-version=2021-04-01&$top=2"}, 200)
	next, _ := m["nextLink"].(string)
	if len(m["value"].([]any)) != 2 || !strings.HasPrefix(next, "https://") || !strings.Contains(next, "api-version=2021-04-01") {
		t.Fatalf("page 1: %v", m)
	}
	mustDo(t, srv, call{method: "PUT", path: "/subscriptions/" + sub + "/resourceGroups/a/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idA?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
	m = mustDo(t, srv, call{method: "GET", path: "/subscriptions/" + sub + "/resources?api-version=2021-04-01&$filter=resourceType%20eq%20%27microsoft.managedidentity%2FuserAssignedIdentities%27"}, 200)
	if v := m["value"].([]any); len(v) != 1 || v[0].(map[string]any)["name"] != "idA" {
		t.Fatalf("resources filter: %v", m)
	}
	m = mustDo(t, srv, call{method: "GET", path: "/subscriptions?api-version=2022-12-01"}, 200)
	if v := m["value"].([]any); len(v) != 1 || v[0].(map[string]any)["tenantId"] != tenant {
		t.Fatalf("subscriptions: %v", m)
	}
	mustDo(t, srv, call{method: "GET", path: "/tenants?api-version=2022-12-01"}, 200)
}

// A type that declares an identity block gets a system-assigned principal
// with the resource, loses it with the resource, and attaches UAIs by ID
// (issue 5, rule ID-1).
func TestIdentityBlock(t *testing.T) {
	t.Parallel()
	st := memory.New()
	dir := directory.New(st)
	ctx := t.Context()
	dir.PutTenant(ctx, directory.Tenant{ID: tenant})
	dir.PutSubscription(ctx, directory.Subscription{ID: sub, TenantID: tenant, State: "Enabled"})
	reg := arm.NewRegistry()
	(&identity.Provider{}).Register(reg)
	reg.Register(&arm.ResourceType{Namespace: "Microsoft.Test", Path: "things", APIVersions: []string{"2024-01-01"}, Tracked: true, Identity: arm.IdentityStandard})
	reg.Register(&arm.ResourceType{Namespace: "Microsoft.Test", Path: "registries", APIVersions: []string{"2024-01-01"}, Tracked: true, Identity: arm.IdentityACR})
	cleaned := []string{}
	srv := httptest.NewServer(arm.New(arm.Config{Store: st, Directory: dir, Registry: reg, DefaultTenant: tenant,
		PrincipalCleanup: func(_ context.Context, _ store.Tx, oid string) error { cleaned = append(cleaned, oid); return nil }}))
	defer srv.Close()
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	uai := mustDo(t, srv, call{method: "PUT", path: uaiPath + "uai1?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
	uaiID := uai["id"].(string)
	thing := "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.Test/things/t1?api-version=2024-01-01"
	m := mustDo(t, srv, call{method: "PUT", path: thing, body: `{"location":"eastus","identity":{"type":"systemassigned"}}`}, 200)
	idb := m["identity"].(map[string]any)
	pid, _ := idb["principalId"].(string)
	if idb["type"] != "SystemAssigned" || pid == "" || idb["tenantId"] != tenant {
		t.Fatalf("system-assigned: %v", idb)
	}
	p, err := dir.Principal(ctx, pid)
	if err != nil || !p.SystemAssigned || !strings.HasSuffix(p.ResourceID, "/things/t1") {
		t.Fatalf("principal: %v %+v", err, p)
	}
	// SAI + UAI: the SAI is kept, the UAI filled in.
	m = mustDo(t, srv, call{method: "PUT", path: thing, body: `{"location":"eastus","identity":{"type":"SystemAssigned,UserAssigned","userAssignedIdentities":{"` + uaiID + `":{}}}}`}, 200)
	idb = m["identity"].(map[string]any)
	u := idb["userAssignedIdentities"].(map[string]any)[uaiID].(map[string]any)
	if idb["principalId"] != pid || u["clientId"] != uai["properties"].(map[string]any)["clientId"] {
		t.Fatalf("system+user: %v", idb)
	}
	// A missing UAI is refused.
	_, em, _ := do(t, srv, call{method: "PUT", path: thing, body: `{"location":"eastus","identity":{"type":"UserAssigned","userAssignedIdentities":{"` + uaiPath + `ghost1":{}}}}`})
	if errCode(em) != "FailedIdentityOperation" {
		t.Fatalf("missing UAI: %v", em)
	}
	// Bad type.
	_, em, _ = do(t, srv, call{method: "PUT", path: thing, body: `{"location":"eastus","identity":{"type":"Magic"}}`})
	if errCode(em) != "InvalidIdentityType" {
		t.Fatalf("bad type: %v", em)
	}
	// Dropping the SAI deletes its principal (and runs the cleanup hook).
	mustDo(t, srv, call{method: "PUT", path: thing, body: `{"location":"eastus","identity":{"type":"UserAssigned","userAssignedIdentities":{"` + uaiID + `":{}}}}`}, 200)
	if _, err := dir.Principal(ctx, pid); err == nil || len(cleaned) == 0 || cleaned[len(cleaned)-1] != pid {
		t.Fatalf("SAI principal must be gone: %v %v", err, cleaned)
	}
	// ACR spells the combined type with a space.
	reg2 := "/subscriptions/" + sub + "/resourceGroups/rg1/providers/Microsoft.Test/registries/r1?api-version=2024-01-01"
	m = mustDo(t, srv, call{method: "PUT", path: reg2, body: `{"location":"eastus","identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"` + uaiID + `":{}}}}`}, 200)
	rid := m["identity"].(map[string]any)
	if rid["type"] != "SystemAssigned, UserAssigned" {
		t.Fatalf("ACR spelling: %v", rid)
	}
	// Deleting the resource deletes its SAI.
	mustDo(t, srv, call{method: "DELETE", path: reg2}, 200)
	if _, err := dir.Principal(ctx, rid["principalId"].(string)); err == nil {
		t.Fatal("SAI must be deleted with its resource")
	}
}

func TestListByResourceGroup(t *testing.T) {
	t.Parallel()
	srv := newARM(t)
	mustDo(t, srv, call{method: "PUT", path: rgPath + "?api-version=2021-04-01", body: `{"location":"eastus"}`}, 201)
	mustDo(t, srv, call{method: "PUT", path: uaiPath + "one?api-version=2023-01-31", body: `{"location":"eastus"}`}, 201)
	m := mustDo(t, srv, call{method: "GET", path: "/subscriptions/" + sub + "/resourceGroups/RG1/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31"}, 200)
	if v := m["value"].([]any); len(v) != 1 {
		t.Fatalf("list by group: %v", m)
	}
}
