// Package compute is the Microsoft.MachineLearningServices/workspaces/computes
// resource (issue 17): compute clusters (AmlCompute), compute instances,
// attached Kubernetes clusters and virtual machines, with their managed
// identities (rules CMP-1..CMP-6, ACR-2) and their nodes: local sandboxes
// (a working directory and the compute's managed-identity endpoint) that
// `amlid run --as <compute ID>` runs commands on.
//
// It talks to the rest of the ML provider through ml.Provider's exported
// fields (store, authorization, workload registry, managed-identity URL).
package compute

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/workload"
)

// Type is the compute resource type.
const Type = catalog.TypeCompute

// Compute types (properties.computeType).
const (
	AmlCompute      = access.ComputeAml
	ComputeInstance = access.ComputeInstance
	Kubernetes      = access.ComputeK8s
	VirtualMachine  = access.ComputeVM
)

// Provider declares the computes type and runs their nodes.
type Provider struct {
	*ml.Provider

	Workloads *workload.Registry // each node's MSI_ENDPOINT/MSI_SECRET
	MSIURL    string             // base URL of the managed-identity endpoints
	RootCAs   *x509.CertPool     // amlid's CA, to call ARM over TLS
	WorkDir   string             // <data-dir>/ml: the nodes' sandboxes under computes/
	// ARMURL is the front door's base URL (https://127.0.0.1:8443): a
	// compute instance's idle shutdown calls it with its own token (CMP-6).
	ARMURL string
	// Minute is how long an idle minute lasts (default time.Minute): tests
	// accelerate idle shutdown and node scale-down with it.
	Minute time.Duration
	Logger *slog.Logger
	// ProxyURL is amlid's proxy for Azure's host names (known once the
	// vault module resumed): each node's code gets it as HTTPS_PROXY with
	// the node's own credential, so storage sees which compute (and subnet)
	// a request comes from (virtual-network rules, rule DS-8).
	ProxyURL func() string

	mu       sync.Mutex
	computes map[string]*state // lower(compute ID)
	ops      map[string]*operation
	stop     chan struct{}
	stopOnce sync.Once
	janitor  bool
}

func (p *Provider) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Provider) minute() time.Duration {
	if p.Minute > 0 {
		return p.Minute
	}
	return time.Minute
}

// scaled converts a real duration to the provider's (accelerated) clock.
func (p *Provider) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(p.minute()) / float64(time.Minute))
}

// Azure's compute naming rule: letters, digits and hyphens, starting with a
// letter, not ending with a hyphen; 2 to 16 characters for clusters and
// attached computes, 3 to 24 for compute instances (checked in validate).
var nameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`)

// Register declares workspaces/computes on reg.
func (p *Provider) Register(reg *arm.Registry) {
	p.computes = map[string]*state{}
	p.ops = map[string]*operation{}
	p.stop = make(chan struct{})
	reg.Register(&arm.ResourceType{
		Namespace:    ml.Namespace,
		Path:         "workspaces/computes",
		APIVersions:  ml.MLAPIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK,
		Name:         arm.NameRule{Min: 2, Max: 24, Pattern: nameRE, Hint: "letters, digits and hyphens, starting with a letter and ending with a letter or digit (clusters: at most 16 characters)"},
		Identity:     arm.IdentityStandard,
		Prepare:      p.prepare,
		Validate:     p.validate,
		BeforeCommit: p.beforeCommit,
		AfterCommit:  p.afterCommit,
		Present:      p.present,
		WriteHeaders: p.writeHeaders,
		Actions: map[string]arm.Action{
			"start":     {Handler: p.actionStart},
			"stop":      {Handler: p.actionStop},
			"restart":   {Handler: p.actionRestart},
			"listNodes": {Handler: p.listNodes},
			"listKeys":  {Handler: p.listKeys},
		},
	})
	reg.RegisterProviderRoute(ml.Namespace, "locations", p.serveOperationStatus)
}

// prepare gives a new compute its workspace's location when the request
// has none (armmachinelearning may send none).
func (p *Provider) prepare(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	if l, _ := body["location"].(string); l == "" {
		if old != nil {
			body["location"] = old.Location
		} else if ws, err := p.load(ctx, p.Store, id.Parent().String()); err == nil {
			body["location"] = ws.Location
		}
	}
	return p.prepareAttach(ctx, id, old, body)
}

func (p *Provider) load(ctx context.Context, r store.Reader, id string) (*arm.Resource, error) {
	return access.StoreSource(r).Get(ctx, id)
}

func badRequest(format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, "BadRequest", format, args...)
}

// normComputeType maps any spelling (amlcompute, compute_instance, …) to
// ARM's.
func normComputeType(t string) string {
	switch strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(t)) {
	case "amlcompute":
		return AmlCompute
	case "computeinstance":
		return ComputeInstance
	case "kubernetes":
		return Kubernetes
	case "virtualmachine":
		return VirtualMachine
	}
	return ""
}

func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	props := nu.Properties
	raw, _ := props["computeType"].(string)
	ct := normComputeType(raw)
	if ct == "" {
		return badRequest("properties.computeType '%s' is not supported: use AmlCompute (a cluster), ComputeInstance, Kubernetes (attach) or VirtualMachine (attach).", raw)
	}
	props["computeType"] = ct
	if old != nil && access.ComputeTypeOf(old) != ct {
		return badRequest("Compute %s is a %s; its computeType cannot change to %s. Delete it and create a new one.", nu.Name, access.ComputeTypeOf(old), ct)
	}
	switch n := len(nu.Name); {
	case ct == ComputeInstance && (n < 3 || n > 24):
		return arm.Errorf(http.StatusBadRequest, "InvalidResourceName", "The compute instance name '%s' is invalid: it must be 3 to 24 characters (letters, digits and hyphens, starting with a letter).", nu.Name)
	case ct != ComputeInstance && n > 16:
		return arm.Errorf(http.StatusBadRequest, "InvalidResourceName", "The compute name '%s' is invalid: a %s name must be 2 to 16 characters (letters, digits and hyphens, starting with a letter).", nu.Name, ct)
	}
	if err := p.validateIdentity(ctx, w, ct); err != nil {
		return err
	}
	inner, _ := props["properties"].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
	}
	props["properties"] = inner
	var err error
	if err := validateSubnet(inner, old, ct); err != nil {
		return err
	}
	switch ct {
	case AmlCompute:
		err = validateCluster(inner)
	case ComputeInstance:
		err = validateInstance(inner, old)
	case Kubernetes, VirtualMachine:
		err = p.validateAttached(ctx, w, ct)
	}
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if old != nil {
		props["createdOn"] = old.Prop("createdOn")
	} else {
		props["createdOn"] = now
	}
	props["modifiedOn"] = now
	props["computeLocation"] = nu.Location
	props["isAttachedCompute"] = ct == Kubernetes || ct == VirtualMachine
	if props["disableLocalAuth"] == nil {
		props["disableLocalAuth"] = false
	}
	delete(props, "provisioningErrors")
	return nil
}

// validateIdentity is rule CMP-1: one system-assigned identity or one or
// more user-assigned ones, never both; every user-assigned identity must
// exist (attaching a new one needs its assign action: RBAC-3, which the
// front door checks).
func (p *Provider) validateIdentity(ctx context.Context, w *arm.Write, ct string) error {
	idn := w.New.Identity
	if idn == nil || (w.IsPatch && w.Body["identity"] == nil) {
		return nil
	}
	t := arm.NormalizeIdentityType(idn.Type)
	if t == arm.IdentityTypeSystemUser {
		return arm.Errorf(http.StatusBadRequest, "InvalidIdentityType",
			"Rule CMP-1: a compute has one system-assigned identity or one or more user-assigned identities, never both (got '%s'). Use --identity-type system_assigned, or user_assigned with --user-assigned-identities.", idn.Type)
	}
	for k := range idn.UserAssignedIdentities {
		uid, err := arm.ParseID(k)
		if err != nil || !strings.EqualFold(uid.TypeName(), catalog.TypeUserAssignedMI) {
			return arm.Errorf(http.StatusBadRequest, "InvalidIdentity", "Rule CMP-1: '%s' is not a user-assigned identity resource ID (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>).", k)
		}
		if _, err := p.load(ctx, p.Store, uid.String()); errors.Is(err, access.ErrNotFound) {
			return arm.Errorf(http.StatusBadRequest, "FailedIdentityOperation",
				"Rule CMP-1: the user-assigned identity '%s' was not found; create it first (amlid identity create -g %s -n %s).", k, uid.ResourceGroup, uid.Name())
		} else if err != nil {
			return err
		}
	}
	return nil
}

// intOf reads a JSON number (or numeric string) as an int.
func intOf(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x != float64(int(x)) {
			return 0, false
		}
		return int(x), true
	case string:
		var n int
		if _, err := fmt.Sscanf(x, "%d", &n); err == nil && fmt.Sprint(n) == x {
			return n, true
		}
	}
	return 0, false
}

// isoDuration parses the ISO 8601 durations ARM uses ("PT120S", "PT2M",
// "PT1H30M", "P1D").
var isoRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

func isoDuration(s string) (time.Duration, bool) {
	m := isoRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			var n int
			fmt.Sscanf(m[i+1], "%d", &n)
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		var f float64
		fmt.Sscanf(m[4], "%g", &f)
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

// validateSubnet checks properties.properties.subnet ({"id": subnet
// resource ID}, YAML network_settings): only clusters and instances sit in
// a subnet, and a compute's subnet is fixed at creation, as on Azure.
func validateSubnet(inner map[string]any, old *arm.Resource, ct string) error {
	raw, present := inner["subnet"]
	if raw == nil {
		delete(inner, "subnet")
	}
	newID := ""
	if present && raw != nil {
		m, ok := raw.(map[string]any)
		id, _ := m["id"].(string)
		if !ok || strings.TrimSpace(id) == "" {
			return badRequest("properties.properties.subnet must be {\"id\": \"<subnet resource ID>\"} (YAML network_settings: {vnet_name: <vnet>, subnet: <name or ID>}); got %v.", raw)
		}
		pid, err := arm.ParseID(strings.TrimSpace(id))
		if err != nil || !strings.EqualFold(pid.TypeName(), "Microsoft.Network/virtualNetworks/subnets") {
			return badRequest("properties.properties.subnet.id '%s' is not a subnet resource ID (/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>).", id)
		}
		if ct != AmlCompute && ct != ComputeInstance {
			return badRequest("Only compute clusters (AmlCompute) and compute instances sit in a subnet; an attached %s does not take properties.properties.subnet.", ct)
		}
		newID = strings.TrimRight(strings.TrimSpace(id), "/")
		inner["subnet"] = map[string]any{"id": newID}
	}
	if old != nil {
		if was := access.SubnetOf(old); !strings.EqualFold(was, newID) {
			show := func(s string) string {
				if s == "" {
					return "none (public network)"
				}
				return s
			}
			return badRequest("Compute %s's subnet cannot change after creation (it is %s; the request asks for %s). Delete the compute and create it again in the subnet you want (network_settings.subnet).", old.Name, show(was), show(newID))
		}
	}
	return nil
}

func validateCluster(inner map[string]any) error {
	if s, _ := inner["vmSize"].(string); s == "" {
		inner["vmSize"] = "STANDARD_DS3_V2"
	}
	switch pr, _ := inner["vmPriority"].(string); strings.ToLower(strings.ReplaceAll(pr, "_", "")) {
	case "", "dedicated":
		inner["vmPriority"] = "Dedicated"
	case "lowpriority":
		inner["vmPriority"] = "LowPriority"
	default:
		return badRequest("properties.properties.vmPriority must be Dedicated or LowPriority (YAML tier: dedicated | low_priority), not '%s'.", pr)
	}
	ss, _ := inner["scaleSettings"].(map[string]any)
	if ss == nil {
		ss = map[string]any{}
	}
	inner["scaleSettings"] = ss
	minN, maxN := 0, 4
	if v, ok := ss["minNodeCount"]; ok && v != nil {
		n, ok := intOf(v)
		if !ok || n < 0 {
			return badRequest("scaleSettings.minNodeCount (min_instances) must be a whole number of nodes, 0 or more; got %v.", v)
		}
		minN = n
	}
	if v, ok := ss["maxNodeCount"]; ok && v != nil {
		n, ok := intOf(v)
		if !ok || n < 1 {
			return badRequest("scaleSettings.maxNodeCount (max_instances) must be a whole number of nodes, 1 or more; got %v.", v)
		}
		maxN = n
	}
	if maxN < minN {
		return badRequest("scaleSettings.maxNodeCount (max_instances = %d) must be at least minNodeCount (min_instances = %d).", maxN, minN)
	}
	if maxN > 100 {
		return badRequest("scaleSettings.maxNodeCount (max_instances = %d) is above amlid's limit of 100 local nodes.", maxN)
	}
	ss["minNodeCount"], ss["maxNodeCount"] = minN, maxN
	idle := "PT120S"
	if v, ok := ss["nodeIdleTimeBeforeScaleDown"].(string); ok && v != "" {
		if _, ok := isoDuration(v); !ok {
			return badRequest("scaleSettings.nodeIdleTimeBeforeScaleDown must be an ISO 8601 duration such as PT120S (YAML idle_time_before_scale_down: seconds); got '%s'.", v)
		}
		idle = strings.ToUpper(v)
	}
	ss["nodeIdleTimeBeforeScaleDown"] = idle
	switch a, _ := inner["remoteLoginPortPublicAccess"].(string); a {
	case "":
		inner["remoteLoginPortPublicAccess"] = "NotSpecified"
	case "Enabled", "Disabled", "NotSpecified":
	default:
		return badRequest("remoteLoginPortPublicAccess must be Enabled, Disabled or NotSpecified, not '%s'.", a)
	}
	if inner["osType"] == nil {
		inner["osType"] = "Linux"
	}
	if inner["enableNodePublicIp"] == nil {
		inner["enableNodePublicIp"] = true
	}
	if uac, ok := inner["userAccountCredentials"].(map[string]any); ok {
		delete(uac, "adminUserPassword") // never returned
	}
	return nil
}

func validateInstance(inner map[string]any, old *arm.Resource) error {
	if s, _ := inner["vmSize"].(string); s == "" {
		inner["vmSize"] = "STANDARD_DS3_V2"
	}
	if v, ok := inner["idleTimeBeforeShutdown"].(string); ok && v != "" {
		d, ok := isoDuration(v)
		if !ok || d%time.Minute != 0 || d < 15*time.Minute || d > 3*24*time.Hour {
			return badRequest("properties.properties.idleTimeBeforeShutdown must be a whole number of minutes from PT15M to PT4320M (YAML idle_time_before_shutdown_minutes: 15 to 4320); got '%s'.", v)
		}
		inner["idleTimeBeforeShutdown"] = fmt.Sprintf("PT%dM", int(d/time.Minute))
	}
	st := "Running"
	var lastOp any
	if old != nil {
		oi, _ := old.Prop("properties").(map[string]any)
		if s, _ := oi["state"].(string); s != "" {
			st = s
		}
		lastOp = oi["lastOperation"]
	}
	inner["state"] = st
	if lastOp == nil {
		lastOp = map[string]any{"operationName": "Create", "operationTime": time.Now().UTC().Format(time.RFC3339), "operationStatus": "Succeeded", "operationTrigger": "User"}
	}
	inner["lastOperation"] = lastOp
	if inner["applications"] == nil {
		inner["applications"] = []any{}
	}
	return nil
}

// validateAttached checks an attached compute: properties.resourceId names
// the cluster or machine.
func (p *Provider) validateAttached(ctx context.Context, w *arm.Write, ct string) error {
	rid, _ := w.New.Properties["resourceId"].(string)
	if rid == "" {
		return badRequest("An attached %s compute needs properties.resourceId: the ARM ID of the %s to attach.", ct, map[string]string{Kubernetes: "Kubernetes cluster", VirtualMachine: "virtual machine"}[ct])
	}
	if _, err := arm.ParseID(rid); err != nil {
		return badRequest("properties.resourceId '%s' is not an ARM resource ID.", rid)
	}
	if ct == Kubernetes {
		return p.validateKubernetes(ctx, w, rid)
	}
	// A virtual machine's administrator secrets are kept, never returned
	// (listKeys gives them).
	in, _ := w.New.Properties["properties"].(map[string]any)
	if acct, ok := in["administratorAccount"].(map[string]any); ok {
		if w.New.Internal == nil {
			w.New.Internal = map[string]any{}
		}
		keep := map[string]any{}
		for k, v := range acct {
			keep[k] = v
		}
		w.New.Internal["administratorAccount"] = keep
		delete(acct, "password")
		delete(acct, "privateKeyData")
	}
	return nil
}

// beforeCommit is rule ACR-2: a system-assigned identity that appears
// while the workspace registry exists gets AcrPull on it.
func (p *Provider) beforeCommit(ctx context.Context, tx store.Tx, w *arm.Write) error {
	nu := w.New
	if nu.Internal == nil {
		nu.Internal = map[string]any{}
	}
	if err := p.beforeCommitAttached(ctx, tx, w); err != nil { // ACR-3
		return err
	}
	ct := access.ComputeTypeOf(nu)
	if ct != AmlCompute && ct != ComputeInstance {
		return nil
	}
	pid := nu.SystemPrincipalID()
	if pid == "" {
		delete(nu.Internal, "acrPullGranted")
		return nil
	}
	if w.Old != nil && w.Old.SystemPrincipalID() == pid {
		return nil // the same SAI: what it was granted stands
	}
	delete(nu.Internal, "acrPullGranted")
	ws, err := p.load(ctx, tx, w.ID.Parent().String())
	if err != nil {
		return err
	}
	if reg := ws.StringProp("containerRegistry"); reg != "" {
		if err := p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", catalog.AcrPull.ID, reg); err != nil {
			return err
		}
		nu.Internal["acrPullGranted"] = reg
		p.log().Info("granted AcrPull on the workspace registry to the compute's system-assigned identity (rule ACR-2)", "compute", nu.ID, "registry", reg)
	}
	return nil
}

// present adds what amlid knows of the compute's access and nodes:
// properties.accessNotes say which rule (ACR-2, CMP-6) is unmet and the fix.
func (p *Provider) present(ctx context.Context, r *arm.Resource) {
	var notes []string
	if n, _ := r.Internal["idleShutdownRefused"].(string); n != "" {
		notes = append(notes, n)
	}
	src := access.StoreSource(p.Store)
	for _, rule := range []func(context.Context, access.Source, *arm.Resource) (access.Result, error){access.ACR2} {
		res, err := rule(ctx, src, r)
		if err != nil {
			continue
		}
		notes = append(notes, res.Notes...)
		fs, err := access.EvaluateAll(ctx, p.Authz, src, res.Requirements)
		if err != nil {
			continue
		}
		if un := access.Unmet(fs); len(un) > 0 {
			notes = append(notes, access.Refusal(un[0].Rule, un[0].Identity, un))
		}
	}
	if len(notes) > 0 {
		r.SetProp("accessNotes", notes)
	}
	p.presentNodes(r)
}
