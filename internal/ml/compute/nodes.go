package compute

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/workload"
)

// A node is one machine of a compute, locally: a sandbox directory and a
// workload registration that gives code on it the compute's managed
// identities (MSI_ENDPOINT/MSI_SECRET, DEFAULT_IDENTITY_CLIENT_ID for a
// user-assigned default: rule CMP-3). Nodes live in memory, like the
// workloads: a restart of amlid re-creates them from the computes.
type node struct {
	ID       string
	Dir      string
	wl       *workload.Workload
	busy     int
	created  time.Time
	lastUsed time.Time
}

// state is what the provider keeps per compute.
type state struct {
	id, name, kind string
	minNodes       int
	maxNodes       int
	scaleDown      time.Duration // real duration (scaled when compared)
	idleShutdown   time.Duration // compute instance, 0 = off
	running        bool          // a compute instance's state; clusters: true
	identity       string        // identity signature: nodes are re-registered when it changes
	nodes          []*node
	lastActivity   time.Time
	stopping       bool // an idle self-stop is in flight
}

func identitySig(r *arm.Resource) string {
	var parts []string
	for _, id := range access.Identities(r) {
		parts = append(parts, id.PrincipalID+"/"+id.ClientID)
	}
	return strings.Join(parts, ",")
}

// afterCommit reconciles the compute's nodes with its definition; r is nil
// after a delete.
func (p *Provider) afterCommit(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil {
		p.drop(id.String())
		return
	}
	p.reconcile(r)
}

// drop removes every node of a deleted compute.
func (p *Provider) drop(id string) {
	p.mu.Lock()
	st := p.computes[strings.ToLower(id)]
	delete(p.computes, strings.ToLower(id))
	p.mu.Unlock()
	if st != nil {
		for _, n := range st.nodes {
			p.removeNode(n)
		}
	}
	p.Workloads.UnregisterResource(id)
}

// reconcile brings a compute's nodes in line with its definition: a
// cluster keeps at least minNodeCount nodes, a running instance one, a
// stopped instance or an attached compute none.
func (p *Provider) reconcile(r *arm.Resource) {
	inner, _ := r.Prop("properties").(map[string]any)
	p.mu.Lock()
	key := strings.ToLower(r.ID)
	st := p.computes[key]
	if st == nil {
		st = &state{id: r.ID, name: r.Name, lastActivity: time.Now()}
		p.computes[key] = st
	}
	st.kind = access.ComputeTypeOf(r)
	st.minNodes, st.maxNodes, st.running, st.idleShutdown = 0, 0, true, 0
	switch st.kind {
	case AmlCompute:
		ss, _ := inner["scaleSettings"].(map[string]any)
		st.minNodes, _ = intOf(ss["minNodeCount"])
		st.maxNodes, _ = intOf(ss["maxNodeCount"])
		st.scaleDown, _ = isoDuration(fmt.Sprint(ss["nodeIdleTimeBeforeScaleDown"]))
	case ComputeInstance:
		st.running = inner["state"] == "Running"
		if st.running {
			st.minNodes, st.maxNodes = 1, 1
		}
		st.idleShutdown = time.Duration(access.IdleShutdownMinutes(r)) * time.Minute
	}
	var retire []*node
	if sig := identitySig(r); sig != st.identity {
		// The identities changed (CMP-4): the nodes' credentials are
		// re-issued so DEFAULT_IDENTITY_CLIENT_ID follows.
		st.identity = sig
		retire = append(retire, st.nodes...)
		st.nodes = nil
	}
	for len(st.nodes) > st.maxNodes {
		retire = append(retire, st.nodes[len(st.nodes)-1])
		st.nodes = st.nodes[:len(st.nodes)-1]
	}
	need := st.minNodes - len(st.nodes)
	p.mu.Unlock()
	for _, n := range retire {
		p.removeNode(n)
	}
	for i := 0; i < need; i++ {
		if _, err := p.addNode(context.Background(), r.ID, false); err != nil {
			p.log().Warn("cannot start a compute node", "compute", r.ID, "err", err)
		}
	}
	p.ensureJanitor()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// addNode allocates a node (busy when acquire is set) if the compute has
// room for one.
func (p *Provider) addNode(ctx context.Context, computeID string, acquire bool) (*node, error) {
	cid, err := arm.ParseID(computeID)
	if err != nil {
		return nil, err
	}
	n := &node{ID: "tvmps_" + randomHex(8) + "_d", created: time.Now(), lastUsed: time.Now()}
	n.Dir = filepath.Join(p.WorkDir, "computes", strings.ToLower(cid.ResourceGroup), strings.ToLower(cid.Names[0]), strings.ToLower(cid.Name()), n.ID)
	if err := p.startNode(ctx, computeID, n); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.computes[strings.ToLower(computeID)]
	if st == nil || len(st.nodes) >= st.maxNodes {
		go p.removeNode(n)
		if st != nil && st.kind == ComputeInstance && !st.running {
			return nil, arm.Errorf(http.StatusConflict, "ComputeNotRunning", "Compute instance %s is stopped: start it first (amlid ml compute start -n %s).", cid.Name(), cid.Name())
		}
		return nil, arm.Errorf(http.StatusConflict, "ComputeAtCapacity", "Compute %s has no free node: all %d of its max_instances are busy.", cid.Name(), maxOf(st))
	}
	if acquire {
		n.busy = 1
	}
	st.nodes = append(st.nodes, n)
	return n, nil
}

func maxOf(st *state) int {
	if st == nil {
		return 0
	}
	return st.maxNodes
}

// startNode is the one place a node comes up: its sandbox directory and
// its managed-identity credentials (what the job launcher will start
// processes with).
func (p *Provider) startNode(ctx context.Context, computeID string, n *node) error {
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return fmt.Errorf("compute node %s: %w", n.ID, err)
	}
	wl, err := p.Workloads.Register(ctx, computeID, workload.WithLabel("node "+n.ID+" of compute "+computeID))
	if err != nil {
		os.RemoveAll(n.Dir)
		return err
	}
	n.wl = wl
	return nil
}

func (p *Provider) removeNode(n *node) {
	if n.wl != nil {
		p.Workloads.Unregister(n.wl.ID)
	}
	os.RemoveAll(n.Dir)
}

// Node is what `amlid run --as <compute>` gets: the node it runs on.
type Node struct {
	ID  string
	Dir string
	// Env is the node's managed-identity environment, and HTTPS_PROXY with
	// the node's own proxy credential when amlid's proxy runs.
	Env map[string]string
	// ProxyURL is that HTTPS_PROXY ("" without a proxy): what amlid itself
	// uses to read and write storage for code on the node (job inputs and
	// outputs), so those requests take the node's network path too.
	ProxyURL string
}

// IsCompute reports whether a resource ID is a compute.
func IsCompute(resourceID string) bool {
	id, err := arm.ParseID(resourceID)
	return err == nil && strings.EqualFold(id.TypeName(), Type)
}

// Acquire reserves a node of the compute for a command (`amlid run --as`):
// an idle node, else a new one up to max_instances. release frees it.
func (p *Provider) Acquire(ctx context.Context, computeID string) (*Node, func(), error) {
	r, err := p.load(ctx, p.Store, computeID)
	if err != nil {
		return nil, nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "Compute '%s' was not found.", computeID)
	}
	switch access.ComputeTypeOf(r) {
	case Kubernetes, VirtualMachine:
		return nil, nil, arm.Errorf(http.StatusBadRequest, "AttachedCompute", "Compute %s is an attached %s: amlid runs no nodes for it.", r.Name, access.ComputeTypeOf(r))
	}
	p.mu.Lock()
	st := p.computes[strings.ToLower(r.ID)]
	if st == nil {
		p.mu.Unlock()
		p.reconcile(r)
		p.mu.Lock()
		st = p.computes[strings.ToLower(r.ID)]
	}
	if st.kind == ComputeInstance && !st.running {
		p.mu.Unlock()
		return nil, nil, arm.Errorf(http.StatusConflict, "ComputeNotRunning", "Compute instance %s is stopped: start it first (amlid ml compute start -n %s).", r.Name, r.Name)
	}
	var n *node
	for _, c := range st.nodes {
		if c.busy == 0 || st.kind == ComputeInstance { // an instance is one shared machine
			n = c
			break
		}
	}
	if n != nil {
		n.busy++
		st.lastActivity = time.Now()
	}
	p.mu.Unlock()
	if n == nil {
		if n, err = p.addNode(ctx, r.ID, true); err != nil {
			return nil, nil, err
		}
	}
	out := &Node{ID: n.ID, Dir: n.Dir, Env: msi.EnvFor(n.wl, p.MSIURL)}
	if p.ProxyURL != nil && p.ProxyURL() != "" {
		// The node's own proxy credential: storage knows the request comes
		// from this compute (its subnet: virtual-network rules, DS-8).
		for k, v := range workload.ProxyEnvFor(p.ProxyURL(), n.wl) {
			out.Env[k] = v
		}
		out.ProxyURL = out.Env["HTTPS_PROXY"]
	}
	release := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		n.busy--
		n.lastUsed = time.Now()
		if st := p.computes[strings.ToLower(r.ID)]; st != nil {
			st.lastActivity = time.Now()
		}
	}
	return out, release, nil
}

// nodeInfo is one entry of listNodes (AmlComputeNodeInformation).
func nodeInfo(n *node) map[string]any {
	st := "idle"
	if n.busy > 0 {
		st = "running"
	}
	return map[string]any{"nodeId": n.ID, "privateIpAddress": "127.0.0.1", "publicIpAddress": "127.0.0.1", "port": 50000,
		"nodeState": st, "runId": nil, "workingDirectory": n.Dir}
}

// listNodes answers POST …/computes/{c}/listNodes.
func (p *Provider) listNodes(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	nodes := []any{}
	if st := p.computes[strings.ToLower(r.ID)]; st != nil {
		for _, n := range st.nodes {
			nodes = append(nodes, nodeInfo(n))
		}
	}
	return http.StatusOK, map[string]any{"computeType": access.ComputeTypeOf(r), "nodes": nodes}, nil
}

// presentNodes fills a cluster's node counts.
func (p *Provider) presentNodes(r *arm.Resource) {
	if access.ComputeTypeOf(r) != AmlCompute {
		return
	}
	inner, _ := r.Prop("properties").(map[string]any)
	if inner == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	idle, running := 0, 0
	if st := p.computes[strings.ToLower(r.ID)]; st != nil {
		for _, n := range st.nodes {
			if n.busy > 0 {
				running++
			} else {
				idle++
			}
		}
	}
	inner["currentNodeCount"] = idle + running
	inner["targetNodeCount"] = idle + running
	inner["allocationState"] = "Steady"
	inner["nodeStateCounts"] = map[string]any{"idleNodeCount": idle, "runningNodeCount": running, "preparingNodeCount": 0,
		"unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}
}

// ensureJanitor starts the goroutine that scales idle nodes down and runs
// compute instances' idle shutdown (CMP-6).
func (p *Provider) ensureJanitor() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.janitor {
		return
	}
	p.janitor = true
	tick := p.minute() / 10
	if tick < 20*time.Millisecond {
		tick = 20 * time.Millisecond
	}
	if tick > 5*time.Second {
		tick = 5 * time.Second
	}
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.sweep()
			}
		}
	}()
}

// sweep scales idle cluster nodes down to min_instances after
// idle_time_before_scale_down, and starts the idle shutdown of instances
// idle for idle_time_before_shutdown.
func (p *Provider) sweep() {
	now := time.Now()
	var retire []*node
	var shut []*state
	p.mu.Lock()
	for _, st := range p.computes {
		if st.kind == AmlCompute {
			excess := len(st.nodes) - st.minNodes
			keep := make([]*node, 0, len(st.nodes))
			for _, n := range st.nodes {
				if excess > 0 && n.busy == 0 && now.Sub(n.lastUsed) >= p.scaled(st.scaleDown) {
					retire = append(retire, n)
					excess--
					continue
				}
				keep = append(keep, n)
			}
			st.nodes = keep
		}
		if st.kind == ComputeInstance && st.running && st.idleShutdown > 0 && !st.stopping && now.Sub(st.lastActivity) >= p.scaled(st.idleShutdown) {
			busy := false
			for _, n := range st.nodes {
				busy = busy || n.busy > 0
			}
			if !busy && len(st.nodes) > 0 {
				st.stopping = true
				shut = append(shut, st)
			}
		}
	}
	p.mu.Unlock()
	for _, n := range retire {
		p.removeNode(n)
	}
	for _, st := range shut {
		go p.idleShutdown(st)
	}
}

// Close stops the janitor and removes every node.
func (p *Provider) Close() {
	p.stopOnce.Do(func() {
		if p.stop != nil {
			close(p.stop)
		}
	})
	p.mu.Lock()
	var all []*node
	for _, st := range p.computes {
		all = append(all, st.nodes...)
		st.nodes = nil
	}
	p.mu.Unlock()
	for _, n := range all {
		p.removeNode(n)
	}
}

// Resume brings the nodes of every stored compute back after a restart
// (new sandboxes: what an earlier run left behind is removed).
func (p *Provider) Resume(ctx context.Context) error {
	if p.WorkDir != "" {
		os.RemoveAll(filepath.Join(p.WorkDir, "computes"))
	}
	rs, err := access.StoreSource(p.Store).List(ctx, "/subscriptions", Type)
	if err != nil {
		return err
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	for _, r := range rs {
		p.reconcile(r)
	}
	return nil
}
