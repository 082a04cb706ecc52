package authorization

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/amlid/amlid/internal/store"
)

const (
	typeAssignment = "Microsoft.Authorization/roleAssignments"
	typeDefinition = "Microsoft.Authorization/roleDefinitions"
)

// ServeExtension implements arm.Extension for
// {scope}/providers/Microsoft.Authorization/{roleAssignments|roleDefinitions|permissions}[/{name}].
func (s *Service) ServeExtension(w http.ResponseWriter, c *arm.Call, scope string, rest []string) {
	if err := s.serve(w, c, scope, rest); err != nil {
		arm.WriteError(w, arm.AsError(err))
	}
}

func (s *Service) serve(w http.ResponseWriter, c *arm.Call, scope string, rest []string) error {
	if len(rest) == 0 || len(rest) > 2 {
		return arm.Errorf(http.StatusNotFound, "NotFound", "No Microsoft.Authorization operation matches '%s'.", c.R.URL.Path)
	}
	if err := s.fresh(c.Ctx()); err != nil {
		return err
	}
	if scope != "/" {
		if err := s.checkScopeExists(c, scope); err != nil {
			return err
		}
	}
	name := ""
	if len(rest) == 2 {
		name = rest[1]
	}
	switch strings.ToLower(rest[0]) {
	case "roleassignments":
		switch {
		case name == "" && c.R.Method == http.MethodGet:
			return s.listAssignments(w, c, scope)
		case name != "" && c.R.Method == http.MethodGet:
			return s.getAssignment(w, c, scope, name)
		case name != "" && c.R.Method == http.MethodPut:
			return s.putAssignment(w, c, scope, name)
		case name != "" && c.R.Method == http.MethodDelete:
			return s.deleteAssignment(w, c, scope, name)
		}
	case "roledefinitions":
		switch {
		case name == "" && c.R.Method == http.MethodGet:
			return s.listDefinitions(w, c, scope)
		case name != "" && c.R.Method == http.MethodGet:
			return s.getDefinition(w, c, scope, name)
		case name != "" && c.R.Method == http.MethodPut:
			return s.putDefinition(w, c, scope, name)
		case name != "" && c.R.Method == http.MethodDelete:
			return s.deleteDefinition(w, c, scope, name)
		}
	case "amlidauditrecords": // amlid's own: what --rbac audit let through
		if name == "" && c.R.Method == http.MethodGet {
			if err := c.Authorize("Microsoft.Authorization/roleAssignments/read", scope); err != nil {
				return err
			}
			recs, err := s.AuditRecords(c.Ctx())
			if err != nil {
				return err
			}
			arm.WriteJSON(w, http.StatusOK, map[string]any{"value": recs})
			return nil
		}
	case "permissions":
		if name == "" && c.R.Method == http.MethodGet {
			return s.permissions(w, c, scope)
		}
	default:
		return arm.Errorf(http.StatusBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Authorization'.", rest[0])
	}
	return arm.Errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The method '%s' is not allowed on '%s'.", c.R.Method, c.R.URL.Path)
}

// checkScopeExists refuses scopes that name a missing group or resource.
func (s *Service) checkScopeExists(c *arm.Call, scope string) error {
	id, err := arm.ParseID(scope)
	if err != nil {
		return err
	}
	if _, err := s.dir.Subscription(c.Ctx(), id.Subscription); err != nil {
		return arm.Errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", id.Subscription)
	}
	if id.ResourceGroup == "" {
		return nil
	}
	if _, err := s.st.Get(c.Ctx(), arm.KindResource, arm.Normalize(id.ResourceGroupID())); errors.Is(err, store.ErrNotFound) {
		return arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", id.ResourceGroup)
	}
	if id.Namespace != "" {
		if _, err := s.st.Get(c.Ctx(), arm.KindResource, id.Key()); errors.Is(err, store.ErrNotFound) {
			return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", scope)
		}
	}
	return nil
}

func assignmentJSON(sa *storedAssignment) map[string]any {
	sa.fill()
	props := map[string]any{
		"roleDefinitionId": sa.RoleDefinitionID, "principalId": sa.PrincipalID, "principalType": sa.PrincipalType,
		"scope": sa.Scope, "createdOn": sa.CreatedOn, "updatedOn": sa.UpdatedOn, "createdBy": sa.CreatedBy, "updatedBy": sa.CreatedBy,
		"delegatedManagedIdentityResourceId": nil, "description": nilIfEmpty(sa.Description),
		"condition": nilIfEmpty(sa.Condition), "conditionVersion": nilIfEmpty(sa.ConditionVersion),
	}
	return map[string]any{"id": sa.ID, "name": sa.Name, "type": typeAssignment, "properties": props}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Service) loadAssignment(c *arm.Call, name string) (*storedAssignment, error) {
	rec, err := s.st.Get(c.Ctx(), KindAssignment, strings.ToLower(name))
	if err != nil {
		return nil, err
	}
	var sa storedAssignment
	return &sa, json.Unmarshal(rec.Value, &sa)
}

func assignmentNotFound(name string) error {
	return arm.Errorf(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
}

func (s *Service) getAssignment(w http.ResponseWriter, c *arm.Call, scope, name string) error {
	if err := c.Authorize("Microsoft.Authorization/roleAssignments/read", scope); err != nil {
		return err
	}
	sa, err := s.loadAssignment(c, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && scope != "/" && !strings.EqualFold(rbac.NormalizeScope(sa.Scope), rbac.NormalizeScope(scope))) {
		return assignmentNotFound(name)
	}
	if err != nil {
		return err
	}
	arm.WriteJSON(w, http.StatusOK, assignmentJSON(sa))
	return nil
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Service) putAssignment(w http.ResponseWriter, c *arm.Call, scope, name string) error {
	// rule RBAC-3: writing role assignments needs roleAssignments/write.
	if err := c.Authorize("Microsoft.Authorization/roleAssignments/write", scope); err != nil {
		return err
	}
	if !guidRE.MatchString(name) {
		return arm.Errorf(http.StatusBadRequest, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Properties struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
			Description      string `json:"description"`
			Condition        string `json:"condition"`
			ConditionVersion string `json:"conditionVersion"`
		} `json:"properties"`
	}
	if err := arm.DecodeJSON(body, &in); err != nil {
		return err
	}
	p := in.Properties
	if p.RoleDefinitionID == "" || p.PrincipalID == "" {
		return arm.Errorf(http.StatusBadRequest, "InvalidRequestContent", "properties.roleDefinitionId and properties.principalId are required.")
	}
	if err := checkCondition(p.Condition, p.ConditionVersion); err != nil {
		return err
	}
	principal, err := s.dir.Principal(c.Ctx(), p.PrincipalID)
	if err != nil || !strings.EqualFold(principal.TenantID, c.TenantID()) {
		return arm.Errorf(http.StatusBadRequest, "PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", p.PrincipalID, c.TenantID())
	}
	ptype := p.PrincipalType
	if ptype == "" {
		ptype = principal.Type
	}
	if !strings.EqualFold(ptype, principal.Type) {
		return arm.Errorf(http.StatusBadRequest, "PrincipalTypeNotSupported", "The principal %s is a %s, not a %s.", p.PrincipalID, principal.Type, ptype)
	}
	if _, ok := s.engine.Role(p.RoleDefinitionID); !ok {
		return arm.Errorf(http.StatusBadRequest, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", rbac.RoleGUID(p.RoleDefinitionID))
	}
	now := time.Now().UTC()
	a := rbac.Assignment{Name: strings.ToLower(name), Scope: scope, RoleDefinitionID: p.RoleDefinitionID, PrincipalID: strings.ToLower(p.PrincipalID),
		PrincipalType: principal.Type, Description: p.Description, Condition: p.Condition}
	a.ID = AssignmentID(scope, a.Name)
	sa := &storedAssignment{Assignment: a, ConditionVersion: p.ConditionVersion, CreatedOn: now, UpdatedOn: now}
	if c.Caller != nil {
		sa.CreatedBy = c.Caller.ObjectID
	}
	var step versionStep
	err = s.st.Tx(c.Ctx(), func(tx store.Tx) error {
		step = versionStep{}
		if rec, err := tx.Get(c.Ctx(), KindAssignment, a.Name); err == nil {
			var old storedAssignment
			_ = json.Unmarshal(rec.Value, &old)
			if strings.EqualFold(old.PrincipalID, a.PrincipalID) && rbac.RoleGUID(old.RoleDefinitionID) == rbac.RoleGUID(a.RoleDefinitionID) &&
				strings.EqualFold(rbac.NormalizeScope(old.Scope), rbac.NormalizeScope(a.Scope)) {
				sa = &old
				return nil
			}
			return arm.Errorf(http.StatusConflict, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
		}
		if err := s.engine.ValidateAssignment(a); err != nil {
			return rbacError(err)
		}
		b, _ := json.Marshal(sa)
		if _, err := tx.Create(c.Ctx(), store.Record{Kind: KindAssignment, Key: a.Name, Parent: rbac.NormalizeScope(scope), Value: b}); err != nil {
			return err
		}
		step, err = bumpVersionFrom(c.Ctx(), tx, a.Name)
		return err
	})
	if err != nil {
		return err
	}
	if step.to != "" {
		_ = s.applyStep(c.Ctx(), step, func(e *rbac.Engine) error {
			if strings.TrimSpace(a.Condition) != "" {
				return errors.New("conditional: reload decides") // reload skips it, fail closed
			}
			return e.PutAssignment(a)
		})
	}
	arm.WriteJSON(w, http.StatusCreated, assignmentJSON(sa))
	return nil
}

// rbacError maps engine errors to ARM errors.
func rbacError(err error) error {
	var re *rbac.Error
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case errors.Is(err, rbac.ErrAssignmentExists):
		return arm.Errorf(http.StatusConflict, "RoleAssignmentExists", "The role assignment already exists.")
	case errors.Is(err, rbac.ErrRoleNotFound):
		return arm.Errorf(http.StatusBadRequest, "RoleDefinitionDoesNotExist", "%s", re.Message)
	case errors.Is(err, rbac.ErrScopeNotAssignable):
		return arm.Errorf(http.StatusBadRequest, "InvalidScope", "%s", re.Message)
	case errors.Is(err, rbac.ErrRoleNameExists):
		return arm.Errorf(http.StatusConflict, "RoleDefinitionWithSameNameExists", "%s", re.Message)
	case errors.Is(err, rbac.ErrBuiltInRole):
		return arm.Errorf(http.StatusBadRequest, "RoleDefinitionUpdateNotPermitted", "%s", re.Message)
	case errors.Is(err, rbac.ErrRoleInUse):
		return arm.Errorf(http.StatusConflict, "RoleDefinitionHasAssignments", "%s", re.Message)
	}
	return arm.Errorf(http.StatusBadRequest, "InvalidRequestContent", "%s", re.Message)
}

func (s *Service) deleteAssignment(w http.ResponseWriter, c *arm.Call, scope, name string) error {
	if err := c.Authorize("Microsoft.Authorization/roleAssignments/delete", scope); err != nil {
		return err
	}
	var deleted *storedAssignment
	var step versionStep
	err := s.st.Tx(c.Ctx(), func(tx store.Tx) error {
		deleted, step = nil, versionStep{}
		rec, err := tx.Get(c.Ctx(), KindAssignment, strings.ToLower(name))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var sa storedAssignment
		if err := json.Unmarshal(rec.Value, &sa); err != nil {
			return err
		}
		if scope != "/" && !strings.EqualFold(rbac.NormalizeScope(sa.Scope), rbac.NormalizeScope(scope)) {
			return nil
		}
		if err := tx.Delete(c.Ctx(), KindAssignment, rec.Key, ""); err != nil {
			return err
		}
		deleted = &sa
		step, err = bumpVersionFrom(c.Ctx(), tx, rec.Key)
		return err
	})
	if err != nil {
		return err
	}
	if deleted == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	_ = s.applyStep(c.Ctx(), step, func(e *rbac.Engine) error {
		e.DeleteAssignment(deleted.Name)
		return nil
	})
	arm.WriteJSON(w, http.StatusOK, assignmentJSON(deleted))
	return nil
}

var (
	reAtScope    = regexp.MustCompile(`(?i)^atScope\(\)$`)
	rePrincipal  = regexp.MustCompile(`(?i)^principalId\s+eq\s+'([^']+)'$`)
	reAssignedTo = regexp.MustCompile(`(?i)^assignedTo\('([^']+)'\)$`)
)

// listAssignments: no filter = at, above and below the scope; atScope() =
// at and above; principalId eq / assignedTo (with group membership).
func (s *Service) listAssignments(w http.ResponseWriter, c *arm.Call, scope string) error {
	if err := c.Authorize("Microsoft.Authorization/roleAssignments/read", scope); err != nil {
		return err
	}
	var atScope bool
	var principal, assignedTo string
	if f := strings.TrimSpace(c.R.URL.Query().Get("$filter")); f != "" {
		for _, part := range regexp.MustCompile(`(?i)\s+and\s+`).Split(f, -1) {
			part = strings.TrimSpace(part)
			switch {
			case reAtScope.MatchString(part):
				atScope = true
			case rePrincipal.MatchString(part):
				principal = rePrincipal.FindStringSubmatch(part)[1]
			case reAssignedTo.MatchString(part):
				assignedTo = reAssignedTo.FindStringSubmatch(part)[1]
			default:
				return arm.Errorf(http.StatusBadRequest, "UnsupportedQuery",
					"The filter '%s' is not supported. Supported filters are either 'atScope()' or 'principalId eq '{value}'' or assignedTo('{value}')'.", f)
			}
		}
	}
	principals := map[string]bool{}
	if principal != "" {
		principals[strings.ToLower(principal)] = true
	}
	if assignedTo != "" {
		principals[strings.ToLower(assignedTo)] = true
		for _, g := range s.groupsOf(c.Ctx(), c.TenantID(), assignedTo) {
			principals[strings.ToLower(g)] = true
		}
	}
	// Pages in assignment-name order from the store; the scope test reads
	// the record's parent (its normalised scope), the principal test its
	// value only when a principal filter is given.
	target := rbac.NormalizeScope(scope)
	keep := func(r store.Record) bool {
		above := rbac.IsAncestorOrSelf(r.Parent, target)
		below := rbac.IsAncestorOrSelf(target, r.Parent)
		if !above && (atScope || !below) {
			return false
		}
		if len(principals) == 0 {
			return true
		}
		var sa storedAssignment
		return json.Unmarshal(r.Value, &sa) == nil && principals[strings.ToLower(sa.PrincipalID)]
	}
	return c.WritePage(w, KindAssignment, store.PageOptions{Keep: keep}, func(r store.Record) (any, error) {
		var sa storedAssignment
		if err := json.Unmarshal(r.Value, &sa); err != nil {
			return nil, err
		}
		return assignmentJSON(&sa), nil
	})
}

// definitionJSON renders a role definition with the ID scoped as asked.
func definitionJSON(rd rbac.RoleDefinition, scope string, created time.Time) map[string]any {
	perms := []any{}
	for _, p := range rd.Permissions {
		nz := func(s []string) []string {
			if s == nil {
				return []string{}
			}
			return s
		}
		perms = append(perms, map[string]any{"actions": nz(p.Actions), "notActions": nz(p.NotActions), "dataActions": nz(p.DataActions), "notDataActions": nz(p.NotDataActions)})
	}
	return map[string]any{
		"id": roleResourceID(scope, rd.ID), "name": rd.ID, "type": typeDefinition,
		"properties": map[string]any{"roleName": rd.RoleName, "type": rd.RoleType, "description": rd.Description,
			"assignableScopes": rd.AssignableScopes, "permissions": perms, "createdOn": created, "updatedOn": created,
			"createdBy": nil, "updatedBy": nil},
	}
}

var (
	reRoleName = regexp.MustCompile(`(?i)^roleName\s+eq\s+'([^']*)'$`)
	reRoleType = regexp.MustCompile(`(?i)^type\s+eq\s+'(BuiltInRole|CustomRole)'$`)
)

var epoch = time.Date(2015, 2, 2, 21, 55, 9, 0, time.UTC)

func (s *Service) listDefinitions(w http.ResponseWriter, c *arm.Call, scope string) error {
	if err := c.Authorize("Microsoft.Authorization/roleDefinitions/read", scope); err != nil {
		return err
	}
	var byName, byType string
	if f := strings.TrimSpace(c.R.URL.Query().Get("$filter")); f != "" {
		switch {
		case reRoleName.MatchString(f):
			byName = reRoleName.FindStringSubmatch(f)[1]
		case reRoleType.MatchString(f):
			byType = reRoleType.FindStringSubmatch(f)[1]
		default:
			return arm.Errorf(http.StatusBadRequest, "UnsupportedQuery", "The filter '%s' is not supported. Supported: roleName eq '{name}', type eq 'BuiltInRole|CustomRole'.", f)
		}
	}
	items := []any{}
	for _, rd := range s.engine.Roles() {
		if byName != "" && !roleNameMatches(rd.RoleName, byName) {
			continue
		}
		if byType != "" && !strings.EqualFold(rd.RoleType, byType) {
			continue
		}
		if !rd.IsBuiltIn() && !assignableRelated(rd, scope) {
			continue
		}
		items = append(items, definitionJSON(rd, scope, epoch))
	}
	arm.WriteJSON(w, http.StatusOK, map[string]any{"value": items})
	return nil
}

// roleNameMatches is the roleName filter as Azure answers it (and az 2.45
// relies on, sending --role verbatim): case-insensitive, and spaces do not
// count, so "acrpull" names AcrPull and "managedidentityoperator" names
// Managed Identity Operator (the seeds' spellings).
func roleNameMatches(name, want string) bool {
	if strings.EqualFold(name, want) {
		return true
	}
	squash := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), " ", "") }
	return squash(want) != "" && strings.EqualFold(squash(name), squash(want))
}

// assignableRelated: a custom role shows at scopes its assignable scopes
// cover, and above them.
func assignableRelated(rd rbac.RoleDefinition, scope string) bool {
	t := rbac.NormalizeScope(scope)
	for _, as := range rd.AssignableScopes {
		n := rbac.NormalizeScope(as)
		if rbac.IsAncestorOrSelf(n, t) || rbac.IsAncestorOrSelf(t, n) {
			return true
		}
	}
	return false
}

func (s *Service) getDefinition(w http.ResponseWriter, c *arm.Call, scope, guid string) error {
	if err := c.Authorize("Microsoft.Authorization/roleDefinitions/read", scope); err != nil {
		return err
	}
	rd, ok := s.engine.Role(guid)
	if !ok {
		return arm.Errorf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", guid)
	}
	arm.WriteJSON(w, http.StatusOK, definitionJSON(rd, scope, epoch))
	return nil
}

func (s *Service) putDefinition(w http.ResponseWriter, c *arm.Call, scope, guid string) error {
	if err := c.Authorize("Microsoft.Authorization/roleDefinitions/write", scope); err != nil {
		return err
	}
	if !guidRE.MatchString(guid) {
		return arm.Errorf(http.StatusBadRequest, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid: it must be a GUID.", guid)
	}
	if _, ok := rbac.BuiltinRole(guid); ok {
		return arm.Errorf(http.StatusBadRequest, "RoleDefinitionUpdateNotPermitted", "Built-in role '%s' cannot be changed.", guid)
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Properties struct {
			RoleName         string            `json:"roleName"`
			Description      string            `json:"description"`
			AssignableScopes []string          `json:"assignableScopes"`
			Permissions      []rbac.Permission `json:"permissions"`
		} `json:"properties"`
	}
	if err := arm.DecodeJSON(body, &in); err != nil {
		return err
	}
	p := in.Properties
	if p.RoleName == "" || len(p.AssignableScopes) == 0 {
		return arm.Errorf(http.StatusBadRequest, "InvalidRoleDefinition", "properties.roleName and properties.assignableScopes are required.")
	}
	for _, as := range p.AssignableScopes {
		if err := c.Authorize("Microsoft.Authorization/roleDefinitions/write", as); err != nil {
			return err
		}
	}
	rd := rbac.RoleDefinition{ID: strings.ToLower(guid), RoleName: p.RoleName, Description: p.Description, RoleType: rbac.CustomRole,
		AssignableScopes: p.AssignableScopes, Permissions: p.Permissions}
	if err := s.st.Tx(c.Ctx(), func(tx store.Tx) error {
		b, _ := json.Marshal(rd)
		if _, err := tx.Put(c.Ctx(), store.Record{Kind: KindRole, Key: rd.ID, Value: b}, ""); err != nil {
			return err
		}
		if err := s.engine.PutRole(rd); err != nil {
			return rbacError(err)
		}
		return bumpVersion(c.Ctx(), tx, true)
	}); err != nil {
		_ = s.reload(c.Ctx())
		return err
	}
	_ = s.reload(c.Ctx())
	arm.WriteJSON(w, http.StatusCreated, definitionJSON(rd, scope, time.Now().UTC()))
	return nil
}

func (s *Service) deleteDefinition(w http.ResponseWriter, c *arm.Call, scope, guid string) error {
	if err := c.Authorize("Microsoft.Authorization/roleDefinitions/delete", scope); err != nil {
		return err
	}
	rd, ok := s.engine.Role(guid)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if rd.IsBuiltIn() {
		return arm.Errorf(http.StatusBadRequest, "RoleDefinitionUpdateNotPermitted", "Built-in role '%s' cannot be deleted.", rd.RoleName)
	}
	if err := s.st.Tx(c.Ctx(), func(tx store.Tx) error {
		recs, err := tx.List(c.Ctx(), KindAssignment, store.ListOptions{})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var sa storedAssignment
			if json.Unmarshal(r.Value, &sa) == nil && rbac.RoleGUID(sa.RoleDefinitionID) == strings.ToLower(rd.ID) {
				return arm.Errorf(http.StatusConflict, "RoleDefinitionHasAssignments", "Role definition '%s' has assignments (for example '%s'); delete them first.", rd.RoleName, sa.Name)
			}
		}
		if err := tx.Delete(c.Ctx(), KindRole, strings.ToLower(rd.ID), ""); err != nil {
			return err
		}
		return bumpVersion(c.Ctx(), tx, true)
	}); err != nil {
		return err
	}
	_ = s.reload(c.Ctx())
	arm.WriteJSON(w, http.StatusOK, definitionJSON(rd, scope, epoch))
	return nil
}

func (s *Service) permissions(w http.ResponseWriter, c *arm.Call, scope string) error {
	items := []any{}
	if c.Caller != nil {
		for _, p := range s.engine.EffectivePermissions(c.Caller.ObjectID, s.groupsOf(c.Ctx(), c.Caller.TenantID, c.Caller.ObjectID), scope) {
			nz := func(s []string) []string {
				if s == nil {
					return []string{}
				}
				return s
			}
			items = append(items, map[string]any{"actions": nz(p.Actions), "notActions": nz(p.NotActions), "dataActions": nz(p.DataActions), "notDataActions": nz(p.NotDataActions)})
		}
	}
	arm.WriteJSON(w, http.StatusOK, map[string]any{"value": items})
	return nil
}

func readBody(c *arm.Call) ([]byte, error) { return arm.ReadBody(c.R) }

var _ = directory.TypeUser
