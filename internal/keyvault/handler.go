package keyvault

// The secrets REST API as azsecrets (Go), azure-keyvault-secrets (Python)
// and az's track-1 client call it, on each vault's own host:
//
//	PUT    /secrets/{name}                  set (a new version)
//	GET    /secrets                         list
//	GET    /secrets/{name}[/]               get the current version
//	GET    /secrets/{name}/versions         list versions
//	GET    /secrets/{name}/{version}        get a version
//	PATCH  /secrets/{name}[/{version}]      update attributes
//	DELETE /secrets/{name}                  delete (soft delete)
//	POST   /secrets/{name}/backup, /secrets/restore
//	GET    /deletedsecrets[/{name}]         deleted secrets
//	DELETE /deletedsecrets/{name}           purge
//	POST   /deletedsecrets/{name}/recover   recover

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/paging"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// api-versions: 7.x (7.0 az, 7.3 Python, 7.4–7.6) and the dated versions
// newer SDKs send (azsecrets 1.5: 2026-04-01), 2016-10-01 onwards.
var apiVersionRE = regexp.MustCompile(`^(7\.\d+(-preview)?|\d{4}-\d{2}-\d{2}(-preview)?)$`)

const maxBody = 256 << 10

// Handler serves every vault's data plane (mounted on the hostport pool;
// the vault is the one the request's port belongs to).
func (v *Vaults) Handler() http.Handler { return http.HandlerFunc(v.serve) }

type call struct {
	w      http.ResponseWriter
	r      *http.Request
	vault  *Vault
	claims *token.Claims
	base   string // https://{host the client used}
}

func (v *Vaults) serve(w http.ResponseWriter, r *http.Request) {
	if err := v.serveErr(w, r); err != nil {
		v.writeError(w, r, err)
	}
}

func (v *Vaults) serveErr(w http.ResponseWriter, r *http.Request) error {
	t, ok := hostport.Resource(r.Context())
	if !ok {
		return kvErr(http.StatusNotFound, "NotFound", "No key vault is served here.")
	}
	res, err := loadVaultResource(r.Context(), v.cfg.Store, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		return kvErr(http.StatusNotFound, "VaultNotFound", "Vault %s no longer exists (deleted, or its creation failed).", t.ID)
	}
	if err != nil {
		return err
	}
	vault, err := VaultFromResource(res)
	if err != nil {
		return err
	}
	av := r.URL.Query().Get("api-version")
	if av == "" {
		return kvErr(http.StatusBadRequest, "BadParameter", "The api-version query parameter is required (for example api-version=7.4).")
	}
	if !apiVersionRE.MatchString(av) || (av[0] != '7' && av < "2016-10-01") {
		return kvErr(http.StatusBadRequest, "BadParameter", "The api-version '%s' is not supported; use 7.0 to 7.6 or a dated version from 2016-10-01.", av)
	}
	// Authentication comes first: a request without a token gets the
	// challenge whatever it asks for (the SDKs send a body-less probe).
	claims, err := v.authenticate(r, vault)
	if err != nil {
		return err
	}
	if err := v.firewall(r, vault, claims); err != nil {
		return err
	}
	c := &call{w: w, r: r, vault: vault, claims: claims, base: "https://" + r.Host}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	m := r.Method
	switch {
	case len(segs) == 1 && strings.EqualFold(segs[0], "secrets") && m == http.MethodGet:
		return v.list(c)
	case len(segs) == 2 && strings.EqualFold(segs[0], "secrets") && strings.EqualFold(segs[1], "restore") && m == http.MethodPost:
		return v.restore(c)
	case len(segs) == 2 && strings.EqualFold(segs[0], "secrets"):
		switch m {
		case http.MethodPut:
			return v.set(c, segs[1])
		case http.MethodGet:
			return v.get(c, segs[1], "")
		case http.MethodPatch:
			return v.update(c, segs[1], "")
		case http.MethodDelete:
			return v.del(c, segs[1])
		}
	case len(segs) == 3 && strings.EqualFold(segs[0], "secrets"):
		switch {
		case strings.EqualFold(segs[2], "versions") && m == http.MethodGet:
			return v.versions(c, segs[1])
		case strings.EqualFold(segs[2], "backup") && m == http.MethodPost:
			return v.backup(c, segs[1])
		case m == http.MethodGet:
			return v.get(c, segs[1], segs[2])
		case m == http.MethodPatch:
			return v.update(c, segs[1], segs[2])
		}
	case len(segs) == 1 && strings.EqualFold(segs[0], "deletedsecrets") && m == http.MethodGet:
		return v.listDeletedSecrets(c)
	case len(segs) == 2 && strings.EqualFold(segs[0], "deletedsecrets"):
		switch m {
		case http.MethodGet:
			return v.showDeleted(c, segs[1])
		case http.MethodDelete:
			return v.purge(c, segs[1])
		}
	case len(segs) == 3 && strings.EqualFold(segs[0], "deletedsecrets") && strings.EqualFold(segs[2], "recover") && m == http.MethodPost:
		return v.recover(c, segs[1])
	}
	return kvErr(http.StatusBadRequest, "BadParameter", "amlid's Key Vault serves secrets only: %s %s is not a secrets operation it knows.", m, r.URL.Path)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return kvErr(http.StatusBadRequest, "BadParameter", "The request body could not be read: %v", err)
	}
	if len(b) > maxBody {
		return kvErr(http.StatusRequestEntityTooLarge, "BadParameter", "The request body is larger than %d bytes.", maxBody)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return kvErr(http.StatusBadRequest, "BadParameter", "The request body is empty; a JSON object is required.")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return kvErr(http.StatusBadRequest, "BadParameter", "The request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// ---- representations ----

func (v *Vaults) attributes(vault *Vault, vr *versionRecord) map[string]any {
	a := map[string]any{"enabled": vr.Enabled, "created": vr.Created, "updated": vr.Updated, "recoveryLevel": vault.RecoveryLevel()}
	if vault.SoftDelete {
		a["recoverableDays"] = vault.RetentionDays
	}
	if vr.NotBefore != nil {
		a["nbf"] = *vr.NotBefore
	}
	if vr.Expires != nil {
		a["exp"] = *vr.Expires
	}
	return a
}

func (v *Vaults) bundle(c *call, vr *versionRecord, value *string) map[string]any {
	m := map[string]any{"id": c.base + "/secrets/" + vr.Name + "/" + vr.Version, "attributes": v.attributes(c.vault, vr)}
	if value != nil {
		m["value"] = *value
	}
	if vr.ContentType != "" {
		m["contentType"] = vr.ContentType
	}
	if len(vr.Tags) > 0 {
		m["tags"] = vr.Tags
	}
	return m
}

func (v *Vaults) item(c *call, vr *versionRecord, withVersion bool) map[string]any {
	m := v.bundle(c, vr, nil)
	if !withVersion {
		m["id"] = c.base + "/secrets/" + vr.Name
	}
	return m
}

func (v *Vaults) deletedJSON(c *call, s *secretRecord, vr *versionRecord, m map[string]any) map[string]any {
	if s.Deleted != nil {
		m["recoveryId"] = c.base + "/deletedsecrets/" + s.Name
		m["deletedDate"] = s.Deleted.DeletedDate
		m["scheduledPurgeDate"] = s.Deleted.ScheduledPurgeDate
	}
	return m
}

// pageParams reads maxresults (page size, 1..25, default 25) and
// $skiptoken, whose cursor is bound to this path by an HMAC (tampered or
// from another listing: 400 BadParameter).
func (v *Vaults) pageParams(c *call) (size int, cursor string, err error) {
	q := c.r.URL.Query()
	size = 25
	if s := q.Get("maxresults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 25 {
			return 0, "", kvErr(http.StatusBadRequest, "BadParameter", "maxresults must be an integer from 1 to 25, not '%s'.", s)
		}
		size = n
	}
	if s := q.Get("$skiptoken"); s != "" {
		cursor, err = v.pages.Cursor(c.r.Context(), strings.ToLower(c.vault.ID+c.r.URL.Path), s)
		if errors.Is(err, paging.ErrInvalid) {
			return 0, "", kvErr(http.StatusBadRequest, "BadParameter", "The $skiptoken '%s' is not a continuation token of this list: follow nextLink unchanged.", s)
		}
		if err != nil {
			return 0, "", err
		}
	}
	return size, cursor, nil
}

// nextLink is the link to the page after cursor ("" when cursor is "").
func (v *Vaults) nextLink(c *call, size int, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	tok, err := v.pages.Token(c.r.Context(), strings.ToLower(c.vault.ID+c.r.URL.Path), cursor)
	if err != nil {
		return "", err
	}
	nq := url.Values{}
	nq.Set("api-version", c.r.URL.Query().Get("api-version"))
	nq.Set("$skiptoken", tok)
	nq.Set("maxresults", strconv.Itoa(size))
	return c.base + c.r.URL.Path + "?" + nq.Encode(), nil
}

// page cuts items (a short list held in memory: a secret's versions) by
// maxresults/$skiptoken, the cursor being an offset, and returns the nextLink.
func (v *Vaults) page(c *call, n int) (start, end int, next string, err error) {
	size, cursor, err := v.pageParams(c)
	if err != nil {
		return 0, 0, "", err
	}
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
		start = min(max(start, 0), n)
	}
	end = min(start+size, n)
	if end < n {
		next, err = v.nextLink(c, size, strconv.Itoa(end))
	}
	return start, end, next, err
}

func writePage(c *call, items []any, next string) {
	body := map[string]any{"value": items, "nextLink": nil}
	if next != "" {
		body["nextLink"] = next
	}
	writeJSON(c.w, http.StatusOK, body)
}

// ---- operations ----

func (v *Vaults) set(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opSet, name); err != nil {
		return err
	}
	var req struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *secretAttrs      `json:"attributes"`
	}
	if err := readJSON(c.r, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return kvErr(http.StatusBadRequest, "BadParameter", "The secret value is required ({\"value\": \"…\"}).")
	}
	var a secretAttrs
	if req.Attributes != nil {
		a = *req.Attributes
	}
	vr, err := v.setSecret(c.r.Context(), c.vault, name, *req.Value, req.ContentType, req.Tags, a)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.bundle(c, vr, req.Value))
	return nil
}

func (v *Vaults) get(c *call, name, version string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opGet, name); err != nil {
		return err
	}
	_, vr, err := v.getSecret(c.r.Context(), c.vault, name, version)
	if err != nil {
		return err
	}
	if !vr.Enabled {
		return kvErrInner(http.StatusForbidden, "Forbidden", "SecretDisabled",
			"Operation get is not allowed on a disabled secret (%s/%s). Enable it: amlid keyvault secret set-attributes --vault-name %s -n %s --enabled true.", vr.Name, vr.Version, c.vault.Name, vr.Name)
	}
	val, err := v.value(c.vault, vr)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.bundle(c, vr, &val))
	return nil
}

func (v *Vaults) list(c *call) error {
	return v.listPage(c, opList, false, func(it secretItem) any { return v.item(c, it.vr, false) })
}

// listPage answers one page of the vault's secrets (or deleted secrets),
// each rendered by render, after the list permission check.
func (v *Vaults) listPage(c *call, op secretOp, deleted bool, render func(secretItem) any) error {
	if err := v.authorize(c.r.Context(), c.vault, c.claims, op, ""); err != nil {
		return err
	}
	size, cursor, err := v.pageParams(c)
	if err != nil {
		return err
	}
	items, cursor, err := v.listSecrets(c.r.Context(), c.vault, deleted, cursor, size)
	if err != nil {
		return err
	}
	next, err := v.nextLink(c, size, cursor)
	if err != nil {
		return err
	}
	out := []any{}
	for _, it := range items {
		out = append(out, render(it))
	}
	writePage(c, out, next)
	return nil
}

func (v *Vaults) versions(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opList, name); err != nil {
		return err
	}
	all, err := v.listVersions(c.r.Context(), c.vault, name)
	if err != nil {
		return err
	}
	start, end, next, err := v.page(c, len(all))
	if err != nil {
		return err
	}
	out := []any{}
	for _, vr := range all[start:end] {
		out = append(out, v.item(c, vr, true))
	}
	writePage(c, out, next)
	return nil
}

func (v *Vaults) update(c *call, name, version string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opUpdate, name); err != nil {
		return err
	}
	var req struct {
		ContentType *string           `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *secretAttrs      `json:"attributes"`
	}
	if err := readJSON(c.r, &req); err != nil {
		return err
	}
	vr, err := v.updateSecret(c.r.Context(), c.vault, name, version, req.ContentType, req.Tags, req.Attributes)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.bundle(c, vr, nil))
	return nil
}

func (v *Vaults) del(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opDelete, name); err != nil {
		return err
	}
	s, vr, err := v.deleteSecret(c.r.Context(), c.vault, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.deletedJSON(c, s, vr, v.bundle(c, vr, nil)))
	return nil
}

func (v *Vaults) listDeletedSecrets(c *call) error {
	return v.listPage(c, opListDeleted, true, func(it secretItem) any {
		return v.deletedJSON(c, it.s, it.vr, v.item(c, it.vr, false))
	})
}

func (v *Vaults) showDeleted(c *call, name string) error {
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opGetDeleted, name); err != nil {
		return err
	}
	s, vr, err := v.getDeleted(c.r.Context(), c.vault, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.deletedJSON(c, s, vr, v.bundle(c, vr, nil)))
	return nil
}

func (v *Vaults) purge(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opPurge, name); err != nil {
		return err
	}
	if err := v.purgeDeleted(c.r.Context(), c.vault, name); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *Vaults) recover(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opRecover, name); err != nil {
		return err
	}
	vr, err := v.recoverSecret(c.r.Context(), c.vault, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.bundle(c, vr, nil))
	return nil
}

func (v *Vaults) backup(c *call, name string) error {
	if err := checkSecretName(name); err != nil {
		return err
	}
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opBackup, name); err != nil {
		return err
	}
	blob, err := v.backupSecret(c.r.Context(), c.vault, name)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"value": base64URL(blob)})
	return nil
}

func (v *Vaults) restore(c *call) error {
	if err := v.authorize(c.r.Context(), c.vault, c.claims, opRestore, ""); err != nil {
		return err
	}
	var req struct {
		Value string `json:"value"`
	}
	if err := readJSON(c.r, &req); err != nil {
		return err
	}
	blob, err := fromBase64URL(req.Value)
	if err != nil {
		return kvErr(http.StatusBadRequest, "BadParameter", "The backup value is not base64url.")
	}
	vr, err := v.restoreSecret(c.r.Context(), c.vault, blob)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, v.bundle(c, vr, nil))
	return nil
}
