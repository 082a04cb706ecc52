package keyvault_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// The access-policy model with the Go SDK: every secret permission except
// purge (what rule WS-5 asks of a workspace identity) works and cannot
// purge; only get cannot list; RBAC roles grant nothing on such a vault.
func TestGoSecretsAccessPolicyModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	ctx := t.Context()
	ws := e.newApp("ws-identity", "")
	getter := e.newApp("getter", "")
	uri := e.createVault("kv-policy", false,
		e.policy(ws.ObjectID, "get", "list", "set", "delete", "backup", "restore", "recover"),
		e.policy(getter.ObjectID, "get"))
	wc := e.secrets(uri, ws)
	if _, err := wc.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to("hunter2")}, nil); err != nil {
		t.Fatalf("set with the set permission: %v", err)
	}
	if g, err := wc.GetSecret(ctx, "db-password", "", nil); err != nil || *g.Value != "hunter2" {
		t.Fatalf("get: %v", err)
	}
	if p, err := wc.NewListSecretPropertiesPager(nil).NextPage(ctx); err != nil || len(p.Value) != 1 {
		t.Fatalf("list: %v", err)
	}
	if _, err := wc.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := wc.PurgeDeletedSecret(ctx, "db-password", nil)
	msg := kvError(t, err, 403, "ForbiddenByPolicy")
	for _, want := range []string{"does not have secrets purge permission", "access-policy permission model", ws.ObjectID,
		"amlid keyvault set-policy --name kv-policy --object-id " + ws.ObjectID, "purge"} {
		if !strings.Contains(msg, want) {
			t.Errorf("purge refusal lacks %q: %s", want, msg)
		}
	}
	if _, err := wc.RecoverDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatalf("recover: %v", err)
	}

	gc := e.secrets(uri, getter)
	if g, err := gc.GetSecret(ctx, "db-password", "", nil); err != nil || *g.Value != "hunter2" {
		t.Fatalf("get with only get: %v", err)
	}
	_, err = gc.NewListSecretPropertiesPager(nil).NextPage(ctx)
	msg = kvError(t, err, 403, "ForbiddenByPolicy")
	if !strings.Contains(msg, "secrets list permission") || !strings.Contains(msg, "secret permissions: get.") {
		t.Fatalf("list refusal: %s", msg)
	}
	_, err = gc.SetSecret(ctx, "x", azsecrets.SetSecretParameters{Value: to("y")}, nil)
	kvError(t, err, 403, "ForbiddenByPolicy")

	// RBAC data roles do not open an access-policy vault.
	other := e.newApp("rbac-only", "")
	e.grant(other.ObjectID, roleKVAdmin, e.vaultID("kv-policy"))
	_, err = e.secrets(uri, other).GetSecret(ctx, "db-password", "", nil)
	msg = kvError(t, err, 403, "ForbiddenByPolicy")
	if !strings.Contains(msg, "secret permissions: none") {
		t.Fatalf("refusal: %s", msg)
	}

	// accessPolicies/add grants purge; the purge then passes.
	vc := e.vaults(e.admin)
	if _, err := vc.UpdateAccessPolicy(ctx, e.rg, "kv-policy", armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{e.policy(ws.ObjectID, "purge")}}}, nil); err != nil {
		t.Fatalf("accessPolicies/add: %v", err)
	}
	if _, err := wc.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := wc.PurgeDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatalf("purge after add: %v", err)
	}
	// replace narrows the getter to list; remove drops it.
	if _, err := vc.UpdateAccessPolicy(ctx, e.rg, "kv-policy", armkeyvault.AccessPolicyUpdateKindReplace, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{e.policy(getter.ObjectID, "list")}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.NewListSecretPropertiesPager(nil).NextPage(ctx); err != nil {
		t.Fatalf("list after replace: %v", err)
	}
	res, err := vc.UpdateAccessPolicy(ctx, e.rg, "kv-policy", armkeyvault.AccessPolicyUpdateKindRemove, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{e.policy(getter.ObjectID)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Properties.AccessPolicies); n != 1 {
		t.Fatalf("%d policies after remove", n)
	}
	_, err = gc.NewListSecretPropertiesPager(nil).NextPage(ctx)
	kvError(t, err, 403, "ForbiddenByPolicy")
	// "all" expands to every secret permission.
	allApp := e.newApp("all", "")
	if _, err := vc.UpdateAccessPolicy(ctx, e.rg, "kv-policy", armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{e.policy(allApp.ObjectID, "all")}}}, nil); err != nil {
		t.Fatal(err)
	}
	ac := e.secrets(uri, allApp)
	if _, err := ac.SetSecret(ctx, "z", azsecrets.SetSecretParameters{Value: to("z")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.DeleteSecret(ctx, "z", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.PurgeDeletedSecret(ctx, "z", nil); err != nil {
		t.Fatalf("purge with all: %v", err)
	}
	// Bad permission names are a clear 400.
	_, err = vc.UpdateAccessPolicy(ctx, e.rg, "kv-policy", armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{e.policy(allApp.ObjectID, "fly")}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "'fly' is not a permission") {
		t.Fatalf("bad permission: %v", err)
	}
}
