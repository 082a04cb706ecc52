package graph

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// application is an app registration. Its credentials are mirrored onto the
// service principal with the same appId, which is what signs in.
type application struct {
	ID          string                       `json:"id"`
	AppID       string                       `json:"appId"`
	TenantID    string                       `json:"tenantId"`
	DisplayName string                       `json:"displayName"`
	Secrets     []directory.SecretCredential `json:"secrets,omitempty"`
	// Redirect URIs per platform (Graph's web/spa/publicClient).
	Web          []string  `json:"webRedirectUris,omitempty"`
	SPA          []string  `json:"spaRedirectUris,omitempty"`
	PublicClient []string  `json:"publicClientRedirectUris,omitempty"`
	Created      time.Time `json:"createdDateTime"`
}

// platforms is the redirect-URI part of an application's JSON.
type platforms struct {
	Web *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"web"`
	SPA *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"spa"`
	PublicClient *struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"publicClient"`
}

// apply sets the platforms present in p; a redirect URI must be an absolute
// https URL, or http on a loopback host (as Entra requires).
func (a *application) apply(p platforms) error {
	check := func(us []string) ([]string, error) {
		out := []string{}
		for _, u := range us {
			if err := directory.CheckRedirectURI(u); err != nil {
				return nil, errf(http.StatusBadRequest, "Request_BadRequest", "Invalid redirect URI '%s': %v.", u, err)
			}
			out = append(out, u)
		}
		return out, nil
	}
	var err error
	if p.Web != nil {
		if a.Web, err = check(p.Web.RedirectURIs); err != nil {
			return err
		}
	}
	if p.SPA != nil {
		if a.SPA, err = check(p.SPA.RedirectURIs); err != nil {
			return err
		}
	}
	if p.PublicClient != nil {
		if a.PublicClient, err = check(p.PublicClient.RedirectURIs); err != nil {
			return err
		}
	}
	return nil
}

func (a *application) redirectURIs() []string {
	var out []string
	out = append(out, a.Web...)
	out = append(out, a.SPA...)
	return append(out, a.PublicClient...)
}

// filterStartsWith is OData's startswith(field,'value').
var filterStartsWith = regexp.MustCompile(`(?i)^\s*startswith\(\s*(\w+)\s*,\s*'([^']*)'\s*\)\s*$`)

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *application) json() map[string]any {
	creds := []any{}
	for _, s := range a.Secrets {
		creds = append(creds, map[string]any{"keyId": s.KeyID, "displayName": s.DisplayName, "hint": s.Hint,
			"startDateTime": s.StartTime, "endDateTime": s.EndTime, "secretText": nil})
	}
	return map[string]any{"@odata.type": "#microsoft.graph.application", "id": a.ID, "appId": a.AppID, "displayName": a.DisplayName,
		"signInAudience": "AzureADMyOrg", "passwordCredentials": creds, "keyCredentials": []any{}, "createdDateTime": a.Created,
		"identifierUris": []any{}, "publisherDomain": "amlid.onmicrosoft.com",
		"web": map[string]any{"redirectUris": orEmpty(a.Web)}, "spa": map[string]any{"redirectUris": orEmpty(a.SPA)},
		"publicClient": map[string]any{"redirectUris": orEmpty(a.PublicClient)}}
}

func (h *Handler) loadApp(c *call, key string) (*application, error) {
	st := h.cfg.Directory.Store()
	rec, err := st.Get(c.r.Context(), KindApplication, strings.ToLower(key))
	if err != nil {
		// by appId
		recs, lerr := st.List(c.r.Context(), KindApplication, store.ListOptions{Parent: strings.ToLower(c.tenant)})
		if lerr != nil {
			return nil, lerr
		}
		for _, r := range recs {
			var a application
			if json.Unmarshal(r.Value, &a) == nil && strings.EqualFold(a.AppID, key) {
				return &a, nil
			}
		}
		return nil, errf(http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", key)
	}
	var a application
	if err := json.Unmarshal(rec.Value, &a); err != nil {
		return nil, err
	}
	if !strings.EqualFold(a.TenantID, c.tenant) {
		return nil, errf(http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist.", key)
	}
	return &a, nil
}

func (h *Handler) saveApp(c *call, a *application) error {
	b, _ := json.Marshal(a)
	_, err := store.Put(c.r.Context(), h.cfg.Directory.Store(), store.Record{Kind: KindApplication, Key: a.ID, Parent: strings.ToLower(a.TenantID), Value: b}, "")
	return err
}

// updateApp saves a changed application and mirrors it onto its service
// principal (syncSecrets).
func (h *Handler) updateApp(c *call, a *application) error {
	if err := h.saveApp(c, a); err != nil {
		return err
	}
	return h.syncSecrets(c, a)
}

// syncSecrets mirrors an application's secrets and redirect URIs onto its
// service principal.
func (h *Handler) syncSecrets(c *call, a *application) error {
	sp, err := h.cfg.Directory.Lookup(c.r.Context(), c.tenant, directory.IndexAppID, a.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = h.cfg.Directory.UpdatePrincipal(c.r.Context(), sp.ObjectID, func(p *directory.Principal) error {
		p.Secrets = a.Secrets
		p.RedirectURIs = a.redirectURIs()
		return nil
	})
	h.cfg.Tokens.InvalidateCache(sp.ObjectID)
	return err
}

func (h *Handler) applications(c *call, segs []string) error {
	switch {
	case len(segs) == 0 && c.r.Method == http.MethodGet:
		return h.listApplications(c)
	case len(segs) == 0 && c.r.Method == http.MethodPost:
		return h.createApplication(c)
	}
	a, err := h.loadApp(c, segs[0])
	if err != nil {
		return err
	}
	switch {
	case len(segs) == 1 && c.r.Method == http.MethodGet:
		writeJSON(c.w, http.StatusOK, a.json())
		return nil
	case len(segs) == 1 && c.r.Method == http.MethodPatch:
		return h.patchApplication(c, a)
	case len(segs) == 1 && c.r.Method == http.MethodDelete:
		return h.deleteApplication(c, a)
	case len(segs) == 2 && strings.EqualFold(segs[1], "addPassword") && c.r.Method == http.MethodPost:
		return h.addAppPassword(c, a)
	case len(segs) == 2 && strings.EqualFold(segs[1], "removePassword") && c.r.Method == http.MethodPost:
		return h.removeAppPassword(c, a)
	}
	return errf(http.StatusMethodNotAllowed, "Request_BadRequest", "%s is not supported on %s.", c.r.Method, c.r.URL.Path)
}

// listApplications is GET /applications, with $filter on appId or
// displayName (eq, or startswith as az ad app create uses).
func (h *Handler) listApplications(c *call) error {
	var field, value string
	prefix := false
	if f := c.r.URL.Query().Get("$filter"); f != "" {
		if m := filterStartsWith.FindStringSubmatch(f); m != nil { // az ad app create looks for namesakes so
			field, value, prefix = strings.ToLower(m[1]), m[2], true
		} else if m := filterEq.FindStringSubmatch(f); m != nil {
			field, value = strings.ToLower(m[1]), m[2]
		} else {
			return errf(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: $filter=%s.", f)
		}
	}
	keep := func(r store.Record) bool {
		var a application
		if json.Unmarshal(r.Value, &a) != nil {
			return false
		}
		switch {
		case field == "appid":
			return strings.EqualFold(a.AppID, value)
		case field == "displayname" && prefix:
			return strings.HasPrefix(strings.ToLower(a.DisplayName), strings.ToLower(value))
		case field == "displayname":
			return a.DisplayName == value
		}
		return true
	}
	return h.writePage(c, KindApplication, keep, func(r store.Record) (any, error) {
		var a application
		if err := json.Unmarshal(r.Value, &a); err != nil {
			return nil, err
		}
		return a.json(), nil
	})
}

// createApplication is POST /applications.
func (h *Handler) createApplication(c *call) error {
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	var in struct {
		DisplayName string `json:"displayName"`
		platforms
	}
	if err := readJSON(c.r, &in); err != nil {
		return err
	}
	if in.DisplayName == "" {
		return errf(http.StatusBadRequest, "Request_BadRequest", "displayName is required.")
	}
	a := &application{ID: uuid.NewString(), AppID: uuid.NewString(), TenantID: c.tenant, DisplayName: in.DisplayName, Created: time.Now().UTC()}
	if err := a.apply(in.platforms); err != nil {
		return err
	}
	if err := h.saveApp(c, a); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, a.json())
	return nil
}

// patchApplication is PATCH /applications/{id}.
func (h *Handler) patchApplication(c *call, a *application) error {
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	var in struct {
		DisplayName *string `json:"displayName"`
		platforms
	}
	if err := readJSON(c.r, &in); err != nil {
		return err
	}
	if in.DisplayName != nil && *in.DisplayName != "" {
		a.DisplayName = *in.DisplayName
	}
	if err := a.apply(in.platforms); err != nil {
		return err
	}
	if err := h.updateApp(c, a); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteApplication is DELETE /applications/{id}; it deletes the app's
// service principal too.
func (h *Handler) deleteApplication(c *call, a *application) error {
	ctx := c.r.Context()
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	if sp, err := h.cfg.Directory.Lookup(ctx, c.tenant, directory.IndexAppID, a.AppID); err == nil {
		if err := h.deletePrincipal(&call{w: discard{}, r: c.r, claims: c.claims, tenant: c.tenant}, sp); err != nil {
			return err
		}
	}
	if err := store.Delete(ctx, h.cfg.Directory.Store(), KindApplication, a.ID, ""); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// addAppPassword is POST /applications/{id}/addPassword: a new client secret,
// shown once in the answer and stored hashed.
func (h *Handler) addAppPassword(c *call, a *application) error {
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	var in struct {
		PasswordCredential struct {
			DisplayName string     `json:"displayName"`
			EndDateTime *time.Time `json:"endDateTime"`
		} `json:"passwordCredential"`
	}
	_ = readJSON(c.r, &in)
	now := time.Now().UTC()
	end := now.AddDate(1, 0, 0)
	if in.PasswordCredential.EndDateTime != nil {
		end = *in.PasswordCredential.EndDateTime
	}
	secret := directory.NewSecret()
	cred := directory.SecretCredential{KeyID: uuid.NewString(), DisplayName: in.PasswordCredential.DisplayName, Hint: directory.SecretHint(secret),
		Hash: directory.HashSecret(secret), StartTime: now, EndTime: end}
	a.Secrets = append(a.Secrets, cred)
	if err := h.updateApp(c, a); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"customKeyIdentifier": nil, "displayName": cred.DisplayName, "endDateTime": cred.EndTime,
		"hint": cred.Hint, "keyId": cred.KeyID, "secretText": secret, "startDateTime": cred.StartTime})
	return nil
}

// removeAppPassword is POST /applications/{id}/removePassword.
func (h *Handler) removeAppPassword(c *call, a *application) error {
	if err := h.requireAdmin(c); err != nil {
		return err
	}
	var in struct {
		KeyID string `json:"keyId"`
	}
	if err := readJSON(c.r, &in); err != nil {
		return err
	}
	var keep []directory.SecretCredential
	for _, s := range a.Secrets {
		if !strings.EqualFold(s.KeyID, in.KeyID) {
			keep = append(keep, s)
		}
	}
	a.Secrets = keep
	if err := h.updateApp(c, a); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) servicePrincipals(c *call, segs []string) error {
	ctx := c.r.Context()
	switch {
	case len(segs) == 0 && c.r.Method == http.MethodGet:
		return h.list(c, directory.TypeServicePrincipal)
	case len(segs) == 0 && c.r.Method == http.MethodPost:
		if err := h.requireAdmin(c); err != nil {
			return err
		}
		var in struct {
			AppID string `json:"appId"`
		}
		if err := readJSON(c.r, &in); err != nil {
			return err
		}
		a, err := h.loadApp(c, in.AppID)
		if err != nil {
			return errf(http.StatusBadRequest, "Request_BadRequest", "The appId '%s' of the service principal does not reference a valid application object.", in.AppID)
		}
		p := &directory.Principal{TenantID: c.tenant, Type: directory.TypeServicePrincipal, Subtype: directory.SubtypeApplication,
			DisplayName: a.DisplayName, AppID: a.AppID, Secrets: a.Secrets, RedirectURIs: a.redirectURIs()}
		if err := h.cfg.Directory.CreatePrincipal(ctx, p); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return errf(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue", "The service principal for appId '%s' already exists.", a.AppID)
			}
			return err
		}
		writeJSON(c.w, http.StatusCreated, objectJSON(p))
		return nil
	}
	p, err := h.lookup(c, directory.TypeServicePrincipal, segs[0])
	if err != nil {
		if sp, lerr := h.cfg.Directory.Lookup(ctx, c.tenant, directory.IndexAppID, segs[0]); lerr == nil {
			p, err = sp, nil
		} else {
			return err
		}
	}
	switch {
	case len(segs) == 1 && c.r.Method == http.MethodGet:
		writeJSON(c.w, http.StatusOK, objectJSON(p))
		return nil
	case len(segs) == 1 && c.r.Method == http.MethodDelete:
		return h.deletePrincipal(c, p)
	case len(segs) == 2 && strings.EqualFold(segs[1], "memberOf") && c.r.Method == http.MethodGet:
		return h.memberOf(c, p)
	}
	return errf(http.StatusMethodNotAllowed, "Request_BadRequest", "%s is not supported on %s.", c.r.Method, c.r.URL.Path)
}

// discard is a ResponseWriter for internal reuse of handlers.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
