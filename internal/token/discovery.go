package token

import (
	"github.com/amlid/amlid/internal/azurehost"
	"net/http"
	"net/url"
	"strings"
)

// route is one endpoint of Handler.
type route struct {
	method, pattern string
	h               func(s *Service) http.HandlerFunc
}

func hf(f func(*Service, http.ResponseWriter, *http.Request)) func(s *Service) http.HandlerFunc {
	return func(s *Service) http.HandlerFunc { return func(w http.ResponseWriter, r *http.Request) { f(s, w, r) } }
}

// routeTable declares every endpoint once; the mux and OwnsPath derive
// from it.
var routeTable = []route{
	{"GET", "/{tenant}/v2.0/.well-known/openid-configuration", func(s *Service) http.HandlerFunc { return s.handleOIDC(verV2) }},
	{"GET", "/{tenant}/.well-known/openid-configuration", func(s *Service) http.HandlerFunc { return s.handleOIDC(verV1) }},
	{"POST", "/{tenant}/oauth2/v2.0/token", hf((*Service).handleToken)},
	{"POST", "/{tenant}/oauth2/token", hf((*Service).handleToken)},
	{"POST", "/{tenant}/oauth2/v2.0/devicecode", hf((*Service).handleDeviceCode)},
	{"POST", "/{tenant}/oauth2/devicecode", hf((*Service).handleDeviceCode)},
	{"POST", "/{tenant}/oauth2/deviceauth", hf((*Service).handleDeviceAuth)},
	{"GET", "/{tenant}/oauth2/deviceauth", hf((*Service).handleDeviceAuthInfo)},
	{"", "/{tenant}/oauth2/v2.0/authorize", hf((*Service).handleAuthorize)},
	{"", "/{tenant}/oauth2/authorize", hf((*Service).handleAuthorize)},
	{"GET", "/{tenant}/discovery/v2.0/keys", hf((*Service).handleKeys)},
	{"GET", "/{tenant}/discovery/keys", hf((*Service).handleKeys)},
	{"GET", "/{tenant}/discovery/instance", hf((*Service).handleInstance)},
	{"GET", "/{tenant}/UserRealm/{upn}", hf((*Service).handleUserRealm)},
	{"GET", "/{tenant}/userrealm/{upn}", hf((*Service).handleUserRealm)},
}

// routes builds the handler's mux.
func (s *Service) routes() *http.ServeMux {
	m := http.NewServeMux()
	for _, rt := range routeTable {
		p := rt.pattern
		if rt.method != "" {
			p = rt.method + " " + p
		}
		m.HandleFunc(p, rt.h(s))
	}
	return m
}

// Handler serves the token service's routes (see the package comment).
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t, ok := adfsTenantDoc(r.URL.Path); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			ref, oe := s.resolveTenant(r.Context(), t)
			if oe != nil {
				s.writeError(w, r, oe)
				return
			}
			ref.Alias = "" // the tenant's own document: its issuer carries the tenant ID
			writeJSON(w, http.StatusOK, s.oidcDocument(ref, verV1, s.baseOf(r)))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// adfsTenantDoc recognises /adfs/{tenant}/.well-known/openid-configuration:
// az resolves a --tenant that is not a GUID (a domain, or "adfs" as
// `amlid env` exports it) with GET {activeDirectory}/{tenant}/.well-known/
// openid-configuration and reads the tenant ID from the issuer, and amlid's
// az cloud registration has activeDirectory = {authority}/adfs. (A mux
// pattern would conflict with /{tenant}/v2.0/….)
func adfsTenantDoc(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/adfs/")
	if !ok {
		return "", false
	}
	t, ok := strings.CutSuffix(rest, "/.well-known/openid-configuration")
	if !ok || t == "" || t == "v2.0" || strings.Contains(t, "/") {
		return "", false
	}
	return t, true
}

// ownMux matches the route shapes regardless of method, for OwnsPath.
var ownMux = func() *http.ServeMux {
	m := http.NewServeMux()
	seen := map[string]bool{}
	for _, rt := range routeTable {
		if !seen[rt.pattern] {
			seen[rt.pattern] = true
			m.Handle(rt.pattern, http.NotFoundHandler())
		}
	}
	return m
}()

// OwnsPath reports whether a request path is one of Handler's routes
// (exact shapes such as /{tenant}/oauth2/v2.0/token, whatever the
// method), so a listener shared with ARM, Blob, Key Vault and the
// registry can dispatch with it. Paths like /oauth2/token (ACR) or
// /metadata/identity/oauth2/token (IMDS) are not claimed.
func OwnsPath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	if _, ok := adfsTenantDoc(path); ok {
		return true
	}
	_, pattern := ownMux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
	return pattern != ""
}

// handleOIDC serves the OpenID configuration documents.
func (s *Service) handleOIDC(ver string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ref, oe := s.resolveTenant(r.Context(), r.PathValue("tenant"))
		if oe != nil {
			s.writeError(w, r, oe)
			return
		}
		writeJSON(w, http.StatusOK, s.oidcDocument(ref, ver, s.baseOf(r)))
	}
}

// baseOf is the base URL to name to the caller: Azure's login host when the
// request arrived under it (amlid's proxy), amlid's own otherwise.
func (s *Service) baseOf(r *http.Request) string {
	if n, ok := azurehost.FromContext(r.Context()); ok && n.Service == azurehost.Login {
		return "https://" + n.Host
	}
	return s.base
}

func (s *Service) oidcDocument(ref tenantRef, ver, b string) map[string]any {
	host := hostOnly(b)
	doc := map[string]any{
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"grant_types_supported": []string{"authorization_code", "client_credentials", "password", "refresh_token",
			"urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"scopes_supported": []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "upn",
			"preferred_username", "ver", "appid", "azp", "idtyp", "groups", "xms_mirid", "nonce", "amr"},
		"request_uri_parameter_supported": false,
		"http_logout_supported":           true,
		"frontchannel_logout_supported":   true,
		"tenant_region_scope":             nil,
		"cloud_instance_name":             host,
		"cloud_graph_host_name":           "graph.windows.net",
		"msgraph_host":                    "graph.microsoft.com",
		"rbac_url":                        "https://pas.windows.net",
	}
	if ref.isADFS() {
		doc["issuer"] = b + "/adfs"
		doc["access_token_issuer"] = s.issuerV2(ref.ID)
		doc["token_endpoint"] = b + "/adfs/oauth2/token"
		doc["authorization_endpoint"] = b + "/adfs/oauth2/authorize"
		doc["device_authorization_endpoint"] = b + "/adfs/oauth2/devicecode"
		doc["jwks_uri"] = b + "/adfs/discovery/keys"
		doc["end_session_endpoint"] = b + "/adfs/oauth2/logout"
		return doc
	}
	// Path segment for endpoints: the tenant ID when one was named (also
	// by domain), the alias otherwise; the issuer of an alias carries
	// Entra's literal "{tenantid}" placeholder.
	seg, tid := ref.ID, ref.ID
	if seg == "" {
		seg, tid = ref.Seg, "{tenantid}"
	}
	if ver == verV2 {
		doc["issuer"] = s.issuerV2(tid)
		doc["token_endpoint"] = b + "/" + seg + "/oauth2/v2.0/token"
		doc["authorization_endpoint"] = b + "/" + seg + "/oauth2/v2.0/authorize"
		doc["device_authorization_endpoint"] = b + "/" + seg + "/oauth2/v2.0/devicecode"
		doc["jwks_uri"] = b + "/" + seg + "/discovery/v2.0/keys"
		doc["end_session_endpoint"] = b + "/" + seg + "/oauth2/v2.0/logout"
		return doc
	}
	doc["issuer"] = s.issuerV1(tid)
	doc["token_endpoint"] = b + "/" + seg + "/oauth2/token"
	doc["authorization_endpoint"] = b + "/" + seg + "/oauth2/authorize"
	doc["device_authorization_endpoint"] = b + "/" + seg + "/oauth2/devicecode"
	doc["jwks_uri"] = b + "/common/discovery/keys"
	doc["end_session_endpoint"] = b + "/" + seg + "/oauth2/logout"
	return doc
}

func hostOnly(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Hostname()
}

// handleKeys serves the JWKS: every key that still verifies.
func (s *Service) handleKeys(w http.ResponseWriter, r *http.Request) {
	if _, oe := s.resolveTenant(r.Context(), r.PathValue("tenant")); oe != nil {
		s.writeError(w, r, oe)
		return
	}
	writeJSON(w, http.StatusOK, s.JWKS())
}

// handleInstance answers MSAL's instance discovery, for clients whose
// login.microsoftonline.com is pointed at amlid.
func (s *Service) handleInstance(w http.ResponseWriter, r *http.Request) {
	tenant := aliasCommon
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil {
			if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) > 0 && parts[0] != "" {
				tenant = parts[0]
			}
		}
	}
	base := s.baseOf(r)
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

// handleUserRealm tells MSAL that every account is a managed (cloud)
// account, so ROPC goes straight to the token endpoint.
func (s *Service) handleUserRealm(w http.ResponseWriter, r *http.Request) {
	upn := r.PathValue("upn")
	domain := upn
	if i := strings.LastIndexByte(upn, '@'); i >= 0 {
		domain = upn[i+1:]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         domain,
		"cloud_instance_name": hostOnly(s.baseOf(r)),
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}
