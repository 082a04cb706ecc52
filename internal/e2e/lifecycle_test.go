package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// Objects survive a clean restart and a kill -9; IDs of the default tenant
// and subscription are stable (issue 2).
func TestStateSurvivesRestartAndKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := start(t, dir)
	ctx := t.Context()
	sub, tenant := in.State.SubscriptionID, in.State.TenantID
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	rgc, _ := armresources.NewResourceGroupsClient(sub, cred, in.armOptions())
	if _, err := rgc.CreateOrUpdate(ctx, "keep", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	ids, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred, in.armOptions())
	first, err := ids.CreateOrUpdate(ctx, "keep", "id-0", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}

	in2 := start(t, dir)
	if in2.State.SubscriptionID != sub || in2.State.TenantID != tenant {
		t.Fatal("tenant and subscription IDs must be stable across restarts")
	}
	cred2 := in2.credential(t, in2.Boot.TenantID, in2.Boot.ClientID, in2.Boot.ClientSecret)
	ids2, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred2, in2.armOptions())
	got, err := ids2.Get(ctx, "keep", "id-0", nil)
	if err != nil || *got.Properties.PrincipalID != *first.Properties.PrincipalID {
		t.Fatalf("after restart: %v", err)
	}
	// Every write acknowledged before kill -9 is there afterwards.
	const n = 20
	for i := 1; i <= n; i++ {
		if _, err := ids2.CreateOrUpdate(ctx, "keep", fmt.Sprintf("id-%d", i), armmsi.Identity{Location: to.Ptr("eastus")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	in2.kill9()

	in3 := start(t, dir)
	cred3 := in3.credential(t, in3.Boot.TenantID, in3.Boot.ClientID, in3.Boot.ClientSecret)
	ids3, _ := armmsi.NewUserAssignedIdentitiesClient(sub, cred3, in3.armOptions())
	pg := ids3.NewListByResourceGroupPager("keep", nil)
	count := 0
	for pg.More() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		count += len(page.Value)
	}
	if count != n+1 {
		t.Fatalf("after kill -9: %d identities, want %d", count, n+1)
	}
}

// A second `amlid up` on the same data dir fails with a clear message.
func TestSecondUpRefused(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	out, err := exec.Command(amlidBin, "up", "--data-dir", in.DataDir, "--port", "-1", "--msi-port", "-1", "--blob-port", "-1").CombinedOutput()
	if err == nil {
		t.Fatal("second amlid up must fail")
	}
	if !strings.Contains(string(out), "already running") {
		t.Fatalf("message: %s", out)
	}
	// The first one is unharmed.
	resp, err := in.httpClient().Get(in.State.ARMURL + "/metadata/endpoints?api-version=2015-01-01")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first instance: %v", err)
	}
	resp.Body.Close()
}

// ARM requires a valid bearer token (issue 3).
func TestARMRequiresToken(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cl := in.httpClient()
	for _, tc := range []struct {
		name, auth, code string
	}{
		{"missing", "", "AuthenticationFailed"},
		{"garbage", "Bearer not-a-jwt", "InvalidAuthenticationToken"},
		{"unsigned", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyJ9.", "InvalidAuthenticationToken"},
	} {
		req, _ := http.NewRequest("GET", in.State.ARMURL+"/subscriptions?api-version=2022-12-01", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("x-ms-error-code") != tc.code || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: %d %s %q", tc.name, resp.StatusCode, resp.Header.Get("x-ms-error-code"), resp.Header.Get("WWW-Authenticate"))
		}
	}
}
