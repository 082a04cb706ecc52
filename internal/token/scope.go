package token

import (
	"net/http"
	"strings"
)

// graphAppID is the audience Entra uses when only bare permissions
// ("User.Read") or only OpenID scopes are requested.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// scopeReq is the parsed scope= (v2) or resource= (v1) parameter.
type scopeReq struct {
	Raw      string   // as requested; echoed back in the response
	Resource string   // the access token's aud
	Perms    []string // ".default" or permission names
	Offline  bool
	V1       bool // resource= form
}

// isDefault reports a "<resource>/.default" request.
func (q scopeReq) isDefault() bool { return len(q.Perms) == 1 && q.Perms[0] == ".default" }

// scp is the scp claim of a user token.
func (q scopeReq) scp() string {
	if q.V1 || q.isDefault() || len(q.Perms) == 0 {
		return "user_impersonation"
	}
	return strings.Join(q.Perms, " ")
}

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// parseScope parses a v2 scope parameter. The resource is the scope minus
// "/.default" (or minus "/<permission>"), kept byte for byte.
func parseScope(raw string) (scopeReq, *oauthError) {
	q := scopeReq{Raw: raw}
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return q, errMissing("scope")
	}
	resources := map[string]bool{}
	var order []string
	for _, f := range fields {
		if l := strings.ToLower(f); oidcScopes[l] {
			if l == "offline_access" {
				q.Offline = true
			}
			continue
		}
		var res, perm string
		switch {
		case strings.HasSuffix(f, "/.default"):
			res, perm = strings.TrimSuffix(f, "/.default"), ".default"
		case strings.Contains(f, "/"):
			i := strings.LastIndex(f, "/")
			res, perm = f[:i], f[i+1:]
		default:
			res, perm = graphAppID, f
		}
		if res == "" || perm == "" {
			return q, newErr(http.StatusBadRequest, "invalid_scope", 70011,
				"The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", f)
		}
		if !resources[res] {
			resources[res] = true
			order = append(order, res)
		}
		q.Perms = append(q.Perms, perm)
	}
	switch {
	case len(order) == 0: // only OpenID scopes: a sign-in, Graph audience
		q.Resource = graphAppID
	case len(order) > 1:
		return q, newErr(http.StatusBadRequest, "invalid_scope", 28000,
			"Provided value for the input parameter scope '%s' is not valid because it contains more than one resource. Scope %s is not valid.", raw, raw)
	default:
		q.Resource = order[0]
	}
	if len(q.Perms) > 1 {
		for _, p := range q.Perms {
			if p == ".default" {
				return q, newErr(http.StatusBadRequest, "invalid_scope", 70011,
					"The provided value for the input parameter 'scope' is not valid. The scope '%s' does not exist: .default cannot be combined with resource-specific scopes.", raw)
			}
		}
	}
	return q, nil
}

// parseResource parses a v1 resource parameter.
func parseResource(raw string) (scopeReq, *oauthError) {
	r := strings.TrimSpace(raw)
	if r == "" {
		return scopeReq{}, errMissing("resource")
	}
	res := strings.TrimSuffix(r, "/.default")
	if strings.TrimSpace(res) == "" { // "/.default" names no resource (found by FuzzParseScope)
		return scopeReq{}, errMissing("resource")
	}
	return scopeReq{Raw: "user_impersonation", Resource: res, Perms: []string{".default"}, V1: true, Offline: true}, nil
}
