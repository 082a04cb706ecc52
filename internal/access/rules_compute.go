package access

import (
	"context"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// Compute types (properties.computeType) the compute rules tell apart.
const (
	ComputeAml      = "AmlCompute"
	ComputeInstance = "ComputeInstance"
	ComputeK8s      = "Kubernetes"
	ComputeVM       = "VirtualMachine"
)

// ComputeTypeOf is a compute's properties.computeType.
func ComputeTypeOf(c *arm.Resource) string { return c.StringProp("computeType") }

func init() {
	Rules = append(Rules,
		Rule{ID: "ACR-2", Type: catalog.TypeCompute, Eval: ACR2,
			Summary: "a compute pulls its images from the workspace registry as its default identity (CMP-2): that identity needs AcrPull there (granted automatically only to a system-assigned identity created while the registry exists)"},
		Rule{ID: "CMP-6", Type: catalog.TypeCompute, Eval: CMP6,
			Summary: "a compute instance with idle shutdown stops itself with its own identity's token: that identity needs Contributor on the workspace"},
	)
}

// computeWorkspace reads a compute's workspace.
func computeWorkspace(ctx context.Context, src Source, c *arm.Resource) (*arm.Resource, error) {
	wsID, err := parentID(c.ID)
	if err != nil {
		return nil, err
	}
	return src.Get(ctx, wsID)
}

// ACR2 is rule ACR-2 (with CMP-2): a cluster or instance pulls its job
// images from the workspace registry as its default identity. A
// system-assigned identity created while the registry exists was granted
// AcrPull by amlid; one created before it, or a user-assigned identity,
// must be granted it. Attached computes (Kubernetes: rule ACR-3; virtual
// machines) pull with their own credentials and have no such requirement.
func ACR2(ctx context.Context, src Source, c *arm.Resource) (Result, error) {
	var res Result
	switch ComputeTypeOf(c) {
	case ComputeAml, ComputeInstance:
	default:
		return res, nil
	}
	id, ok := Acting(c)
	if !ok {
		res.Notes = append(res.Notes, "Rule ACR-2: compute "+c.Name+" has no managed identity: it cannot pull images from a registry whose admin user is off.")
		return res, nil
	}
	ws, err := computeWorkspace(ctx, src, c)
	if err != nil {
		return res, err
	}
	if id.TenantID == "" {
		id.TenantID = ws.StringProp("tenantId")
	}
	reg := ws.StringProp("containerRegistry")
	if reg == "" {
		res.Notes = append(res.Notes, "Rule ACR-2: the workspace has no container registry yet; when it is created (rule WS-7) the compute's identity must be granted AcrPull on it (amlid grants it automatically only to computes created with a system-assigned identity after the registry exists).")
		return res, nil
	}
	why := "the compute pulls its job images from the workspace registry as its default identity (CMP-2); amlid grants it only to a system-assigned identity created while the registry exists"
	res.Requirements = append(res.Requirements, rbacReq("ACR-2", c.ID, id, catalog.AcrPull, catalog.RegistryPull, false, reg, why))
	return res, nil
}

// IdleShutdownMinutes is a compute instance's idle shutdown setting
// (properties.properties.idleTimeBeforeShutdown "PT{n}M"), 0 when unset.
func IdleShutdownMinutes(c *arm.Resource) int {
	inner, _ := c.Prop("properties").(map[string]any)
	s, _ := inner["idleTimeBeforeShutdown"].(string)
	var n int
	if _, err := fmt.Sscanf(strings.ToUpper(s), "PT%dM", &n); err != nil {
		return 0
	}
	return n
}

// CMP6 is rule CMP-6: a compute instance with idle shutdown calls the
// workspace's computes/stop action with its own identity's token; without
// Contributor on the workspace RBAC refuses it and the instance keeps
// running.
func CMP6(ctx context.Context, src Source, c *arm.Resource) (Result, error) {
	var res Result
	if ComputeTypeOf(c) != ComputeInstance || IdleShutdownMinutes(c) == 0 {
		return res, nil
	}
	wsID, err := parentID(c.ID)
	if err != nil {
		return res, err
	}
	id, ok := Acting(c)
	if !ok {
		res.Notes = append(res.Notes, "Rule CMP-6: compute instance "+c.Name+" has idle shutdown but no managed identity: it can never stop itself.")
		return res, nil
	}
	if id.TenantID == "" {
		if ws, err := src.Get(ctx, wsID); err == nil {
			id.TenantID = ws.StringProp("tenantId")
		}
	}
	res.Requirements = append(res.Requirements, rbacReq("CMP-6", c.ID, id, catalog.Contributor, catalog.ComputeStop, false, wsID,
		fmt.Sprintf("the instance stops itself after %d idle minutes by calling ARM stop with its own identity's token", IdleShutdownMinutes(c))))
	return res, nil
}

// SubnetOf is the subnet a compute's nodes sit in
// (properties.properties.subnet.id of an AmlCompute or compute instance),
// "" when it has none: its traffic comes from the public network.
func SubnetOf(c *arm.Resource) string {
	if c == nil {
		return ""
	}
	inner, _ := c.Prop("properties").(map[string]any)
	sn, _ := inner["subnet"].(map[string]any)
	id, _ := sn["id"].(string)
	return strings.TrimSpace(id)
}
