package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
)

// Lists longer than a page (100) walk with the SDKs' pagers and the CLI:
// armmsi by group and by subscription, the generic resources list, role
// assignments (armauthorization), each item exactly once (issue 23).
func TestSDKListsPageByNextLink(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	sub := in.State.SubscriptionID
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	rgc, _ := armresources.NewResourceGroupsClient(sub, cred, in.armOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "pages", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	ids, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred, in.armOptions())
	ra, _ := armauthorization.NewRoleAssignmentsClient(sub, cred, in.armOptions())
	const n = 130
	principals := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				id, err := ids.CreateOrUpdate(ctx, "pages", fmt.Sprintf("uai-%03d", i), armmsi.Identity{Location: to.Ptr("eastus")}, nil)
				if err != nil {
					errs <- err
					return
				}
				principals[i] = *id.Properties.PrincipalID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + sub + "/resourceGroups/pages"
	reader := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	for i, p := range principals {
		if _, err := ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(p), RoleDefinitionID: to.Ptr(reader), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
			t.Fatalf("assignment %d: %v", i, err)
		}
	}

	check := func(what string, names []string, pages int) {
		t.Helper()
		seen := map[string]int{}
		for _, name := range names {
			seen[strings.ToLower(name)]++
		}
		for i := range n {
			if name := fmt.Sprintf("uai-%03d", i); seen[name] != 1 {
				t.Fatalf("%s: %s listed %d times (%d items in %d pages)", what, name, seen[name], len(names), pages)
			}
		}
		if pages < 2 {
			t.Fatalf("%s: %d items in %d page(s), want more than one page", what, len(names), pages)
		}
	}
	var names []string
	pages := 0
	for pg := ids.NewListByResourceGroupPager("pages", nil); pg.More(); pages++ {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Value {
			names = append(names, *v.Name)
		}
	}
	check("identities by group", names, pages)
	names, pages = nil, 0
	for pg := ids.NewListBySubscriptionPager(nil); pg.More(); pages++ {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Value {
			names = append(names, *v.Name)
		}
	}
	check("identities by subscription", names, pages)
	rc, _ := armresources.NewClient(sub, cred, in.armOptions())
	names, pages = nil, 0
	for pg := rc.NewListByResourceGroupPager("pages", nil); pg.More(); pages++ {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Value {
			names = append(names, *v.Name)
		}
	}
	check("generic resources", names, pages)
	held := map[string]bool{}
	for _, p := range principals {
		held[p] = true
	}
	count, pages := 0, 0
	for pg := ra.NewListForScopePager(scope, nil); pg.More(); pages++ {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Value {
			if held[*v.Properties.PrincipalID] {
				count++
			}
		}
	}
	if count != n || pages < 2 {
		t.Fatalf("role assignments: %d of %d in %d pages", count, n, pages)
	}
	// The CLI follows nextLink too.
	cfg := t.TempDir()
	out := in.mustCLI(cfg, "identity", "list", "-g", "pages", "--query", "[].name", "-o", "tsv")
	check("amlid identity list", strings.Fields(out), 2)
}

// Graph collections page with $top and @odata.nextLink ($skiptoken): every
// user once, no page over $top; an edited $skiptoken, or one replayed on
// another collection, is 400.
func TestGraphListsPage(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	hc := in.httpClient()
	call := func(method, url, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	const n = 7
	for i := range n {
		if st, m := call("POST", in.State.GraphURL+"/v1.0/users", fmt.Sprintf(`{"accountEnabled":true,"displayName":"u%d","userPrincipalName":"u%d@amlid.onmicrosoft.com","mailNickname":"u%d","passwordProfile":{"password":"Secr3t-pass!%d"}}`, i, i, i, i)); st != 201 {
			t.Fatalf("create user %d: %d %v", i, st, m)
		}
	}
	seen := map[string]int{}
	pages := 0
	var firstNext string
	for next := in.State.GraphURL + "/v1.0/users?$top=2"; next != ""; pages++ {
		st, m := call("GET", next, "")
		if st != 200 {
			t.Fatalf("GET %s: %d %v", next, st, m)
		}
		items := m["value"].([]any)
		if len(items) > 2 {
			t.Fatalf("page of %d users with $top=2", len(items))
		}
		for _, it := range items {
			seen[it.(map[string]any)["userPrincipalName"].(string)]++
		}
		next, _ = m["@odata.nextLink"].(string)
		if pages == 0 {
			firstNext = next
		}
	}
	for i := range n {
		if upn := fmt.Sprintf("u%d@amlid.onmicrosoft.com", i); seen[upn] != 1 {
			t.Fatalf("%s listed %d times in %d pages: %v", upn, seen[upn], pages, seen)
		}
	}
	u, _ := url.Parse(firstNext)
	q := u.Query()
	skip := []byte(q.Get("$skiptoken"))
	skip[len(skip)/2] ^= 1
	q.Set("$skiptoken", string(skip))
	u.RawQuery = q.Encode()
	if st, m := call("GET", u.String(), ""); st != 400 {
		t.Fatalf("tampered $skiptoken: %d %v", st, m)
	}
	other, _ := url.Parse(strings.Replace(firstNext, "/v1.0/users", "/v1.0/groups", 1))
	if st, m := call("GET", other.String(), ""); st != 400 {
		t.Fatalf("a users $skiptoken on groups: %d %v", st, m)
	}
}
