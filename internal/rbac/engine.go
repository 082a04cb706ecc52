package rbac

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Assignment is a role assignment: PrincipalID holds role RoleDefinitionID
// over Scope and every scope below it (rule RBAC-2).
type Assignment struct {
	// ID is the full ARM ID: {scope}/providers/Microsoft.Authorization/roleAssignments/{name}.
	ID string `json:"id"`
	// Name is the assignment GUID; the engine's key (case-insensitive).
	// Derived from ID when empty.
	Name string `json:"name"`
	// Scope where the role is assigned; derived from ID when empty.
	Scope string `json:"scope"`
	// RoleDefinitionID is a full role definition ID or a bare GUID; it is
	// matched by its trailing GUID.
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType"` // User, Group, ServicePrincipal, ForeignGroup, Device
	Description      string `json:"description,omitempty"`
	// Condition (ABAC) is not evaluated by the engine. The authorization
	// service refuses to create assignments that carry one and does not
	// load stored ones (fail closed: a condition can only narrow a grant).
	Condition string `json:"condition,omitempty"`
}

const roleAssignmentsPath = "/providers/Microsoft.Authorization/roleAssignments/"

var roleAssignmentsPathLower = lowerASCII(roleAssignmentsPath)

// normalizeAssignment trims and fills Name and Scope from ID (and ID from
// them), checks that they agree and that the assignment is well formed.
// It does not allocate in the common case: Name and Scope become substrings
// of ID when they are equal to them.
func normalizeAssignment(a Assignment) (Assignment, error) {
	a.PrincipalID = strings.TrimSpace(a.PrincipalID)
	a.Scope = strings.TrimSpace(a.Scope)
	if a.Scope != "" {
		a.Scope = trimScope(a.Scope)
	}
	a.PrincipalType = internPrincipalType(a.PrincipalType)
	if a.ID != "" {
		id := trimScope(strings.TrimSpace(a.ID))
		i := lastIndexFold(id, roleAssignmentsPathLower)
		if i < 0 || strings.IndexByte(id[i+len(roleAssignmentsPath):], '/') >= 0 {
			return a, errorf(ErrInvalidAssignment, "The role assignment ID '%s' is not valid: expected {scope}/providers/Microsoft.Authorization/roleAssignments/{name}.", a.ID)
		}
		a.ID = id
		name, scope := id[i+len(roleAssignmentsPath):], trimScope(id[:i])
		switch {
		case a.Name == "" || a.Name == name:
			a.Name = name
		case !strings.EqualFold(a.Name, name):
			return a, errorf(ErrInvalidAssignment, "The role assignment name '%s' does not match its ID '%s'.", a.Name, a.ID)
		}
		switch {
		case a.Scope == "" || a.Scope == scope:
			a.Scope = scope
		case !strings.EqualFold(a.Scope, scope):
			return a, errorf(ErrInvalidAssignment, "The role assignment scope '%s' does not match its ID '%s'.", a.Scope, a.ID)
		}
	}
	if a.Name == "" || strings.IndexByte(a.Name, '/') >= 0 {
		return a, errorf(ErrInvalidAssignment, "The role assignment has no valid name (a GUID) or ID.")
	}
	if a.Scope == "" {
		return a, errorf(ErrInvalidAssignment, "The role assignment '%s' has no scope.", a.Name)
	}
	if err := ValidateScope(a.Scope); err != nil {
		return a, err
	}
	if a.ID == "" {
		s := a.Scope
		if s == "/" {
			s = ""
		}
		a.ID = s + roleAssignmentsPath + a.Name
	}
	if a.PrincipalID == "" {
		return a, errorf(ErrInvalidAssignment, "The role assignment '%s' has no principalId.", a.Name)
	}
	if RoleGUID(a.RoleDefinitionID) == "" {
		return a, errorf(ErrInvalidAssignment, "The role assignment '%s' has no roleDefinitionId.", a.Name)
	}
	return a, nil
}

// internPrincipalType returns the known principal types as constants, so
// the caller's copies can be freed.
func internPrincipalType(s string) string {
	for _, t := range [...]string{"User", "Group", "ServicePrincipal", "ForeignGroup", "Device"} {
		if s == t {
			return t
		}
	}
	return s
}

// lastIndexFold is the last index of lower (lower-case) in s, ignoring
// ASCII case, or -1.
func lastIndexFold(s, lower string) int {
	for i := len(s) - len(lower); i >= 0; i-- {
		if hasPrefixFold(s[i:], lower) {
			return i
		}
	}
	return -1
}

// Request asks whether a principal may perform an action over a scope.
type Request struct {
	PrincipalID string
	// GroupIDs are the object IDs of the groups the principal belongs to
	// (transitively); the caller expands membership.
	GroupIDs []string
	// Action is an action, or a data action when DataAction is set.
	Action     string
	DataAction bool
	// Scope is the target: "/", a subscription, a resource group or a
	// resource ID, in any case.
	Scope string
}

// Decision is the answer to a Request.
type Decision struct {
	Allowed bool
	// Assignment and Role granted the request (nil when denied). They point
	// into the engine's immutable snapshot: read them, never modify them.
	Assignment *Assignment
	Role       *RoleDefinition
	// GrantingRoles, when denied: names of the built-in roles that grant the
	// action, least-privileged first (custom roles only if no built-in does).
	// Shared with the engine's cache: do not modify.
	GrantingRoles []string

	// A denial's request and the engine state that refused it, for Reason.
	st  *state
	req Request
}

// Reason is empty when allowed (see Explain). When denied it says which
// principal, action and scope, which roles would grant it, and which roles
// the principal holds there (rule RBAC-4). It is built when asked for: a
// denial costs no allocation until its explanation is needed (a 403 body,
// an audit record), and the tail latency of Check stays that of its
// lookups. It reads the engine as it was when Check ran (roles held are
// looked up again in that state).
func (d Decision) Reason() string {
	if d.Allowed || d.st == nil {
		return ""
	}
	target := checkTarget(d.req.Scope)
	var anc ancestry
	anc.init(target)
	var buf [8]heldRole
	held := d.st.held(buf[:0], d.req, target, &anc, nil, false)
	return denialReason(d.req, d.GrantingRoles, held)
}

// Explain is a one-line account of the decision: Reason when denied, the
// granting assignment when allowed.
func (d Decision) Explain(req Request) string {
	if !d.Allowed {
		return d.Reason()
	}
	var b strings.Builder
	b.WriteString("Allowed: role '")
	b.WriteString(d.Role.RoleName)
	if strings.EqualFold(d.Assignment.PrincipalID, req.PrincipalID) {
		b.WriteString("' assigned to '" + d.Assignment.PrincipalID + "'")
	} else {
		b.WriteString("' assigned to group '" + d.Assignment.PrincipalID + "' (of which '" + req.PrincipalID + "' is a member)")
	}
	b.WriteString(" at scope '" + d.Assignment.Scope + "' (assignment '" + d.Assignment.Name + "') grants ")
	if req.DataAction {
		b.WriteString("data action '")
	} else {
		b.WriteString("action '")
	}
	b.WriteString(req.Action + "' over scope '" + req.Scope + "'")
	if !strings.EqualFold(d.Assignment.Scope, checkTarget(req.Scope)) {
		b.WriteString(" by inheritance (rule RBAC-2)")
	}
	b.WriteString(".")
	return b.String()
}

// Engine indexes role definitions and assignments and answers Check.
// Reads (Check, GrantingRoles, EffectivePermissions, lookups) are lock-free
// and safe concurrently with writes (Load, Put*, Delete*), which are
// serialised. The zero Engine is empty (no roles); NewEngine has the
// built-ins.
type Engine struct {
	mu sync.Mutex
	st atomic.Pointer[state]
}

var emptyState = &state{roles: emptyRoleTable(), idx: newIndex(0)}

// NewEngine returns an engine holding the built-in roles and no assignments.
func NewEngine() *Engine {
	e := &Engine{}
	if err := e.Load(BuiltinRoles(), nil); err != nil {
		panic(err)
	}
	return e
}

func (e *Engine) state() *state {
	if s := e.st.Load(); s != nil {
		return s
	}
	return emptyState
}

// writable returns the current state, creating an empty one (callers hold mu).
func (e *Engine) writable() *state {
	if s := e.st.Load(); s != nil {
		return s
	}
	s := &state{roles: emptyRoleTable(), idx: newIndex(0)}
	e.st.Store(s)
	return s
}

// Load replaces all roles and assignments with a fresh snapshot, swapped in
// atomically. Assignments are not checked against roles (a stored
// assignment whose role is gone is kept and grants nothing; so is one
// outside its role's assignable scopes, or a duplicate); malformed
// assignments, duplicate names and invalid roles are errors, and then
// nothing changes. Use Load, not PutAssignment, for bulk loading (a few
// seconds per million assignments). Load is a write like the others: it
// holds the writers' lock (readers are never blocked), so a Put racing with
// it applies either before (and is replaced) or after (on the new set).
func (e *Engine) Load(roles []RoleDefinition, assignments []Assignment) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	l, compiled, err := newLoader(roles, len(assignments))
	if err != nil {
		return err
	}
	for i := range assignments {
		a, err := normalizeAssignment(assignments[i])
		if err != nil {
			return err
		}
		if err := l.add(a, l.roleRef(a.RoleDefinitionID), l.ordinal(a.PrincipalID), hashScope(a.Scope)); err != nil {
			return err
		}
	}
	st, err := l.finish(compiled)
	if err != nil {
		return err
	}
	e.st.Store(st)
	return nil
}

// loader builds a fresh state for Load and LoadSnapshot.
type loader struct {
	table   *roleTable
	idx     *index
	entries []entry
	hashes  []uint64 // scope hash of entries[i]
	ord     []int32  // principal ordinal of entries[i]
	// Principals get ordinals; assignments are then bucketed by ordinal
	// into per-principal records sized up front.
	principals []loadPrincipal
	ordinals   map[string]int32 // lower-case key → ordinal (Load)
	// RoleDefinitionID → interned copy and slot; assignment counts per slot.
	roleRefs map[string]roleRef
	refs     map[*roleSlot]int
}

type loadPrincipal struct {
	key, id string
	count   int32
}

type roleRef struct {
	id   string
	slot *roleSlot
}

func newLoader(roles []RoleDefinition, n int) (*loader, []*compiledRole, error) {
	compiled := make([]*compiledRole, 0, len(roles))
	for _, r := range roles {
		c, err := compileRole(r)
		if err != nil {
			return nil, nil, err
		}
		compiled = append(compiled, c)
	}
	table, err := newRoleTable(nil, compiled, nil)
	if err != nil {
		return nil, nil, err
	}
	return &loader{table: table, idx: newIndex(n), entries: make([]entry, 0, n), hashes: make([]uint64, 0, n), ord: make([]int32, 0, n),
		roleRefs: map[string]roleRef{}, refs: map[*roleSlot]int{}}, compiled, nil
}

// roleRef interns a RoleDefinitionID and finds (or makes) its slot.
func (l *loader) roleRef(id string) roleRef {
	rr, ok := l.roleRefs[id]
	if !ok {
		g := RoleGUID(id)
		rr = roleRef{id: id, slot: l.table.slots[g]}
		if rr.slot == nil {
			rr.slot = &roleSlot{guid: g}
			l.table.slots[g] = rr.slot
		}
		l.roleRefs[id] = rr
	}
	return rr
}

// ordinal returns the principal's ordinal, adding it if new.
func (l *loader) ordinal(id string) int32 {
	if l.ordinals == nil {
		l.ordinals = make(map[string]int32, cap(l.entries)/4+1)
		for o, p := range l.principals {
			l.ordinals[p.key] = int32(o)
		}
	}
	pk := lowerASCII(id)
	o, ok := l.ordinals[pk]
	if !ok {
		o = int32(len(l.principals))
		l.ordinals[pk] = o
		l.principals = append(l.principals, loadPrincipal{key: pk, id: id})
	}
	return o
}

// add indexes a normalised assignment.
func (l *loader) add(a Assignment, rr roleRef, o int32, h uint64) error {
	a.RoleDefinitionID = rr.id
	a.PrincipalID = l.principals[o].id // interned
	l.refs[rr.slot]++
	l.principals[o].count++
	l.entries = append(l.entries, entry{a: a, role: rr.slot})
	l.hashes = append(l.hashes, h)
	l.ord = append(l.ord, o)
	return nil
}

// finish indexes the names and builds the principal records.
func (l *loader) finish(compiled []*compiledRole) (*state, error) {
	idx := l.idx
	// The name index on another core, while this one builds the records.
	dup := make(chan *entry, 1)
	go func() {
		for i := range l.entries {
			if en := &l.entries[i]; !idx.byKey.putNew(en) {
				dup <- en
				return
			}
		}
		dup <- nil
	}()
	for s, c := range l.refs {
		idx.refs[s.guid] += c
	}
	recs := make([]*precord, len(l.principals))
	items := make([][]item, len(l.principals))
	for o, p := range l.principals {
		if p.count > 0 {
			recs[o], items[o] = allocRecord(int(p.count))
		}
	}
	fill := make([]int32, len(l.principals))
	for i := range l.entries {
		o := l.ord[i]
		items[o][fill[o]] = item{h: l.hashes[i], e: &l.entries[i]}
		fill[o]++
	}
	t := newPtable(len(l.principals))
	for o, p := range l.principals {
		if p.count > 0 {
			initRecord(recs[o], maphash.String(hashSeed, p.key), p.key, items[o])
			t.insert(recs[o])
		}
	}
	if en := <-dup; en != nil {
		return nil, errorf(ErrInvalidAssignment, "The role assignment name '%s' appears twice.", en.a.Name)
	}
	idx.table.Store(t)
	idx.count.Store(int64(len(l.entries)))
	l.table.commit(compiled)
	return &state{roles: l.table, idx: idx}, nil
}

// ValidateAssignment checks a role assignment against the current roles and
// assignments: well-formed (name, scope, principal, role), the role exists,
// the role's assignableScopes cover the scope ("/" covers everything), and
// no other assignment gives the same principal the same role at the same
// scope. PutAssignment calls it.
func (e *Engine) ValidateAssignment(a Assignment) error {
	a, err := normalizeAssignment(a)
	if err != nil {
		return err
	}
	return e.state().validate(a)
}

func (st *state) validate(a Assignment) error {
	g := RoleGUID(a.RoleDefinitionID)
	r := st.roles.get(g)
	if r == nil {
		return errorf(ErrRoleNotFound, "The specified role definition with ID '%s' does not exist.", g)
	}
	if !r.assignableAt(a.Scope) {
		return errorf(ErrScopeNotAssignable,
			"The role definition '%s' (%s) cannot be assigned at scope '%s': its assignableScopes are [%s]. Assign it at or below one of them, or add the scope to the role's assignableScopes.",
			r.def.RoleName, r.guid, a.Scope, strings.Join(r.def.AssignableScopes, ", "))
	}
	key := lowerASCII(a.Name)
	for _, o := range st.idx.principal(a.PrincipalID).atScope(a.Scope) {
		if o.role.guid == g && o.key() != key {
			return errorf(ErrAssignmentExists, "The role assignment already exists.")
		}
	}
	return nil
}

// PutAssignment validates (ValidateAssignment) and adds the assignment,
// replacing any assignment with the same name. It copies the principal's
// list of assignments: fine for API writes, use Load for bulk.
func (e *Engine) PutAssignment(a Assignment) error {
	a, err := normalizeAssignment(a)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.writable()
	if err := st.validate(a); err != nil {
		return err
	}
	en := &entry{a: a, role: st.roles.slots[RoleGUID(a.RoleDefinitionID)]}
	st.idx.remove(en.key())
	st.idx.add(en)
	return nil
}

// DeleteAssignment removes the assignment with this name or ID; it reports
// whether one existed.
func (e *Engine) DeleteAssignment(idOrName string) bool {
	key := RoleGUID(idOrName) // the last segment, lower-cased
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writable().idx.remove(key)
}

func checkTarget(scope string) string {
	t := trimScope(strings.TrimSpace(scope))
	if t[0] != '/' {
		t = "/" + t
	}
	return t
}

// Check decides a request: allowed when an assignment of the principal, or
// of one of its groups, at the target scope or an ancestor, has a role that
// grants the action (rules RBAC-1, RBAC-2). NotActions only subtract within
// their own role: the union over assignments decides. The allowed path does
// not allocate; a denial builds its Reason (rule RBAC-4).
func (e *Engine) Check(req Request) Decision {
	st := e.state()
	target := checkTarget(req.Scope)
	var anc ancestry
	anc.init(target)
	if req.Action != "" {
		for i := -1; i < len(req.GroupIDs); i++ {
			id := req.PrincipalID
			if i >= 0 {
				id = req.GroupIDs[i]
			}
			if en, r := st.idx.principal(id).grant(&anc, target, req.Action, req.DataAction); en != nil {
				return Decision{Allowed: true, Assignment: &en.a, Role: &r.def}
			}
		}
	}
	// A denial: the granting roles come from a per-action cache; the
	// reason waits until asked for (Decision.Reason).
	return Decision{GrantingRoles: st.roles.granting(req.Action, req.DataAction).names, st: st, req: req}
}

// held lists the roles the principal and its groups hold over target, most
// specific scope first.
func (st *state) held(dst []heldRole, req Request, target string, anc *ancestry, recs *[8]*precord, looked bool) []heldRole {
	var seen [8]*precord
	nseen := 0
	for i := -1; i < len(req.GroupIDs); i++ {
		id, via := req.PrincipalID, ""
		if i >= 0 {
			id, via = req.GroupIDs[i], req.GroupIDs[i]
		}
		var p *precord
		if looked && i+1 < len(recs) && strings.TrimSpace(id) == id {
			p = recs[i+1]
		} else {
			p = st.idx.principal(strings.TrimSpace(id))
		}
		if p == nil || slices.Contains(seen[:nseen], p) {
			continue
		}
		if nseen < len(seen) {
			seen[nseen] = p
			nseen++
		}
		var ebuf [16]*entry
		for _, en := range p.applicable(ebuf[:0], anc, target) {
			h := heldRole{scope: en.a.Scope, guid: en.role.guid, via: via}
			if r := en.role.p.Load(); r != nil {
				h.name = r.def.RoleName
			} else {
				h.name = "unknown role " + en.role.guid
			}
			dst = append(dst, h)
		}
	}
	// Insertion sort: most specific (longest) scope first, then by role
	// name, scope and group, so the order does not depend on the order the
	// assignments were loaded in.
	for i := 1; i < len(dst); i++ {
		for j := i; j > 0 && heldBefore(&dst[j], &dst[j-1]); j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return dst
}

func heldBefore(a, b *heldRole) bool {
	switch {
	case len(a.scope) != len(b.scope):
		return len(a.scope) > len(b.scope)
	case a.name != b.name:
		return a.name < b.name
	case a.scope != b.scope:
		return a.scope < b.scope
	}
	return a.via < b.via
}

// GrantingRoles returns the roles (built-in and custom) that grant the
// action, least-privileged first: fewest and narrowest write patterns, then
// read patterns, then most NotActions, then by name.
func (e *Engine) GrantingRoles(action string, dataAction bool) []RoleDefinition {
	rs := e.state().roles.granting(action, dataAction).roles
	out := make([]RoleDefinition, len(rs))
	for i, r := range rs {
		out[i] = r.def.Clone()
	}
	return out
}

// EffectivePermissions returns the permission blocks of the roles of every
// assignment of the principal (or its groups) that applies at scope: one
// entry per block of each applicable assignment's role, most specific
// assignment first; never nil. This is the body of ARM's permissions API.
func (e *Engine) EffectivePermissions(principalID string, groupIDs []string, scope string) []Permission {
	out := []Permission{}
	for _, en := range e.state().applicable(principalID, groupIDs, checkTarget(scope)) {
		if r := en.role.p.Load(); r != nil {
			for _, p := range r.def.Permissions {
				out = append(out, p.clone())
			}
		}
	}
	return out
}

// AssignmentsFor lists the assignments of the principal (or its groups)
// that apply at scope (at it or above), most specific first.
func (e *Engine) AssignmentsFor(principalID string, groupIDs []string, scope string) []Assignment {
	var out []Assignment
	for _, en := range e.state().applicable(principalID, groupIDs, checkTarget(scope)) {
		out = append(out, en.a)
	}
	return out
}

// Assignment returns the assignment with this name or ID.
func (e *Engine) Assignment(idOrName string) (Assignment, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if en := e.state().idx.byKey.get(RoleGUID(idOrName)); en != nil {
		return en.a, true
	}
	return Assignment{}, false
}

// Assignments returns all assignments, sorted by name.
func (e *Engine) Assignments() []Assignment {
	e.mu.Lock()
	defer e.mu.Unlock()
	all := e.state().idx.byKey.all()
	slices.SortFunc(all, func(a, b *entry) int { return strings.Compare(a.key(), b.key()) })
	out := make([]Assignment, 0, len(all))
	for _, en := range all {
		out = append(out, en.a)
	}
	return out
}

// AssignmentsUnordered returns all assignments in no particular order
// (cheaper than Assignments for callers that index or sort them their way).
func (e *Engine) AssignmentsUnordered() []Assignment {
	e.mu.Lock()
	defer e.mu.Unlock()
	all := e.state().idx.byKey.all()
	out := make([]Assignment, len(all))
	for i, en := range all {
		out[i] = en.a
	}
	return out
}

// Len returns the number of assignments.
func (e *Engine) Len() int { return int(e.state().idx.count.Load()) }

// Role returns the role definition with this GUID (or a role definition ID
// ending in it).
func (e *Engine) Role(idOrGUID string) (RoleDefinition, bool) {
	if r := e.state().roles.get(idOrGUID); r != nil {
		return r.def.Clone(), true
	}
	return RoleDefinition{}, false
}

// RoleByName returns the role with this name, case-insensitively.
func (e *Engine) RoleByName(name string) (RoleDefinition, bool) {
	if s := e.state().roles.byName[lowerASCII(strings.TrimSpace(name))]; s != nil {
		if r := s.p.Load(); r != nil {
			return r.def.Clone(), true
		}
	}
	return RoleDefinition{}, false
}

// Roles returns all role definitions, sorted by name.
func (e *Engine) Roles() []RoleDefinition {
	rs := e.state().roles.ordered
	out := make([]RoleDefinition, len(rs))
	for i, r := range rs {
		out[i] = r.def.Clone()
	}
	slices.SortFunc(out, func(a, b RoleDefinition) int { return strings.Compare(lowerASCII(a.RoleName), lowerASCII(b.RoleName)) })
	return out
}

// PutRole adds or replaces a role definition. Built-in roles cannot be
// replaced; names are unique (case-insensitively). Existing assignments of
// the role see the new definition at once. Shrinking AssignableScopes does
// not revoke existing assignments.
func (e *Engine) PutRole(r RoleDefinition) error {
	c, err := compileRole(r)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.writable()
	if old := st.roles.get(c.guid); old != nil && old.builtin {
		return errorf(ErrBuiltInRole, "The role definition '%s' (%s) is built in and cannot be changed.", old.def.RoleName, old.guid)
	}
	roles := slices.DeleteFunc(slices.Clone(st.roles.ordered), func(o *compiledRole) bool { return o.guid == c.guid })
	roles = append(roles, c)
	return e.swapRoles(st, roles)
}

// DeleteRole deletes a custom role definition that has no assignments.
func (e *Engine) DeleteRole(idOrGUID string) error {
	g := RoleGUID(idOrGUID)
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.writable()
	old := st.roles.get(g)
	switch {
	case old == nil:
		return errorf(ErrRoleNotFound, "The role definition '%s' does not exist.", g)
	case old.builtin:
		return errorf(ErrBuiltInRole, "The role definition '%s' (%s) is built in and cannot be deleted.", old.def.RoleName, old.guid)
	case st.idx.refs[g] > 0:
		return errorf(ErrRoleInUse, "The role definition '%s' (%s) has %d role assignment(s); delete them first.", old.def.RoleName, g, st.idx.refs[g])
	}
	roles := slices.DeleteFunc(slices.Clone(st.roles.ordered), func(o *compiledRole) bool { return o.guid == g })
	return e.swapRoles(st, roles)
}

// swapRoles publishes a new role table (callers hold mu).
func (e *Engine) swapRoles(st *state, roles []*compiledRole) error {
	defined := make(map[string]bool, len(roles))
	for _, r := range roles {
		defined[r.guid] = true
	}
	keep := func(g string) bool { return defined[g] || st.idx.refs[g] > 0 }
	table, err := newRoleTable(st.roles.slots, roles, keep)
	if err != nil {
		return err
	}
	table.commit(roles)
	e.st.Store(&state{roles: table, idx: st.idx})
	return nil
}
