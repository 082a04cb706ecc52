package rbac

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const (
	sub       = "/subscriptions/11111111-1111-1111-1111-111111111111"
	rg        = sub + "/resourceGroups/rg1"
	rgLower   = "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/RG1"
	otherRG   = sub + "/resourceGroups/rg2"
	storage   = rg + "/providers/Microsoft.Storage/storageAccounts/st1"
	container = storage + "/blobServices/default/containers/c1"
	storage2  = otherRG + "/providers/Microsoft.Storage/storageAccounts/st2"
	ws        = rg + "/providers/Microsoft.MachineLearningServices/workspaces/ws1"
	uai       = rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai1"
	acr       = rg + "/providers/Microsoft.ContainerRegistry/registries/acr1"

	actStorageWrite  = "Microsoft.Storage/storageAccounts/write"
	actStorageRead   = "Microsoft.Storage/storageAccounts/read"
	actStorageDelete = "Microsoft.Storage/storageAccounts/delete"
	actRAWrite       = "Microsoft.Authorization/roleAssignments/write"
	actBlobRead      = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
	actBlobWrite     = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
	actAcrPull       = "Microsoft.ContainerRegistry/registries/pull/read"
	actAssignUAI     = "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"
	customBlobLister = "0c0c0c0c-0000-4000-8000-000000000001"
	customStorageOps = "0c0c0c0c-0000-4000-8000-000000000002"
	customDeleter    = "0c0c0c0c-0000-4000-8000-000000000003"
)

func roleID(guid string) string {
	return sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

var assignSeq atomic.Int64

func asg(principal, role, scope string) Assignment {
	n := assignSeq.Add(1)
	return Assignment{
		Name:             fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", n),
		Scope:            scope,
		RoleDefinitionID: roleID(role),
		PrincipalID:      principal,
		PrincipalType:    "ServicePrincipal",
	}
}

func customRoles() []RoleDefinition {
	return []RoleDefinition{
		{ID: customBlobLister, RoleName: "Blob Lister", RoleType: CustomRole, AssignableScopes: []string{rg},
			Permissions: []Permission{{Actions: []string{actStorageRead}}}},
		{ID: customStorageOps, RoleName: "Storage Ops", RoleType: CustomRole, AssignableScopes: []string{"/"},
			Permissions: []Permission{{Actions: []string{"Microsoft.Storage/*"}, NotActions: []string{"microsoft.storage/storageaccounts/DELETE"}}}},
		{ID: customDeleter, RoleName: "Storage Deleter", RoleType: CustomRole, AssignableScopes: []string{sub},
			Permissions: []Permission{{Actions: []string{actStorageDelete}}}},
	}
}

// fixture: one principal per role under test.
func fixture(t testing.TB, padding int) *Engine {
	t.Helper()
	as := []Assignment{
		asg("p-contributor", ContributorRoleID, sub),
		asg("p-reader", ReaderRoleID, rg),
		asg("p-owner", OwnerRoleID, rg),
		asg("p-uaa", UserAccessAdministratorRoleID, sub),
		asg("p-ds", AzureMLDataScientistRoleID, ws),
		asg("p-acrpull", AcrPullRoleID, acr),
		asg("p-blobreader", StorageBlobDataReaderRoleID, storage),
		asg("p-mio", ManagedIdentityOperatorRoleID, uai),
		asg("g-blobcontrib", StorageBlobDataContributorRoleID, storage),
		asg("p-prefix", ReaderRoleID, "/subscriptions/a"),
		asg("p-root", ReaderRoleID, "/"),
		asg("p-lower", ContributorRoleID, rgLower),
		asg("p-child", StorageBlobDataOwnerRoleID, container),
		asg("p-storageops", customStorageOps, sub),
		asg("p-union", customStorageOps, sub),
		asg("p-union", customDeleter, rg),
		asg("p-lister", customBlobLister, rg),
	}
	// Padding pushes every principal over smallPrincipal, so the
	// ancestor-walk path is exercised with the same expectations.
	var all []Assignment
	for _, a := range as {
		all = append(all, a)
		for i := 0; i < padding; i++ {
			all = append(all, asg(a.PrincipalID, OwnerRoleID, fmt.Sprintf("/subscriptions/pad-%d-%s", i, a.PrincipalID)))
		}
	}
	e := &Engine{}
	if err := e.Load(append(BuiltinRoles(), customRoles()...), all); err != nil {
		t.Fatal(err)
	}
	return e
}

type checkCase struct {
	name      string
	principal string
	groups    []string
	action    string
	data      bool
	scope     string
	want      bool
	wantRole  string
}

var checkCases = []checkCase{
	// RBAC-2: Contributor.
	{"RBAC-2 Contributor can write a storage account", "p-contributor", nil, actStorageWrite, false, storage, true, "Contributor"},
	{"RBAC-2 Contributor cannot write role assignments", "p-contributor", nil, actRAWrite, false, storage, false, ""},
	{"RBAC-2 Contributor cannot delete role assignments", "p-contributor", nil, "Microsoft.Authorization/roleAssignments/delete", false, rg, false, ""},
	{"RBAC-2 Contributor can read role assignments", "p-contributor", nil, "Microsoft.Authorization/roleAssignments/read", false, rg, true, "Contributor"},
	{"RBAC-2 Contributor holds no data actions (blob read denied)", "p-contributor", nil, actBlobRead, true, container, false, ""},
	{"RBAC-2 Owner holds no data actions", "p-owner", nil, actBlobRead, true, container, false, ""},
	// Reader.
	{"RBAC-1 Reader reads everything (*/read)", "p-reader", nil, actStorageRead, false, storage, true, "Reader"},
	{"RBAC-1 Reader reads nested child resources", "p-reader", nil, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read", false, ws + "/onlineEndpoints/e/deployments/d", true, "Reader"},
	{"RBAC-1 Reader writes nothing", "p-reader", nil, actStorageWrite, false, storage, false, ""},
	{"RBAC-1 Reader deletes nothing", "p-reader", nil, actStorageDelete, false, storage, false, ""},
	{"RBAC-1 Reader cannot write role assignments", "p-reader", nil, actRAWrite, false, rg, false, ""},
	{"RBAC-1 Reader has no data actions", "p-reader", nil, actBlobRead, true, container, false, ""},
	// AzureML Data Scientist: workspaces/*/read.
	{"RBAC-1 workspaces/*/read matches nested children", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read", false, ws + "/onlineEndpoints/e/deployments/d", true, "AzureML Data Scientist"},
	{"RBAC-1 workspaces/*/read matches a direct child", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/jobs/read", false, ws + "/jobs/j1", true, "AzureML Data Scientist"},
	{"RBAC-1 workspaces/*/read does not match workspaces/read", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/read", false, ws, false, ""},
	{"RBAC-1 Data Scientist notActions subtract workspaces listKeys", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/listKeys/action", false, ws, false, ""},
	{"RBAC-1 Data Scientist notActions subtract computes/*/delete", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/computes/c1/delete", false, ws, false, ""},
	{"RBAC-1 Data Scientist may submit jobs", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/jobs/write", false, ws + "/jobs/j1", true, "AzureML Data Scientist"},
	{"RBAC-2 Data Scientist at workspace does not reach the resource group", "p-ds", nil, "Microsoft.MachineLearningServices/workspaces/jobs/read", false, rg, false, ""},
	// notActions and union.
	{"RBAC-1 notActions subtract (custom Storage Ops cannot delete)", "p-storageops", nil, actStorageDelete, false, storage, false, ""},
	{"RBAC-1 notActions are case-insensitive and still allow the rest", "p-storageops", nil, actStorageWrite, false, storage, true, "Storage Ops"},
	{"RBAC-1 notActions are not denies: another assignment grants", "p-union", nil, actStorageDelete, false, storage, true, "Storage Deleter"},
	{"RBAC-2 union: the deleter assignment at rg1 does not reach rg2", "p-union", nil, actStorageDelete, false, storage2, false, ""},
	// Inheritance (RBAC-2).
	{"RBAC-2 subscription assignment applies to a resource group", "p-contributor", nil, "Microsoft.Resources/subscriptions/resourceGroups/write", false, rg, true, "Contributor"},
	{"RBAC-2 subscription assignment applies to a child resource", "p-contributor", nil, "Microsoft.Storage/storageAccounts/blobServices/containers/write", false, container, true, "Contributor"},
	{"RBAC-2 resource group assignment applies to its resources", "p-reader", nil, actAcrPull, false, acr, true, "Reader"},
	{"RBAC-2 resource group assignment does not apply to another group", "p-reader", nil, actStorageRead, false, storage2, false, ""},
	{"RBAC-2 resource group assignment does not apply to the subscription", "p-reader", nil, actStorageRead, false, sub, false, ""},
	{"RBAC-2 child resource assignment applies to itself", "p-child", nil, actBlobWrite, true, container, true, "Storage Blob Data Owner"},
	{"RBAC-2 child resource assignment applies below it", "p-child", nil, actBlobWrite, true, container + "/blobs/x", true, "Storage Blob Data Owner"},
	{"RBAC-2 child resource assignment does not apply to its parent", "p-child", nil, actBlobWrite, true, storage, false, ""},
	{"RBAC-2 root assignment applies everywhere", "p-root", nil, actStorageRead, false, storage2, true, "Reader"},
	{"RBAC-2 root assignment applies at the root", "p-root", nil, actStorageRead, false, "/", true, "Reader"},
	{"RBAC-2 segment boundary: /subscriptions/a is not an ancestor of /subscriptions/ab", "p-prefix", nil, actStorageRead, false, "/subscriptions/ab", false, ""},
	{"RBAC-2 segment boundary: /subscriptions/a is an ancestor of /subscriptions/a/resourceGroups/x", "p-prefix", nil, actStorageRead, false, "/subscriptions/a/resourceGroups/x", true, "Reader"},
	{"RBAC-2 trailing slash on the target", "p-prefix", nil, actStorageRead, false, "/subscriptions/a/", true, "Reader"},
	{"RBAC-2 very deep target (string fallback)", "p-child", nil, actBlobWrite, true, container + strings.Repeat("/x/y", 30), true, "Storage Blob Data Owner"},
	{"RBAC-2 very deep target outside the scope", "p-child", nil, actBlobWrite, true, storage2 + strings.Repeat("/x/y", 30), false, ""},
	{"RBAC-2 target with an odd number of segments", "p-reader", nil, actStorageRead, false, storage + "/blobServices", true, "Reader"},
	// Case-insensitivity.
	{"RBAC-1 actions are case-insensitive", "p-contributor", nil, "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE", false, storage, true, "Contributor"},
	{"RBAC-1 notActions match case-insensitively (Authorization/*/Write)", "p-contributor", nil, "microsoft.authorization/roleassignments/WRITE", false, storage, false, ""},
	{"RBAC-2 scopes: resourcegroups target, resourceGroups assignment", "p-reader", nil, actStorageRead, false, strings.ToLower(storage), true, "Reader"},
	{"RBAC-2 scopes: resourceGroups target, resourcegroups assignment", "p-lower", nil, actStorageWrite, false, storage, true, "Contributor"},
	{"RBAC-2 scopes: upper-case target", "p-reader", nil, actStorageRead, false, strings.ToUpper(storage), true, "Reader"},
	{"RBAC-2 principal IDs are case-insensitive", "P-READER", nil, actStorageRead, false, storage, true, "Reader"},
	// Groups.
	{"RBAC-2 group membership grants via GroupIDs", "p-nobody", []string{"g-other", "g-blobcontrib"}, actBlobWrite, true, container, true, "Storage Blob Data Contributor"},
	{"RBAC-2 no group, no grant", "p-nobody", []string{"g-other"}, actBlobWrite, true, container, false, ""},
	{"RBAC-2 direct and group grants combine", "p-blobreader", []string{"g-blobcontrib"}, actBlobWrite, true, container, true, "Storage Blob Data Contributor"},
	// Custom role with assignable scopes.
	{"RBAC-1 custom role assigned within its assignable scope grants", "p-lister", nil, actStorageRead, false, storage, true, "Blob Lister"},
	// RBAC-3.
	{"RBAC-3 Owner can write role assignments", "p-owner", nil, actRAWrite, false, storage, true, "Owner"},
	{"RBAC-3 User Access Administrator can write role assignments", "p-uaa", nil, actRAWrite, false, storage, true, "User Access Administrator"},
	{"RBAC-3 User Access Administrator cannot write storage", "p-uaa", nil, actStorageWrite, false, storage, false, ""},
	{"RBAC-3 Managed Identity Operator may assign the identity", "p-mio", nil, actAssignUAI, false, uai, true, "Managed Identity Operator"},
	{"RBAC-3 Managed Identity Operator reads the identity", "p-mio", nil, "Microsoft.ManagedIdentity/userAssignedIdentities/*/read", false, uai, true, "Managed Identity Operator"},
	{"RBAC-3 Managed Identity Operator cannot delete the identity", "p-mio", nil, "Microsoft.ManagedIdentity/userAssignedIdentities/delete", false, uai, false, ""},
	{"RBAC-3 Contributor may assign an identity", "p-contributor", nil, actAssignUAI, false, uai, true, "Contributor"},
	{"RBAC-3 Reader may not assign an identity", "p-reader", nil, actAssignUAI, false, uai, false, ""},
	// ACR: pull is a regular action in AcrPull.
	{"RBAC-1 AcrPull grants registries/pull/read", "p-acrpull", nil, actAcrPull, false, acr, true, "AcrPull"},
	{"RBAC-1 AcrPull's pull is an action, not a data action", "p-acrpull", nil, actAcrPull, true, acr, false, ""},
	{"RBAC-1 AcrPull does not push", "p-acrpull", nil, "Microsoft.ContainerRegistry/registries/push/write", false, acr, false, ""},
	// Storage data roles.
	{"RBAC-1 Storage Blob Data Reader grants blobs/read", "p-blobreader", nil, actBlobRead, true, container + "/blobs/a.txt", true, "Storage Blob Data Reader"},
	{"RBAC-1 Storage Blob Data Reader does not grant blobs/write", "p-blobreader", nil, actBlobWrite, true, container, false, ""},
	{"RBAC-1 Storage Blob Data Reader: data action is not an action", "p-blobreader", nil, actBlobRead, false, container, false, ""},
	// Nothing.
	{"RBAC-4 unknown principal is denied", "p-unknown", nil, actStorageRead, false, storage, false, ""},
	{"RBAC-4 empty action is denied", "p-owner", nil, "", false, storage, false, ""},
}

func runCheckCases(t *testing.T, e *Engine) {
	for _, c := range checkCases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{PrincipalID: c.principal, GroupIDs: c.groups, Action: c.action, DataAction: c.data, Scope: c.scope}
			d := e.Check(req)
			if d.Allowed != c.want {
				t.Fatalf("Check(%+v).Allowed = %v, want %v; reason %q", req, d.Allowed, c.want, d.Reason())
			}
			if c.want {
				if d.Role == nil || d.Assignment == nil || d.Role.RoleName != c.wantRole {
					t.Fatalf("granted by %+v, want role %q", d.Role, c.wantRole)
				}
				if d.Reason() != "" {
					t.Errorf("allowed decision has Reason %q", d.Reason())
				}
				if x := d.Explain(req); !strings.Contains(x, c.wantRole) {
					t.Errorf("Explain = %q", x)
				}
				return
			}
			if d.Assignment != nil || d.Role != nil {
				t.Errorf("denied decision names an assignment/role")
			}
			for _, s := range []string{"'" + c.principal + "'", "'" + c.action + "'", "'" + c.scope + "'", "RBAC-4"} {
				if !strings.Contains(d.Reason(), s) {
					t.Errorf("Reason %q lacks %q", d.Reason(), s)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Run("small principals (list scan)", func(t *testing.T) { runCheckCases(t, fixture(t, 0)) })
	t.Run("large principals (ancestor walk)", func(t *testing.T) { runCheckCases(t, fixture(t, smallPrincipal+4)) })
}

func TestBuiltinRoles(t *testing.T) {
	roles := BuiltinRoles()
	if len(roles) != 16 {
		t.Fatalf("got %d built-in roles, want 16", len(roles))
	}
	want := map[string]string{
		"Owner": OwnerRoleID, "Contributor": ContributorRoleID, "Reader": ReaderRoleID,
		"User Access Administrator": UserAccessAdministratorRoleID, "AcrPull": AcrPullRoleID, "AcrPush": AcrPushRoleID,
		"Storage Blob Data Reader": StorageBlobDataReaderRoleID, "Storage Blob Data Contributor": StorageBlobDataContributorRoleID,
		"Storage Blob Data Owner": StorageBlobDataOwnerRoleID, "Storage Account Contributor": StorageAccountContributorRoleID,
		"Key Vault Administrator": KeyVaultAdministratorRoleID, "Key Vault Secrets Officer": KeyVaultSecretsOfficerRoleID,
		"Key Vault Secrets User": KeyVaultSecretsUserRoleID, "Managed Identity Operator": ManagedIdentityOperatorRoleID,
		"AzureML Data Scientist": AzureMLDataScientistRoleID, "AzureML Compute Operator": AzureMLComputeOperatorRoleID,
	}
	for _, r := range roles {
		t.Run("RBAC-1 "+r.RoleName, func(t *testing.T) {
			if want[r.RoleName] != r.ID {
				t.Errorf("GUID %q, want %q", r.ID, want[r.RoleName])
			}
			if r.RoleType != BuiltInRole || !slices.Equal(r.AssignableScopes, []string{"/"}) || len(r.Permissions) == 0 || r.Description == "" {
				t.Errorf("bad role %+v", r)
			}
			for _, p := range r.Permissions {
				if p.Actions == nil || p.NotActions == nil || p.DataActions == nil || p.NotDataActions == nil {
					t.Errorf("nil permission list in %+v", p)
				}
			}
			if g, ok := BuiltinRole(r.ID); !ok || g.RoleName != r.RoleName {
				t.Errorf("BuiltinRole(%s) = %v, %v", r.ID, g.RoleName, ok)
			}
			if g, ok := BuiltinRole(strings.ToUpper(roleID(r.ID))); !ok || g.ID != r.ID {
				t.Errorf("BuiltinRole(full upper-case ID) = %v, %v", g.ID, ok)
			}
			if g, ok := BuiltinRoleByName(strings.ToLower(r.RoleName)); !ok || g.ID != r.ID {
				t.Errorf("BuiltinRoleByName(lower) = %v, %v", g.ID, ok)
			}
		})
	}
	t.Run("RBAC-1 az --role acrpull resolves AcrPull", func(t *testing.T) {
		if r, ok := NewEngine().RoleByName("acrpull"); !ok || r.ID != AcrPullRoleID {
			t.Fatalf("RoleByName(acrpull) = %+v, %v", r, ok)
		}
	})
	t.Run("BuiltinRoles returns copies", func(t *testing.T) {
		BuiltinRoles()[0].Permissions[0].Actions[0] = "mutated"
		if BuiltinRoles()[0].Permissions[0].Actions[0] == "mutated" {
			t.Fatal("BuiltinRoles shares memory with the package")
		}
	})
	if _, ok := BuiltinRoleByName("Nope"); ok {
		t.Error("found a role named Nope")
	}
}

func TestMatchAction(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "anything/at/all", true},
		{"*", "", true},
		{"*/read", "Microsoft.Storage/storageAccounts/read", true},
		{"*/read", "Microsoft.Storage/storageAccounts/write", false},
		{"*/read", "read", false},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read", true},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/jobs/read", true},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/read", false},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/jobs/write", false},
		{"Microsoft.Authorization/*/Write", "microsoft.authorization/roleassignments/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/read", false},
		{"Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*", "Microsoft.AuthorizationX/roleAssignments/write", false},
		{"Microsoft.Storage/storageAccounts/read", "MICROSOFT.STORAGE/STORAGEACCOUNTS/READ", true},
		{"Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/readx", false},
		{"Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/rea", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*b*c", "acb", false},
		{"a*bc*bc", "abcbc", true},
		{"a*bc*bc", "abcb", false},
		{"a**b", "ab", true},
		{"*x*", "aXa", true},
		{"*x*", "aaa", false},
		{"ab*ba", "aba", false},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("RBAC-1 %s ~ %s", c.pattern, c.action), func(t *testing.T) {
			if got := MatchAction(c.pattern, c.action); got != c.want {
				t.Fatalf("MatchAction(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
			}
		})
	}
}

// TestMatchAgainstRegexp compares the glob matcher with the ".*" regexp
// definition on random strings over a small alphabet.
func TestMatchAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := "ab/*A"
	gen := func(n int, stars bool) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			c := alpha[rng.IntN(len(alpha))]
			if !stars && c == '*' {
				c = 'b'
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	for i := 0; i < 20000; i++ {
		p, a := gen(rng.IntN(7), true), gen(rng.IntN(9), false)
		if got, want := MatchAction(p, a), naiveMatch(strings.ToLower(p), strings.ToLower(a)); got != want {
			t.Fatalf("MatchAction(%q, %q) = %v, regexp semantics say %v", p, a, got, want)
		}
	}
}

// naiveMatch is the recursive definition of a ".*" glob.
func naiveMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if naiveMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && p[0] == s[0] && naiveMatch(p[1:], s[1:])
}

func TestScopes(t *testing.T) {
	anc := []struct {
		a, t string
		want bool
	}{
		{"/", sub, true},
		{"/", "/", true},
		{"", storage, true},
		{sub, sub, true},
		{sub, rg, true},
		{sub, container, true},
		{rg, storage, true},
		{rgLower, storage, true},
		{strings.ToUpper(rg), strings.ToLower(storage), true},
		{storage, container, true},
		{container, storage, false},
		{rg, sub, false},
		{"/subscriptions/a", "/subscriptions/ab", false},
		{"/subscriptions/a", "/subscriptions/a/resourceGroups/x", true},
		{"/subscriptions/a/", "/subscriptions/a", true},
		{rg, otherRG, false},
		{sub + "/resourceGroups/rg", rg, false},
	}
	for _, c := range anc {
		t.Run(fmt.Sprintf("RBAC-2 %s above %s", c.a, c.t), func(t *testing.T) {
			if got := IsAncestorOrSelf(c.a, c.t); got != c.want {
				t.Fatalf("IsAncestorOrSelf(%q, %q) = %v, want %v", c.a, c.t, got, c.want)
			}
		})
	}
	for in, want := range map[string]string{"": "/", "/": "/", "//": "/", rg + "/": strings.ToLower(rg), rgLower: strings.ToLower(rg), "subscriptions/X": "/subscriptions/x"} {
		if got := NormalizeScope(in); got != want {
			t.Errorf("NormalizeScope(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := Ancestors(rg), []string{strings.ToLower(rg), strings.ToLower(sub + "/resourceGroups"), strings.ToLower(sub), "/subscriptions", "/"}; !slices.Equal(got, want) {
		t.Errorf("Ancestors = %q, want %q", got, want)
	}
	for in, want := range map[string]string{container: storage + "/blobServices/default", storage: rg, rg: sub, sub: "/", "/": "", ws + "/onlineEndpoints/e": ws} {
		if got := ParentScope(in); got != want {
			t.Errorf("ParentScope(%q) = %q, want %q", in, got, want)
		}
	}
	for _, s := range []string{"/", sub, rg, rgLower, storage, container, storage + "/providers/Microsoft.Authorization/roleAssignments/x"} {
		if err := ValidateScope(s); err != nil {
			t.Errorf("ValidateScope(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "subscriptions/x", "/subscriptions", "/foo/bar", sub + "/resourceGroups", rg + "/providers/Microsoft.Storage", rg + "/providers/Microsoft.Storage/storageAccounts/st/child", sub + "//resourceGroups/x", sub + "/../x"} {
		if err := ValidateScope(s); !errors.Is(err, ErrInvalidScope) {
			t.Errorf("ValidateScope(%q) = %v, want ErrInvalidScope", s, err)
		}
	}
}

func TestValidateAssignment(t *testing.T) {
	e := fixture(t, 0)
	cases := []struct {
		name string
		a    Assignment
		want error
	}{
		{"RBAC-1 custom role at its assignable scope", asg("p-x", customBlobLister, rg), nil},
		{"RBAC-1 custom role below its assignable scope", asg("p-x", customBlobLister, storage), nil},
		{"RBAC-1 custom role above its assignable scope is rejected", asg("p-x", customBlobLister, sub), ErrScopeNotAssignable},
		{"RBAC-1 custom role beside its assignable scope is rejected", asg("p-x", customBlobLister, otherRG), ErrScopeNotAssignable},
		{"RBAC-1 custom role at a prefix-sibling scope is rejected", asg("p-x", customBlobLister, rg+"x"), ErrScopeNotAssignable},
		{"RBAC-1 custom role with / covers everything", asg("p-x", customStorageOps, "/"), nil},
		{"RBAC-1 built-in role assignable anywhere", asg("p-x", OwnerRoleID, container), nil},
		{"RBAC-1 role given as a bare GUID", Assignment{Name: "n1", Scope: rg, RoleDefinitionID: ReaderRoleID, PrincipalID: "p-x"}, nil},
		{"RBAC-1 unknown role is rejected", asg("p-x", "99999999-0000-0000-0000-000000000000", rg), ErrRoleNotFound},
		{"RBAC-2 duplicate principal+role+scope is rejected", asg("p-reader", ReaderRoleID, strings.ToLower(rg)), ErrAssignmentExists},
		{"RBAC-2 same role at another scope is fine", asg("p-reader", ReaderRoleID, storage), nil},
		{"invalid scope", asg("p-x", ReaderRoleID, "/nope"), ErrInvalidScope},
		{"no principal", asg("", ReaderRoleID, rg), ErrInvalidAssignment},
		{"no role", Assignment{Name: "n2", Scope: rg, PrincipalID: "p"}, ErrInvalidAssignment},
		{"no name", Assignment{Scope: rg, PrincipalID: "p", RoleDefinitionID: ReaderRoleID}, ErrInvalidAssignment},
		{"ID gives name and scope", Assignment{ID: rg + "/providers/Microsoft.Authorization/roleAssignments/n3", PrincipalID: "p", RoleDefinitionID: ReaderRoleID}, nil},
		{"ID and scope disagree", Assignment{ID: rg + "/providers/Microsoft.Authorization/roleAssignments/n4", Scope: sub, PrincipalID: "p", RoleDefinitionID: ReaderRoleID}, ErrInvalidAssignment},
		{"bad ID", Assignment{ID: rg + "/n5", PrincipalID: "p", RoleDefinitionID: ReaderRoleID}, ErrInvalidAssignment},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.ValidateAssignment(c.a)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("ValidateAssignment = %v, want %v", err, c.want)
			}
			if perr := e.PutAssignment(c.a); (perr == nil) != (err == nil) {
				t.Fatalf("PutAssignment = %v, ValidateAssignment = %v", perr, err)
			}
		})
	}
	t.Run("RBAC-1 message names the role, scope and assignable scopes", func(t *testing.T) {
		err := e.ValidateAssignment(asg("p-x", customBlobLister, sub))
		for _, s := range []string{"Blob Lister", sub, rg, "assignableScopes"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q lacks %q", err, s)
			}
		}
	})
	t.Run("RBAC-2 duplicate message is Azure's", func(t *testing.T) {
		err := e.ValidateAssignment(asg("p-reader", ReaderRoleID, rg))
		if err == nil || err.Error() != "The role assignment already exists." {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ID is filled in", func(t *testing.T) {
		a, ok := e.Assignment("n1")
		if !ok || a.ID != rg+"/providers/Microsoft.Authorization/roleAssignments/n1" {
			t.Fatalf("Assignment(n1) = %+v, %v", a, ok)
		}
		if a, ok := e.Assignment(rg + "/providers/Microsoft.Authorization/roleAssignments/N3"); !ok || a.Name != "n3" || a.Scope != trimScope(rg) {
			t.Fatalf("Assignment(n3) = %+v, %v", a, ok)
		}
	})
}

func TestDenialReason(t *testing.T) {
	e := fixture(t, 0)
	req := Request{PrincipalID: "p-contributor", Action: actBlobRead, DataAction: true, Scope: container}
	d := e.Check(req)
	want := "The client 'p-contributor' with object id 'p-contributor' does not have authorization to perform action '" + actBlobRead +
		"' over scope '" + container + "' or the scope is invalid. (rule RBAC-4) Roles that grant it: Storage Blob Data Reader, Storage Blob Data Contributor, Storage Blob Data Owner."
	t.Run("RBAC-4 denial lists the granting roles, least-privileged first", func(t *testing.T) {
		if !strings.HasPrefix(d.Reason(), want) {
			t.Fatalf("Reason =\n%s\nwant prefix\n%s", d.Reason(), want)
		}
		if !slices.Equal(d.GrantingRoles, []string{"Storage Blob Data Reader", "Storage Blob Data Contributor", "Storage Blob Data Owner"}) {
			t.Fatalf("GrantingRoles = %q", d.GrantingRoles)
		}
	})
	t.Run("RBAC-2 denial notes that Contributor holds no data actions", func(t *testing.T) {
		for _, s := range []string{"Contributor (at '" + sub + "')", "grant no data actions", "RBAC-2"} {
			if !strings.Contains(d.Reason(), s) {
				t.Errorf("Reason %q lacks %q", d.Reason(), s)
			}
		}
	})
	t.Run("RBAC-3 denial of a role assignment write cites RBAC-3 and RBAC-2", func(t *testing.T) {
		d := e.Check(Request{PrincipalID: "p-contributor", Action: actRAWrite, Scope: rg})
		for _, s := range []string{"(rules RBAC-3, RBAC-4)", "Roles that grant it: User Access Administrator, Owner.", "Contributor cannot write role assignments"} {
			if !strings.Contains(d.Reason(), s) {
				t.Errorf("Reason %q lacks %q", d.Reason(), s)
			}
		}
	})
	t.Run("RBAC-4 denial through a group names the group", func(t *testing.T) {
		d := e.Check(Request{PrincipalID: "p-nobody", GroupIDs: []string{"g-blobcontrib"}, Action: "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/deleteBlobVersion/action", DataAction: true, Scope: container})
		if d.Allowed || !strings.Contains(d.Reason(), "via group 'g-blobcontrib'") {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("RBAC-4 no role grants it", func(t *testing.T) {
		d := e.Check(Request{PrincipalID: "p", Action: "Microsoft.Nothing/x", DataAction: true, Scope: rg})
		if !strings.Contains(d.Reason(), "No role definition grants it.") || len(d.GrantingRoles) != 0 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("RBAC-4 custom roles are named when no built-in grants", func(t *testing.T) {
		e := fixture(t, 0)
		if err := e.PutRole(RoleDefinition{ID: "0c0c0c0c-0000-4000-8000-0000000000aa", RoleName: "Widget Reader", AssignableScopes: []string{"/"},
			Permissions: []Permission{{DataActions: []string{"Contoso.Widgets/read"}}}}); err != nil {
			t.Fatal(err)
		}
		d := e.Check(Request{PrincipalID: "p", Action: "Contoso.Widgets/read", DataAction: true, Scope: rg})
		if !slices.Equal(d.GrantingRoles, []string{"Widget Reader"}) {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("AuthorizationFailed message is ARM's", func(t *testing.T) {
		got := AuthorizationFailedMessage("oid", "Microsoft.X/y/write", "/subscriptions/s")
		want := "The client 'oid' with object id 'oid' does not have authorization to perform action 'Microsoft.X/y/write' over scope '/subscriptions/s' or the scope is invalid. If access was recently granted, please refresh your credentials."
		if got != want {
			t.Fatalf("got %q", got)
		}
	})
}

func TestGrantingRoles(t *testing.T) {
	e := NewEngine()
	names := func(rs []RoleDefinition) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.RoleName)
		}
		return out
	}
	cases := []struct {
		name   string
		action string
		data   bool
		want   []string
	}{
		{"RBAC-3 role assignment write", actRAWrite, false, []string{"User Access Administrator", "Owner"}},
		{"RBAC-3 assign a user-assigned identity", actAssignUAI, false, []string{"Managed Identity Operator", "Contributor", "Owner"}},
		{"RBAC-2 storage account write", actStorageWrite, false, []string{"Storage Account Contributor", "Contributor", "Owner"}},
		{"RBAC-1 blob read", actBlobRead, true, []string{"Storage Blob Data Reader", "Storage Blob Data Contributor", "Storage Blob Data Owner"}},
		{"RBAC-1 blob write", actBlobWrite, true, []string{"Storage Blob Data Contributor", "Storage Blob Data Owner"}},
		{"RBAC-1 acr pull", actAcrPull, false, []string{"AcrPull", "Reader", "AcrPush", "User Access Administrator", "Contributor", "Owner"}},
		{"RBAC-1 key vault secret", "Microsoft.KeyVault/vaults/secrets/getSecret/action", true, []string{"Key Vault Secrets User", "Key Vault Secrets Officer", "Key Vault Administrator"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := names(e.GrantingRoles(c.action, c.data)); !slices.Equal(got, c.want) {
				t.Fatalf("GrantingRoles(%s) = %q, want %q", c.action, got, c.want)
			}
		})
	}
	t.Run("storage account read: Reader before write-capable roles", func(t *testing.T) {
		got := names(e.GrantingRoles(actStorageRead, false))
		if got[0] != "Reader" || got[len(got)-1] != "Owner" {
			t.Fatalf("%q", got)
		}
	})
}

func TestEffectivePermissions(t *testing.T) {
	e := fixture(t, 0)
	t.Run("RBAC-2 one block per applicable assignment, most specific first", func(t *testing.T) {
		got := e.EffectivePermissions("p-union", nil, storage)
		if len(got) != 2 || !slices.Equal(got[0].Actions, []string{actStorageDelete}) || !slices.Equal(got[1].Actions, []string{"Microsoft.Storage/*"}) {
			t.Fatalf("%+v", got)
		}
		if got := e.EffectivePermissions("p-union", nil, storage2); len(got) != 1 {
			t.Fatalf("rg2: %+v", got)
		}
	})
	t.Run("RBAC-2 groups included", func(t *testing.T) {
		got := e.EffectivePermissions("p-blobreader", []string{"G-BLOBCONTRIB"}, container)
		if len(got) != 2 || got[0].DataActions == nil {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("none is an empty list", func(t *testing.T) {
		if got := e.EffectivePermissions("nobody", nil, rg); got == nil || len(got) != 0 {
			t.Fatalf("%#v", got)
		}
	})
	t.Run("AssignmentsFor", func(t *testing.T) {
		got := e.AssignmentsFor("p-union", nil, container)
		if len(got) != 2 || NormalizeScope(got[0].Scope) != strings.ToLower(rg) {
			t.Fatalf("%+v", got)
		}
	})
}

func TestRoleLifecycle(t *testing.T) {
	e := fixture(t, 0)
	ops := customRoles()[1]
	t.Run("RBAC-1 updating a custom role applies to existing assignments", func(t *testing.T) {
		req := Request{PrincipalID: "p-storageops", Action: actStorageDelete, Scope: storage}
		if e.Check(req).Allowed {
			t.Fatal("allowed before update")
		}
		upd := ops.Clone()
		upd.Permissions[0].NotActions = nil
		if err := e.PutRole(upd); err != nil {
			t.Fatal(err)
		}
		if !e.Check(req).Allowed {
			t.Fatal("denied after update")
		}
	})
	t.Run("RBAC-1 built-in roles cannot be changed or deleted", func(t *testing.T) {
		r, _ := BuiltinRole(ReaderRoleID)
		if err := e.PutRole(r); !errors.Is(err, ErrBuiltInRole) {
			t.Fatalf("PutRole = %v", err)
		}
		if err := e.DeleteRole(ReaderRoleID); !errors.Is(err, ErrBuiltInRole) {
			t.Fatalf("DeleteRole = %v", err)
		}
	})
	t.Run("role names are unique", func(t *testing.T) {
		err := e.PutRole(RoleDefinition{ID: "0c0c0c0c-0000-4000-8000-0000000000bb", RoleName: "storage OPS", AssignableScopes: []string{"/"}})
		if !errors.Is(err, ErrRoleNameExists) {
			t.Fatalf("PutRole = %v", err)
		}
	})
	t.Run("invalid roles", func(t *testing.T) {
		for _, r := range []RoleDefinition{
			{RoleName: "x", AssignableScopes: []string{"/"}},
			{ID: "0c0c0c0c-0000-4000-8000-0000000000cc", AssignableScopes: []string{"/"}},
			{ID: "0c0c0c0c-0000-4000-8000-0000000000cc", RoleName: "x"},
			{ID: "0c0c0c0c-0000-4000-8000-0000000000cc", RoleName: "x", AssignableScopes: []string{"nope"}},
			{ID: "0c0c0c0c-0000-4000-8000-0000000000cc", RoleName: "x", AssignableScopes: []string{"/"}, Permissions: []Permission{{Actions: []string{" "}}}},
			{ID: "0c0c0c0c-0000-4000-8000-0000000000cc", RoleName: "x", RoleType: "Weird", AssignableScopes: []string{"/"}},
		} {
			if err := e.PutRole(r); !errors.Is(err, ErrInvalidRole) {
				t.Errorf("PutRole(%+v) = %v", r, err)
			}
		}
	})
	t.Run("a role with assignments cannot be deleted", func(t *testing.T) {
		if err := e.DeleteRole(customStorageOps); !errors.Is(err, ErrRoleInUse) {
			t.Fatalf("DeleteRole = %v", err)
		}
	})
	t.Run("delete assignments, then the role", func(t *testing.T) {
		for _, a := range e.Assignments() {
			if RoleGUID(a.RoleDefinitionID) == customStorageOps {
				if !e.DeleteAssignment(a.ID) {
					t.Fatalf("DeleteAssignment(%s) = false", a.ID)
				}
			}
		}
		if e.DeleteAssignment("no-such") {
			t.Fatal("deleted a missing assignment")
		}
		if err := e.DeleteRole(roleID(customStorageOps)); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.Role(customStorageOps); ok {
			t.Fatal("role still there")
		}
		if err := e.DeleteRole(customStorageOps); !errors.Is(err, ErrRoleNotFound) {
			t.Fatalf("second DeleteRole = %v", err)
		}
		if e.Check(Request{PrincipalID: "p-storageops", Action: actStorageWrite, Scope: storage}).Allowed {
			t.Fatal("still allowed")
		}
	})
	t.Run("Load keeps assignments of unknown roles; defining the role activates them", func(t *testing.T) {
		e := &Engine{}
		a := asg("p", "0c0c0c0c-0000-4000-8000-0000000000dd", rg)
		if err := e.Load(BuiltinRoles(), []Assignment{a}); err != nil {
			t.Fatal(err)
		}
		req := Request{PrincipalID: "p", Action: "Contoso.X/read", Scope: storage}
		if d := e.Check(req); d.Allowed || !strings.Contains(d.Reason(), "unknown role") {
			t.Fatalf("%+v", d)
		}
		if err := e.PutRole(RoleDefinition{ID: "0c0c0c0c-0000-4000-8000-0000000000dd", RoleName: "X Reader", AssignableScopes: []string{"/"}, Permissions: []Permission{{Actions: []string{"Contoso.X/*"}}}}); err != nil {
			t.Fatal(err)
		}
		if !e.Check(req).Allowed {
			t.Fatal("denied after defining the role")
		}
	})
	t.Run("Load rejects duplicates and leaves the engine unchanged", func(t *testing.T) {
		n := e.Len()
		a := asg("p", ReaderRoleID, rg)
		if err := e.Load(BuiltinRoles(), []Assignment{a, a}); !errors.Is(err, ErrInvalidAssignment) {
			t.Fatalf("Load = %v", err)
		}
		if err := e.Load(append(BuiltinRoles(), BuiltinRoles()[0]), nil); !errors.Is(err, ErrInvalidRole) {
			t.Fatalf("Load = %v", err)
		}
		if e.Len() != n {
			t.Fatal("engine changed")
		}
	})
	t.Run("zero Engine denies and accepts writes", func(t *testing.T) {
		var z Engine
		if z.Check(Request{PrincipalID: "p", Action: "a", Scope: "/"}).Allowed || z.Len() != 0 || len(z.Roles()) != 0 {
			t.Fatal("zero engine")
		}
		if err := z.PutRole(customRoles()[1]); err != nil {
			t.Fatal(err)
		}
		if err := z.PutAssignment(asg("p", customStorageOps, rg)); err != nil {
			t.Fatal(err)
		}
		if !z.Check(Request{PrincipalID: "p", Action: actStorageWrite, Scope: storage}).Allowed {
			t.Fatal("denied")
		}
	})
}

// TestCheckAgainstNaive compares Check with a brute-force evaluation of the
// rules over random assignments, scopes and actions, through both the list
// and the map paths and through incremental updates.
func TestCheckAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	roles := append(BuiltinRoles(), customRoles()...)
	for i := len(roles) - 3; i < len(roles); i++ {
		roles[i].AssignableScopes = []string{"/"}
	}
	scopes := []string{"/", sub, "/subscriptions/S2", rg, strings.ToUpper(rg), otherRG, storage, storage2, container, ws, uai, acr, "/subscriptions/a", "/subscriptions/ab"}
	actions := []struct {
		a string
		d bool
	}{{actStorageWrite, false}, {actStorageRead, false}, {actStorageDelete, false}, {actRAWrite, false}, {actBlobRead, true}, {actBlobWrite, true},
		{actAcrPull, false}, {actAssignUAI, false}, {"Microsoft.MachineLearningServices/workspaces/jobs/write", false}, {"Microsoft.MachineLearningServices/workspaces/write", false}}
	principals := []string{"p0", "p1", "p2", "P3", "g0", "g1"}
	var as []Assignment
	for i := 0; i < 300; i++ {
		r := roles[rng.IntN(len(roles))]
		a := asg(principals[rng.IntN(len(principals))], r.ID, scopes[rng.IntN(len(scopes))])
		if !slices.ContainsFunc(as, func(o Assignment) bool {
			return strings.EqualFold(o.PrincipalID, a.PrincipalID) && RoleGUID(o.RoleDefinitionID) == r.ID && NormalizeScope(o.Scope) == NormalizeScope(a.Scope)
		}) {
			as = append(as, a)
		}
	}
	naive := func(as []Assignment, req Request) bool {
		for _, a := range as {
			if !strings.EqualFold(a.PrincipalID, req.PrincipalID) && !slices.ContainsFunc(req.GroupIDs, func(g string) bool { return strings.EqualFold(g, a.PrincipalID) }) {
				continue
			}
			if !IsAncestorOrSelf(a.Scope, req.Scope) {
				continue
			}
			for _, r := range roles {
				if r.ID == RoleGUID(a.RoleDefinitionID) && r.Allows(req.Action, req.DataAction) {
					return true
				}
			}
		}
		return false
	}
	compare := func(t *testing.T, e *Engine, as []Assignment) {
		for i := 0; i < 3000; i++ {
			act := actions[rng.IntN(len(actions))]
			req := Request{PrincipalID: principals[rng.IntN(4)], Action: act.a, DataAction: act.d, Scope: scopes[rng.IntN(len(scopes))]}
			if rng.IntN(2) == 0 {
				req.GroupIDs = []string{"G0", "g1"}[:rng.IntN(3)]
			}
			if got, want := e.Check(req).Allowed, naive(as, req); got != want {
				t.Fatalf("Check(%+v) = %v, naive %v", req, got, want)
			}
		}
	}
	e := &Engine{}
	if err := e.Load(roles, as); err != nil {
		t.Fatal(err)
	}
	compare(t, e, as)
	// Incremental: delete half, re-add some, compare again.
	live := slices.Clone(as)
	for i := 0; i < len(as); i += 2 {
		if !e.DeleteAssignment(as[i].Name) {
			t.Fatal("delete failed")
		}
		live = slices.DeleteFunc(live, func(o Assignment) bool { return o.Name == as[i].Name })
	}
	compare(t, e, live)
	for i := 0; i < len(as); i += 4 {
		if err := e.PutAssignment(as[i]); err != nil {
			t.Fatal(err)
		}
		live = append(live, as[i])
	}
	compare(t, e, live)
	if e.Len() != len(live) {
		t.Fatalf("Len = %d, want %d", e.Len(), len(live))
	}
}

func TestCheckAllocs(t *testing.T) {
	for _, pad := range []int{0, smallPrincipal + 4} {
		e := fixture(t, pad)
		reqs := []Request{
			{PrincipalID: "p-contributor", Action: actStorageWrite, Scope: storage},
			{PrincipalID: "P-READER", Action: actStorageRead, Scope: strings.ToUpper(container)},
			{PrincipalID: "p-nobody", GroupIDs: []string{"g-x", "g-blobcontrib"}, Action: actBlobWrite, DataAction: true, Scope: container + "/blobs/a"},
		}
		for _, req := range reqs {
			if !e.Check(req).Allowed {
				t.Fatalf("denied: %+v", req)
			}
			if n := testing.AllocsPerRun(200, func() { e.Check(req) }); n != 0 {
				t.Errorf("padding %d: Check(%+v) allocates %v times", pad, req, n)
			}
		}
	}
}

// TestConcurrentReadWrite runs Checks while writers put and delete
// assignments and roles (run with -race).
func TestConcurrentReadWrite(t *testing.T) {
	e := fixture(t, 0)
	stable := Request{PrincipalID: "p-contributor", Action: actStorageWrite, Scope: storage}
	var stop atomic.Bool
	var readers, writers sync.WaitGroup
	var checks atomic.Int64
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; !stop.Load(); i++ {
				if !e.Check(stable).Allowed {
					t.Error("stable assignment lost")
					return
				}
				p := fmt.Sprintf("w%d", i%8)
				e.Check(Request{PrincipalID: p, GroupIDs: []string{"g-blobcontrib"}, Action: actBlobRead, DataAction: true, Scope: container})
				e.Check(Request{PrincipalID: p, Action: actStorageWrite, Scope: storage})
				e.EffectivePermissions(p, nil, storage)
				e.GrantingRoles(actStorageWrite, false)
				checks.Add(3)
			}
		}()
	}
	for w := 0; w < 2; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 400; i++ {
				p := fmt.Sprintf("w%d", i%8)
				a := Assignment{Name: fmt.Sprintf("cc%d-%d", w, i), Scope: rg, RoleDefinitionID: ContributorRoleID, PrincipalID: p}
				a2 := a
				a2.Name += "-sub"
				a2.Scope = sub
				if err := e.PutAssignment(a); err != nil && !errors.Is(err, ErrAssignmentExists) {
					t.Error(err)
				}
				_ = e.PutAssignment(a2)
				if i%3 == 0 {
					e.DeleteAssignment(a.Name)
				}
				if w == 0 && i%50 == 0 {
					r := customRoles()[2]
					r.Description = fmt.Sprint(i)
					if err := e.PutRole(r); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	if checks.Load() == 0 {
		t.Fatal("no checks ran")
	}
	if !e.Check(stable).Allowed {
		t.Fatal("stable assignment lost")
	}
}

func TestFoldHelpers(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			x := uint64(0x4142434445464748) // "HGFEDCBA" little-endian
			x = x&^(0xff<<(8*pos)) | uint64(c)<<(8*pos)
			got := byte(lower8(x) >> (8 * pos))
			if got != lowerByte(byte(c)) {
				t.Fatalf("lower8 byte %#x at %d = %#x", c, pos, got)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alpha := []byte("aAzZ/@[`{\x80\xc3\xa9_-0")
	gen := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(b)
	}
	ref := func(a, b string) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range len(a) {
			if lowerByte(a[i]) != lowerByte(b[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < 50000; i++ {
		n := rng.IntN(40)
		a := gen(n)
		b := []byte(a)
		for k := 0; k < rng.IntN(3); k++ {
			if n > 0 {
				b[rng.IntN(n)] = alpha[rng.IntN(len(alpha))]
			}
		}
		if got, want := equalFoldASCII(a, string(b)), ref(a, string(b)); got != want {
			t.Fatalf("equalFoldASCII(%q, %q) = %v", a, b, got)
		}
		if got := string(appendLower([]byte("x"), a)); got != "x"+lowerASCII(a) {
			t.Fatalf("appendLower(%q) = %q", a, got)
		}
	}
}

// TestPrincipalTable grows the principal table through PutAssignment,
// leaves tombstones behind with deletes, and re-adds principals.
func TestPrincipalTable(t *testing.T) {
	e := NewEngine()
	const n = 3000
	put := func(i int, scope string) {
		t.Helper()
		a := Assignment{Name: fmt.Sprintf("t-%d-%d", i, len(scope)), Scope: scope, RoleDefinitionID: ReaderRoleID, PrincipalID: fmt.Sprintf("P-%d", i)}
		if err := e.PutAssignment(a); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		put(i, rg)
		if i%100 == 0 {
			for k := 0; k < smallPrincipal+3; k++ { // a few large principals
				put(i, fmt.Sprintf("%s/providers/Microsoft.Storage/storageAccounts/s%d", rg, k))
			}
		}
	}
	check := func(i int, want bool) {
		t.Helper()
		if got := e.Check(Request{PrincipalID: fmt.Sprintf("p-%d", i), Action: actStorageRead, Scope: storage}).Allowed; got != want {
			t.Fatalf("principal %d: allowed = %v, want %v", i, got, want)
		}
	}
	for i := 0; i < n; i++ {
		check(i, true)
	}
	for i := 0; i < n; i += 2 {
		for _, a := range e.AssignmentsFor(fmt.Sprintf("p-%d", i), nil, rg+"/providers/Microsoft.Storage/storageAccounts/s1") {
			if !e.DeleteAssignment(a.Name) {
				t.Fatal("delete failed")
			}
		}
	}
	for i := 0; i < n; i++ {
		check(i, i%2 == 1)
	}
	for i := 0; i < n; i += 4 {
		put(i, rg)
	}
	for i := 0; i < n; i++ {
		check(i, i%2 == 1 || i%4 == 0)
	}
	// More new principals than tombstones: forces rebuilds over tombstones.
	for i := n; i < 2*n; i++ {
		put(i, sub)
	}
	for i := 0; i < 2*n; i++ {
		check(i, i >= n || i%2 == 1 || i%4 == 0)
	}
}

// TestHashHitIsVerified feeds grant a record whose item has the hash of an
// ancestor of the target but another scope: a hash collision must not grant.
func TestHashHitIsVerified(t *testing.T) {
	slot := &roleSlot{guid: OwnerRoleID}
	owner, _ := BuiltinRole(OwnerRoleID)
	c, err := compileRole(owner)
	if err != nil {
		t.Fatal(err)
	}
	slot.p.Store(c)
	var anc ancestry
	anc.init(storage)
	for _, n := range []int{1, smallPrincipal + 1} {
		items := make([]item, n)
		for i := range items {
			en := &entry{a: Assignment{Scope: otherRG}, role: slot}
			items[i] = item{h: anc.h[2], e: en} // h of rg, scope of rg2
		}
		var p precord
		initRecord(&p, 1, "k", items)
		if got, _ := p.grant(&anc, storage, actStorageWrite, false); got != nil {
			t.Fatalf("%d items: a colliding hash granted access", n)
		}
		items[0].e = &entry{a: Assignment{Scope: rg}, role: slot}
		if got, _ := p.grant(&anc, storage, actStorageWrite, false); got == nil {
			t.Fatalf("%d items: the real ancestor did not grant", n)
		}
	}
}

func TestLookupsAndLongPrincipals(t *testing.T) {
	e := fixture(t, 0)
	long := strings.Repeat("Ab", 30)   // 60 bytes: stored outside the record
	longer := strings.Repeat("Cd", 50) // 100 bytes: lower-cased on the heap
	for _, p := range []string{long, longer} {
		if err := e.PutAssignment(asg(p, ReaderRoleID, rg)); err != nil {
			t.Fatal(err)
		}
		req := Request{PrincipalID: strings.ToUpper(p), Action: actStorageRead, Scope: storage}
		if !e.Check(req).Allowed {
			t.Fatalf("long principal %q denied", p)
		}
		req.PrincipalID = p[:len(p)-1] + "x"
		if e.Check(req).Allowed {
			t.Fatalf("principal %q allowed", req.PrincipalID)
		}
	}
	if r, ok := e.Role(strings.ToUpper(AcrPushRoleID)); !ok || r.RoleName != "AcrPush" || !r.IsBuiltIn() {
		t.Fatalf("Role = %+v, %v", r, ok)
	}
	if _, ok := e.Role("nope"); ok {
		t.Fatal("found role nope")
	}
	if r, ok := e.RoleByName(" storage ops "); !ok || r.IsBuiltIn() || r.ID != customStorageOps {
		t.Fatalf("RoleByName = %+v, %v", r, ok)
	}
	names := []string{}
	for _, r := range e.Roles() {
		names = append(names, r.RoleName)
	}
	if len(names) != 19 || !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
		t.Fatalf("Roles = %q", names)
	}
	r, _ := BuiltinRole(AcrPullRoleID)
	if got := r.ResourceID("s1"); got != "/subscriptions/s1/providers/Microsoft.Authorization/roleDefinitions/"+AcrPullRoleID {
		t.Fatal(got)
	}
	if got := r.ResourceID(""); got != "/providers/Microsoft.Authorization/roleDefinitions/"+AcrPullRoleID {
		t.Fatal(got)
	}
	if p := CompilePattern("*/Read"); p.String() != "*/Read" || !p.Match("x/READ") {
		t.Fatal("CompilePattern")
	}
	if _, err := ParseRoleDefinitions([]byte(`[{"roleName":"x"}]`)); err == nil {
		t.Fatal("ParseRoleDefinitions accepted a role without ID")
	}
	if _, err := ParseRoleDefinitions([]byte(`{`)); err == nil {
		t.Fatal("ParseRoleDefinitions accepted bad JSON")
	}
}

// The name index finds, replaces and deletes by name in any case, through
// growth and backward-shift deletion, like a map would.
func TestNameIndex(t *testing.T) {
	idx := newNameIndex(0)
	want := map[string]*entry{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		name := fmt.Sprintf("Name-%d", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0, 1:
			en := &entry{a: Assignment{Name: name, Scope: strconv.Itoa(i)}}
			idx.put(en)
			want[strings.ToLower(name)] = en
		case 2:
			got := idx.del(strings.ToUpper(name))
			if got != want[strings.ToLower(name)] {
				t.Fatalf("del %s: %v, want %v", name, got, want[strings.ToLower(name)])
			}
			delete(want, strings.ToLower(name))
		}
		if i%1000 == 0 || i == 19999 {
			if idx.n != len(want) || len(idx.all()) != len(want) {
				t.Fatalf("size %d (%d listed), want %d", idx.n, len(idx.all()), len(want))
			}
			for k, en := range want {
				if idx.get(k) != en {
					t.Fatalf("get %s after %d operations", k, i)
				}
			}
		}
	}
}
