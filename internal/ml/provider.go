// Package ml is the core of amlid's Microsoft.MachineLearningServices wing:
// workspaces with their identities and associated resources (rules
// WS-1..WS-7, workspace.go), the minimal Microsoft.Insights/components a
// workspace needs (insights.go), the workspace registry created on first
// need (registry.go), and the helpers the wing's sub-packages share. Each
// other resource kind is a sub-package over this core: ml/assets (models,
// code, environments), ml/endpoint (online endpoints and deployments, rules
// EP-1..EP-6, run by package runtime).
//
// The provider creates the resources a workspace depends on (storage
// account, key vault, application insights, and on first need the container
// registry) through arm.Server.Do: the same validation, hooks and RBAC as a
// request from the network, so a workspace's storage account is an ordinary
// storage account.
package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/authorization"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

// Type names.
const (
	Namespace     = "Microsoft.MachineLearningServices"
	WorkspaceType = "Microsoft.MachineLearningServices/workspaces"
	InsightsType  = "Microsoft.Insights/components"
)

// API versions of the types this package declares and of the ones it calls.
const (
	apiStorage  = "2022-09-01"
	apiVault    = "2022-07-01"
	apiRegistry = "2022-02-01-preview"
	apiInsights = "2020-02-02"
	apiGroup    = "2021-04-01"
)

// MLAPIVersions span azure-ai-ml 1.4 (2022-10-01, 2023-04-01-preview),
// armmachinelearning v4 (2024-04-01) and newer SDKs.
var MLAPIVersions = []string{"2020-06-01", "2021-07-01", "2022-05-01", "2022-10-01", "2022-12-01-preview",
	"2023-04-01", "2023-04-01-preview", "2023-10-01", "2024-04-01", "2024-10-01", "2025-01-01-preview", "2025-09-01", "2025-12-01"}

// Provider is the wing's core: workspaces and what every ML resource kind
// shares (the store, RBAC, the front door).
type Provider struct {
	Store     store.Store
	Directory *directory.Directory
	Authz     *authorization.Service
	// ARM is the front door (it exists before any provider declares its
	// types, so providers hold it directly).
	ARM    *arm.Server
	Logger *slog.Logger

	mu      sync.Mutex
	wsHooks []func(ctx context.Context, ws *arm.Resource) // run after a workspace write (default datastores)
}

func (p *Provider) Log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Register declares the workspace and insights types on reg.
func (p *Provider) Register(reg *arm.Registry) {
	p.registerWorkspace(reg)
	p.registerInsights(reg)
}

// LoadResource reads a resource by ID inside or outside a transaction.
func LoadResource(ctx context.Context, r store.Reader, id string) (*arm.Resource, error) {
	pid, err := arm.ParseID(id)
	if err != nil {
		return nil, err
	}
	rec, err := r.Get(ctx, arm.KindResource, pid.Key())
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}

// UpdateResource applies fn to a stored resource in a transaction.
func (p *Provider) UpdateResource(ctx context.Context, id string, fn func(cur *arm.Resource) error) error {
	return p.UpdateResourceTx(ctx, id, func(_ store.Tx, cur *arm.Resource) error { return fn(cur) })
}

// UpdateResourceTx is UpdateResource for changes that write other records
// in the same transaction (role assignments).
func (p *Provider) UpdateResourceTx(ctx context.Context, id string, fn func(tx store.Tx, cur *arm.Resource) error) error {
	pid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return p.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(ctx, arm.KindResource, pid.Key())
		if err != nil {
			return err
		}
		cur, err := arm.DecodeResource(rec.Value)
		if err != nil {
			return err
		}
		if cur.Internal == nil {
			cur.Internal = map[string]any{}
		}
		if err := fn(tx, cur); err != nil {
			return err
		}
		b, err := arm.EncodeResource(cur)
		if err != nil {
			return err
		}
		_, err = tx.Put(ctx, store.Record{Kind: arm.KindResource, Key: rec.Key, Parent: rec.Parent, Value: b}, rec.ETag)
		return err
	})
}

// StorageKey reads key1 of a storage account through ARM as caller (a
// caller who may not list the keys gets the refusal).
func (p *Provider) StorageKey(ctx context.Context, caller *arm.Caller, accountID string) (string, error) {
	_, body, err := p.ARM.Do(ctx, caller, http.MethodPost, accountID+"/listKeys?api-version="+apiStorage, nil)
	if err != nil {
		return "", err
	}
	var k struct {
		Keys []struct{ Value string } `json:"keys"`
	}
	if err := json.Unmarshal(body, &k); err != nil || len(k.Keys) == 0 {
		return "", fmt.Errorf("storage account %s has no keys", accountID)
	}
	return k.Keys[0].Value, nil
}
