package arm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/store"
)

// writeInput is a PUT or PATCH body, decoded: raw as the client sent it
// (after the type's Prepare hook), typed as a resource document.
type writeInput struct {
	raw   map[string]any
	typed Resource
	patch bool
}

// write creates, replaces (PUT) or updates (PATCH) a resource in named
// steps: decode and validate the body, then in one transaction load the
// current document under the conditional headers, build the new one, run
// the type's hooks and persist it; then respond.
func (s *Server) write(w http.ResponseWriter, c *Call, t *ResourceType, id ID) error {
	in, err := s.decodeWrite(c, t, id)
	if err != nil {
		return err
	}
	var out *Resource
	created := false
	err = s.cfg.Store.Tx(c.Ctx(), func(tx store.Tx) error {
		ctx := c.Ctx()
		old, err := loadForWrite(ctx, tx, c.R, id, in.patch)
		if err != nil {
			return err
		}
		nu, err := buildDocument(t, id, old, in)
		if err != nil {
			return err
		}
		wr := &Write{Call: c, ID: id, Old: old, New: nu, IsPatch: in.patch, TenantID: c.TenantID(), Body: in.raw}
		if err := s.runWriteHooks(ctx, tx, t, wr); err != nil {
			return err
		}
		if err := persistResource(ctx, tx, c, id, nu); err != nil {
			return err
		}
		created, out = old == nil, nu
		return nil
	})
	if err != nil {
		return err
	}
	s.respondWrite(w, c, t, id, out, created)
	return nil
}

// decodeWrite checks the name and decodes the body: the raw map (which
// the type's Prepare hook may change, seeing the current document if any)
// and the typed document, whose tags must be valid.
func (s *Server) decodeWrite(c *Call, t *ResourceType, id ID) (*writeInput, error) {
	if err := t.Name.Check(t.TypeName(), id.Name()); err != nil {
		return nil, err
	}
	body, err := readBody(c.R)
	if err != nil {
		return nil, err
	}
	in := &writeInput{patch: c.R.Method == http.MethodPatch}
	if err := DecodeJSON(body, &in.raw); err != nil {
		return nil, err
	}
	if t.Prepare != nil {
		old, err := s.load(c, id)
		if err != nil && AsError(err).Status != http.StatusNotFound {
			return nil, err
		}
		if err := t.Prepare(c.Ctx(), c, id, old, in.raw); err != nil {
			return nil, err
		}
		if body, err = json.Marshal(in.raw); err != nil {
			return nil, err
		}
	}
	if err := DecodeJSON(body, &in.typed); err != nil {
		return nil, err
	}
	if err := checkTags(in.typed.Tags); err != nil {
		return nil, err
	}
	return in, nil
}

// loadForWrite reads the current document (nil when there is none) once
// the parent of a nested resource is known to exist, and applies the
// conditional headers; a PATCH needs a document to patch.
func loadForWrite(ctx context.Context, tx store.Tx, r *http.Request, id ID, patch bool) (*Resource, error) {
	if len(id.Types) > 1 {
		if _, err := tx.Get(ctx, KindResource, id.Parent().Key()); errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(http.StatusNotFound, "ParentResourceNotFound",
				"Can not perform requested operation on nested resource. Parent resource '%s' not found.", strings.Join(id.Parent().Names, "/"))
		} else if err != nil {
			return nil, err
		}
	}
	rec, err := tx.Get(ctx, KindResource, id.Key())
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err := checkConditions(r, exists, rec.ETag); err != nil {
		return nil, err
	}
	if !exists {
		if patch {
			return nil, notFound(id)
		}
		return nil, nil
	}
	return DecodeResource(rec.Value)
}

// buildDocument is the document to store: the body (merged onto old for
// a PATCH) with the envelope ARM owns (id, name, type, systemData keep the
// first write's), the location rule of tracked types, and properties
// without the client's provisioningState.
func buildDocument(t *ResourceType, id ID, old *Resource, in *writeInput) (*Resource, error) {
	nu := &in.typed
	if in.patch {
		var err error
		if nu, err = mergeOnto(old, in.raw); err != nil {
			return nil, err
		}
	}
	nu.ID, nu.Name, nu.Type, nu.ETag = id.String(), id.Name(), id.TypeName(), ""
	if old != nil {
		nu.ID, nu.Name = old.ID, old.Name // keep the casing of the first write
		nu.SystemData = old.SystemData
		nu.Internal = old.Internal
	}
	if err := applyLocation(t.Tracked, id, old, nu); err != nil {
		return nil, err
	}
	if nu.Properties == nil {
		nu.Properties = map[string]any{}
	}
	// provisioningState is the provider's to set (read-only for
	// clients): hooks may set it (a deployment answers "Creating"),
	// else the write completed: "Succeeded".
	delete(nu.Properties, "provisioningState")
	return nu, nil
}

// mergeOnto merges a PATCH body onto the current document (JSON merge
// patch). The envelope fields a client cannot set are dropped from raw
// first, so hooks see the body without them too.
func mergeOnto(old *Resource, raw map[string]any) (*Resource, error) {
	cur, _ := json.Marshal(old)
	var m map[string]any
	_ = json.Unmarshal(cur, &m)
	for _, k := range readOnlyTop {
		delete(raw, k)
	}
	m = mergePatch(m, raw)
	merged, _ := json.Marshal(m)
	nu := &Resource{}
	if err := DecodeJSON(merged, nu); err != nil {
		return nil, err
	}
	return nu, nil
}

// applyLocation sets nu's location: a tracked resource needs one on
// create, keeps its own when the body has none, and cannot move; an
// untracked one has none.
func applyLocation(tracked bool, id ID, old, nu *Resource) error {
	if !tracked {
		nu.Location = ""
		return nil
	}
	switch {
	case nu.Location == "" && old == nil:
		return Errorf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
	case nu.Location == "" && old != nil:
		nu.Location = old.Location
	case old != nil && !strings.EqualFold(normLocation(nu.Location), normLocation(old.Location)):
		return Errorf(http.StatusConflict, "InvalidResourceLocation",
			"The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.",
			id.Name(), old.Location, id.ResourceGroup, nu.Location)
	}
	nu.Location = normLocation(nu.Location)
	return nil
}

// runWriteHooks runs, inside the write's transaction, the type's
// validation, the managed-identity block and the BeforeCommit hook.
func (s *Server) runWriteHooks(ctx context.Context, tx store.Tx, t *ResourceType, wr *Write) error {
	if t.Validate != nil {
		if err := t.Validate(ctx, wr); err != nil {
			return err
		}
	}
	if err := s.applyIdentity(ctx, tx, t, wr); err != nil {
		return err
	}
	if t.BeforeCommit != nil {
		if err := t.BeforeCommit(ctx, tx, wr); err != nil {
			return err
		}
	}
	return nil
}

// persistResource completes the document (provisioningState, systemData)
// and stores it.
func persistResource(ctx context.Context, tx store.Tx, c *Call, id ID, nu *Resource) error {
	if _, ok := nu.Properties["provisioningState"]; !ok {
		nu.Properties["provisioningState"] = "Succeeded"
	}
	stampModified(nu, c, time.Now().UTC())
	b, err := encodeResource(nu)
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: KindResource, Key: id.Key(), Parent: id.ParentKey(), Value: b}, "")
	return err
}

// respondWrite runs the AfterCommit hook and answers with the stored
// document: 200, or the type's create status for a new resource.
func (s *Server) respondWrite(w http.ResponseWriter, c *Call, t *ResourceType, id ID, out *Resource, created bool) {
	if t.AfterCommit != nil {
		t.AfterCommit(c.Ctx(), id, out.Clone())
	}
	if t.WriteHeaders != nil {
		for k, vs := range t.WriteHeaders(c, out) {
			w.Header()[k] = vs
		}
	}
	s.present(c, out)
	status := http.StatusOK
	if created {
		status = t.CreateStatus
	}
	WriteJSON(w, status, out)
}
