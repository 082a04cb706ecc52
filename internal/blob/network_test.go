package blob_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/testenv"
	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
)

// TestNetworkRules: networkAcls with defaultAction Deny (rule DS-8).
func TestNetworkRules(t *testing.T) {
	t.Parallel()
	wsID := func(e *testenv.Env, name string) string {
		return "/subscriptions/" + e.Sub() + "/resourceGroups/" + e.RG + "/providers/Microsoft.MachineLearningServices/workspaces/" + name
	}
	var trusted string // object ID the TrustedService hook recognises
	e := testenv.NewStorage(t, testenv.Options{Blob: func(c *blob.Config) {
		c.LoopbackAs = netip.MustParseAddr("203.0.113.7")
		c.TrustedService = func(ctx context.Context, c *token.Claims) bool {
			return c.ObjectID == trusted
		}
	}})
	ctx := t.Context()
	// Managed identities: a workspace's system-assigned identity, and
	// another resource's.
	mi := func(resourceID string) (*directory.Principal, string) {
		p := &directory.Principal{TenantID: e.Tenant(), Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeManagedIdentity,
			DisplayName: "mi", AppID: uuid.NewString(), ResourceID: resourceID, SystemAssigned: true}
		must(t, e.S.Directory.CreatePrincipal(ctx, p))
		tok, err := e.S.Tokens.IssueAccessToken(ctx, p, "https://storage.azure.com/")
		must(t, err)
		return p, tok.Token
	}
	wsMI, wsTok := mi(wsID(e, "ws1"))
	otherMI, otherTok := mi(wsID(e, "ws2"))
	trustedMI, trustedTok := mi("/subscriptions/" + e.Sub() + "/resourceGroups/" + e.RG + "/providers/Microsoft.MachineLearningServices/workspaces/trusted")
	trusted = trustedMI.ObjectID
	for _, p := range []*directory.Principal{wsMI, otherMI, trustedMI} {
		e.Grant(p.ObjectID, testenv.RoleStorageBlobDataReader, "/subscriptions/"+e.Sub())
	}

	mk := func(name string, acls map[string]any) string {
		e.CreateAccount(name, map[string]any{"networkAcls": acls})
		key := e.AccountKey(name)
		// The container is made while the rules allow it (through ARM, which
		// the firewall does not guard).
		st, body := e.ARM(e.Admin, http.MethodPut, e.AccountPath(name)+"/blobServices/default/containers/box", testenv.StorageAPIVersion, map[string]any{})
		testenv.MustStatus(t, "ARM container create", st, http.StatusCreated, body)
		return key
	}
	get := func(account string, hdr map[string]string, query string) (int, http.Header, string) {
		return rawDo(t, e, http.MethodGet, "/"+account+"/box?restype=container&comp=list"+query, hdr, nil)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	t.Run("deny without rules", func(t *testing.T) {
		key := mk("denyall", map[string]any{"defaultAction": "Deny", "bypass": "None"})
		s := accountSAS(t, "denyall", key, allPerms, allTypes)
		st, hdr, body := get("denyall", nil, "&"+s)
		if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthorizationFailure" {
			t.Fatalf("deny: %d %s %s", st, hdr.Get("x-ms-error-code"), body)
		}
		for _, want := range []string{"DS-8", "defaultAction Deny", "203.0.113.7", "ipRules"} {
			if !strings.Contains(body, want) {
				t.Errorf("message lacks %q: %s", want, body)
			}
		}
		// Even a workspace identity with a data role is refused: no rule
		// names it.
		if st, hdr, _ := get("denyall", bearer(wsTok), ""); st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthorizationFailure" {
			t.Fatalf("MI without a rule: %d %s", st, hdr.Get("x-ms-error-code"))
		}
		// A bad credential behind the firewall still sees the firewall.
		if st, hdr, _ := get("denyall", bearer("garbage"), ""); st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthorizationFailure" {
			t.Fatalf("bad token behind the firewall: %d %s", st, hdr.Get("x-ms-error-code"))
		}
	})
	t.Run("IP rule: loopback counts as the configured public IP", func(t *testing.T) {
		key := mk("iprule", map[string]any{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "203.0.113.0/24", "action": "Allow"}}})
		s := accountSAS(t, "iprule", key, allPerms, allTypes)
		if st, _, body := get("iprule", nil, "&"+s); st != http.StatusOK {
			t.Fatalf("allowed IP: %d %s", st, body)
		}
		key = mk("ipother", map[string]any{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "198.51.100.4"}}})
		s = accountSAS(t, "ipother", key, allPerms, allTypes)
		if st, _, body := get("ipother", nil, "&"+s); st != http.StatusForbidden || !strings.Contains(body, "198.51.100.4") {
			t.Fatalf("other IP: %d %s", st, body)
		}
	})
	t.Run("resource access rule lets a workspace identity in", func(t *testing.T) {
		mk("resrule", map[string]any{"defaultAction": "Deny", "bypass": "None",
			"resourceAccessRules": []any{map[string]any{"tenantId": e.Tenant(), "resourceId": "/subscriptions/" + e.Sub() + "/resourcegroups/" + e.RG + "/providers/Microsoft.MachineLearningServices/workspaces/ws1"}}})
		if st, _, body := get("resrule", bearer(wsTok), ""); st != http.StatusOK {
			t.Fatalf("ws1 identity: %d %s", st, body)
		}
		st, _, body := get("resrule", bearer(otherTok), "")
		if st != http.StatusForbidden || !strings.Contains(body, "matches no resourceAccessRules") {
			t.Fatalf("ws2 identity: %d %s", st, body)
		}
		// Wildcards cover every workspace of the group.
		mk("reswild", map[string]any{"defaultAction": "Deny",
			"resourceAccessRules": []any{map[string]any{"tenantId": e.Tenant(), "resourceId": "/subscriptions/" + e.Sub() + "/resourceGroups/*/providers/Microsoft.MachineLearningServices/workspaces/*"}}})
		if st, _, body := get("reswild", bearer(otherTok), ""); st != http.StatusOK {
			t.Fatalf("wildcard rule: %d %s", st, body)
		}
		// A rule of another tenant does not match.
		mk("restenant", map[string]any{"defaultAction": "Deny",
			"resourceAccessRules": []any{map[string]any{"tenantId": e.NewTenant("fabrikam"), "resourceId": wsID(e, "ws1")}}})
		if st, _, _ := get("restenant", bearer(wsTok), ""); st != http.StatusForbidden {
			t.Fatalf("rule of another tenant: %d", st)
		}
	})
	t.Run("bypass AzureServices lets trusted services in", func(t *testing.T) {
		mk("bypassed", map[string]any{"defaultAction": "Deny", "bypass": "AzureServices"})
		if st, _, body := get("bypassed", bearer(trustedTok), ""); st != http.StatusOK {
			t.Fatalf("trusted service: %d %s", st, body)
		}
		if st, _, body := get("bypassed", bearer(wsTok), ""); st != http.StatusForbidden || !strings.Contains(body, "not one") {
			t.Fatalf("untrusted identity: %d %s", st, body)
		}
		mk("nobypass", map[string]any{"defaultAction": "Deny", "bypass": "Logging, Metrics"})
		if st, _, body := get("nobypass", bearer(trustedTok), ""); st != http.StatusForbidden || !strings.Contains(body, "bypass is 'Logging, Metrics'") {
			t.Fatalf("trusted service without bypass: %d %s", st, body)
		}
	})
	t.Run("publicNetworkAccess Disabled", func(t *testing.T) {
		e.CreateAccount("private", map[string]any{"publicNetworkAccess": "Disabled"})
		key := e.AccountKey("private")
		s := accountSAS(t, "private", key, allPerms, allTypes)
		if st, hdr, body := rawDo(t, e, http.MethodGet, "/private?comp=list&"+s, nil, nil); st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthorizationFailure" || !strings.Contains(body, "publicNetworkAccess") {
			t.Fatalf("private account: %d %s", st, body)
		}
	})
	t.Run("invalid rules are refused by ARM", func(t *testing.T) {
		for _, acls := range []map[string]any{
			{"defaultAction": "Maybe"},
			{"defaultAction": "Deny", "bypass": "Everything"},
			{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "not-an-ip"}}},
			{"defaultAction": "Deny", "ipRules": []any{map[string]any{"value": "2001:db8::1"}}},
			{"defaultAction": "Deny", "resourceAccessRules": []any{map[string]any{"tenantId": "x", "resourceId": "/subscriptions/s"}}},
		} {
			st, body := e.ARM(e.Admin, http.MethodPut, e.AccountPath("badacls"), testenv.StorageAPIVersion,
				map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}, "properties": map[string]any{"networkAcls": acls}})
			if st != http.StatusBadRequest || !strings.Contains(jsonString(body), "NetworkAclsValidationFailure") {
				t.Errorf("%v: %d %v", acls, st, body)
			}
		}
	})
}
