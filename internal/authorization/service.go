// Package authorization is amlid's Microsoft.Authorization resource
// provider: role definitions and role assignments persisted in the store and
// served through ARM, kept in an rbac.Engine that decides every ARM request
// (the arm.Authorizer) and every data-plane request (AuthorizeData), in
// enforce or audit mode (rules RBAC-1..RBAC-4).
package authorization

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// Store kinds.
const (
	KindAssignment = "rbac.assignment" // key: lower(assignment name), parent: lower(scope)
	KindRole       = "rbac.role"       // custom roles; key: lower(GUID)
	KindAudit      = "rbac.audit"      // audit-mode records; key: time-ordered
	kindMeta       = "rbac.meta"
	keyVersion     = "version"
)

// Modes.
const (
	ModeEnforce = "enforce"
	ModeAudit   = "audit"
)

// storedAssignment is an assignment with ARM's bookkeeping.
type storedAssignment struct {
	rbac.Assignment
	ConditionVersion string    `json:"conditionVersion,omitempty"`
	CreatedOn        time.Time `json:"createdOn"`
	UpdatedOn        time.Time `json:"updatedOn"`
	CreatedBy        string    `json:"createdBy,omitempty"`
}

// AuditRecord is a request enforce mode would have refused.
type AuditRecord struct {
	Time        time.Time `json:"time"`
	PrincipalID string    `json:"principalId"`
	Action      string    `json:"action"`
	DataAction  bool      `json:"dataAction"`
	Scope       string    `json:"scope"`
	Explanation string    `json:"explanation"`
}

// Service owns the RBAC state.
type Service struct {
	st     store.Store
	dir    *directory.Directory
	engine *rbac.Engine
	mode   string
	log    *slog.Logger

	mu      sync.Mutex
	version string // rbac.meta/version of the loaded snapshot
	seq     uint64 // its journal sequence number (snapshot.go)
	snapSeq uint64 // the stored snapshot's, as far as this process knows
	// snapping: a background snapshot is being written (snapWG waits for it).
	snapping bool
	snapWG   sync.WaitGroup
	loaded   string                 // how the last reload read assignments: "snapshot" or "full" (tests)
	current  atomic.Pointer[string] // version, for fresh without mu
}

// New loads the built-in roles and every stored custom role and assignment.
func New(ctx context.Context, st store.Store, dir *directory.Directory, mode string, log *slog.Logger) (*Service, error) {
	if mode == "" {
		mode = ModeEnforce
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{st: st, dir: dir, engine: rbac.NewEngine(), mode: mode, log: log}
	// The first load allocates the whole index, nearly all of it live: the
	// collector's cycles while the heap grows from nothing would rescan it
	// several times (a third of a restart's CPU at a million assignments).
	// Fewer, later cycles for this one bulk load (a memory limit, if set,
	// still applies).
	done := bulkGC()
	err := s.reload(ctx)
	done()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// bulkGC raises GOGC to 400 (unless it is off or higher) until the
// returned func is called; concurrent callers (tests start many services)
// share one raise and the last restores the setting.
func bulkGC() (done func()) {
	gcMu.Lock()
	if gcDepth == 0 {
		gcOld = debug.SetGCPercent(400)
		if gcOld < 0 || gcOld > 400 { // GOGC=off or already higher: keep it
			debug.SetGCPercent(gcOld)
		}
	}
	gcDepth++
	gcMu.Unlock()
	return func() {
		gcMu.Lock()
		if gcDepth--; gcDepth == 0 {
			debug.SetGCPercent(gcOld)
		}
		gcMu.Unlock()
	}
}

var (
	gcMu    sync.Mutex
	gcDepth int
	gcOld   int
)

// Engine exposes the decision engine (read-only use).
func (s *Service) Engine() *rbac.Engine { return s.engine }

// Mode is enforce or audit.
func (s *Service) Mode() string { return s.mode }

func (s *Service) currentVersion(ctx context.Context) (string, error) {
	rec, err := s.st.Get(ctx, kindMeta, keyVersion)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return rec.ETag, err
}

// bumpVersion marks RBAC state as changed inside tx: every replica sharing
// the store reloads before its next decision (no propagation delay). keys
// are the assignment keys the transaction wrote or deleted (journaled for
// fast restarts, snapshot.go); roles says custom roles changed.
func bumpVersion(ctx context.Context, tx store.Tx, roles bool, keys ...string) error {
	_, err := bumpJournal(ctx, tx, roles, keys...)
	return err
}

// versionStep is one transaction's move of rbac.meta/version.
type versionStep struct {
	from, to string
	seq      uint64 // journal sequence number of to
}

// bumpVersionFrom bumps the version for a write of assignment keys and
// reports the move, for applyStep.
func bumpVersionFrom(ctx context.Context, tx store.Tx, keys ...string) (versionStep, error) {
	return bumpJournal(ctx, tx, false, keys...)
}

// applyStep brings the engine past a committed transaction of ours: when
// the engine holds exactly the state the transaction started from, fn
// applies the change in place (O(1) instead of reloading every assignment,
// seconds at a million); otherwise, or if fn fails, the engine reloads.
func (s *Service) applyStep(ctx context.Context, step versionStep, fn func(e *rbac.Engine) error) error {
	s.mu.Lock()
	if step.to != "" && s.version == step.from && fn(s.engine) == nil {
		s.setVersion(step.to, step.seq)
		s.mu.Unlock()
		s.maybeSnapshot(false)
		return nil
	}
	s.mu.Unlock()
	return s.reload(ctx)
}

// reload rebuilds the engine from the store: from the snapshot and the
// journal when they reach the current version (snapshot.go), else from
// every stored assignment.
func (s *Service) reload(ctx context.Context) error { return s.reloadIf(ctx, true) }

// reloadIf is reload; unless force, it does nothing when the engine
// already holds the current version (another caller reloaded meanwhile).
func (s *Service) reloadIf(ctx context.Context, force bool) error {
	full, n, err := s.reloadLocked(ctx, force)
	if err == nil {
		// After a slow load, or once the journal grew long (writes in
		// others' transactions — Grant, principal deletions — come here).
		s.maybeSnapshot(full && n >= snapshotMinAssignments)
	}
	return err
}

func (s *Service) reloadLocked(ctx context.Context, force bool) (full bool, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, seq, err := readVersion(ctx, s.st)
	if err != nil {
		return false, 0, err
	}
	if !force && s.loaded != "" && v == s.version && seq == s.seq {
		return false, s.engine.Len(), nil // another caller reloaded meanwhile
	}
	if s.catchUp(ctx, v, seq) {
		s.setVersion(v, seq)
		s.loaded = "journal"
		return false, s.engine.Len(), nil
	}
	roles := rbac.BuiltinRoles()
	recs, err := s.st.List(ctx, KindRole, store.ListOptions{})
	if err != nil {
		return false, 0, err
	}
	for _, r := range recs {
		var rd rbac.RoleDefinition
		if err := json.Unmarshal(r.Value, &rd); err != nil {
			return false, 0, fmt.Errorf("corrupt custom role %s: %w", r.Key, err)
		}
		roles = append(roles, rd)
	}
	snap, snapSeq, ok, err := s.loadSnapshot(ctx, v, seq)
	if err != nil {
		return false, 0, err
	}
	if ok {
		err := s.engine.LoadSnapshot(roles, snap)
		if err == nil {
			s.setVersion(v, seq)
			s.snapSeq, s.loaded = snapSeq, "snapshot"
			return false, snap.Len(), nil
		}
		s.log.Warn("RBAC snapshot not loaded: loading every role assignment", "err", err)
	}
	var as []rbac.Assignment
	// Read assignments a page at a time: the decoded assignments stay, the
	// raw records of each page go (at a million assignments, holding every
	// record at once would double the peak).
	for o := (store.PageOptions{Limit: 10000}); ; {
		p, err := store.ListPage(ctx, s.st, KindAssignment, o)
		if err != nil {
			return false, 0, err
		}
		for _, r := range p.Records {
			// Only the engine's fields: ARM's bookkeeping (times) is skipped.
			a, use, err := s.decodeAssignment(r)
			if err != nil {
				return false, 0, err
			}
			if use {
				as = append(as, a)
			}
		}
		if p.Next == "" {
			break
		}
		o.After = p.Next
	}
	if err := s.engine.Load(roles, as); err != nil {
		return false, 0, err
	}
	s.setVersion(v, seq)
	s.loaded = "full"
	return true, len(as), nil
}

// fresh reloads the engine if another writer (or replica) changed RBAC state.
func (s *Service) fresh(ctx context.Context) error {
	v, err := s.currentVersion(ctx)
	if err != nil {
		return err
	}
	// Lock-free: a writer holding mu (a snapshot being encoded, a reload)
	// does not hold up decisions while the engine is current.
	if p := s.current.Load(); p != nil && *p == v {
		return nil
	}
	return s.reloadIf(ctx, false)
}

// setVersion records the version the engine holds (callers hold mu).
func (s *Service) setVersion(v string, seq uint64) {
	s.version, s.seq = v, seq
	s.current.Store(&v)
}

// groupsOf expands the principal's group membership from the directory.
func (s *Service) groupsOf(ctx context.Context, tenant, objectID string) []string {
	g, err := s.dir.GroupsOf(ctx, tenant, objectID)
	if err != nil {
		s.log.Warn("group expansion failed", "principal", objectID, "err", err)
	}
	return g
}

// Check decides one request after making sure the engine is current.
func (s *Service) Check(ctx context.Context, tenant, principalID, action string, dataAction bool, scope string) (rbac.Decision, error) {
	if err := s.fresh(ctx); err != nil {
		return rbac.Decision{}, err
	}
	req := rbac.Request{PrincipalID: principalID, GroupIDs: s.groupsOf(ctx, tenant, principalID), Action: action, DataAction: dataAction, Scope: scope}
	return s.engine.Check(req), nil
}

// Authorize implements arm.Authorizer: 403 AuthorizationFailed naming the
// principal, action, scope and the roles that would grant it (RBAC-4).
func (s *Service) Authorize(ctx context.Context, c *arm.Caller, action, scope string) error {
	d, err := s.Check(ctx, c.TenantID, c.ObjectID, action, false, scope)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	if s.audit(ctx, c.ObjectID, action, false, scope, d) {
		return nil
	}
	msg := rbac.AuthorizationFailedMessage(c.ObjectID, action, scope)
	if len(d.GrantingRoles) > 0 {
		msg += fmt.Sprintf(" (rule RBAC-4) Roles that grant it: %s. Fix: %s",
			strings.Join(d.GrantingRoles, ", "), access.RoleFix(c.ObjectID, c.Type, d.GrantingRoles[0], scope))
	}
	return arm.Errorf(http.StatusForbidden, "AuthorizationFailed", "%s", msg)
}

// AuthorizeData decides a data-plane request (Blob, registry, Key Vault).
// It returns the decision; in audit mode a denial is recorded and turned
// into an allow.
func (s *Service) AuthorizeData(ctx context.Context, tenant, principalID, dataAction, scope string) (rbac.Decision, error) {
	d, err := s.Check(ctx, tenant, principalID, dataAction, true, scope)
	if err != nil || d.Allowed {
		return d, err
	}
	if s.audit(ctx, principalID, dataAction, true, scope, d) {
		d.Allowed = true
	}
	return d, nil
}

// AuthorizeAction is AuthorizeData for a (non-data) action checked by a data
// plane (registry pull/push are actions in AcrPull/AcrPush).
func (s *Service) AuthorizeAction(ctx context.Context, tenant, principalID, action, scope string) (rbac.Decision, error) {
	d, err := s.Check(ctx, tenant, principalID, action, false, scope)
	if err != nil || d.Allowed {
		return d, err
	}
	if s.audit(ctx, principalID, action, false, scope, d) {
		d.Allowed = true
	}
	return d, nil
}

// audit records a would-be denial in audit mode and reports whether the
// request is to be let through.
func (s *Service) audit(ctx context.Context, principal, action string, data bool, scope string, d rbac.Decision) bool {
	if s.mode != ModeAudit {
		return false
	}
	rec := AuditRecord{Time: time.Now().UTC(), PrincipalID: principal, Action: action, DataAction: data, Scope: scope, Explanation: d.Reason()}
	b, _ := json.Marshal(rec)
	key := strconv.FormatInt(rec.Time.UnixNano(), 10) + "-" + uuid.NewString()[:8]
	if _, err := store.Create(ctx, s.st, store.Record{Kind: KindAudit, Key: key, Value: b}); err != nil {
		s.log.Error("audit record lost", "err", err)
	}
	s.log.Warn("audit: enforce mode would refuse", "principal", principal, "action", action, "scope", scope)
	return true
}

// AuditRecords lists what audit mode let through, oldest first.
func (s *Service) AuditRecords(ctx context.Context) ([]AuditRecord, error) {
	recs, err := s.st.List(ctx, KindAudit, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]AuditRecord, 0, len(recs))
	for _, r := range recs {
		var a AuditRecord
		if json.Unmarshal(r.Value, &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// DeleteAssignmentsOf removes every assignment of a principal inside tx (a
// deleted managed identity or directory object takes its assignments along).
func DeleteAssignmentsOf(ctx context.Context, tx store.Tx, objectID string) error {
	recs, err := tx.List(ctx, KindAssignment, store.ListOptions{})
	if err != nil {
		return err
	}
	var deleted []string
	for _, r := range recs {
		var sa storedAssignment
		if json.Unmarshal(r.Value, &sa) == nil && strings.EqualFold(sa.PrincipalID, objectID) {
			if err := tx.Delete(ctx, KindAssignment, r.Key, ""); err != nil {
				return err
			}
			deleted = append(deleted, r.Key)
		}
	}
	if len(deleted) > 0 {
		return bumpVersion(ctx, tx, false, deleted...)
	}
	return nil
}

// Grant creates an assignment on behalf of amlid itself (a workspace's
// identity getting its roles, rule WS-7/ACR-2). It is idempotent.
func (s *Service) Grant(ctx context.Context, tx store.Tx, principalID, principalType, roleGUID, scope string) error {
	name := uuid.NewString()
	// Issue 15 hole 6: an assignment amlid makes itself is an ordinary one,
	// with its full ARM ID, so `amlid role assignment delete` removes it.
	a := rbac.Assignment{ID: AssignmentID(scope, name), Name: name, Scope: scope, PrincipalID: strings.ToLower(principalID), PrincipalType: principalType,
		RoleDefinitionID: roleResourceID(scope, roleGUID)}
	if err := s.engine.ValidateAssignment(a); err != nil {
		if errors.Is(err, rbac.ErrAssignmentExists) {
			return nil
		}
		return err
	}
	now := time.Now().UTC()
	sa := storedAssignment{Assignment: a, CreatedOn: now, UpdatedOn: now, CreatedBy: "amlid"}
	b, _ := json.Marshal(sa)
	if _, err := tx.Create(ctx, store.Record{Kind: KindAssignment, Key: strings.ToLower(a.Name), Parent: rbac.NormalizeScope(scope), Value: b}); err != nil {
		return err
	}
	return bumpVersion(ctx, tx, false, strings.ToLower(a.Name))
}

// AssignmentID is the ARM ID of assignment name at scope.
func AssignmentID(scope, name string) string {
	if scope == "/" || scope == "" {
		return "/providers/Microsoft.Authorization/roleAssignments/" + strings.ToLower(name)
	}
	return strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + strings.ToLower(name)
}

// fill derives the ID of an assignment stored without one (automatic
// grants made before IDs were recorded).
func (sa *storedAssignment) fill() {
	if sa.ID == "" && sa.Name != "" {
		sa.ID = AssignmentID(sa.Scope, sa.Name)
	}
}

// roleResourceID is the subscription-scoped ID of a role definition.
func roleResourceID(scope, guid string) string {
	sub := subscriptionOf(scope)
	if sub == "" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

func subscriptionOf(scope string) string {
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

// GroupsOf lists the principal's groups (access.Decider).
func (s *Service) GroupsOf(ctx context.Context, tenant, principalID string) ([]string, error) {
	return s.dir.GroupsOf(ctx, tenant, principalID)
}

// AssignmentsAt lists the assignments of the principal and its groups whose
// scope covers scope (access.Decider).
func (s *Service) AssignmentsAt(ctx context.Context, tenant, principalID, scope string) ([]rbac.Assignment, error) {
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	return s.engine.AssignmentsFor(principalID, s.groupsOf(ctx, tenant, principalID), scope), nil
}

// Role finds a role definition by GUID or ID (access.Decider).
func (s *Service) Role(id string) (rbac.RoleDefinition, bool) { return s.engine.Role(id) }

var _ access.Decider = (*Service)(nil)

// Version identifies the current RBAC state (role assignments and custom
// roles): it changes with every RBAC write, on any replica sharing the store.
func (s *Service) Version(ctx context.Context) (string, error) { return s.currentVersion(ctx) }
