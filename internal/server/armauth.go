package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/token"
)

// ARMAudiences are the audiences Resource Manager accepts (az asks for
// management.core.windows.net, the SDKs for management.azure.com).
var ARMAudiences = []string{"https://management.azure.com/", "https://management.core.windows.net/"}

// armAuthenticator verifies ARM bearer tokens with the shared verifier and
// answers failures the way ARM does (401 + WWW-Authenticate + code).
type armAuthenticator struct {
	tokens *token.Service
	host   string
	tenant string
}

func (a *armAuthenticator) Authenticate(r *http.Request) (*arm.Caller, error) {
	raw, ok := token.BearerToken(r)
	fail := func(code, msg string) error {
		e := arm.Errorf(http.StatusUnauthorized, code, "%s", msg)
		e.Header = http.Header{"WWW-Authenticate": {fmt.Sprintf(`Bearer authorization_uri="%s/%s", error="invalid_token", error_description="%s"`,
			a.host, a.tenant, "The access token is missing or invalid.")}}
		return e
	}
	if !ok {
		return nil, fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	claims, err := a.tokens.Verify(r.Context(), raw, ARMAudiences...)
	if err != nil {
		var ve *token.VerifyError
		if errors.As(err, &ve) {
			switch ve.Check {
			case token.CheckExpired:
				return nil, fail("ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time. "+ve.Msg)
			case token.CheckAudience:
				return nil, fail("InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience or resource. "+ve.Msg)
			case token.CheckTenant:
				return nil, fail("InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer. "+ve.Msg)
			}
			return nil, fail("InvalidAuthenticationToken", fmt.Sprintf("The access token is invalid (%s check failed): %s", ve.Check, ve.Msg))
		}
		return nil, err
	}
	return callerFromClaims(claims), nil
}

// callerFromClaims maps verified claims to an ARM caller.
func callerFromClaims(c *token.Claims) *arm.Caller {
	caller := &arm.Caller{ObjectID: c.ObjectID, TenantID: c.TenantID, AppID: c.AppID, Groups: c.Groups, Type: "ServicePrincipal", Name: c.AppID}
	if c.IDType == "user" {
		caller.Type, caller.Name = "User", c.UPN
	}
	if p := c.Principal; p != nil {
		if p.Subtype == directory.SubtypeManagedIdentity {
			caller.Type = "ManagedIdentity"
		}
	}
	return caller
}
