package keyvault

import (
	"context"
	"errors"
	"fmt"
	"github.com/amlid/amlid/internal/azurehost"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/token"
)

// challenge is the 401 WWW-Authenticate header both SDKs parse
// (client-protocols.md §5): Go splits on spaces and reads `authorization`,
// Python splits on commas and prefers `authorization_uri`. For a vault of
// the default tenant, `authorization` names amlid's "adfs" authority (the
// form `amlid env` credentials use: azidentity refuses to switch an adfs
// credential to another tenant), and `authorization_uri` names the tenant
// by ID, which Python accepts from credentials of either form.
//
// A request that came under an Azure name ({vault}.vault.azure.net through
// amlid's proxy) is sent to Azure's login host with the tenant's ID, as
// Azure does: those callers' credentials name the tenant by ID.
func (v *Vaults) challenge(r *http.Request, vault *Vault) http.Header {
	base := strings.TrimRight(v.cfg.AuthorityHost, "/")
	auth := base + "/" + vault.TenantID
	if _, azure := azurehost.FromContext(r.Context()); azure {
		base = azurehost.AuthorityBase(r.Context(), base)
		auth = base + "/" + vault.TenantID
	} else if strings.EqualFold(vault.TenantID, v.cfg.DefaultTenant) {
		auth = base + "/adfs"
	}
	return http.Header{"Www-Authenticate": {fmt.Sprintf(`Bearer authorization="%s", authorization_uri="%s/%s", resource="%s"`,
		auth, base, vault.TenantID, Audience)}}
}

// authenticate verifies the bearer token with the shared verifier: signed
// by amlid, audience https://vault.azure.net, unexpired, principal alive
// (rule ID-2), from the vault's tenant (rule ID-4).
func (v *Vaults) authenticate(r *http.Request, vault *Vault) (*token.Claims, error) {
	raw, ok := token.BearerToken(r)
	if !ok {
		e := kvErr(http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		e.Header = v.challenge(r, vault)
		return nil, e
	}
	if v.cfg.Tokens == nil {
		return nil, errors.New("keyvault: no token verifier configured")
	}
	c, err := v.cfg.Tokens.VerifyForTenant(r.Context(), raw, vault.TenantID, Audience)
	if err != nil {
		var ve *token.VerifyError
		if !errors.As(err, &ve) {
			return nil, err
		}
		var msg string
		switch ve.Check {
		case token.CheckAudience:
			msg = "AKV10022: Invalid audience: the token is not for Key Vault (rule ID-2). Request a token for https://vault.azure.net/.default. " + ve.Msg
		case token.CheckTenant:
			msg = fmt.Sprintf("AKV10032: Invalid issuer: vault '%s' belongs to tenant %s (rule ID-4: a token from another tenant never opens it). %s", vault.Name, vault.TenantID, ve.Msg)
		case token.CheckExpired:
			msg = "AKV10020: The token is expired (rule ID-2). " + ve.Msg
		default:
			msg = "AKV10022: The token was rejected (rule ID-2): " + ve.Msg
		}
		e := kvErr(http.StatusUnauthorized, "Unauthorized", "%s", msg)
		e.Header = v.challenge(r, vault)
		return nil, e
	}
	return c, nil
}

// firewall applies publicNetworkAccess and networkAcls. A loopback caller
// is matched as 127.0.0.1.
func (v *Vaults) firewall(r *http.Request, vault *Vault, c *token.Claims) error {
	caller := fmt.Sprintf("appid=%s;oid=%s", c.AppID, c.ObjectID)
	if strings.EqualFold(vault.PublicNetworkAccess, "Disabled") {
		return kvErrInner(http.StatusForbidden, "Forbidden", "ForbiddenByConnection",
			"Public network access is disabled and request is not from a trusted service nor via an approved private link (amlid has none).\nCaller: %s\nVault: %s;location=%s\nFix: amlid keyvault update -n %s --public-network-access Enabled",
			caller, vault.Name, vault.Location, vault.Name)
	}
	if vault.Network.DefaultAction != "Deny" {
		return nil
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil && vault.Network.allows(ap.Addr().Unmap()) {
		return nil
	}
	addr := r.RemoteAddr
	if err == nil {
		addr = ap.Addr().Unmap().String()
	}
	return kvErrInner(http.StatusForbidden, "Forbidden", "ForbiddenByFirewall",
		"Client address is not authorized and caller is not a trusted service.\nClient address: %s\nCaller: %s\nVault: %s;location=%s\nnetworkAcls.defaultAction is Deny and no ipRules entry matches. Fix: amlid keyvault network-rule add -n %s --ip-address %s, or amlid keyvault update -n %s --default-action Allow",
		addr, caller, vault.Name, vault.Location, vault.Name, addr, vault.Name)
}

// secretOp is one data-plane operation: the access-policy permission it
// needs and the RBAC data action.
type secretOp struct {
	Name   string // for messages: "get", "list", "set", …
	Perm   string // access-policy secret permission
	Action string // RBAC data action
}

var (
	opGet         = secretOp{"get", "get", catalog.SecretGet}
	opList        = secretOp{"list", "list", catalog.SecretMetadata}
	opSet         = secretOp{"set", "set", catalog.SecretSet}
	opUpdate      = secretOp{"update", "set", catalog.SecretUpdate}
	opDelete      = secretOp{"delete", "delete", catalog.SecretDelete}
	opListDeleted = secretOp{"list deleted", "list", catalog.SecretMetadata}
	opGetDeleted  = secretOp{"get deleted", "get", catalog.SecretMetadata}
	opRecover     = secretOp{"recover", "recover", catalog.SecretRecover}
	opPurge       = secretOp{"purge", "purge", catalog.SecretPurge}
	opBackup      = secretOp{"backup", "backup", catalog.SecretBackup}
	opRestore     = secretOp{"restore", "restore", catalog.SecretRestore}
)

// authorize decides op under the vault's permission model:
//   - enableRbacAuthorization true: Azure RBAC data actions at the secret
//     (or vault) scope; Owner and Contributor grant none (rule RBAC-2), the
//     refusal names the role that grants it (rule RBAC-4);
//   - false: the vault's access policies for the caller's object ID and
//     groups; RBAC roles grant nothing on the data plane.
func (v *Vaults) authorize(ctx context.Context, vault *Vault, c *token.Claims, op secretOp, secret string) error {
	caller := fmt.Sprintf("appid=%s;oid=%s;iss=%s", c.AppID, c.ObjectID, c.Issuer)
	if vault.RBAC {
		scope := vault.ID
		if secret != "" {
			scope += "/secrets/" + secret
		}
		if v.cfg.Authz == nil {
			return kvErrInner(http.StatusForbidden, "Forbidden", "ForbiddenByRbac", "amlid has no RBAC service configured.")
		}
		d, err := v.cfg.Authz.AuthorizeData(ctx, vault.TenantID, c.ObjectID, op.Action, scope)
		if err != nil {
			return err
		}
		if d.Allowed {
			return nil
		}
		role := catalog.KeyVaultSecretsOfficer.Name
		if len(d.GrantingRoles) > 0 {
			role = d.GrantingRoles[0]
		}
		return kvErrInner(http.StatusForbidden, "Forbidden", "ForbiddenByRbac",
			"Caller is not authorized to perform action on resource.\nCaller: %s\nAction: '%s'\nResource: '%s'\nAssignment: (not found)\nDecisionReason: 'DeniedWithNoValidRBAC'\nVault: %s;location=%s\n"+
				"Vault '%s' uses the Azure RBAC permission model (enableRbacAuthorization true), so access policies do not apply: the %s operation needs data action '%s' (rules RBAC-2, RBAC-4). %s\n"+
				"Fix: %s",
			caller, op.Action, strings.ToLower(scope), vault.Name, vault.Location, vault.Name, op.Name, op.Action, d.Reason(), access.RoleFix(c.ObjectID, access.PrincipalTypeOf(c.IDType), role, vault.ID))
	}
	var groups []string
	if v.cfg.Directory != nil {
		groups, _ = v.cfg.Directory.GroupsOf(ctx, vault.TenantID, c.ObjectID)
	}
	got := policyFor(vault, c.ObjectID, c.AppID, groups)
	if got[op.Perm] {
		return nil
	}
	if v.cfg.Authz != nil && v.cfg.Authz.Mode() == "audit" {
		v.cfg.Logger.Warn("audit: enforce mode would refuse (access policy)", "principal", c.ObjectID, "permission", "secrets/"+op.Perm, "vault", vault.ID)
		return nil
	}
	var held []string
	for _, p := range SecretPermissions {
		if got[p] {
			held = append(held, p)
		}
	}
	holds := "none"
	if len(held) > 0 {
		holds = strings.Join(held, ", ")
	}
	want := append(slices.Clone(held), op.Perm)
	return kvErrInner(http.StatusForbidden, "Forbidden", "ForbiddenByPolicy",
		"The user, group or application '%s' does not have secrets %s permission on key vault '%s;location=%s'. "+
			"Vault '%s' uses the access-policy permission model (enableRbacAuthorization false): Azure RBAC roles grant nothing on its secrets; its access policies give principal %s these secret permissions: %s. "+
			"The %s operation needs the '%s' permission (rule RBAC-4).\nFix: %s",
		caller, op.Perm, vault.Name, vault.Location, vault.Name, c.ObjectID, holds, op.Name, op.Perm, access.PolicyFix(vault.Name, c.ObjectID, want))
}
