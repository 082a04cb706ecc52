package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/store"
)

// View is the page's data: only what the signed-in principal may read.
type View struct {
	Me          Me                      `json:"me"`
	Version     string                  `json:"version"`
	Scopes      []Scope                 `json:"scopes"`
	Principals  []Principal             `json:"principals"`
	Assignments []Assignment            `json:"assignments"`
	Workloads   []access.ResourceReport `json:"workloads"`
	Excess      []access.Excess         `json:"excessGrants"`
	Met         int                     `json:"met"`
	Unmet       int                     `json:"unmet"`
	BuildMillis float64                 `json:"buildMillis"`
}

// Me is the signed-in principal.
type Me struct {
	ObjectID string `json:"objectId"`
	Name     string `json:"name"`
	UPN      string `json:"upn"`
}

// Scope is a subscription, resource group or resource the principal may read.
type Scope struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Parent string `json:"parent,omitempty"`
}

// Principal is a principal seen in a visible assignment or acting for a
// visible workload.
type Principal struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"` // User | Group | ServicePrincipal | SystemAssignedIdentity | UserAssignedIdentity
	UPN        string `json:"upn,omitempty"`
	AppID      string `json:"appId,omitempty"`
	ResourceID string `json:"resourceId,omitempty"`
	Unknown    bool   `json:"unknown,omitempty"` // not in the directory (deleted)
	// MemberOf lists the shown groups the principal belongs to (directly):
	// their assignments reach it too.
	MemberOf []string `json:"memberOf,omitempty"`
}

// Assignment is a visible role assignment.
type Assignment struct {
	ID          string `json:"id"`
	PrincipalID string `json:"principalId"`
	Role        string `json:"role"`
	Scope       string `json:"scope"`
}

type keyedAssignment struct {
	k string
	a Assignment
}

const typeSubscription = "Microsoft.Resources/subscriptions"
const typeResourceGroup = "Microsoft.Resources/resourceGroups"

// reader decides what a principal may read, with the engine loaded once.
type reader struct {
	eng    *rbac.Engine
	oid    string
	groups []string
	memo   map[string]bool
}

func (h *Handler) reader(ctx context.Context, s *session) (*reader, error) {
	// Check freshens the engine (another replica may have written).
	if _, err := h.cfg.Authz.Check(ctx, s.TenantID, s.ObjectID, catalog.SubscriptionRead, false, "/"); err != nil {
		return nil, err
	}
	groups, err := h.cfg.Authz.GroupsOf(ctx, s.TenantID, s.ObjectID)
	if err != nil {
		return nil, err
	}
	return &reader{eng: h.cfg.Authz.Engine(), oid: s.ObjectID, groups: groups, memo: map[string]bool{}}, nil
}

func (rd *reader) can(action, scope string) bool {
	k := action + "|" + strings.ToLower(scope)
	if v, ok := rd.memo[k]; ok {
		return v
	}
	v := rd.eng.Check(rbac.Request{PrincipalID: rd.oid, GroupIDs: rd.groups, Action: action, Scope: scope}).Allowed
	rd.memo[k] = v
	return v
}

// readAction is what reading a scope takes.
func readAction(typ string) string {
	switch {
	case strings.EqualFold(typ, typeSubscription):
		return catalog.SubscriptionRead
	case strings.EqualFold(typ, typeResourceGroup):
		return catalog.ResourceGroupRead
	}
	return catalog.ReadAction(typ)
}

// canReadScope decides a scope given by ID alone.
func (rd *reader) canReadScope(scope string) bool {
	id, err := arm.ParseID(scope)
	if err != nil {
		return false
	}
	switch {
	case id.ResourceGroup == "":
		return rd.can(catalog.SubscriptionRead, id.String())
	case id.Namespace == "":
		return rd.can(catalog.ResourceGroupRead, id.String())
	}
	return rd.can(catalog.ReadAction(id.TypeName()), id.String())
}

// ancestorsOf lists scope's strict ancestors on segment boundaries (lower-cased).
func ancestorsOf(scope string) []string {
	s := strings.ToLower(strings.TrimRight(scope, "/"))
	var out []string
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '/' {
			out = append(out, s[:i])
		}
	}
	return out
}

// build computes the view for a session.
func (h *Handler) build(ctx context.Context, s *session) (*View, error) {
	start := time.Now()
	rd, err := h.reader(ctx, s)
	if err != nil {
		return nil, err
	}
	v := &View{Me: Me{ObjectID: s.ObjectID, Name: s.Name, UPN: s.UPN}, Scopes: []Scope{}, Principals: []Principal{},
		Assignments: []Assignment{}, Workloads: []access.ResourceReport{}, Excess: []access.Excess{}}
	subs, err := h.cfg.Directory.Subscriptions(ctx, s.TenantID)
	if err != nil {
		return nil, err
	}
	visible, roots, err := h.buildScopes(ctx, s, rd, v, subs)
	if err != nil {
		return nil, err
	}
	seenPrincipal := map[string]bool{}
	buildAssignments(rd, v, visible, seenPrincipal)
	if err := h.buildWorkloads(ctx, v, visible, roots, seenPrincipal); err != nil {
		return nil, err
	}
	if err := h.buildPrincipals(ctx, s, v, seenPrincipal); err != nil {
		return nil, err
	}
	v.BuildMillis = float64(time.Since(start).Microseconds()) / 1000
	return v, nil
}

// buildScopes fills v.Scopes with the subscriptions and resources the
// session may read and sets v.Version. It returns the visible scope IDs
// (lower-cased) and the roots to analyze: visible scopes with no visible
// parent.
func (h *Handler) buildScopes(ctx context.Context, s *session, rd *reader, v *View, subs []directory.Subscription) (map[string]bool, []string, error) {
	fp := sha256.New()
	if err := h.versions(ctx, s, fp); err != nil {
		return nil, nil, err
	}
	visible := map[string]bool{} // lower-cased scope IDs
	var roots []string           // scopes to analyze: visible, with no visible parent
	for _, sub := range subs {
		subID := "/subscriptions/" + sub.ID
		subOK := rd.can(catalog.SubscriptionRead, subID)
		if subOK {
			visible[strings.ToLower(subID)] = true
			v.Scopes = append(v.Scopes, Scope{ID: subID, Name: sub.DisplayName, Type: typeSubscription})
			roots = append(roots, subID)
		}
		recs, err := h.cfg.Store.List(ctx, arm.KindResource, store.ListOptions{KeyPrefix: strings.ToLower(subID) + "/"})
		if err != nil {
			return nil, nil, err
		}
		for _, rec := range recs {
			fp.Write([]byte(rec.Key + "\x00" + rec.ETag + "\x00"))
			r, err := arm.DecodeResource(rec.Value)
			if err != nil || r.ID == "" {
				continue
			}
			typ := r.Type
			id, perr := arm.ParseID(r.ID)
			if perr != nil {
				continue
			}
			parent := ""
			if id.Namespace == "" {
				typ, parent = typeResourceGroup, subID
			} else {
				parent = id.Parent().String()
			}
			if !subOK && !rd.can(readAction(typ), r.ID) {
				continue
			}
			k := strings.ToLower(r.ID)
			visible[k] = true
			v.Scopes = append(v.Scopes, Scope{ID: r.ID, Name: r.Name, Type: typ, Parent: parent})
			if !subOK && !visible[strings.ToLower(parent)] && (typ == typeResourceGroup || strings.EqualFold(typ, catalog.TypeWorkspace)) {
				roots = append(roots, r.ID)
			}
		}
	}
	v.Version = hex.EncodeToString(fp.Sum(nil)[:12])
	return visible, roots, nil
}

// buildAssignments fills v.Assignments (sorted by principal, then scope):
// at or under a readable scope where the principal may read role
// assignments, or above a visible scope (inherited, as
// `role assignment list --include-inherited` shows them). It marks their
// principals in seenPrincipal.
func buildAssignments(rd *reader, v *View, visible, seenPrincipal map[string]bool) {
	above := map[string]bool{}
	for k := range visible {
		for _, a := range ancestorsOf(k) {
			above[a] = true
		}
	}
	scopeOK := map[string]bool{}
	roleNames := map[string]string{} // role definition ID → name
	for _, a := range rd.eng.AssignmentsUnordered() {
		sk := strings.ToLower(strings.TrimRight(a.Scope, "/"))
		ok, done := scopeOK[sk]
		if !done {
			ok = above[sk]
			if !ok {
				within := visible[sk]
				for _, anc := range ancestorsOf(sk) {
					if within {
						break
					}
					within = visible[anc]
				}
				ok = within && rd.can(catalog.RoleAssignmentRead, a.Scope)
			}
			scopeOK[sk] = ok
		}
		if !ok {
			continue
		}
		role, known := roleNames[a.RoleDefinitionID]
		if !known {
			role = a.RoleDefinitionID
			if rdef, found := rd.eng.Role(a.RoleDefinitionID); found {
				role = rdef.RoleName
			}
			roleNames[a.RoleDefinitionID] = role
		}
		v.Assignments = append(v.Assignments, Assignment{ID: a.ID, PrincipalID: strings.ToLower(a.PrincipalID), Role: role, Scope: a.Scope})
		seenPrincipal[strings.ToLower(a.PrincipalID)] = true
	}
	keyed := make([]keyedAssignment, len(v.Assignments)) // principal|scope, lower-cased once
	for i, a := range v.Assignments {
		keyed[i] = keyedAssignment{a.PrincipalID + "|" + strings.ToLower(a.Scope), a}
	}
	slices.SortFunc(keyed, func(x, y keyedAssignment) int { return strings.Compare(x.k, y.k) })
	for i := range keyed {
		v.Assignments[i] = keyed[i].a
	}
}

// buildWorkloads runs the analyzer over each visible root and fills
// v.Workloads, v.Excess, v.Met and v.Unmet. It marks the workloads'
// identities in seenPrincipal.
func (h *Handler) buildWorkloads(ctx context.Context, v *View, visible map[string]bool, roots []string, seenPrincipal map[string]bool) error {
	an := &access.Analyzer{Src: access.StoreSource(h.cfg.Store), Decider: h.cfg.Authz}
	seenWorkload := map[string]bool{}
	for _, root := range roots {
		var rep *access.Report
		var err error
		id, _ := arm.ParseID(root)
		if id.Namespace != "" {
			rep, err = an.Analyze(ctx, root, root)
		} else {
			rep, err = an.Analyze(ctx, root, "")
		}
		if err != nil {
			return fmt.Errorf("analyzing %s: %w", root, err)
		}
		for _, rr := range rep.Resources {
			k := strings.ToLower(rr.ID)
			if !visible[k] || seenWorkload[k] {
				continue
			}
			seenWorkload[k] = true
			if rr.Identity != nil {
				seenPrincipal[strings.ToLower(rr.Identity.PrincipalID)] = true
			}
			for _, f := range rr.Findings {
				switch {
				case f.Met:
					v.Met++
				case !f.Optional:
					v.Unmet++
				}
			}
			v.Workloads = append(v.Workloads, rr)
		}
		for _, e := range rep.Excess {
			if visible[strings.ToLower(e.Identity.Of)] {
				v.Excess = append(v.Excess, e)
			}
		}
	}
	return nil
}

// buildPrincipals fills v.Principals with details only for those the view
// shows (seenPrincipal, which it consumes). Members of shown groups are
// shown too (their access comes through the group), nested groups included.
func (h *Handler) buildPrincipals(ctx context.Context, s *session, v *View, seenPrincipal map[string]bool) error {
	all, err := h.cfg.Directory.Principals(ctx, s.TenantID, "")
	if err != nil {
		return err
	}
	byID := make(map[string]*directory.Principal, len(all))
	for _, p := range all {
		byID[strings.ToLower(p.ObjectID)] = p
	}
	memberOf := map[string][]string{}
	queue := make([]string, 0, len(seenPrincipal))
	for k := range seenPrincipal {
		queue = append(queue, k)
	}
	expanded := map[string]bool{}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		g := byID[k]
		if g == nil || g.Type != directory.TypeGroup || expanded[k] {
			continue
		}
		expanded[k] = true
		for _, m := range g.Members {
			mk := strings.ToLower(m)
			memberOf[mk] = append(memberOf[mk], k)
			if !seenPrincipal[mk] {
				seenPrincipal[mk] = true
				queue = append(queue, mk)
			}
		}
	}
	for _, p := range all {
		k := strings.ToLower(p.ObjectID)
		if !seenPrincipal[k] {
			continue
		}
		delete(seenPrincipal, k)
		pp := principalOf(p)
		pp.MemberOf = memberOf[k]
		v.Principals = append(v.Principals, pp)
	}
	for k := range seenPrincipal {
		v.Principals = append(v.Principals, Principal{ID: k, Name: k, Type: "Unknown", Unknown: true})
	}
	sort.Slice(v.Principals, func(i, j int) bool {
		if v.Principals[i].Type != v.Principals[j].Type {
			return v.Principals[i].Type > v.Principals[j].Type // Users, then service principals, managed identities, groups
		}
		return strings.ToLower(v.Principals[i].Name) < strings.ToLower(v.Principals[j].Name)
	})
	return nil
}

func principalOf(p *directory.Principal) Principal {
	out := Principal{ID: strings.ToLower(p.ObjectID), Name: p.DisplayName, Type: p.Type, UPN: p.UPN}
	switch {
	case p.IsManagedIdentity() && p.SystemAssigned:
		out.Type, out.ResourceID, out.AppID = "SystemAssignedIdentity", p.ResourceID, p.AppID
	case p.IsManagedIdentity():
		out.Type, out.ResourceID, out.AppID = "UserAssignedIdentity", p.ResourceID, p.AppID
	case p.Type == directory.TypeServicePrincipal:
		out.AppID = p.AppID
	}
	if out.Name == "" {
		out.Name = out.UPN
	}
	return out
}

// versions writes the RBAC state's and the tenant's groups' versions.
func (h *Handler) versions(ctx context.Context, s *session, w io.Writer) error {
	rv, err := h.cfg.Authz.Version(ctx)
	if err != nil {
		return err
	}
	gv, err := h.cfg.Directory.GroupsVersion(ctx, s.TenantID)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, rv+"\x00"+gv+"\x00")
	return err
}

// fingerprint is the view's version without building it: RBAC state, the
// tenant's groups and every resource's ETag in the tenant's subscriptions.
func (h *Handler) fingerprint(ctx context.Context, s *session) (string, error) {
	fp := sha256.New()
	if err := h.versions(ctx, s, fp); err != nil {
		return "", err
	}
	subs, err := h.cfg.Directory.Subscriptions(ctx, s.TenantID)
	if err != nil {
		return "", err
	}
	for _, sub := range subs {
		recs, err := h.cfg.Store.List(ctx, arm.KindResource, store.ListOptions{KeyPrefix: strings.ToLower("/subscriptions/"+sub.ID) + "/"})
		if err != nil {
			return "", err
		}
		for _, rec := range recs {
			fp.Write([]byte(rec.Key + "\x00" + rec.ETag + "\x00"))
		}
	}
	return hex.EncodeToString(fp.Sum(nil)[:12]), nil
}

func (h *Handler) serveGraph(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := h.build(r.Context(), s)
	if err != nil {
		h.log.Error("building the page data failed", "err", err)
		apiError(w, http.StatusInternalServerError, "InternalServerError", "amlid could not compute the access graph: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("ETag", `"`+v.Version+`"`)
	w.Header().Set("Server-Timing", fmt.Sprintf("build;dur=%.1f", v.BuildMillis))
	_ = json.NewEncoder(w).Encode(v)
}

// serveWhoCan answers who may perform an action over a scope the principal
// may read, with each assignment that allows it (the analyzer's index).
func (h *Handler) serveWhoCan(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	scope, action := q.Get("scope"), q.Get("action")
	if _, err := arm.ParseID(scope); err != nil {
		apiError(w, http.StatusBadRequest, "InvalidScope", "'"+scope+"' is not a subscription, resource group or resource ID.")
		return
	}
	if !strings.Contains(action, "/") {
		apiError(w, http.StatusBadRequest, "InvalidAction", "'"+action+"' is not an action (Microsoft.Provider/type/…).")
		return
	}
	ctx := r.Context()
	rd, err := h.reader(ctx, s)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	// Not found and not readable look the same: a Reader of one group learns
	// nothing of another's resources.
	if !rd.canReadScope(scope) || !rd.can(catalog.RoleAssignmentRead, scope) {
		apiError(w, http.StatusNotFound, "ScopeNotFound", "No scope '"+scope+"' that you may read (you need …/read and Microsoft.Authorization/roleAssignments/read there).")
		return
	}
	x := access.NewWhoCanIndex(rd.eng.AssignmentsUnordered(), rd.eng.Role)
	x.Members = func(group string) []access.Member {
		g, err := h.cfg.Directory.Principal(ctx, group)
		if err != nil {
			return nil
		}
		var out []access.Member
		for _, m := range g.Members {
			t := directory.TypeServicePrincipal
			if p, err := h.cfg.Directory.Principal(ctx, m); err == nil {
				t = p.Type
			}
			out = append(out, access.Member{ID: m, Type: t})
		}
		return out
	}
	grants := x.WhoCan(scope, action, q.Get("dataAction") == "true")
	type named struct {
		access.Grant
		Name string `json:"name"`
	}
	out := make([]named, 0, len(grants))
	for _, g := range grants {
		n := named{Grant: g, Name: g.PrincipalID}
		if p, err := h.cfg.Directory.Principal(ctx, g.PrincipalID); err == nil {
			n.Name = principalOf(p).Name
		}
		out = append(out, n)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"scope": scope, "action": action, "value": out})
}

// serveEvents streams "change" events while the session lasts.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request, s *session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, http.StatusInternalServerError, "InternalServerError", "streaming is not supported here")
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	last, _ := h.fingerprint(ctx, s)
	fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: %s\n\n", last)
	fl.Flush()
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	beat := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.cfg.Stopping:
			return
		case <-t.C:
		}
		if _, err := h.cfg.Store.Get(ctx, KindSession, s.key); err != nil || !time.Now().Before(s.Expires) {
			fmt.Fprint(w, "event: signedout\ndata: {}\n\n")
			fl.Flush()
			return
		}
		fpv, err := h.fingerprint(ctx, s)
		if err != nil {
			return
		}
		beat++
		switch {
		case fpv != last:
			last = fpv
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", fpv)
		case beat%15 == 0:
			fmt.Fprint(w, ": keep-alive\n\n")
		default:
			continue
		}
		fl.Flush()
	}
}
