package e2e

import (
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/machinelearning/armmachinelearning/v4"
)

// azure-ai-ml 1.4.0's compute operations against amlid (issue 17): the
// issue's begin_create_or_update(AmlCompute(…, identity=IdentityConfiguration(
// type="user_assigned", …))), get, list, list_nodes; a compute instance
// stopped, started and restarted through the pollers; max < min refused.
func TestComputePythonSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := computeSetup(t, in, "pyc-rg", "pyc-ws")
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "py-cluster-id"))
	got := mustJSON(t, in.python(t, nil, filepath.Join("testdata", "ml", "compute", "compute_sdk.py"), "pyc-rg", "pyc-ws", uai["id"].(string)))
	created := got["created"].(map[string]any)
	ident := created["identity"].(map[string]any)
	if created["type"] != "amlcompute" || ident["type"] != "user_assigned" || len(ident["uais"].([]any)) != 1 ||
		!strings.EqualFold(ident["uais"].([]any)[0].(string), uai["id"].(string)) {
		t.Fatalf("begin_create_or_update: %v", created)
	}
	g := got["get"].(map[string]any)
	if g["min"] != 1.0 || g["max"] != 2.0 || g["idle"] != 120.0 || g["state"] != "Succeeded" || g["size"] != "STANDARD_DS3_v2" {
		t.Fatalf("get: %v", g)
	}
	if l := got["list"].([]any); len(l) != 1 || l[0] != "py-cluster" {
		t.Fatalf("list: %v", l)
	}
	if n := got["nodes"].([]any); len(n) != 1 || n[0] != "idle" {
		t.Fatalf("list_nodes (min_instances 1): %v", n)
	}
	if got["stopped"] != "Stopped" || got["started"] != "Running" || got["idle_minutes"] != 30.0 {
		t.Fatalf("instance start/stop/restart: %v", got)
	}
	bad := got["bad"].(map[string]any)
	if bad["status"] != 400.0 || !strings.Contains(bad["message"].(string), "must be at least minNodeCount") {
		t.Fatalf("max < min: %v", bad)
	}
	if l := got["after_delete"].([]any); len(l) != 1 {
		t.Fatalf("after begin_delete: %v", l)
	}
}

// The Go SDK's armmachinelearning v4 ComputeClient (issue 17): a cluster
// with a system-assigned identity, Get, the list pager, BeginUpdate of the
// scale settings, ListNodes, a compute instance's BeginStop/BeginStart
// through the 202 pollers, ListKeys, BeginDelete; an unknown compute type
// and both identity kinds (CMP-1) are 400s.
func TestComputeGoSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	ctx := t.Context()
	computeSetup(t, in, "goc-rg", "goc-ws")
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	cc, err := armmachinelearning.NewComputeClient(in.State.SubscriptionID, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, r armmachinelearning.ComputeResource) (armmachinelearning.ComputeResource, error) {
		p, err := cc.BeginCreateOrUpdate(ctx, "goc-rg", "goc-ws", name, r, nil)
		if err != nil {
			return armmachinelearning.ComputeResource{}, err
		}
		res, err := p.PollUntilDone(ctx, nil)
		return res.ComputeResource, err
	}
	cluster, err := put("go-cluster", armmachinelearning.ComputeResource{
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssigned)},
		Properties: &armmachinelearning.AmlCompute{ComputeType: to.Ptr(armmachinelearning.ComputeTypeAmlCompute),
			Properties: &armmachinelearning.AmlComputeProperties{VMSize: to.Ptr("STANDARD_DS3_V2"),
				ScaleSettings: &armmachinelearning.ScaleSettings{MinNodeCount: to.Ptr[int32](0), MaxNodeCount: to.Ptr[int32](2), NodeIdleTimeBeforeScaleDown: to.Ptr("PT120S")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if cluster.Identity == nil || cluster.Identity.PrincipalID == nil || *cluster.Location != "eastus" {
		t.Fatalf("created: %+v", cluster)
	}
	g, err := cc.Get(ctx, "goc-rg", "goc-ws", "go-cluster", nil)
	if err != nil {
		t.Fatal(err)
	}
	aml, ok := g.Properties.(*armmachinelearning.AmlCompute)
	if !ok || *aml.Properties.ScaleSettings.MaxNodeCount != 2 || *aml.ProvisioningState != armmachinelearning.ProvisioningStateSucceeded {
		t.Fatalf("get: %T %+v", g.Properties, g.Properties)
	}
	up, err := cc.BeginUpdate(ctx, "goc-rg", "goc-ws", "go-cluster", armmachinelearning.ClusterUpdateParameters{Properties: &armmachinelearning.ClusterUpdateProperties{
		Properties: &armmachinelearning.ScaleSettingsInformation{ScaleSettings: &armmachinelearning.ScaleSettings{MinNodeCount: to.Ptr[int32](1), MaxNodeCount: to.Ptr[int32](3)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ur, err := up.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := ur.Properties.(*armmachinelearning.AmlCompute).Properties.ScaleSettings; *s.MinNodeCount != 1 || *s.MaxNodeCount != 3 {
		t.Fatalf("update: %+v", s)
	}
	nodes := 0
	for pg := cc.NewListNodesPager("goc-rg", "goc-ws", "go-cluster", nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nodes += len(page.Nodes)
	}
	if nodes != 1 {
		t.Fatalf("ListNodes after min 1: %d nodes", nodes)
	}

	if _, err := put("go-ci", armmachinelearning.ComputeResource{Properties: &armmachinelearning.ComputeInstance{
		ComputeType: to.Ptr(armmachinelearning.ComputeTypeComputeInstance),
		Properties:  &armmachinelearning.ComputeInstanceProperties{VMSize: to.Ptr("STANDARD_DS3_V2")}}}); err != nil {
		t.Fatal(err)
	}
	state := func() armmachinelearning.ComputeInstanceState {
		r, err := cc.Get(ctx, "goc-rg", "goc-ws", "go-ci", nil)
		if err != nil {
			t.Fatal(err)
		}
		return *r.Properties.(*armmachinelearning.ComputeInstance).Properties.State
	}
	sp, err := cc.BeginStop(ctx, "goc-rg", "goc-ws", "go-ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != armmachinelearning.ComputeInstanceStateStopped {
		t.Fatalf("after BeginStop: %s", s)
	}
	st, err := cc.BeginStart(ctx, "goc-rg", "goc-ws", "go-ci", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != armmachinelearning.ComputeInstanceStateRunning {
		t.Fatalf("after BeginStart: %s", s)
	}
	if _, err := cc.ListKeys(ctx, "goc-rg", "goc-ws", "go-ci", nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for pg := cc.NewListPager("goc-rg", "goc-ws", nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("list: %d computes", n)
	}

	// Bad input.
	var re *azcore.ResponseError
	_, err = put("go-bad", armmachinelearning.ComputeResource{Properties: &armmachinelearning.Compute{ComputeType: to.Ptr(armmachinelearning.ComputeType("QuantumFarm"))}})
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "QuantumFarm") {
		t.Fatalf("unknown type: %v", err)
	}
	uai := mustJSON(t, in.mustCLI(t.TempDir(), "identity", "create", "-n", "go-uai", "-g", "goc-rg"))["id"].(string)
	_, err = put("go-both", armmachinelearning.ComputeResource{
		Identity: &armmachinelearning.ManagedServiceIdentity{Type: to.Ptr(armmachinelearning.ManagedServiceIdentityTypeSystemAssignedUserAssigned),
			UserAssignedIdentities: map[string]*armmachinelearning.UserAssignedIdentity{uai: {}}},
		Properties: &armmachinelearning.AmlCompute{ComputeType: to.Ptr(armmachinelearning.ComputeTypeAmlCompute)}})
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "Rule CMP-1") {
		t.Fatalf("SAI+UAI: %v", err)
	}

	dp, err := cc.BeginDelete(ctx, "goc-rg", "goc-ws", "go-cluster", armmachinelearning.UnderlyingResourceActionDelete, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Get(ctx, "goc-rg", "goc-ws", "go-cluster", nil); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Fatalf("after delete: %v", err)
	}
}
