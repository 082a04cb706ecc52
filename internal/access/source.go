package access

import (
	"context"
	"errors"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/store"
)

// Lister is a Source that can also list resources: those of one type whose
// ID lies under scope (a subscription, a resource group or a parent
// resource).
type Lister interface {
	Source
	List(ctx context.Context, scope, resourceType string) ([]*arm.Resource, error)
}

// StoreSource reads ARM resources from amlid's store (server side).
func StoreSource(r store.Reader) Lister { return storeSource{r} }

type storeSource struct{ r store.Reader }

func (s storeSource) Get(ctx context.Context, id string) (*arm.Resource, error) {
	pid, err := arm.ParseID(id)
	if err != nil {
		return nil, err
	}
	rec, err := s.r.Get(ctx, arm.KindResource, pid.Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}

func (s storeSource) List(ctx context.Context, scope, resourceType string) ([]*arm.Resource, error) {
	prefix := strings.ToLower(strings.TrimRight(scope, "/")) + "/"
	recs, err := s.r.List(ctx, arm.KindResource, store.ListOptions{KeyPrefix: prefix})
	if err != nil {
		return nil, err
	}
	var out []*arm.Resource
	for _, rec := range recs {
		r, err := arm.DecodeResource(rec.Value)
		if err != nil || !strings.EqualFold(r.Type, resourceType) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// MemorySource is a Lister over resources held in memory (what-if analysis,
// tests and benchmarks): keyed by lower-cased ID.
type MemorySource struct {
	Next      Source // consulted for IDs not held here (may be nil)
	resources map[string]*arm.Resource
	byType    map[string][]*arm.Resource
	byParent  map[string][]*arm.Resource // lower(parent ID) + "|" + lower(type)
}

// NewMemorySource holds rs, falling back to next.
func NewMemorySource(next Source, rs ...*arm.Resource) *MemorySource {
	m := &MemorySource{Next: next, resources: map[string]*arm.Resource{}, byType: map[string][]*arm.Resource{}, byParent: map[string][]*arm.Resource{}}
	for _, r := range rs {
		m.Put(r)
	}
	return m
}

// Put adds or replaces a resource.
func (m *MemorySource) Put(r *arm.Resource) {
	k, t := strings.ToLower(r.ID), strings.ToLower(r.Type)
	pk := ""
	if id, err := arm.ParseID(r.ID); err == nil {
		pk = id.Parent().Key() + "|" + t
	}
	if _, ok := m.resources[k]; !ok {
		m.byType[t] = append(m.byType[t], r)
		m.byParent[pk] = append(m.byParent[pk], r)
	} else {
		replace(m.byType[t], r)
		replace(m.byParent[pk], r)
	}
	m.resources[k] = r
}

func replace(list []*arm.Resource, r *arm.Resource) {
	for i, o := range list {
		if strings.EqualFold(o.ID, r.ID) {
			list[i] = r
		}
	}
}

func (m *MemorySource) Get(ctx context.Context, id string) (*arm.Resource, error) {
	if r, ok := m.resources[strings.ToLower(id)]; ok {
		return r, nil
	}
	if m.Next != nil {
		return m.Next.Get(ctx, id)
	}
	return nil, ErrNotFound
}

func (m *MemorySource) List(ctx context.Context, scope, resourceType string) ([]*arm.Resource, error) {
	prefix := strings.ToLower(strings.TrimRight(scope, "/")) + "/"
	var out []*arm.Resource
	if kids, ok := m.byParent[strings.TrimSuffix(prefix, "/")+"|"+strings.ToLower(resourceType)]; ok {
		out = append(out, kids...) // direct children: no scan
	} else {
		for _, r := range m.byType[strings.ToLower(resourceType)] {
			if strings.HasPrefix(strings.ToLower(r.ID), prefix) {
				out = append(out, r)
			}
		}
	}
	if l, ok := m.Next.(Lister); ok {
		more, err := l.List(ctx, scope, resourceType)
		if err != nil {
			return nil, err
		}
		for _, r := range more {
			if _, held := m.resources[strings.ToLower(r.ID)]; !held {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
