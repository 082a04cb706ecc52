package rbac

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// benchWorld is a generated tenant: assignments spread over 1000
// subscriptions × 5 resource groups × 20 resources (+ child resources),
// with a realistic mix of roles and scope levels, a few "hot" principals
// (CI service principals holding thousands of assignments, exercising the
// per-scope map path) and groups.
type benchWorld struct {
	e                    *Engine
	allowed, denied      []Request
	viaGroup             []Request // allowed only through a group
	indexBytes, allBytes float64   // per assignment
	gen, load            time.Duration
}

type benchRole struct {
	guid   string
	weight int
	action string
	data   bool
}

var benchRoles = []benchRole{
	{ReaderRoleID, 20, "Microsoft.Storage/storageAccounts/read", false},
	{ContributorRoleID, 20, "Microsoft.Storage/storageAccounts/write", false},
	{OwnerRoleID, 5, "Microsoft.Authorization/roleAssignments/write", false},
	{StorageBlobDataReaderRoleID, 15, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", true},
	{StorageBlobDataContributorRoleID, 10, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", true},
	{AcrPullRoleID, 10, "Microsoft.ContainerRegistry/registries/pull/read", false},
	{AzureMLDataScientistRoleID, 10, "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read", false},
	{ManagedIdentityOperatorRoleID, 5, "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", false},
	{KeyVaultSecretsUserRoleID, 5, "Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
}

var resourceTypes = []struct{ typ, child string }{
	{"/providers/Microsoft.Storage/storageAccounts/", "/blobServices/default/containers/data"},
	{"/providers/Microsoft.MachineLearningServices/workspaces/", "/onlineEndpoints/ep1/deployments/blue"},
	{"/providers/Microsoft.ContainerRegistry/registries/", "/repositories/app"},
	{"/providers/Microsoft.KeyVault/vaults/", "/secrets/s1"},
	{"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/", "/federatedIdentityCredentials/f1"},
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func guid(rng *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := []byte("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx")
	for i, c := range b {
		if c == 'x' {
			b[i] = hex[rng.IntN(16)]
		}
	}
	return string(b)
}

func buildWorld(tb testing.TB, n int) *benchWorld {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	h0 := heapAlloc()
	start := time.Now()

	subs := make([]string, 1000)
	for i := range subs {
		subs[i] = "/subscriptions/" + guid(rng)
	}
	nPrincipals := max(64, n/8)
	principals := make([]string, nPrincipals)
	for i := range principals {
		principals[i] = guid(rng)
	}
	hot := principals[:16]
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = guid(rng)
	}
	totalWeight := 0
	for _, r := range benchRoles {
		totalWeight += r.weight
	}
	pickRole := func() benchRole {
		w := rng.IntN(totalWeight)
		for _, r := range benchRoles {
			if w -= r.weight; w < 0 {
				return r
			}
		}
		panic("unreachable")
	}
	type meta struct {
		role  benchRole
		child string // child suffix under the assignment scope for requests
		group bool
	}
	as := make([]Assignment, 0, n)
	metas := make([]meta, 0, n)
	for i := 0; i < n; i++ {
		r := pickRole()
		s := subs[rng.IntN(len(subs))]
		rgName := strconv.Itoa(rng.IntN(5))
		rt := resourceTypes[rng.IntN(len(resourceTypes))]
		res := s + "/resourceGroups/rg-" + rgName + rt.typ + "res" + rgName + strconv.Itoa(rng.IntN(20))
		var scope, child string
		switch x := rng.IntN(100); {
		case x < 5:
			scope, child = s, res[len(s):]+rt.child
		case x < 25:
			scope = s + "/resourcegroups/RG-" + rgName // clients' other casing
			child = res[len(s)+len("/resourceGroups/rg-")+len(rgName):]
		case x < 85:
			scope, child = res, rt.child
		default:
			scope = res + rt.child
		}
		m := meta{role: r, child: child}
		var p, pt string
		switch x := rng.IntN(100); {
		case x < 10:
			p, pt, m.group = groups[rng.IntN(len(groups))], "Group", true
		case x < 20:
			p, pt = hot[rng.IntN(len(hot))], "ServicePrincipal"
		default:
			p, pt = principals[rng.IntN(len(principals))], "User"
		}
		name := guid(rng)
		as = append(as, Assignment{
			ID:               scope + "/providers/Microsoft.Authorization/roleAssignments/" + name,
			Name:             name,
			Scope:            scope,
			RoleDefinitionID: s + "/providers/Microsoft.Authorization/roleDefinitions/" + r.guid,
			PrincipalID:      p,
			PrincipalType:    pt,
		})
		metas = append(metas, m)
	}
	w := &benchWorld{gen: time.Since(start), e: &Engine{}}
	h1 := heapAlloc()
	start = time.Now()
	if err := w.e.Load(BuiltinRoles(), as); err != nil {
		tb.Fatal(err)
	}
	w.load = time.Since(start)
	h2 := heapAlloc()

	// Requests: allowed ones target an assignment's scope or below it with
	// an action its role grants; denied ones ask for role assignment
	// writes or blob deletes, or come from unknown principals.
	const nReq = 1 << 14
	for len(w.allowed) < nReq {
		i := rng.IntN(n)
		a, m := as[i], metas[i]
		req := Request{PrincipalID: a.PrincipalID, Action: m.role.action, DataAction: m.role.data, Scope: a.Scope + m.child}
		if m.group {
			req.PrincipalID = principals[rng.IntN(len(principals))]
			req.GroupIDs = []string{groups[rng.IntN(len(groups))], a.PrincipalID, groups[rng.IntN(len(groups))]}
		}
		if !w.e.Check(req).Allowed {
			tb.Fatalf("generated request denied: %+v\n%s", req, w.e.Check(req).Reason())
		}
		w.allowed = append(w.allowed, req)
		if m.group && len(w.viaGroup) < nReq {
			w.viaGroup = append(w.viaGroup, req)
		}
	}
	for len(w.viaGroup) < nReq {
		i := rng.IntN(n)
		a, m := as[i], metas[i]
		if !m.group {
			continue
		}
		req := Request{PrincipalID: principals[rng.IntN(len(principals))], Action: m.role.action, DataAction: m.role.data, Scope: a.Scope + m.child,
			GroupIDs: []string{groups[rng.IntN(len(groups))], a.PrincipalID, groups[rng.IntN(len(groups))]}}
		if !w.e.Check(req).Allowed {
			tb.Fatalf("generated request denied: %+v", req)
		}
		w.viaGroup = append(w.viaGroup, req)
	}
	for len(w.denied) < nReq {
		a := as[rng.IntN(n)]
		req := Request{PrincipalID: a.PrincipalID, Action: "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete", DataAction: true, Scope: a.Scope}
		switch rng.IntN(3) {
		case 0:
			req.Action, req.DataAction = "Microsoft.Authorization/roleAssignments/write", false
		case 1:
			req.PrincipalID = guid(rng)
			req.GroupIDs = []string{guid(rng), guid(rng)}
		}
		if !w.e.Check(req).Allowed {
			w.denied = append(w.denied, req)
		}
	}
	w.indexBytes = float64(h2-h1) / float64(n)
	h3 := heapAlloc()
	w.allBytes = float64(h3-h0) / float64(n)
	return w
}

// BenchmarkCheck measures Check at 1k, 10k, 100k and 1M assignments, on
// allowed requests (a realistic mix: 10% through groups), allowed requests
// that need group expansion (3 groups, the principal's own assignments
// miss) and denied ones, without and with building the denial's Reason
// (what a 403 response costs on top). Metrics: ns/op, allocs/op, p50-ns and p99-ns
// (per-call latency over a separate sample of up to 200k calls, each timed
// with time.Now: includes ~30-80 ns of timer overhead), index-B/assign
// (heap the engine adds on top of the caller's assignments),
// retained-B/assign (heap kept once the caller drops its slice: the
// engine keeps the strings) and load-ms (Load time).
//
//	go test -run '^$' -bench BenchmarkCheck -benchmem ./internal/rbac/
func BenchmarkCheck(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		w := buildWorld(b, size.n)
		b.Logf("%s: generated in %v, Load in %v, index %.0f B/assignment, retained %.0f B/assignment",
			size.name, w.gen.Round(time.Millisecond), w.load.Round(time.Millisecond), w.indexBytes, w.allBytes)
		for _, kind := range []struct {
			name   string
			reqs   []Request
			reason bool // Check, then the denial's Reason (a 403's text)
		}{{"allowed", w.allowed, false}, {"allowed-via-group", w.viaGroup, false}, {"denied", w.denied, false}, {"denied-with-reason", w.denied, true}} {
			check := func(r Request) {
				if d := w.e.Check(r); kind.reason {
					_ = d.Reason()
				}
			}
			b.Run(fmt.Sprintf("n=%s/%s", size.name, kind.name), func(b *testing.B) {
				reqs := kind.reqs
				mask := len(reqs) - 1
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					check(reqs[i&mask])
				}
				b.StopTimer()
				samples := make([]time.Duration, min(b.N, 200_000))
				for i := range samples {
					t0 := time.Now()
					check(reqs[(i*7919)&mask])
					samples[i] = time.Since(t0)
				}
				slices.Sort(samples)
				b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
				b.ReportMetric(w.indexBytes, "index-B/assign")
				b.ReportMetric(w.allBytes, "retained-B/assign")
				b.ReportMetric(float64(w.load.Milliseconds()), "load-ms")
			})
		}
		w.e = nil
	}
}

// BenchmarkPutAssignment measures an incremental write into a 100k engine.
func BenchmarkPutAssignment(b *testing.B) {
	w := buildWorld(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := Assignment{Name: "bench-" + strconv.Itoa(i), Scope: "/subscriptions/bench/resourceGroups/rg-" + strconv.Itoa(i), RoleDefinitionID: ReaderRoleID, PrincipalID: "p-" + strconv.Itoa(i%5000)}
		if err := w.e.PutAssignment(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotLoad measures a restart's CPU work at 1M assignments
// without the store: decoding a snapshot and LoadSnapshot, next to Load of
// the same assignments already decoded.
//
//	go test -run '^$' -bench SnapshotLoad -benchtime 3x ./internal/rbac/
func BenchmarkSnapshotLoad(b *testing.B) {
	w := buildWorld(b, 1_000_000)
	blob := w.e.AppendSnapshot(nil)
	as := w.e.AssignmentsUnordered()
	w = nil
	b.ResetTimer()
	var dec, load time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		snap, err := DecodeSnapshot(blob)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := NewEngine().LoadSnapshot(BuiltinRoles(), snap); err != nil {
			b.Fatal(err)
		}
		dec, load = dec+t1.Sub(t0), load+time.Since(t1)
	}
	b.StopTimer()
	t0 := time.Now()
	if err := NewEngine().Load(BuiltinRoles(), as); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "Load-ms")
	b.ReportMetric(float64(len(blob))/1e6, "snapshot-MB")
	b.ReportMetric(float64(dec.Milliseconds())/float64(b.N), "decode-ms")
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "LoadSnapshot-ms")
}
