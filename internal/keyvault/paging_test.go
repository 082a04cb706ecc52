package keyvault_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// azsecrets' pager walks a vault's secrets page by page ($skiptoken,
// 25 a page): every secret that lives through the walk is listed exactly
// once while others are set and deleted between pages; a tampered or
// invented $skiptoken is 400 BadParameter.
func TestSecretListPagingWhileWriting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	ctx := t.Context()
	ws := e.newApp("lister", "")
	uri := e.createVault("kv-pages", false, e.policy(ws.ObjectID, "get", "list", "set", "delete"))
	c := e.secrets(uri, ws)
	set := func(name string) {
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to("v")}, nil); err != nil {
			t.Fatalf("set %s: %v", name, err)
		}
	}
	live := map[string]bool{}
	for i := range 70 {
		name := fmt.Sprintf("s%03d", i*10)
		set(name)
		live[name] = true
	}
	stable := map[string]bool{}
	for k := range live {
		stable[k] = true
	}
	deletedUnseen := map[string]bool{}
	var seen []string
	pager := c.NewListSecretPropertiesPager(nil)
	var firstNext string
	for page := 0; pager.More(); page++ {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Value) > 25 {
			t.Fatalf("page of %d secrets", len(p.Value))
		}
		for _, s := range p.Value {
			seen = append(seen, s.ID.Name())
		}
		if page == 0 && p.NextLink != nil {
			firstNext = *p.NextLink
		}
		// Delete one secret already listed and one ahead; set one behind
		// the cursor and one ahead.
		for _, name := range []string{fmt.Sprintf("s%03d", page*10), fmt.Sprintf("s%03d", 690-page*10)} {
			if live[name] {
				if _, err := c.DeleteSecret(ctx, name, nil); err != nil {
					t.Fatal(err)
				}
				delete(live, name)
				delete(stable, name)
				if !slices.Contains(seen, name) {
					deletedUnseen[name] = true
				}
			}
		}
		set(fmt.Sprintf("s%03d", page*10+1))
		set(fmt.Sprintf("s%03d", 695-page*10))
	}
	count := map[string]int{}
	for _, name := range seen {
		if count[name]++; count[name] > 1 {
			t.Fatalf("%s listed twice", name)
		}
		if deletedUnseen[name] {
			t.Fatalf("%s listed after it was deleted", name)
		}
	}
	for name := range stable {
		if count[name] != 1 {
			t.Fatalf("%s lived through the walk but was listed %d times", name, count[name])
		}
	}
	if len(stable) < 50 || firstNext == "" {
		t.Fatalf("test setup: %d stable secrets, first nextLink %q", len(stable), firstNext)
	}

	tok, err := e.cred(ws).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	next, _ := url.Parse(firstNext)
	q := next.Query()
	skip := []byte(q.Get("$skiptoken"))
	skip[len(skip)/2] ^= 1
	for name, bad := range map[string]string{"tampered": string(skip), "an offset": "25", "invented": "AXMxMjM"} {
		q.Set("$skiptoken", bad)
		next.RawQuery = q.Encode()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Error.Code != "BadParameter" {
			t.Errorf("%s $skiptoken: %d %q, want 400 BadParameter", name, resp.StatusCode, body.Error.Code)
		}
	}
}
