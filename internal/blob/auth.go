package blob

import (
	"context"
	"errors"
	"fmt"
	"github.com/amlid/amlid/internal/azurehost"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/netorigin"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Credential kinds.
const (
	credAnonymous = iota
	credSharedKey
	credSAS
	credBearer
)

// caller is how a request authenticated.
type caller struct {
	kind   int
	claims *token.Claims // bearer
	sas    *sasToken     // SAS
}

// StorageAudience is the Entra resource of Azure Storage.
const StorageAudience = "https://storage.azure.com"

// audiences are the token audiences accepted for an account.
func (h *Handler) audiences(a *storage.Account) []string {
	return []string{StorageAudience, "https://" + a.Name + ".blob.core.windows.net",
		strings.TrimSuffix(h.prov.BlobEndpoint(a.Name), "/")}
}

// challenge is the 401 header that tells clients where to get a token.
// A request that came under an Azure host name (amlid's proxy) is sent to
// Azure's login host, as Azure does.
func (h *Handler) challenge(ctx context.Context, a *storage.Account) http.Header {
	return http.Header{"Www-Authenticate": {"Bearer authorization_uri=" + azurehost.AuthorityBase(ctx, h.cfg.AuthorityHost) + "/" + a.TenantID +
		"/oauth2/authorize resource_id=" + StorageAudience}}
}

// authenticate identifies the caller, applies the network rules, then
// reports a credential error if any (the firewall answers first, as the
// service does).
func (h *Handler) authenticate(q *req) error {
	c := &caller{}
	var credErr error
	authz := strings.TrimSpace(q.r.Header.Get("Authorization"))
	switch {
	case authz != "":
		scheme, rest, _ := strings.Cut(authz, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			c.kind = credBearer
			c.claims, credErr = h.verifyBearer(q, strings.TrimSpace(rest))
		case strings.EqualFold(scheme, "SharedKey") || strings.EqualFold(scheme, "SharedKeyLite"):
			c.kind = credSharedKey
			credErr = h.verifySharedKey(q, scheme, rest)
		default:
			credErr = errorf(http.StatusBadRequest, "InvalidAuthenticationInfo",
				"Authentication information is not given in the correct format. Check the value of Authorization header.").
				with("AuthenticationErrorDetail", "the scheme '"+scheme+"' is not Bearer, SharedKey or SharedKeyLite")
		}
	case q.has("sig"):
		c.kind = credSAS
		c.sas, credErr = h.verifySAS(q)
	}
	q.auth = c
	var claims *token.Claims
	if credErr == nil {
		claims = c.claims
	}
	if err := h.checkNetwork(q, claims); err != nil {
		return err
	}
	return credErr
}

func (h *Handler) verifyBearer(q *req, raw string) (*token.Claims, error) {
	a := q.account
	if h.cfg.Tokens == nil {
		return nil, errorf(http.StatusUnauthorized, "InvalidAuthenticationInfo", msgAuthHeader).
			with("AuthenticationErrorDetail", "this amlid has no token verifier configured")
	}
	c, err := h.verifyToken(q.r.Context(), raw, a)
	if err != nil {
		var ve *token.VerifyError
		if errors.As(err, &ve) {
			detail := ve.Msg
			switch ve.Check {
			case token.CheckAudience:
				detail = "Audience validation failed. Audience did not match. " + detail
			case token.CheckTenant:
				detail = "Issuer validation failed. Issuer did not match. " + detail
			case token.CheckExpired:
				detail = "Lifetime validation failed. The token is expired. " + detail
			case token.CheckSignature:
				detail = "Signature validation failed. " + detail
			}
			e := errorf(http.StatusUnauthorized, "InvalidAuthenticationInfo", msgAuthHeader).with("AuthenticationErrorDetail", detail)
			e.Header = h.challenge(q.r.Context(), a)
			return nil, e
		}
		return nil, err
	}
	return c, nil
}

// verifiedTokens remembers tokens whose signature, issuer and audience
// were verified, so a token is parsed and its RSA signature checked once.
// Each use still checks expiry, tenant and that the principal exists and
// is enabled, as the verifier does.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]*token.Claims
}

const maxCachedTokens = 10000

func (h *Handler) verifyToken(ctx context.Context, raw string, a *storage.Account) (*token.Claims, error) {
	key := a.TenantID + "|" + a.Name + "|" + raw
	h.verified.mu.Lock()
	c := h.verified.m[key]
	h.verified.mu.Unlock()
	if c != nil && h.now().Before(c.ExpiresAt) {
		if err := h.stillValid(ctx, c); err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := h.cfg.Tokens.VerifyForTenant(ctx, raw, a.TenantID, h.audiences(a)...)
	if err != nil {
		return nil, err
	}
	h.verified.mu.Lock()
	if h.verified.m == nil || len(h.verified.m) >= maxCachedTokens {
		h.verified.m = map[string]*token.Claims{}
	}
	h.verified.m[key] = c
	h.verified.mu.Unlock()
	return c, nil
}

// stillValid re-checks what can change after a token was issued: its
// principal (deleted, disabled, moved to another tenant).
func (h *Handler) stillValid(ctx context.Context, c *token.Claims) error {
	p, err := directory.GetPrincipal(ctx, h.st, c.ObjectID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &token.VerifyError{Check: token.CheckPrincipal, Msg: fmt.Sprintf("principal %q no longer exists", c.ObjectID)}
	case err != nil:
		return err
	case !strings.EqualFold(p.TenantID, c.TenantID):
		return &token.VerifyError{Check: token.CheckPrincipal, Msg: fmt.Sprintf("principal %s belongs to tenant %s, not %s", p.ObjectID, p.TenantID, c.TenantID)}
	case p.Disabled:
		return &token.VerifyError{Check: token.CheckPrincipal, Msg: fmt.Sprintf("principal %s is disabled", p.ObjectID)}
	}
	return nil
}

// effectiveAddrs returns the caller's address and, for a loopback caller,
// the address it counts as (the user's public IP).
func (h *Handler) effectiveAddrs(r *http.Request) (actual, seenAs netip.Addr, ok bool) {
	a, ok := storage.RemoteAddr(r.RemoteAddr)
	if !ok {
		return a, a, false
	}
	if a.IsLoopback() && h.cfg.LoopbackAs.IsValid() {
		return a, h.cfg.LoopbackAs.Unmap(), true
	}
	return a, a, true
}

// checkNetwork applies networkAcls and publicNetworkAccess (rule DS-8).
func (h *Handler) checkNetwork(q *req, claims *token.Claims) error {
	a := q.account
	deny := func(why string) error {
		return errorf(http.StatusForbidden, "AuthorizationFailure", "%s", msgNotAuthorized+" (rule DS-8) "+why)
	}
	if strings.EqualFold(a.PublicNetworkAccess, "Disabled") {
		return deny(fmt.Sprintf("Storage account '%s' has publicNetworkAccess Disabled: only private endpoints may reach it, and amlid has none. Fix: amlid storage account update -n %s --public-network-access Enabled", a.Name, a.Name))
	}
	n := a.Network
	if !n.Denies() {
		return nil
	}
	// Where the request came from on amlid's network: a workload tunnelled
	// by the proxy (its resource's subnet), else the public network.
	// Nothing in the request itself (a token, a header) says it.
	origin, fromWorkload := netorigin.From(q.r.Context())
	subnet, resName := "", ""
	if fromWorkload {
		resName = origin.ResourceID
		if h.cfg.SubnetOf != nil {
			subnet, resName = h.cfg.SubnetOf(q.r.Context(), origin.ResourceID)
		}
	}
	actual, seen, ok := h.effectiveAddrs(q.r)
	if subnet != "" {
		// From a subnet: its private address matches no ipRules entry; the
		// virtual-network rules decide.
		if n.AllowsSubnet(subnet) != "" {
			return nil
		}
	} else if ok {
		if rule := n.AllowsIP(seen); rule != "" {
			return nil
		}
		if seen != actual && n.AllowsIP(actual) != "" {
			return nil
		}
	}
	if claims != nil {
		if claims.MIResourceID != "" && n.AllowsResource(claims.TenantID, claims.MIResourceID) != "" {
			return nil
		}
		if n.Bypasses("AzureServices") && h.cfg.TrustedService != nil && h.cfg.TrustedService(q.r.Context(), claims) {
			return nil
		}
	}
	var why strings.Builder
	fmt.Fprintf(&why, "Storage account '%s' has networkAcls.defaultAction Deny and no rule allows this request: ", a.Name)
	rules := n.SubnetRules()
	ruleList := "none"
	if len(rules) > 0 {
		ruleList = strings.Join(rules, ", ")
	}
	var ips []string
	for _, r := range n.IPRules {
		ips = append(ips, r.Value)
	}
	ipDesc := actual.String()
	if seen != actual {
		ipDesc = fmt.Sprintf("%s (a loopback caller counts as %s)", actual, seen)
	}
	switch {
	case subnet != "":
		fmt.Fprintf(&why, "it comes from %s (%s) in subnet %s, which matches no virtualNetworkRules entry (allowed subnets: %s)", resName, origin.Label, subnet, ruleList)
	case fromWorkload:
		fmt.Fprintf(&why, "it comes from %s (%s), which sits in no subnet: its requests come from the public network; the caller's IP %s matches no ipRules entry %v; virtualNetworkRules (allowed subnets: %s) let through only computes in those subnets", resName, origin.Label, ipDesc, ips, ruleList)
	default:
		fmt.Fprintf(&why, "it comes from the public network (not through a compute in a subnet), and the caller's IP %s matches no ipRules entry %v", ipDesc, ips)
		if len(rules) > 0 {
			fmt.Fprintf(&why, "; virtualNetworkRules (allowed subnets: %s) let through only code running on a compute in those subnets, never a token used from elsewhere", ruleList)
		}
	}
	switch {
	case claims == nil:
		why.WriteString("; the request carries no verified managed-identity token for resourceAccessRules or trusted-service bypass")
	case claims.MIResourceID == "":
		fmt.Fprintf(&why, "; the token's principal %s is not a managed identity, so resourceAccessRules cannot allow it", claims.ObjectID)
	default:
		fmt.Fprintf(&why, "; the managed identity's resource %s (tenant %s) matches no resourceAccessRules entry", claims.MIResourceID, claims.TenantID)
	}
	if claims != nil {
		if n.Bypasses("AzureServices") {
			why.WriteString("; bypass AzureServices lets trusted Azure services through, and this caller is not one")
		} else {
			fmt.Fprintf(&why, "; bypass is '%s', so trusted Azure services are not let through either", strings.Join(n.Bypass, ", "))
		}
	}
	rg := "<resource group>"
	if id, err := arm.ParseID(a.ID); err == nil && id.ResourceGroup != "" {
		rg = id.ResourceGroup
	}
	switch {
	case subnet != "":
		fmt.Fprintf(&why, ". Fix: allow the compute's subnet (az storage account network-rule add -g %s --account-name %s --subnet %s), or run the code on a compute created in an allowed subnet (network_settings.subnet).", rg, a.Name, subnet)
	case fromWorkload:
		if len(rules) > 0 {
			fmt.Fprintf(&why, ". Fix: run the code on a compute created in an allowed subnet (network_settings: {vnet_name, subnet}; one of %s), or allow the caller's address (az storage account network-rule add -g %s --account-name %s --ip-address %s).", ruleList, rg, a.Name, seen)
		} else {
			fmt.Fprintf(&why, ". Fix: put the compute in a subnet and allow it (az storage account network-rule add -g %s --account-name %s --subnet <subnet ID>), allow the caller's address (--ip-address %s), or set defaultAction Allow.", rg, a.Name, seen)
		}
	default:
		fmt.Fprintf(&why, ". Fix: add the caller's address to networkAcls.ipRules (az storage account network-rule add -n %s --ip-address %s), add a resource access rule, run the code on a compute in an allowed subnet, or set defaultAction Allow.", a.Name, seen)
	}
	return deny(why.String())
}

// authorize checks the caller's right to the operation.
func (h *Handler) authorize(q *req) error {
	op, a, c := q.op, q.account, q.auth
	switch c.kind {
	case credSharedKey:
		return nil
	case credSAS:
		return h.authorizeSAS(q)
	case credBearer:
		return h.authorizeBearer(q)
	}
	// Anonymous.
	if op.anon != anonNone && q.container != "" {
		cont, err := h.prov.Container(q.r.Context(), a, q.container)
		if err == nil && (cont.PublicAccess == storage.AccessContainer || (op.anon == anonBlob && cont.PublicAccess == storage.AccessBlob)) {
			if !a.AllowBlobPublicAccess {
				return errorf(http.StatusConflict, "PublicAccessNotPermitted", "Public access is not permitted on this storage account.")
			}
			return nil
		}
		if err != nil && !errors.Is(err, storage.ErrContainerNotFound) {
			return err
		}
	}
	e := errorf(http.StatusUnauthorized, "NoAuthenticationInformation", msgAuthHeader)
	e.Header = h.challenge(q.r.Context(), a)
	return e
}

// scope is the RBAC scope of a request: the container, or the blob
// service for service-level operations.
func (q *req) scope() string {
	if q.container == "" {
		return q.account.BlobServiceID()
	}
	return q.account.ContainerID(q.container)
}

func (h *Handler) authorizeBearer(q *req) error {
	op, a, cl := q.op, q.account, q.auth.claims
	if h.cfg.Authz == nil {
		return errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", msgPermission+" (amlid has no RBAC service configured)")
	}
	ok, reason, err := h.rbac(q.r.Context(), a, cl, op.action, op.data, q.scope())
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if op.alt != "" {
		ok2, _, err := h.rbac(q.r.Context(), a, cl, op.alt, true, q.scope())
		if err != nil {
			return err
		}
		if ok2 {
			q.createOnly = true
			return nil
		}
		reason += fmt.Sprintf(" Creating a new blob is also allowed by data action '%s'.", op.alt)
	}
	if a.IsHnsEnabled && op.data {
		ok, why, err := h.aclAuthorize(q)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		reason += why
	}
	return errPermission(reason)
}

func errPermission(reason string) *Error {
	msg := msgPermission
	if reason != "" {
		msg += " " + reason
	}
	return errorf(http.StatusForbidden, "AuthorizationPermissionMismatch", "%s", msg)
}

// rbac asks the RBAC service; it returns the refusal's explanation.
func (h *Handler) rbac(ctx context.Context, a *storage.Account, cl *token.Claims, action string, data bool, scope string) (bool, string, error) {
	var err error
	var allowed bool
	var reason string
	if data {
		d, e := h.cfg.Authz.AuthorizeData(ctx, a.TenantID, cl.ObjectID, action, scope)
		allowed, reason, err = d.Allowed, d.Reason(), e
	} else {
		d, e := h.cfg.Authz.AuthorizeAction(ctx, a.TenantID, cl.ObjectID, action, scope)
		allowed, reason, err = d.Allowed, d.Reason(), e
	}
	if err != nil {
		return false, "", err
	}
	kind := "action"
	if data {
		kind = "data action"
	}
	if !allowed && reason == "" {
		reason = fmt.Sprintf("The principal '%s' lacks %s '%s' over scope '%s' (rule RBAC-4).", cl.ObjectID, kind, action, scope)
	}
	return allowed, reason, nil
}
