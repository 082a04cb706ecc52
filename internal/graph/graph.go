// Package graph is the small part of Microsoft Graph that az and amlid's CLI
// need to manage the directory: users, groups and their members,
// applications and service principals, and directoryObjects/getByIds
// (arm-and-rbac.md §6). Requests are authenticated by the shared token
// verifier; writes need a directory administrator (Global Administrator,
// which the bootstrap admin is).
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
	"github.com/google/uuid"
)

// KindApplication holds app registrations (the service principal is the
// directory principal with the same appId).
const KindApplication = "graph.application"

// GraphAppID is Microsoft Graph's well-known application ID (an audience).
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Config wires the handler.
type Config struct {
	Tokens    *token.Service
	Directory *directory.Directory
	Logger    *slog.Logger
	// Audiences accepted besides https://graph.microsoft.com and GraphAppID
	// (the URL amlid serves Graph on, which az uses as the resource). The
	// request's Host never adds one.
	Audiences []string
	// OnPrincipalDeleted runs inside the delete transaction (RBAC removes
	// the principal's role assignments).
	OnPrincipalDeleted func(ctx context.Context, tx store.Tx, objectID string) error
}

// Handler serves /v1.0/… and /beta/….
type Handler struct {
	cfg   Config
	pages *paging.Codec
}

// New returns the Graph handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, pages: paging.New(cfg.Directory.Store())}
}

// writePage answers a collection one page at a time, as Graph does:
// $top is the page size (default 100, at most 999) and @odata.nextLink
// carries a $skiptoken bound to this path and query (tampered or
// transplanted: 400). keep filters records; render makes the item.
func (h *Handler) writePage(c *call, kind string, keep func(store.Record) bool, render func(store.Record) (any, error)) error {
	q := c.r.URL.Query()
	o := store.PageOptions{Parent: strings.ToLower(c.tenant), Limit: 100, Keep: keep}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 999 {
			return errf(http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", t)
		}
		o.Limit = n
	}
	list := kind + "|" + strings.ToLower(c.r.URL.Path) + "|" + strings.ToLower(c.tenant) + "|" + q.Get("$filter")
	if tok := q.Get("$skiptoken"); tok != "" {
		after, err := h.pages.Cursor(c.r.Context(), list, tok)
		if errors.Is(err, paging.ErrInvalid) {
			return errf(http.StatusBadRequest, "Request_BadRequest", "The $skiptoken '%s' is not a page token of this query: follow @odata.nextLink unchanged.", tok)
		}
		if err != nil {
			return err
		}
		o.After = after
	}
	p, err := store.ListPage(c.r.Context(), h.cfg.Directory.Store(), kind, o)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(p.Records))
	for _, r := range p.Records {
		item, err := render(r)
		if err != nil {
			return err
		}
		out = append(out, item)
	}
	body := map[string]any{"value": out}
	if p.Next != "" {
		tok, err := h.pages.Token(c.r.Context(), list, p.Next)
		if err != nil {
			return err
		}
		q.Set("$skiptoken", tok)
		body["@odata.nextLink"] = c.base + c.r.URL.Path + "?" + q.Encode()
	}
	writeJSON(c.w, http.StatusOK, body)
	return nil
}

// OwnsPath reports whether path is Graph's.
func OwnsPath(path string) bool {
	return strings.HasPrefix(path, "/v1.0/") || strings.HasPrefix(path, "/beta/") || path == "/v1.0" || path == "/beta"
}

type gerr struct {
	status int
	code   string
	msg    string
}

func (e *gerr) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, format string, args ...any) *gerr {
	return &gerr{status, code, fmt.Sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, e *gerr) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": e.code, "message": e.msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "request-id": uuid.NewString()},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

type call struct {
	w      http.ResponseWriter
	r      *http.Request
	claims *token.Claims
	tenant string
	base   string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, base: "https://" + r.Host}
	if err := h.serve(c); err != nil {
		var ge *gerr
		if !errors.As(err, &ge) {
			h.cfg.Logger.Error("graph request failed", "path", r.URL.Path, "err", err)
			ge = errf(http.StatusInternalServerError, "generalException", "amlid failed to handle the request")
		}
		writeErr(w, ge)
	}
}

func (h *Handler) serve(c *call) error {
	raw, ok := token.BearerToken(c.r)
	if !ok {
		return errf(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
	}
	// The accepted audiences come from configuration only, never from the
	// request's Host (rule ID-2: a token for another plane sent with
	// Host: <that plane> must not open Graph).
	auds := append([]string{"https://graph.microsoft.com", GraphAppID}, h.cfg.Audiences...)
	claims, err := h.cfg.Tokens.Verify(c.r.Context(), raw, auds...)
	if err != nil {
		return errf(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure: %v", err)
	}
	c.claims, c.tenant = claims, claims.TenantID
	segs := strings.Split(strings.Trim(c.r.URL.Path, "/"), "/")[1:]
	if len(segs) == 0 {
		return errf(http.StatusNotFound, "Request_ResourceNotFound", "No Graph resource at %s.", c.r.URL.Path)
	}
	collection := map[string]bool{"users": true, "groups": true, "serviceprincipals": true, "applications": true}
	if len(segs) == 1 && collection[strings.ToLower(segs[0])] && c.r.Method != http.MethodGet && c.r.Method != http.MethodPost {
		// A collection is listed (GET) or added to (POST); every handler
		// below reads an object ID for any other verb.
		return errf(http.StatusMethodNotAllowed, "Request_BadRequest", "%s is not supported on %s.", c.r.Method, c.r.URL.Path)
	}
	switch strings.ToLower(segs[0]) {
	case "users":
		return h.users(c, segs[1:])
	case "groups":
		return h.groups(c, segs[1:])
	case "serviceprincipals":
		return h.servicePrincipals(c, segs[1:])
	case "applications":
		return h.applications(c, segs[1:])
	case "directoryobjects":
		if len(segs) == 2 && strings.EqualFold(segs[1], "getByIds") && c.r.Method == http.MethodPost {
			return h.getByIds(c)
		}
	case "me":
		p, err := h.cfg.Directory.Principal(c.r.Context(), claims.ObjectID)
		if err != nil {
			return errf(http.StatusNotFound, "Request_ResourceNotFound", "The signed-in principal is not in the directory.")
		}
		writeJSON(c.w, http.StatusOK, objectJSON(p))
		return nil
	}
	return errf(http.StatusNotFound, "Request_ResourceNotFound", "No Graph resource at %s.", c.r.URL.Path)
}

// requireAdmin: directory writes need a Global Administrator.
func (h *Handler) requireAdmin(c *call) error {
	if p := c.claims.Principal; p != nil && p.DirectoryAdmin {
		return nil
	}
	return errf(http.StatusForbidden, "Authorization_RequestDenied",
		"Insufficient privileges to complete the operation: principal '%s' is not a directory administrator (Global Administrator). Run the command as the bootstrap admin (eval \"$(amlid env)\").", c.claims.ObjectID)
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return errf(http.StatusBadRequest, "BadRequest", "cannot read body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errf(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: %v", err)
	}
	return nil
}

// objectJSON renders a principal as a Graph directory object.
func objectJSON(p *directory.Principal) map[string]any {
	m := map[string]any{"id": p.ObjectID, "displayName": p.DisplayName}
	switch p.Type {
	case directory.TypeUser:
		m["@odata.type"] = "#microsoft.graph.user"
		m["userPrincipalName"] = p.UPN
		m["mail"] = nil
		m["accountEnabled"] = !p.Disabled
		m["mailNickname"], _, _ = strings.Cut(p.UPN, "@")
	case directory.TypeGroup:
		m["@odata.type"] = "#microsoft.graph.group"
		m["securityEnabled"] = true
		m["mailEnabled"] = false
		m["mailNickname"] = p.DisplayName
	default:
		m["@odata.type"] = "#microsoft.graph.servicePrincipal"
		m["appId"] = p.AppID
		m["accountEnabled"] = !p.Disabled
		m["servicePrincipalNames"] = []string{p.AppID}
		m["appOwnerOrganizationId"] = p.TenantID
		m["servicePrincipalType"] = p.Subtype
		if p.ResourceID != "" {
			m["alternativeNames"] = []string{"isExplicit=" + fmt.Sprint(!p.SystemAssigned), p.ResourceID}
		}
	}
	return m
}

// lookup finds a principal of typ by object ID, or by UPN/appId.
func (h *Handler) lookup(c *call, typ, key string) (*directory.Principal, error) {
	ctx := c.r.Context()
	p, err := h.cfg.Directory.Principal(ctx, strings.ToLower(key))
	if err != nil && typ == directory.TypeUser {
		p, err = h.cfg.Directory.Lookup(ctx, c.tenant, directory.IndexUPN, key)
	}
	if err != nil || p.Type != typ || !strings.EqualFold(p.TenantID, c.tenant) {
		return nil, errf(http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", key)
	}
	return p, nil
}

var filterEq = regexp.MustCompile(`(?i)^\s*(\w+)\s+eq\s+'([^']*)'\s*$`)
var filterSPN = regexp.MustCompile(`(?i)^\s*servicePrincipalNames/any\(\s*(\w+)\s*:\s*\w+\s+eq\s+'([^']*)'\s*\)\s*$`)

// list answers a collection, honouring simple $filter forms, one page at a
// time.
func (h *Handler) list(c *call, typ string) error {
	f := c.r.URL.Query().Get("$filter")
	var field, value string
	if f != "" {
		if m := filterSPN.FindStringSubmatch(f); m != nil {
			field, value = "serviceprincipalnames", m[2]
		} else if m := filterEq.FindStringSubmatch(f); m != nil {
			field, value = strings.ToLower(m[1]), m[2]
		} else {
			return errf(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: $filter=%s. amlid supports \"<property> eq '<value>'\" and servicePrincipalNames/any(c:c eq '<value>').", f)
		}
	}
	switch field {
	case "", "serviceprincipalnames", "appid", "displayname", "userprincipalname", "mail", "id":
	default:
		return errf(http.StatusBadRequest, "Request_UnsupportedQuery", "Filtering on '%s' is not supported.", field)
	}
	keep := func(r store.Record) bool {
		var p directory.Principal
		if json.Unmarshal(r.Value, &p) != nil || (typ != "" && p.Type != typ) {
			return false
		}
		switch field {
		case "serviceprincipalnames", "appid":
			return strings.EqualFold(p.AppID, value)
		case "displayname":
			return p.DisplayName == value
		case "userprincipalname", "mail":
			return strings.EqualFold(p.UPN, value)
		case "id":
			return strings.EqualFold(p.ObjectID, value)
		}
		return true
	}
	return h.writePage(c, directory.KindPrincipal, keep, func(r store.Record) (any, error) {
		var p directory.Principal
		if err := json.Unmarshal(r.Value, &p); err != nil {
			return nil, err
		}
		return objectJSON(&p), nil
	})
}

func (h *Handler) users(c *call, segs []string) error {
	ctx := c.r.Context()
	switch {
	case len(segs) == 0 && c.r.Method == http.MethodGet:
		return h.list(c, directory.TypeUser)
	case len(segs) == 0 && c.r.Method == http.MethodPost:
		if err := h.requireAdmin(c); err != nil {
			return err
		}
		var in struct {
			AccountEnabled    *bool  `json:"accountEnabled"`
			DisplayName       string `json:"displayName"`
			UserPrincipalName string `json:"userPrincipalName"`
			PasswordProfile   struct {
				Password string `json:"password"`
			} `json:"passwordProfile"`
		}
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		if !strings.Contains(in.UserPrincipalName, "@") || in.PasswordProfile.Password == "" {
			return errf(http.StatusBadRequest, "Request_BadRequest", "userPrincipalName (user@domain) and passwordProfile.password are required.")
		}
		if len(in.PasswordProfile.Password) < 8 {
			return errf(http.StatusBadRequest, "Request_BadRequest", "The specified password does not comply with password complexity requirements: at least 8 characters.")
		}
		now := time.Now().UTC()
		p := &directory.Principal{TenantID: c.tenant, Type: directory.TypeUser, DisplayName: in.DisplayName, UPN: in.UserPrincipalName,
			Password: &directory.SecretCredential{KeyID: uuid.NewString(), Hash: directory.HashPassword(in.PasswordProfile.Password), StartTime: now, EndTime: now.AddDate(100, 0, 0)},
			Disabled: in.AccountEnabled != nil && !*in.AccountEnabled}
		if err := h.cfg.Directory.CreatePrincipal(ctx, p); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return errf(http.StatusBadRequest, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
			}
			return err
		}
		writeJSON(c.w, http.StatusCreated, objectJSON(p))
		return nil
	case len(segs) == 1:
		p, err := h.lookup(c, directory.TypeUser, segs[0])
		if err != nil {
			return err
		}
		switch c.r.Method {
		case http.MethodGet:
			writeJSON(c.w, http.StatusOK, objectJSON(p))
			return nil
		case http.MethodDelete:
			return h.deletePrincipal(c, p)
		}
	case len(segs) == 2 && strings.EqualFold(segs[1], "memberOf") && c.r.Method == http.MethodGet:
		p, err := h.lookup(c, directory.TypeUser, segs[0])
		if err != nil {
			return err
		}
		return h.memberOf(c, p)
	}
	return errf(http.StatusMethodNotAllowed, "Request_BadRequest", "%s is not supported on %s.", c.r.Method, c.r.URL.Path)
}

func (h *Handler) memberOf(c *call, p *directory.Principal) error {
	ids, err := h.cfg.Directory.GroupsOf(c.r.Context(), c.tenant, p.ObjectID)
	if err != nil {
		return err
	}
	out := []any{}
	for _, id := range ids {
		if g, err := h.cfg.Directory.Principal(c.r.Context(), id); err == nil {
			out = append(out, objectJSON(g))
		}
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (h *Handler) deletePrincipal(c *call, p *directory.Principal) error {
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	if p.IsManagedIdentity() {
		return errf(http.StatusBadRequest, "Request_BadRequest", "A managed identity's principal is deleted with its resource, not through Graph.")
	}
	ctx := c.r.Context()
	err := h.cfg.Directory.Store().Tx(ctx, func(tx store.Tx) error {
		if h.cfg.OnPrincipalDeleted != nil {
			if err := h.cfg.OnPrincipalDeleted(ctx, tx, p.ObjectID); err != nil {
				return err
			}
		}
		return directory.DeletePrincipal(ctx, tx, p.ObjectID)
	})
	if err != nil {
		return err
	}
	h.cfg.Tokens.InvalidateCache(p.ObjectID)
	_ = h.cfg.Tokens.RevokeRefreshTokens(ctx, p.ObjectID)
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) groups(c *call, segs []string) error {
	ctx := c.r.Context()
	switch {
	case len(segs) == 0 && c.r.Method == http.MethodGet:
		return h.list(c, directory.TypeGroup)
	case len(segs) == 0 && c.r.Method == http.MethodPost:
		if err := h.requireAdmin(c); err != nil {
			return err
		}
		var in struct {
			DisplayName  string `json:"displayName"`
			MailNickname string `json:"mailNickname"`
		}
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		if in.DisplayName == "" {
			return errf(http.StatusBadRequest, "Request_BadRequest", "displayName is required.")
		}
		p := &directory.Principal{TenantID: c.tenant, Type: directory.TypeGroup, DisplayName: in.DisplayName}
		if err := h.cfg.Directory.CreatePrincipal(ctx, p); err != nil {
			return err
		}
		writeJSON(c.w, http.StatusCreated, objectJSON(p))
		return nil
	}
	g, err := h.lookup(c, directory.TypeGroup, segs[0])
	if err != nil {
		return err
	}
	switch {
	case len(segs) == 1 && c.r.Method == http.MethodGet:
		writeJSON(c.w, http.StatusOK, objectJSON(g))
		return nil
	case len(segs) == 1 && c.r.Method == http.MethodDelete:
		return h.deletePrincipal(c, g)
	case len(segs) == 2 && strings.EqualFold(segs[1], "members") && c.r.Method == http.MethodGet:
		out := []any{}
		for _, m := range g.Members {
			if p, err := h.cfg.Directory.Principal(ctx, m); err == nil {
				out = append(out, objectJSON(p))
			}
		}
		writeJSON(c.w, http.StatusOK, map[string]any{"value": out})
		return nil
	case len(segs) == 3 && strings.EqualFold(segs[1], "members") && segs[2] == "$ref" && c.r.Method == http.MethodPost:
		if err := h.requireAdmin(c); err != nil {
			return err
		}
		var in struct {
			ODataID string `json:"@odata.id"`
		}
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		id := in.ODataID[strings.LastIndex(in.ODataID, "/")+1:]
		member, err := h.cfg.Directory.Principal(ctx, id)
		if err != nil || !strings.EqualFold(member.TenantID, c.tenant) {
			return errf(http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist.", id)
		}
		if _, err := h.cfg.Directory.UpdatePrincipal(ctx, g.ObjectID, func(p *directory.Principal) error {
			for _, m := range p.Members {
				if strings.EqualFold(m, member.ObjectID) {
					return errf(http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
				}
			}
			p.Members = append(p.Members, member.ObjectID)
			return nil
		}); err != nil {
			return err
		}
		h.cfg.Tokens.InvalidateCache(member.ObjectID)
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	case len(segs) == 4 && strings.EqualFold(segs[1], "members") && segs[3] == "$ref" && c.r.Method == http.MethodDelete:
		if err := h.requireAdmin(c); err != nil {
			return err
		}
		found := false
		if _, err := h.cfg.Directory.UpdatePrincipal(ctx, g.ObjectID, func(p *directory.Principal) error {
			var keep []string
			for _, m := range p.Members {
				if strings.EqualFold(m, segs[2]) {
					found = true
					continue
				}
				keep = append(keep, m)
			}
			p.Members = keep
			return nil
		}); err != nil {
			return err
		}
		if !found {
			return errf(http.StatusNotFound, "Request_ResourceNotFound", "'%s' is not a member of the group.", segs[2])
		}
		h.cfg.Tokens.InvalidateCache(segs[2])
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errf(http.StatusMethodNotAllowed, "Request_BadRequest", "%s is not supported on %s.", c.r.Method, c.r.URL.Path)
}

func (h *Handler) getByIds(c *call) error {
	var in struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	}
	if err := readJSON(c.r, &in); err != nil {
		return err
	}
	out := []any{}
	for _, id := range in.IDs {
		p, err := h.cfg.Directory.Principal(c.r.Context(), id)
		if err != nil || !strings.EqualFold(p.TenantID, c.tenant) {
			continue
		}
		o := objectJSON(p)
		if len(in.Types) > 0 {
			t := strings.TrimPrefix(o["@odata.type"].(string), "#microsoft.graph.")
			match := false
			for _, want := range in.Types {
				match = match || strings.EqualFold(want, t)
			}
			if !match {
				continue
			}
		}
		out = append(out, o)
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"value": out})
	return nil
}
