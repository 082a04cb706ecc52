package ml

import (
	"context"

	"github.com/amlid/amlid/internal/arm"
)

// The small API the ML sub-packages (internal/ml/datastore: datastores and
// data assets, issue 18) use to reach the workspace side of the provider.

// OnWorkspaceWritten registers fn to run after each committed workspace
// create or update (outside the write transaction; it may call ARM().Do).
// Default datastores are created this way.
func (p *Provider) OnWorkspaceWritten(fn func(ctx context.Context, ws *arm.Resource)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wsHooks = append(p.wsHooks, fn)
}

func (p *Provider) afterCommitWorkspace(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil {
		return
	}
	p.mu.Lock()
	hooks := append([]func(context.Context, *arm.Resource){}, p.wsHooks...)
	p.mu.Unlock()
	for _, fn := range hooks {
		fn(ctx, r)
	}
}
