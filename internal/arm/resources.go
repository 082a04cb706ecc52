package arm

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
)

func notFound(id ID) error {
	return Errorf(http.StatusNotFound, "ResourceNotFound",
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
		id.TypeName(), strings.Join(id.Names, "/"), id.ResourceGroup)
}

// serveResource handles …/resourceGroups/{rg}/providers/{ns}/{type}/{name}[…].
func (s *Server) serveResource(w http.ResponseWriter, c *Call, sub directory.Subscription, rg string, segs []string) error {
	if len(segs) < 2 {
		return Errorf(http.StatusNotFound, "NotFound", "No Resource Manager operation matches '%s'.", c.R.URL.Path)
	}
	ns, ok := s.cfg.Registry.Namespace(segs[0])
	if !ok {
		return Errorf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", segs[0])
	}
	typesIn, names, trailing := splitTypesAndNames(segs[1:])
	// The trailing segment is a child collection (GET) or an action (POST).
	if trailing != "" {
		if ct, ok := s.cfg.Registry.Lookup(ns, append(append([]string{}, typesIn...), trailing)); ok && c.R.Method == http.MethodGet {
			return s.serveChildren(w, c, sub, rg, ns, ct, typesIn, names)
		}
		if len(typesIn) == 0 {
			return unknownType(ns, trailing, c.APIVersion)
		}
	}
	t, ok := s.cfg.Registry.Lookup(ns, typesIn)
	if !ok {
		return unknownType(ns, strings.Join(typesIn, "/"), c.APIVersion)
	}
	if err := t.CheckAPIVersion(c.APIVersion); err != nil {
		return err
	}
	id := ID{Subscription: sub.ID, ResourceGroup: rg, Namespace: ns, Types: t.canonical(), Names: names}
	if trailing != "" {
		if c.R.Method != http.MethodPost {
			return methodNotAllowed(c)
		}
		return s.action(w, c, t, id, trailing)
	}
	if _, err := s.GetResourceGroup(c, sub.ID, rg); err != nil {
		return err
	}
	verb, ok := resourceVerb(c.R.Method, t.Serve != nil)
	if !ok {
		return methodNotAllowed(c)
	}
	if err := c.Authorize(t.RBACAction(verb), id.String()); err != nil {
		return err
	}
	switch {
	case t.Serve != nil:
		return t.Serve(w, c, id)
	case verb == "read":
		return s.read(w, c, id)
	case verb == "write":
		return s.write(w, c, t, id)
	default:
		return s.delete(w, c, id)
	}
}

// splitTypesAndNames splits the segments after the namespace into
// type/name pairs and a trailing segment (a child collection or an
// action; "" when none).
func splitTypesAndNames(rest []string) (types, names []string, trailing string) {
	for i := 0; i+1 < len(rest); i += 2 {
		types = append(types, rest[i])
		names = append(names, rest[i+1])
	}
	if len(rest)%2 == 1 {
		trailing = rest[len(rest)-1]
	}
	return types, names, trailing
}

// resourceVerb is the RBAC verb of a request on a resource: read, write or
// delete. A type that serves itself (Serve) takes any method, POST being a
// write; otherwise only GET, HEAD, PUT, PATCH and DELETE are known.
func resourceVerb(method string, serves bool) (string, bool) {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read", true
	case http.MethodPut, http.MethodPatch:
		return "write", true
	case http.MethodDelete:
		return "delete", true
	case http.MethodPost:
		return "write", serves
	}
	return "read", serves
}

// serveChildren lists a child collection: …/{type}/{name}/{children}, or a
// collection of the group itself (…/providers/{ns}/{type}).
func (s *Server) serveChildren(w http.ResponseWriter, c *Call, sub directory.Subscription, rg, ns string, ct *ResourceType, typesIn, names []string) error {
	if err := ct.CheckAPIVersion(c.APIVersion); err != nil {
		return err
	}
	if _, err := s.GetResourceGroup(c, sub.ID, rg); err != nil {
		return err
	}
	parent := ID{Subscription: sub.ID, ResourceGroup: rg}
	if len(typesIn) > 0 {
		parent = ID{Subscription: sub.ID, ResourceGroup: rg, Namespace: ns, Types: ct.canonical()[:len(typesIn)], Names: names}
		if _, err := s.load(c, parent); err != nil {
			return err
		}
	}
	return s.listChildren(w, c, parent, ct)
}

// read answers GET (the document) and HEAD (204, or 404 with no body).
func (s *Server) read(w http.ResponseWriter, c *Call, id ID) error {
	r, err := s.load(c, id)
	if err != nil {
		if c.R.Method == http.MethodHead && AsError(err).Status == http.StatusNotFound {
			w.WriteHeader(http.StatusNotFound)
			return nil
		}
		return err
	}
	if c.R.Method == http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.present(c, r)
	WriteJSON(w, http.StatusOK, r)
	return nil
}

// load reads a resource by ID; 404 ResourceNotFound when missing.
func (s *Server) load(c *Call, id ID) (*Resource, error) {
	rec, err := s.cfg.Store.Get(c.Ctx(), KindResource, id.Key())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	return DecodeResource(rec.Value)
}

// Load reads a resource by its ID string (for providers and the CLI-facing
// helpers); the error is ARM's 404 when missing.
func (s *Server) Load(c *Call, resourceID string) (*Resource, error) {
	id, err := ParseID(resourceID)
	if err != nil {
		return nil, err
	}
	return s.load(c, id)
}

func (s *Server) present(c *Call, r *Resource) {
	id, err := ParseID(r.ID)
	if err != nil {
		return
	}
	if t, ok := s.cfg.Registry.Lookup(id.Namespace, id.Types); ok && t.Present != nil {
		t.Present(c.Ctx(), r)
	}
}

// readOnlyTop are envelope fields a client cannot set.
var readOnlyTop = []string{"id", "name", "type", "etag", "systemData"}

func normLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

func (s *Server) delete(w http.ResponseWriter, c *Call, id ID) error {
	var deleted []*Resource
	err := s.cfg.Store.Tx(c.Ctx(), func(tx store.Tx) error {
		rec, err := tx.Get(c.Ctx(), KindResource, id.Key())
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := checkConditions(c.R, true, rec.ETag); err != nil {
			return err
		}
		if t, ok := s.cfg.Registry.Lookup(id.Namespace, id.Types); ok && t.DeleteCheck != nil {
			target, err := DecodeResource(rec.Value)
			if err != nil {
				return err
			}
			if err := t.DeleteCheck(c, target); err != nil {
				return err
			}
		}
		if deleted, err = s.deleteBelow(c, tx, id.Key()); err != nil {
			return err
		}
		res, err := DecodeResource(rec.Value)
		if err != nil {
			return err
		}
		if err := s.deleteInTx(c, tx, res); err != nil {
			return err
		}
		deleted = append(deleted, res)
		return nil
	})
	if err != nil {
		return err
	}
	if len(deleted) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	for _, res := range deleted {
		s.afterDelete(c, res)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBelow deletes every resource under key (children before their
// parents) inside tx and returns them, for the after-commit hooks.
func (s *Server) deleteBelow(c *Call, tx store.Tx, key string) ([]*Resource, error) {
	recs, err := tx.List(c.Ctx(), KindResource, store.ListOptions{KeyPrefix: key + "/"})
	if err != nil {
		return nil, err
	}
	sort.Slice(recs, func(i, j int) bool { return strings.Count(recs[i].Key, "/") > strings.Count(recs[j].Key, "/") })
	var deleted []*Resource
	for _, rr := range recs {
		res, err := DecodeResource(rr.Value)
		if err != nil {
			return nil, err
		}
		if err := s.deleteInTx(c, tx, res); err != nil {
			return nil, err
		}
		deleted = append(deleted, res)
	}
	return deleted, nil
}

// deleteInTx removes one resource record, running its type's BeforeDelete.
func (s *Server) deleteInTx(c *Call, tx store.Tx, res *Resource) error {
	id, err := ParseID(res.ID)
	if err != nil {
		return err
	}
	if t, ok := s.cfg.Registry.Lookup(id.Namespace, id.Types); ok && t.BeforeDelete != nil {
		if err := t.BeforeDelete(c.Ctx(), tx, res); err != nil {
			return err
		}
	}
	// A system-assigned identity dies with its resource, with its role
	// assignments (rule ID-1).
	if pid := res.SystemPrincipalID(); pid != "" {
		if err := s.deletePrincipal(c.Ctx(), tx, pid); err != nil {
			return err
		}
	}
	return tx.Delete(c.Ctx(), KindResource, id.Key(), "")
}

func (s *Server) afterDelete(c *Call, res *Resource) {
	id, err := ParseID(res.ID)
	if err != nil {
		return
	}
	if t, ok := s.cfg.Registry.Lookup(id.Namespace, id.Types); ok && t.AfterCommit != nil {
		t.AfterCommit(c.Ctx(), id, nil)
	}
}

// listChildren lists resources of type t directly below parent (a resource
// group or a parent resource): one key range of the parent index.
func (s *Server) listChildren(w http.ResponseWriter, c *Call, parent ID, t *ResourceType) error {
	if err := c.Authorize(t.RBACAction("read"), parent.String()); err != nil {
		return err
	}
	segs := t.canonical()
	prefix := parent.Key() + "/" + strings.ToLower(segs[len(segs)-1]) + "/"
	if len(segs) == 1 {
		prefix = parent.Key() + "/providers/" + strings.ToLower(t.Namespace+"/"+segs[0]) + "/"
	}
	opts := store.PageOptions{Parent: parent.Key(), KeyPrefix: prefix}
	keep := func(r *Resource) bool { return t.ListFilter(c, r) }
	if t.ListPrepare != nil {
		var err error
		if keep, err = t.ListPrepare(c, parent); err != nil {
			return err
		}
	}
	if t.ListFilter != nil || t.ListPrepare != nil {
		opts.Keep = func(rec store.Record) bool {
			r, err := DecodeResource(rec.Value)
			return err == nil && keep(r)
		}
	}
	return s.writePage(w, c, KindResource, opts, s.renderResource(c))
}

// listOfType lists resources of top-level type t anywhere below scope: a
// key range of the scope filtered by the type in the key (pages may be
// short, see store.PageOptions.Keep).
func (s *Server) listOfType(w http.ResponseWriter, c *Call, scope string, t *ResourceType) error {
	if err := c.Authorize(t.RBACAction("read"), scope); err != nil {
		return err
	}
	typ := strings.ToLower(t.TypeName())
	keep := func(rec store.Record) bool { return keyType(rec.Key) == typ }
	return s.writePage(w, c, KindResource, store.PageOptions{KeyPrefix: Normalize(scope) + "/", Keep: keep}, s.renderResource(c))
}

func (s *Server) renderResource(c *Call) func(store.Record) (any, error) {
	return func(rec store.Record) (any, error) {
		r, err := DecodeResource(rec.Value)
		if err != nil {
			return nil, err
		}
		s.present(c, r)
		return r, nil
	}
}

func (s *Server) action(w http.ResponseWriter, c *Call, t *ResourceType, id ID, name string) error {
	var act Action
	found := false
	for k, a := range t.Actions {
		if strings.EqualFold(k, name) {
			act, found, name = a, true, k
		}
	}
	if !found {
		return Errorf(http.StatusNotFound, "NotFound", "The resource type '%s' has no action '%s'.", t.TypeName(), name)
	}
	if _, err := s.GetResourceGroup(c, id.Subscription, id.ResourceGroup); err != nil {
		return err
	}
	rbac := act.RBACAction
	if rbac == "" {
		rbac = t.TypeName() + "/" + name + "/action"
	}
	if err := c.Authorize(rbac, id.String()); err != nil {
		return err
	}
	r, err := s.load(c, id)
	if err != nil {
		return err
	}
	body, err := readBody(c.R)
	if err != nil {
		return err
	}
	status, out, err := act.Handler(c.Ctx(), c, r, body)
	if err != nil {
		return err
	}
	if hr, ok := out.(*ActionResponse); ok {
		for k, vs := range hr.Header {
			w.Header()[k] = vs
		}
		out = hr.Body
	}
	WriteJSON(w, status, out)
	return nil
}
