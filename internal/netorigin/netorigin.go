// Package netorigin says where on amlid's network a request came from.
//
// Storage network rules (virtualNetworkRules, rule DS-8) must be decided by
// the network path a request took, never by anything the caller can write
// into the request: a token copied out of a compute and replayed from the
// host must not pass a subnet rule. amlid's CONNECT proxy (package
// hostport) authenticates each workload by the credential in its
// HTTPS_PROXY (every job node, compute instance process and deployment
// gets its own) and puts the workload's resource on the context of every
// request tunnelled for it. Nothing else sets it: a request without an
// Origin came from the public network (the host, a direct loopback call).
package netorigin

import "context"

// Origin is the workload a request was tunnelled for.
type Origin struct {
	// ResourceID is the ARM resource the workload runs on behalf of (a
	// compute for job nodes and compute instances, an online endpoint for a
	// deployment).
	ResourceID string
	// Workload is the workload's public handle (for messages and logs; not
	// a credential).
	Workload string
	// Label describes the workload ("node … of compute …").
	Label string
}

type ctxKey struct{}

// With returns ctx carrying o. Only amlid's proxy calls it.
func With(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, ctxKey{}, o)
}

// From returns the origin of a request (false: public network).
func From(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(ctxKey{}).(Origin)
	return o, ok
}
