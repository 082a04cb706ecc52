package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func init() {
	mlSubcommands = append(mlSubcommands, (*app).mlComputeCmd, (*app).mlComputeTargetCmd)
}

// computeTypes maps azure-ai-ml's type names to ARM's computeType.
var computeTypes = map[string]string{"amlcompute": "AmlCompute", "computeinstance": "ComputeInstance",
	"kubernetes": "Kubernetes", "virtualmachine": "VirtualMachine"}

func restComputeType(t string) string {
	if ct, ok := computeTypes[strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(t))]; ok {
		return ct
	}
	return t // the server refuses it with the supported list
}

var ptMinutes = regexp.MustCompile(`^PT(\d+)M$`)

// computeShape prints a compute as azure-ai-ml dumps it (snake_case), plus
// amlid's access_notes (rules ACR-2, CMP-6) when it has any.
func computeShape(v any) any {
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
	in, _ := p["properties"].(map[string]any)
	ct, _ := p["computeType"].(string)
	out := map[string]any{"id": id, "name": m["name"], "location": m["location"], "type": strings.ToLower(ct),
		"provisioning_state": p["provisioningState"], "created_on": p["createdOn"], "tags": orEmpty(m["tags"])}
	setGroup(out, id)
	if d, ok := p["description"]; ok && d != nil {
		out["description"] = d
	}
	if idm, ok := m["identity"].(map[string]any); ok && idm["type"] != "None" {
		si, _ := snakeIdentity(idm).(map[string]any)
		if u, ok := si["user_assigned_identities"].(map[string]any); ok {
			list := []any{}
			for k, e := range u {
				em, _ := e.(map[string]any)
				list = append(list, map[string]any{"resource_id": k, "principal_id": em["principal_id"], "client_id": em["client_id"]})
			}
			si["user_assigned_identities"] = list
		}
		out["identity"] = si
	}
	switch ct {
	case "AmlCompute":
		out["size"] = in["vmSize"]
		out["tier"] = map[string]string{"Dedicated": "dedicated", "LowPriority": "low_priority"}[fmt.Sprint(in["vmPriority"])]
		if ss, ok := in["scaleSettings"].(map[string]any); ok {
			out["min_instances"], out["max_instances"] = ss["minNodeCount"], ss["maxNodeCount"]
			if d, ok := ss["nodeIdleTimeBeforeScaleDown"].(string); ok {
				out["idle_time_before_scale_down"] = isoSeconds(d)
			}
		}
		out["ssh_public_access_enabled"] = in["remoteLoginPortPublicAccess"] == "Enabled"
		out["enable_node_public_ip"] = orFalse(in["enableNodePublicIp"])
		for k, rk := range map[string]string{"current_node_count": "currentNodeCount", "allocation_state": "allocationState"} {
			if v, ok := in[rk]; ok {
				out[k] = v
			}
		}
	case "ComputeInstance":
		out["size"], out["state"], out["last_operation"] = in["vmSize"], in["state"], in["lastOperation"]
		if s, ok := in["idleTimeBeforeShutdown"].(string); ok {
			out["idle_time_before_shutdown"] = s
			if mm := ptMinutes.FindStringSubmatch(s); mm != nil {
				n, _ := strconv.Atoi(mm[1])
				out["idle_time_before_shutdown_minutes"] = n
			}
		}
		out["services"] = orEmptyList(in["applications"])
	case "Kubernetes", "VirtualMachine":
		out["resource_id"] = p["resourceId"]
		if ns, ok := in["namespace"]; ok {
			out["namespace"] = ns
		}
	}
	if ns := computeNetworkShape(in); ns != nil {
		out["network_settings"] = ns
	}
	if n, ok := p["accessNotes"]; ok {
		out["access_notes"] = n
	}
	return out
}

func orEmptyList(v any) any {
	if v == nil {
		return []any{}
	}
	return v
}

// isoSeconds turns "PT120S" / "PT2M" into seconds (azure-ai-ml's int).
func isoSeconds(s string) any {
	re := regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`)
	m := re.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return s
	}
	n := 0
	for i, mul := range []int{3600, 60, 1} {
		if m[i+1] != "" {
			v, _ := strconv.Atoi(m[i+1])
			n += v * mul
		}
	}
	return n
}

// computeFlags are the options of `amlid ml compute create|update`.
type computeFlags struct {
	file, name, typ, size, tier, identityType, uais, description, location, resourceID, namespace string
	vnetName, subnet                                                                              string
	minInstances, maxInstances, idleScaleDown, idleShutdown                                       int
	sets                                                                                          []string
}

func (f *computeFlags) register(c *cobra.Command, create bool) {
	fl := c.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "YAML file of the compute (azure-ai-ml's schema)")
	fl.StringVarP(&f.name, "name", "n", "", "Name of the compute")
	if create {
		fl.StringVarP(&f.typ, "type", "t", "", "amlcompute, computeinstance (kubernetes and virtualmachine: attach)")
		fl.StringVar(&f.size, "size", "", "VM size (default STANDARD_DS3_V2)")
		fl.StringVar(&f.tier, "tier", "", "dedicated or low_priority")
		fl.StringVarP(&f.location, "location", "l", "", "Location (default: the workspace's)")
		fl.StringVar(&f.description, "description", "", "Description")
		fl.StringVar(&f.vnetName, "vnet-name", "", "Virtual network of the compute's subnet (YAML network_settings.vnet_name)")
		fl.StringVar(&f.subnet, "subnet", "", "Subnet name (with --vnet-name) or resource ID the nodes sit in (YAML network_settings.subnet)")
	}
	fl.IntVar(&f.minInstances, "min-instances", -1, "Minimum number of nodes (clusters)")
	fl.IntVar(&f.maxInstances, "max-instances", -1, "Maximum number of nodes (clusters)")
	fl.IntVar(&f.idleScaleDown, "idle-time-before-scale-down", -1, "Seconds a node stays idle before the cluster scales down")
	fl.IntVar(&f.idleShutdown, "idle-time-before-shutdown-minutes", -1, "Minutes a compute instance stays idle before it stops itself (rule CMP-6)")
	fl.StringVar(&f.identityType, "identity-type", "", "system_assigned or user_assigned (never both: rule CMP-1)")
	fl.StringVar(&f.uais, "user-assigned-identities", "", "Resource IDs of user-assigned identities (comma or space separated)")
	fl.StringArrayVar(&f.sets, "set", nil, "Override a YAML value: key.path=value")
}

func splitIDs(s string) []any {
	var out []any
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		out = append(out, f)
	}
	return out
}

// identityFromFlags builds the ARM identity block of --identity-type and
// --user-assigned-identities (nil when neither is given).
func (f *computeFlags) identity() (map[string]any, error) {
	if f.identityType == "" && f.uais == "" {
		return nil, nil
	}
	t := f.identityType
	if t == "" {
		t = "user_assigned"
	}
	y := map[string]any{"type": t}
	if f.uais != "" {
		y["user_assigned_identities"] = splitIDs(f.uais)
	}
	return restIdentity(y)
}

var computeYAMLKeys = []string{"$schema", "name", "type", "size", "tier", "min_instances", "max_instances", "idle_time_before_scale_down",
	"identity", "description", "location", "tags", "ssh_public_access_enabled", "idle_time_before_shutdown_minutes", "idle_time_before_shutdown",
	"resource_id", "namespace", "enable_node_public_ip", "ssh_settings", "network_settings", "create_on_behalf_of", "admin_username", "admin_password", "ssh_port"}

// computeBody is the ARM body of a compute YAML and the create options.
func computeBody(spec *mlSpec, f *computeFlags) (map[string]any, error) {
	if err := spec.checkKeys("compute", computeYAMLKeys...); err != nil {
		return nil, err
	}
	ct := restComputeType(firstNonEmpty(f.typ, spec.str("type")))
	if ct == "" {
		return nil, usageErr("the following arguments are required: --type/-t (amlcompute or computeinstance), or type: in the YAML file")
	}
	in := map[string]any{}
	props := map[string]any{"computeType": ct, "properties": in}
	body := map[string]any{"properties": props}
	if d := firstNonEmpty(f.description, spec.str("description")); d != "" {
		props["description"] = d
	}
	if l := firstNonEmpty(f.location, spec.str("location")); l != "" {
		body["location"] = l
	}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	var err error
	switch ct {
	case "AmlCompute":
		err = f.amlComputeProps(spec, in)
	case "ComputeInstance":
		in["vmSize"] = firstNonEmpty(f.size, spec.str("size"), "STANDARD_DS3_V2")
		if n, ok, e := specInt(spec, f.idleShutdown, "idle_time_before_shutdown_minutes"); e != nil {
			err = e
		} else if ok {
			in["idleTimeBeforeShutdown"] = fmt.Sprintf("PT%dM", n)
		} else if s := spec.str("idle_time_before_shutdown"); s != "" {
			in["idleTimeBeforeShutdown"] = s
		}
	default:
		if r := firstNonEmpty(f.resourceID, spec.str("resource_id")); r != "" {
			props["resourceId"] = r
		}
		if ns := firstNonEmpty(f.namespace, spec.str("namespace")); ns != "" {
			in["namespace"] = ns
		}
	}
	if err != nil {
		return nil, err
	}
	if idm, err := f.identity(); err != nil {
		return nil, err
	} else if idm != nil {
		body["identity"] = idm
	} else if spec.has("identity") {
		idm, err := restIdentity(spec.m["identity"])
		if err != nil {
			return nil, err
		}
		body["identity"] = idm
	}
	return body, nil
}

// specInt is a whole number from a flag (when set: >= 0) or the YAML key.
func specInt(spec *mlSpec, flag int, key string) (int, bool, error) {
	if flag >= 0 {
		return flag, true, nil
	}
	v, ok := spec.m[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	n, ok := v.(int)
	if !ok {
		return 0, false, usageErr("%s must be a whole number, not %v", key, v)
	}
	return n, true, nil
}

// amlComputeProps sets a cluster's size, tier, scale settings (with
// azure-ai-ml's defaults: 0 to 4 nodes) and SSH access.
func (f *computeFlags) amlComputeProps(spec *mlSpec, in map[string]any) error {
	in["vmSize"] = firstNonEmpty(f.size, spec.str("size"), "STANDARD_DS3_V2")
	if t := firstNonEmpty(f.tier, spec.str("tier")); t != "" {
		in["vmPriority"] = map[string]string{"dedicated": "Dedicated", "low_priority": "LowPriority"}[strings.ToLower(t)]
		if in["vmPriority"] == "" {
			in["vmPriority"] = t
		}
	}
	ss := map[string]any{"minNodeCount": 0, "maxNodeCount": 4}
	in["scaleSettings"] = ss
	for _, s := range []struct {
		flag      int
		key, rkey string
	}{{f.minInstances, "min_instances", "minNodeCount"}, {f.maxInstances, "max_instances", "maxNodeCount"},
		{f.idleScaleDown, "idle_time_before_scale_down", "nodeIdleTimeBeforeScaleDown"}} {
		n, ok, err := specInt(spec, s.flag, s.key)
		if err != nil {
			return err
		}
		if ok && s.rkey == "nodeIdleTimeBeforeScaleDown" {
			ss[s.rkey] = fmt.Sprintf("PT%dS", n)
		} else if ok {
			ss[s.rkey] = n
		}
	}
	switch v := spec.m["ssh_public_access_enabled"].(type) {
	case bool:
		in["remoteLoginPortPublicAccess"] = map[bool]string{true: "Enabled", false: "Disabled"}[v]
	default:
		in["remoteLoginPortPublicAccess"] = "NotSpecified"
	}
	return nil
}

// putBodyOf turns a compute read from ARM into the body of a PUT that
// keeps it as it is (identity included: a PUT without one removes it).
func putBodyOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	body := map[string]any{"location": m["location"], "properties": m["properties"]}
	if t, ok := m["tags"]; ok {
		body["tags"] = t
	}
	if idm, ok := m["identity"].(map[string]any); ok {
		out := map[string]any{"type": idm["type"]}
		if u, ok := idm["userAssignedIdentities"].(map[string]any); ok && len(u) > 0 {
			keys := map[string]any{}
			for k := range u {
				keys[k] = map[string]any{}
			}
			out["userAssignedIdentities"] = keys
		}
		body["identity"] = out
	}
	if p, ok := body["properties"].(map[string]any); ok {
		delete(p, "accessNotes")
	}
	return body
}

// updateCompute reads a compute, lets fn change its PUT body, and writes it.
func (a *app) updateCompute(ctx context.Context, p string, fn func(body map[string]any) error) (any, error) {
	cur, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
	if err != nil {
		return nil, err
	}
	body := putBodyOf(cur)
	if err := fn(body); err != nil {
		return nil, err
	}
	return a.armRequest(ctx, http.MethodPut, p, apiML, body)
}

// computeResource is `amlid ml compute`; create, attach and update are
// commands of their own over computeFlags.
var computeResource = &mlResource{
	use: "compute", short: "Manage compute clusters, compute instances and attached computes with their managed identities (rules CMP-1..6, ACR-2, ACR-3)",
	noun: "compute", collection: "computes", shape: computeShape,
	show: &mlShow{short: "Show a compute (access_notes name an unmet rule: ACR-2, CMP-6)"},
	list: &mlList{short: "List the workspace's computes",
		filter: &mlListFilter{flag: "type", shorthand: "t", help: "Only computes of this type", keep: computeTypeIs}},
	delete: &mlDelete{short: "Delete a compute (its system-assigned identity and its role assignments go with it)",
		query: url.Values{"underlyingResourceAction": {"Delete"}}},
	actions: []mlAction{
		{use: "detach", short: "Detach an attached compute", method: http.MethodDelete, query: url.Values{"underlyingResourceAction": {"Detach"}}},
		{use: "start", short: "Start a compute instance", verb: "start"},
		{use: "stop", short: "Stop a compute instance", verb: "stop"},
		{use: "restart", short: "Restart a compute instance", verb: "restart"},
		{use: "list-nodes", short: "List a compute's nodes (local sandboxes: amlid run --as <compute id> runs on one)", verb: "listNodes", out: computeNodes},
		{use: "list-keys", short: "Show an attached compute's secrets", verb: "listKeys", out: printAsIs},
	},
}

// computeTypeIs is `ml compute list --type`: amlcompute, compute_instance…
func computeTypeIs(item any, typ string) bool {
	m, _ := item.(map[string]any)
	return strings.EqualFold(fmt.Sprint(m["type"]), strings.ReplaceAll(typ, "_", ""))
}

// computeNodes prints listNodes' answer as azure-ai-ml's AmlComputeNodeInfo.
func computeNodes(v any) any {
	out := []any{}
	m, _ := v.(map[string]any)
	ns, _ := m["nodes"].([]any)
	for _, n := range ns {
		nm, _ := n.(map[string]any)
		out = append(out, map[string]any{"node_id": nm["nodeId"], "node_state": nm["nodeState"], "private_ip_address": nm["privateIpAddress"],
			"public_ip_address": nm["publicIpAddress"], "port": nm["port"], "run_id": nm["runId"], "working_directory": nm["workingDirectory"]})
	}
	return out
}

func (a *app) mlComputeCmd() *cobra.Command {
	r := computeResource
	return a.mlResourceCmd(r, a.computeCreateCmd(r), a.computeAttachCmd(r), a.computeUpdateCmd(r))
}

// computeSpec reads the compute's YAML (with --set) and resolves the
// compute it or -n names.
func (a *app) computeSpec(ctx context.Context, ir *mlItemRef, cf *computeFlags) (*mlSpec, *wsCtx, string, error) {
	spec, err := loadMLSpec(cf.file, cf.sets)
	if err != nil {
		return nil, nil, "", err
	}
	ws, p, err := ir.itemPath(ctx, a, firstNonEmpty(cf.name, spec.str("name")))
	return spec, ws, p, err
}

// computePut resolves the compute the flags and YAML name, and PUTs the
// body they describe: on create with its subnet, located in the workspace
// unless they say where; on attach always in the workspace.
func (a *app) computePut(c *cobra.Command, ir *mlItemRef, cf *computeFlags, create bool) error {
	spec, ws, p, err := a.computeSpec(c.Context(), ir, cf)
	if err != nil {
		return err
	}
	body, err := computeBody(spec, cf)
	if err != nil {
		return err
	}
	if create {
		if err := applyComputeSubnet(body, spec, cf.vnetName, cf.subnet, ws.path); err != nil {
			return err
		}
	}
	if !create || body["location"] == nil {
		body["location"] = ws.location()
	}
	v, err := a.armRequest(c.Context(), http.MethodPut, p, apiML, body)
	if err != nil {
		return err
	}
	return a.print(computeShape(v))
}

func (a *app) computeCreateCmd(r *mlResource) *cobra.Command {
	var cf computeFlags
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "create", Short: "Create a compute cluster or instance (one SAI or one or more UAIs: rule CMP-1)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.computePut(c, ir, &cf, true) },
	}
	cf.register(c, true)
	ir = r.ref(c, "")
	return c
}

func (a *app) computeAttachCmd(r *mlResource) *cobra.Command {
	cf := computeFlags{minInstances: -1, maxInstances: -1, idleScaleDown: -1, idleShutdown: -1}
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "attach", Short: "Attach a Kubernetes cluster (its service principal gets AcrPull on the workspace registry: rule ACR-3) or a virtual machine", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.computePut(c, ir, &cf, false) },
	}
	fl := c.Flags()
	fl.StringVarP(&cf.file, "file", "f", "", "YAML file of the compute")
	fl.StringVarP(&cf.name, "name", "n", "", "Name of the compute")
	fl.StringVarP(&cf.typ, "type", "t", "", "Kubernetes or virtualmachine")
	fl.StringVar(&cf.resourceID, "resource-id", "", "ARM ID of the cluster or machine")
	fl.StringVar(&cf.namespace, "namespace", "", "Kubernetes namespace")
	fl.StringVar(&cf.identityType, "identity-type", "", "system_assigned or user_assigned")
	fl.StringVar(&cf.uais, "user-assigned-identities", "", "Resource IDs of user-assigned identities")
	ir = r.ref(c, "")
	return c
}

func (a *app) computeUpdateCmd(r *mlResource) *cobra.Command {
	var cf computeFlags
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "update", Short: "Update a compute: scale settings, or switch its identity between SAI and UAI (rule CMP-4)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			spec, _, p, err := a.computeSpec(c.Context(), ir, &cf)
			if err != nil {
				return err
			}
			v, err := a.updateCompute(c.Context(), p, func(body map[string]any) error { return cf.update(spec, body) })
			if err != nil {
				return err
			}
			return a.print(computeShape(v))
		},
	}
	cf.register(c, false)
	ir = r.ref(c, "")
	return c
}

// update applies `ml compute update`'s flags and YAML to a compute's PUT
// body: scale settings, idle shutdown, identity.
func (cf *computeFlags) update(spec *mlSpec, body map[string]any) error {
	props, _ := body["properties"].(map[string]any)
	in, _ := props["properties"].(map[string]any)
	if in == nil {
		in = map[string]any{}
		props["properties"] = in
	}
	if ss, _ := in["scaleSettings"].(map[string]any); ss != nil {
		set := func(flag int, key, rkey string, conv func(int) any) {
			if flag >= 0 {
				ss[rkey] = conv(flag)
			} else if n, ok := spec.m[key].(int); ok {
				ss[rkey] = conv(n)
			}
		}
		id := func(n int) any { return n }
		set(cf.minInstances, "min_instances", "minNodeCount", id)
		set(cf.maxInstances, "max_instances", "maxNodeCount", id)
		set(cf.idleScaleDown, "idle_time_before_scale_down", "nodeIdleTimeBeforeScaleDown", func(n int) any { return fmt.Sprintf("PT%dS", n) })
	}
	if cf.idleShutdown >= 0 {
		in["idleTimeBeforeShutdown"] = fmt.Sprintf("PT%dM", cf.idleShutdown)
	}
	idm, err := cf.identity()
	if err != nil {
		return err
	}
	if idm == nil && spec.has("identity") {
		if idm, err = restIdentity(spec.m["identity"]); err != nil {
			return err
		}
	}
	if idm != nil {
		body["identity"] = idm
	}
	return nil
}

// computeTargetResource is CLI v1's `az ml computetarget`: create
// amlcompute with --assign-identity, and amlcompute identity
// show|assign|remove.
var computeTargetResource = &mlResource{
	use: "computetarget", short: "CLI v1: compute targets (amlcompute) and their managed identities",
	noun: "compute target", collection: "computes",
	show:   &mlShow{short: "Show a compute target"},
	list:   &mlList{short: "List compute targets"},
	delete: &mlDelete{short: "Delete a compute target"},
}

func (a *app) mlComputeTargetCmd() *cobra.Command {
	r := computeTargetResource
	create := &cobra.Command{Use: "create", Short: "Create a compute target"}
	create.AddCommand(a.computeTargetCreateAmlCmd(r))
	identity := &cobra.Command{Use: "identity", Short: "A cluster's managed identity"}
	identity.AddCommand(a.computeTargetIdentityShowCmd(r), a.computeTargetIdentityAssignCmd(r), a.computeTargetIdentityRemoveCmd(r))
	aml := &cobra.Command{Use: "amlcompute", Short: "Compute clusters"}
	aml.AddCommand(identity)
	return a.mlResourceCmd(r, create, aml)
}

func (a *app) computeTargetCreateAmlCmd(r *mlResource) *cobra.Command {
	cf := computeFlags{typ: "amlcompute", idleShutdown: -1}
	var assign string
	short := "Create a compute cluster (--assign-identity '[system]' or UAI IDs: rule CMP-1)"
	c := a.mlItemCmd(r, "amlcompute", short, func(ctx context.Context, it mlItem) error {
		if assign != "" {
			if strings.EqualFold(strings.TrimSpace(assign), "[system]") {
				cf.identityType = "system_assigned"
			} else {
				cf.identityType, cf.uais = "user_assigned", strings.Trim(assign, "[]")
			}
		}
		body, err := computeBody(&mlSpec{m: map[string]any{}}, &cf)
		if err != nil {
			return err
		}
		body["location"] = it.ws.location()
		v, err := a.armRequest(ctx, http.MethodPut, it.path, apiML, body)
		if err != nil {
			return err
		}
		return a.print(v)
	})
	fl := c.Flags()
	fl.StringVarP(&cf.size, "vm-size", "s", "", "VM size")
	fl.StringVar(&cf.tier, "vm-priority", "", "dedicated or lowpriority")
	fl.IntVar(&cf.minInstances, "min-nodes", -1, "Minimum nodes")
	fl.IntVar(&cf.maxInstances, "max-nodes", -1, "Maximum nodes")
	fl.IntVar(&cf.idleScaleDown, "idle-seconds-before-scaledown", -1, "Idle seconds before scale down")
	fl.StringVar(&assign, "assign-identity", "", "'[system]' for a system-assigned identity, or user-assigned identity IDs")
	return c
}

// printIdentity prints a compute's identity ({"type": "None"} without one).
func (a *app) printIdentity(v any) error {
	m, _ := v.(map[string]any)
	if m["identity"] == nil {
		return a.print(map[string]any{"type": "None"})
	}
	return a.print(m["identity"])
}

func (a *app) computeTargetIdentityShowCmd(r *mlResource) *cobra.Command {
	return a.mlItemCmd(r, "show", "Show the cluster's managed identity", func(ctx context.Context, it mlItem) error {
		v, err := a.armRequest(ctx, http.MethodGet, it.path, apiML, nil)
		if err != nil {
			return err
		}
		return a.printIdentity(v)
	})
}

func (a *app) computeTargetIdentityAssignCmd(r *mlResource) *cobra.Command {
	var identities string
	short := "Assign the system-assigned identity ('[system]', the default) or user-assigned ones; a cluster holds one kind at a time (CMP-1, CMP-4)"
	c := a.mlItemCmd(r, "assign", short, func(ctx context.Context, it mlItem) error {
		v, err := a.updateCompute(ctx, it.path, func(body map[string]any) error {
			a.assignComputeIdentity(body, strings.TrimSpace(identities))
			return nil
		})
		if err != nil {
			return err
		}
		return a.print(v.(map[string]any)["identity"])
	})
	c.Flags().StringVar(&identities, "identities", "[system]", "'[system]' or user-assigned identity resource IDs")
	return c
}

// assignComputeIdentity sets a compute PUT body's identity to the SAI
// ("" or "[system]") or adds UAIs, saying on stderr what CMP-1 removes.
func (a *app) assignComputeIdentity(body map[string]any, ids string) {
	if ids == "" || strings.EqualFold(ids, "[system]") {
		if idm, _ := body["identity"].(map[string]any); idm != nil && strings.Contains(fmt.Sprint(idm["type"]), "UserAssigned") {
			fmt.Fprintln(a.stderr, "Rule CMP-1: a cluster holds one system-assigned identity or user-assigned ones, never both: its user-assigned identities are removed (CMP-4).")
		}
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return
	}
	uais := map[string]any{}
	if idm, _ := body["identity"].(map[string]any); idm != nil {
		if idm["type"] == "SystemAssigned" {
			fmt.Fprintln(a.stderr, "Rule CMP-1: a cluster holds one system-assigned identity or user-assigned ones, never both: its system-assigned identity is deleted with its role assignments (CMP-4).")
		}
		if u, ok := idm["userAssignedIdentities"].(map[string]any); ok {
			for k := range u {
				uais[k] = map[string]any{}
			}
		}
	}
	for _, id := range splitIDs(strings.Trim(ids, "[]")) {
		uais[id.(string)] = map[string]any{}
	}
	body["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": uais}
}

func (a *app) computeTargetIdentityRemoveCmd(r *mlResource) *cobra.Command {
	var identities string
	c := a.mlItemCmd(r, "remove", "Remove user-assigned identities (--identities), or every identity", func(ctx context.Context, it mlItem) error {
		v, err := a.updateCompute(ctx, it.path, func(body map[string]any) error {
			removeComputeIdentities(body, strings.TrimSpace(identities))
			return nil
		})
		if err != nil {
			return err
		}
		return a.printIdentity(v)
	})
	c.Flags().StringVar(&identities, "identities", "", "User-assigned identity resource IDs to remove (default: every identity)")
	return c
}

// removeComputeIdentities removes the named UAIs from a compute PUT body,
// or every identity ("" or "[system]", or when no UAI is left).
func removeComputeIdentities(body map[string]any, ids string) {
	idm, _ := body["identity"].(map[string]any)
	if idm == nil || ids == "" || strings.EqualFold(ids, "[system]") {
		body["identity"] = map[string]any{"type": "None"}
		return
	}
	u, _ := idm["userAssignedIdentities"].(map[string]any)
	for _, id := range splitIDs(ids) {
		for k := range u {
			if strings.EqualFold(k, id.(string)) {
				delete(u, k)
			}
		}
	}
	if len(u) == 0 {
		body["identity"] = map[string]any{"type": "None"}
	}
}
