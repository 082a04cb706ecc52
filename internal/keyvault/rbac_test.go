package keyvault_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// The RBAC model with the Go SDK: set, get, list, delete, recover, purge as
// Secrets Officer; Owner alone and Contributor read nothing (RBAC-2); a
// Secrets User reads but cannot set.
func TestGoSecretsRBACModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	uri := e.createVault("kv-rbac", true)
	vid := e.vaultID("kv-rbac")
	ctx := t.Context()
	admin := e.secrets(uri, e.admin)

	// Owner of the subscription, no data role: refused, naming the role.
	_, err := admin.SetSecret(ctx, "s1", azsecrets.SetSecretParameters{Value: to("v1")}, nil)
	msg := kvError(t, err, 403, "ForbiddenByRbac")
	for _, want := range []string{"setSecret/action", "RBAC-2", "Key Vault Secrets Officer", "amlid role assignment create"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not mention %q: %s", want, msg)
		}
	}
	e.grant(e.admin.ObjectID, roleSecretsOffice, vid)
	set, err := admin.SetSecret(ctx, "s1", azsecrets.SetSecretParameters{Value: to("v1"), ContentType: to("text/plain"),
		Tags: map[string]*string{"env": to("dev")}}, nil)
	if err != nil {
		t.Fatalf("set as Secrets Officer: %v", err)
	}
	if set.ID.Name() != "s1" || len(set.ID.Version()) != 32 {
		t.Fatalf("secret ID %s", *set.ID)
	}
	if _, err := admin.SetSecret(ctx, "s1", azsecrets.SetSecretParameters{Value: to("v2")}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := admin.GetSecret(ctx, "s1", "", nil)
	if err != nil || *got.Value != "v2" {
		t.Fatalf("get latest: %v %v", err, got.Value)
	}
	old, err := admin.GetSecret(ctx, "s1", set.ID.Version(), nil)
	if err != nil || *old.Value != "v1" || *old.ContentType != "text/plain" {
		t.Fatalf("get version: %v", err)
	}
	var versions int
	for pg := admin.NewListSecretPropertiesVersionsPager("s1", nil); pg.More(); {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(p.Value)
	}
	if versions != 2 {
		t.Fatalf("%d versions", versions)
	}
	// Paging through more secrets than one page holds.
	for i := range 30 {
		if _, err := admin.SetSecret(ctx, "bulk-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), azsecrets.SetSecretParameters{Value: to("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for pg := admin.NewListSecretPropertiesPager(nil); pg.More(); {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Value {
			names = append(names, it.ID.Name())
		}
	}
	if len(names) != 31 {
		t.Fatalf("listed %d secrets: %v", len(names), names)
	}
	if _, err := admin.UpdateSecretProperties(ctx, "s1", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = admin.GetSecret(ctx, "s1", "", nil)
	kvError(t, err, 403, "SecretDisabled")

	// Secrets User reads but cannot set.
	reader := e.newApp("reader", "")
	e.grant(reader.ObjectID, roleSecretsUser, vid)
	rc := e.secrets(uri, reader)
	if g, err := rc.GetSecret(ctx, "bulk-a", "", nil); err != nil || *g.Value != "x" {
		t.Fatalf("Secrets User get: %v", err)
	}
	_, err = rc.SetSecret(ctx, "s2", azsecrets.SetSecretParameters{Value: to("nope")}, nil)
	msg = kvError(t, err, 403, "ForbiddenByRbac")
	if !strings.Contains(msg, "setSecret/action") || !strings.Contains(msg, reader.ObjectID) {
		t.Fatalf("refusal: %s", msg)
	}

	// Contributor on the vault reads no secret (RBAC-2).
	contrib := e.newApp("contrib", "")
	e.grant(contrib.ObjectID, roleContributor, vid)
	_, err = e.secrets(uri, contrib).GetSecret(ctx, "bulk-a", "", nil)
	msg = kvError(t, err, 403, "ForbiddenByRbac")
	if !strings.Contains(msg, "Contributor grant no data actions") || !strings.Contains(msg, "Key Vault Secrets User") {
		t.Fatalf("Contributor refusal: %s", msg)
	}

	// Soft delete, recover, delete, purge.
	del, err := admin.DeleteSecret(ctx, "bulk-a", nil)
	if err != nil || del.RecoveryID == nil || del.ScheduledPurgeDate == nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = admin.GetSecret(ctx, "bulk-a", "", nil)
	kvError(t, err, 404, "")
	_, err = admin.SetSecret(ctx, "bulk-a", azsecrets.SetSecretParameters{Value: to("again")}, nil)
	kvError(t, err, 409, "")
	if _, err := admin.RecoverDeletedSecret(ctx, "bulk-a", nil); err != nil {
		t.Fatal(err)
	}
	if g, err := admin.GetSecret(ctx, "bulk-a", "", nil); err != nil || *g.Value != "x" {
		t.Fatalf("after recover: %v", err)
	}
	if _, err := admin.DeleteSecret(ctx, "bulk-a", nil); err != nil {
		t.Fatal(err)
	}
	var deleted int
	for pg := admin.NewListDeletedSecretPropertiesPager(nil); pg.More(); {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(p.Value)
	}
	if deleted != 1 {
		t.Fatalf("%d deleted secrets", deleted)
	}
	if _, err := admin.PurgeDeletedSecret(ctx, "bulk-a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetDeletedSecret(ctx, "bulk-a", nil); err == nil {
		t.Fatal("purged secret still listed as deleted")
	}
	if _, err := admin.SetSecret(ctx, "bulk-a", azsecrets.SetSecretParameters{Value: to("reborn")}, nil); err != nil {
		t.Fatalf("name after purge: %v", err)
	}
	// Backup and restore.
	bk, err := admin.BackupSecret(ctx, "s1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteSecret(ctx, "s1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PurgeDeletedSecret(ctx, "s1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: bk.Value}, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if g, err := admin.GetSecret(ctx, "s1", set.ID.Version(), nil); err != nil || *g.Value != "v1" {
		t.Fatalf("restored version: %v", err)
	}
}
