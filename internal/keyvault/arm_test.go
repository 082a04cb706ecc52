package keyvault_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/amlid/amlid/internal/azurehost"
	"github.com/amlid/amlid/internal/directory"
	"github.com/google/uuid"
)

// Vault lifecycle through armkeyvault: create, show, list, update, the
// global name, soft delete to deleted vaults, recover with createMode,
// purge, and purge protection.
func TestARMVaultLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	ctx := t.Context()
	vc := e.vaults(e.admin)
	uri := e.createVault("kv-life", true)
	if !strings.HasPrefix(uri, "https://127.0.0.1:") {
		t.Fatalf("vaultUri %s", uri)
	}
	got, err := vc.Get(ctx, e.rg, "kv-life", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Properties
	if *p.VaultURI != uri || !*p.EnableRbacAuthorization || !*p.EnableSoftDelete || *p.SoftDeleteRetentionInDays != 90 || *p.TenantID != e.tenant() {
		t.Fatalf("properties %+v", p)
	}
	n := 0
	for pg := vc.NewListBySubscriptionPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("listed %d vaults", n)
	}
	// Vault names are global.
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourcegroups/rg2", "2021-04-01", map[string]any{"location": "eastus"}, 201)
	body := map[string]any{"location": "eastus", "properties": map[string]any{"tenantId": e.tenant(), "sku": map[string]any{"family": "A", "name": "standard"}}}
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv-life", "2022-07-01", body, 409)
	// Bad input: clear 400s.
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv-bad", "2022-07-01",
		map[string]any{"location": "eastus", "properties": map[string]any{"tenantId": e.tenant(), "sku": map[string]any{"name": "gold"}}}, 400)
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/-x", "2022-07-01", body, 400)
	e.armDo(e.admin, http.MethodPut, "/subscriptions/"+e.sub()+"/resourceGroups/rg2/providers/Microsoft.KeyVault/vaults/kv-bad", "2022-07-01",
		map[string]any{"location": "eastus", "properties": map[string]any{"tenantId": e.tenant(), "sku": map[string]any{"name": "standard"}, "softDeleteRetentionInDays": 3}}, 400)
	// PATCH keeps the rest (and vaultUri).
	e.armDo(e.admin, http.MethodPatch, e.vaultID("kv-life"), "2022-07-01", map[string]any{"properties": map[string]any{"enablePurgeProtection": true}}, 200)
	got, _ = vc.Get(ctx, e.rg, "kv-life", nil)
	if !*got.Properties.EnablePurgeProtection || *got.Properties.VaultURI != uri {
		t.Fatalf("after patch %+v", got.Properties)
	}
	e.armDo(e.admin, http.MethodPatch, e.vaultID("kv-life"), "2022-07-01", map[string]any{"properties": map[string]any{"enablePurgeProtection": false}}, 400)

	// A secret survives delete + recover of its vault.
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-life"))
	sc := e.secrets(uri, e.admin)
	if _, err := sc.SetSecret(ctx, "keep", azsecrets.SetSecretParameters{Value: to("me")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Delete(ctx, e.rg, "kv-life", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.GetSecret(ctx, "keep", "", nil); err == nil {
		t.Fatal("a deleted vault still serves secrets")
	}
	var deleted []*armkeyvault.DeletedVault
	for pg := vc.NewListDeletedPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted = append(deleted, page.Value...)
	}
	if len(deleted) != 1 || *deleted[0].Name != "kv-life" || !*deleted[0].Properties.PurgeProtectionEnabled ||
		!strings.EqualFold(*deleted[0].Properties.VaultID, e.vaultID("kv-life")) {
		t.Fatalf("deleted vaults %+v", deleted)
	}
	if _, err := vc.GetDeleted(ctx, "kv-life", "eastus", nil); err != nil {
		t.Fatal(err)
	}
	// The name stays taken while deleted.
	e.armDo(e.admin, http.MethodPut, e.vaultID("kv-life"), "2022-07-01", body, 409)
	// Purge protection refuses the purge.
	pp, err := vc.BeginPurgeDeleted(ctx, "kv-life", "eastus", nil)
	if err == nil {
		_, err = pp.PollUntilDone(ctx, nil)
	}
	if err == nil || !strings.Contains(err.Error(), "purge protection") {
		t.Fatalf("purge of a protected vault: %v", err)
	}
	// Recover: same properties, same port, secrets back.
	recovered := e.armDo(e.admin, http.MethodPut, e.vaultID("kv-life"), "2024-11-01",
		map[string]any{"location": "eastus", "properties": map[string]any{"createMode": "recover"}}, 200)
	if props := recovered["properties"].(map[string]any); props["vaultUri"] != uri || props["enableRbacAuthorization"] != true {
		t.Fatalf("recovered %v", props)
	}
	if g, err := sc.GetSecret(ctx, "keep", "", nil); err != nil || *g.Value != "me" {
		t.Fatalf("secret after vault recovery: %v", err)
	}

	// A vault without purge protection is purged; the name is free again.
	e.createVault("kv-gone", false)
	if _, err := vc.Delete(ctx, e.rg, "kv-gone", nil); err != nil {
		t.Fatal(err)
	}
	pp, err = vc.BeginPurgeDeleted(ctx, "kv-gone", "eastus", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.GetDeleted(ctx, "kv-gone", "eastus", nil); err == nil {
		t.Fatal("purged vault still listed")
	}
	e.createVault("kv-gone", false)

	// Contributor manages the vault but reads no secret (RBAC-2); Reader
	// cannot write the vault.
	reader := e.newApp("reader", "")
	e.grant(reader.ObjectID, "acdd72a7-3385-48ef-bd42-f606fba81ae7", "/subscriptions/"+e.sub())
	e.armDo(reader, http.MethodPatch, e.vaultID("kv-gone"), "2022-07-01", map[string]any{"tags": map[string]any{"a": "b"}}, 403)
}

// The challenge both SDKs parse, the vault's tenant, and token checks.
func TestChallengeAndTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	uri := e.createVault("kv-chal", true)
	get := func(tok, path string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(uri, "/")+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp, m
	}
	resp, body := get("", "/secrets?api-version=7.4")
	want := `Bearer authorization="` + e.s.State.AuthorityHost + `/adfs", authorization_uri="` + e.s.State.AuthorityHost + "/" + e.tenant() + `", resource="https://vault.azure.net"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("challenge %d %q\nwant %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	if body["error"].(map[string]any)["code"] != "Unauthorized" {
		t.Fatalf("body %v", body)
	}
	// A token for another audience (ARM) is refused, rule ID-2.
	armTok, _ := e.cred(e.admin).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	resp, body = get(armTok.Token, "/secrets?api-version=7.4")
	if resp.StatusCode != 401 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "ID-2") {
		t.Fatalf("wrong audience: %d %v", resp.StatusCode, body)
	}
	// A token from another tenant never opens the vault, rule ID-4.
	other := uuid.NewString()
	if err := e.s.Directory.PutTenant(t.Context(), directory.Tenant{ID: other, DisplayName: "Fabrikam", DefaultDomain: "fabrikam.test"}); err != nil {
		t.Fatal(err)
	}
	stranger := e.newApp("stranger", other)
	tok, err := e.cred(stranger).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = get(tok.Token, "/secrets?api-version=7.4")
	if resp.StatusCode != 401 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "ID-4") {
		t.Fatalf("cross-tenant: %d %v", resp.StatusCode, body)
	}
	// Missing api-version and unknown paths are 400s, never 5xx.
	vt, _ := e.cred(e.admin).GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	for _, p := range []string{"/secrets", "/keys/k?api-version=7.4", "/secrets/bad_name?api-version=7.4", "/secrets?api-version=2010-01-01"} {
		if resp, _ := get(vt.Token, p); resp.StatusCode != 400 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// Firewall: defaultAction Deny without a matching rule refuses, naming
	// the address; an ipRules entry for loopback lets the caller in.
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-chal"))
	if resp, _ := get(vt.Token, "/secrets?api-version=7.4&maxresults=500"); resp.StatusCode != 400 {
		t.Errorf("maxresults=500: %d", resp.StatusCode)
	}
	e.armDo(e.admin, http.MethodPatch, e.vaultID("kv-chal"), "2022-07-01", map[string]any{"properties": map[string]any{
		"networkAcls": map[string]any{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "10.0.0.0/8"}}}}}, 200)
	resp, body = get(vt.Token, "/secrets?api-version=7.4")
	if resp.StatusCode != 403 || body["error"].(map[string]any)["innererror"].(map[string]any)["code"] != "ForbiddenByFirewall" {
		t.Fatalf("firewall: %d %v", resp.StatusCode, body)
	}
	e.armDo(e.admin, http.MethodPatch, e.vaultID("kv-chal"), "2022-07-01", map[string]any{"properties": map[string]any{
		"networkAcls": map[string]any{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "127.0.0.1"}}}}}, 200)
	if resp, body = get(vt.Token, "/secrets?api-version=7.4"); resp.StatusCode != 200 {
		t.Fatalf("allowed by ipRules: %d %v", resp.StatusCode, body)
	}
}

// Through the resource proxy a vault answers as {vault}.vault.azure.net,
// so the SDK works with challenge-resource verification left on, for both
// kinds of callers: `amlid keyvault proxy-env` ones, whose credentials name
// amlid's "adfs" authority (the challenge names it too), and
// `amlid env --azure-hostnames` ones (the proxy user azurehost.ProxyUser),
// whose credentials name the tenant by ID, as Azure's challenge does.
func TestProxyNameKeepsResourceVerification(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	e.createVault("kv-proxy", true)
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-proxy"))
	proxy, _ := url.Parse(e.s.State.VaultProxyURL)
	azureProxy, _ := url.Parse(azurehost.ProxyURL(e.s.State.VaultProxyURL))
	for _, tc := range []struct {
		name  string
		proxy *url.URL
		cred  azcore.TokenCredential
	}{
		{"proxy-env", proxy, e.cred(e.admin)},
		{"azure-hostnames", azureProxy, e.CredIn(e.admin, e.tenant())},
	} {
		opts := e.clientOptions()
		opts.Transport = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(tc.proxy), TLSClientConfig: e.http.Transport.(*http.Transport).TLSClientConfig}}
		c, err := azsecrets.NewClient("https://kv-proxy.vault.azure.net/", tc.cred, &azsecrets.ClientOptions{ClientOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		name := "via-" + tc.name
		set, err := c.SetSecret(t.Context(), name, azsecrets.SetSecretParameters{Value: to("ok")}, nil)
		if err != nil {
			t.Fatalf("%s: set through the proxy: %v", tc.name, err)
		}
		if !strings.HasPrefix(string(*set.ID), "https://kv-proxy.vault.azure.net/secrets/"+name+"/") {
			t.Fatalf("%s: secret ID %s", tc.name, *set.ID)
		}
		if g, err := c.GetSecret(t.Context(), name, "", nil); err != nil || *g.Value != "ok" {
			t.Fatalf("%s: get through the proxy: %v", tc.name, err)
		}
	}
	// The proxy reaches amlid's vaults only.
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}).Get("https://example.com/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the proxy tunnelled to a foreign host")
	}
}

// DefaultAzureCredential from `amlid env` (AZURE_TENANT_ID=adfs) with the
// Go SDK. Not parallel: azidentity reads the environment.
func TestGoDefaultAzureCredentialOnVault(t *testing.T) {
	e := newEnv(t, "")
	uri := e.createVault("kv-dac", true)
	e.grant(e.admin.ObjectID, roleSecretsOffice, e.vaultID("kv-dac"))
	t.Setenv("AZURE_TENANT_ID", "adfs")
	t.Setenv("AZURE_CLIENT_ID", e.admin.AppID)
	t.Setenv("AZURE_CLIENT_SECRET", e.admin.Secret)
	t.Setenv("AZURE_AUTHORITY_HOST", e.s.State.AuthorityHost+"/")
	opts := e.clientOptions()
	cred, err := newDefaultCred(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient(uri, cred, &azsecrets.ClientOptions{ClientOptions: opts, DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSecret(context.Background(), "dac", azsecrets.SetSecretParameters{Value: to("works")}, nil); err != nil {
		t.Fatalf("DefaultAzureCredential + azsecrets: %v", err)
	}
}
