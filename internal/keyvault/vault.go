package keyvault

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// Vault names are 3–24 letters, digits and single hyphens, start with a
// letter and end with a letter or digit; they are unique across amlid (DNS
// names in Azure).
var vaultNameRule = arm.NameRule{Min: 3, Max: 24, Pattern: regexp.MustCompile(`^[a-zA-Z](?:[a-zA-Z0-9]|-[a-zA-Z0-9])+$`),
	Hint: "letters, digits and single hyphens, starting with a letter and ending with a letter or digit"}

// nameEntry is the global vault-name index.
type nameEntry struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted,omitempty"`
}

func badRequest(format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, "BadRequest", format, args...)
}

// Vault is the parsed view of a vault resource the data plane works with.
type Vault struct {
	ID, Name, Location, TenantID string
	RBAC                         bool // enableRbacAuthorization
	Policies                     []AccessPolicy
	SoftDelete                   bool
	RetentionDays                int
	PurgeProtection              bool
	PublicNetworkAccess          string
	Network                      NetworkACLs
}

// RecoveryLevel is Key Vault's deletion recovery level for the vault's
// secrets.
func (v *Vault) RecoveryLevel() string {
	switch {
	case !v.SoftDelete:
		return "Purgeable"
	case v.PurgeProtection:
		return "Recoverable"
	}
	return "Recoverable+Purgeable"
}

// NetworkACLs are a vault's firewall rules.
type NetworkACLs struct {
	Bypass        string   `json:"bypass"`
	DefaultAction string   `json:"defaultAction"`
	IPRules       []ipRule `json:"ipRules"`
	VNetRules     []any    `json:"virtualNetworkRules"`
}

type ipRule struct {
	Value string `json:"value"`
}

// allows reports whether addr matches an ipRules entry.
func (n NetworkACLs) allows(addr netip.Addr) bool {
	for _, r := range n.IPRules {
		if p, err := netip.ParsePrefix(r.Value); err == nil && p.Contains(addr) {
			return true
		}
		if a, err := netip.ParseAddr(r.Value); err == nil && a == addr {
			return true
		}
	}
	return false
}

func parseNetworkACLs(raw any) (NetworkACLs, error) {
	n := NetworkACLs{Bypass: "AzureServices", DefaultAction: "Allow", IPRules: []ipRule{}, VNetRules: []any{}}
	if raw == nil {
		return n, nil
	}
	b, _ := json.Marshal(raw)
	var in struct {
		Bypass        *string `json:"bypass"`
		DefaultAction *string `json:"defaultAction"`
		IPRules       []struct {
			Value string `json:"value"`
		} `json:"ipRules"`
		VNetRules []any `json:"virtualNetworkRules"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return n, badRequest("properties.networkAcls is invalid: %v.", err)
	}
	if in.Bypass != nil {
		switch strings.ToLower(*in.Bypass) {
		case "azureservices":
			n.Bypass = "AzureServices"
		case "none":
			n.Bypass = "None"
		default:
			return n, badRequest("properties.networkAcls.bypass '%s' is invalid; use AzureServices or None.", *in.Bypass)
		}
	}
	if in.DefaultAction != nil {
		switch strings.ToLower(*in.DefaultAction) {
		case "allow":
			n.DefaultAction = "Allow"
		case "deny":
			n.DefaultAction = "Deny"
		default:
			return n, badRequest("properties.networkAcls.defaultAction '%s' is invalid; use Allow or Deny.", *in.DefaultAction)
		}
	}
	for _, r := range in.IPRules {
		v := strings.TrimSpace(r.Value)
		if _, err := netip.ParsePrefix(v); err != nil {
			if _, err := netip.ParseAddr(v); err != nil {
				return n, badRequest("properties.networkAcls.ipRules value '%s' is not an IPv4 address or CIDR range.", r.Value)
			}
		}
		n.IPRules = append(n.IPRules, ipRule{Value: v})
	}
	if in.VNetRules != nil {
		n.VNetRules = in.VNetRules
	}
	return n, nil
}

func (n NetworkACLs) json() map[string]any {
	ips := []any{}
	for _, r := range n.IPRules {
		ips = append(ips, map[string]any{"value": r.Value})
	}
	return map[string]any{"bypass": n.Bypass, "defaultAction": n.DefaultAction, "ipRules": ips, "virtualNetworkRules": n.VNetRules}
}

// VaultFromResource parses a stored vault resource.
func VaultFromResource(r *arm.Resource) (*Vault, error) {
	v := &Vault{ID: r.ID, Name: r.Name, Location: r.Location, TenantID: r.StringProp("tenantId"),
		SoftDelete: true, RetentionDays: 90, PublicNetworkAccess: "Enabled"}
	v.RBAC, _ = r.Prop("enableRbacAuthorization").(bool)
	if b, ok := r.Prop("enableSoftDelete").(bool); ok {
		v.SoftDelete = b
	}
	if f, ok := r.Prop("softDeleteRetentionInDays").(float64); ok {
		v.RetentionDays = int(f)
	}
	v.PurgeProtection, _ = r.Prop("enablePurgeProtection").(bool)
	if s := r.StringProp("publicNetworkAccess"); s != "" {
		v.PublicNetworkAccess = s
	}
	var err error
	if v.Network, err = parseNetworkACLs(r.Prop("networkAcls")); err != nil {
		return nil, err
	}
	if v.Policies, err = parsePolicies(r.Prop("accessPolicies")); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Vaults) validateVault(ctx context.Context, w *arm.Write) error {
	nu, old := w.New, w.Old
	props := nu.Properties
	mode, _ := props["createMode"].(string)
	if old == nil && strings.EqualFold(mode, "recover") {
		// The deleted vault's properties come back in beforeCommitVault,
		// which reads and drops createMode.
		return nil
	}
	delete(props, "createMode")
	if mode != "" && !strings.EqualFold(mode, "default") && !strings.EqualFold(mode, "recover") {
		return badRequest("properties.createMode '%s' is invalid; use default or recover.", mode)
	}
	// Read-only properties are computed.
	for _, ro := range []string{"vaultUri", "provisioningState", "hsmPoolResourceId", "privateEndpointConnections"} {
		delete(props, ro)
	}
	keep := func(k string) {
		if _, ok := props[k]; !ok && old != nil {
			if ov, ok := old.Properties[k]; ok {
				props[k] = ov
			}
		}
	}
	for _, k := range []string{"tenantId", "sku", "enableRbacAuthorization", "accessPolicies", "enableSoftDelete",
		"softDeleteRetentionInDays", "enablePurgeProtection", "networkAcls", "publicNetworkAccess",
		"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment"} {
		keep(k)
	}
	// tenantId: the vault's tenant; tokens from another tenant never open it (rule ID-4).
	tid, _ := props["tenantId"].(string)
	if tid == "" {
		tid = w.TenantID
	}
	if _, err := uuid.Parse(tid); err != nil {
		// A domain or "adfs" (amlid env's AZURE_TENANT_ID) names a tenant too.
		var id string
		if v.cfg.Tokens != nil {
			id, _ = v.cfg.Tokens.ResolveTenantID(ctx, tid)
		}
		if id == "" {
			return badRequest("properties.tenantId '%s' is not a tenant: use a tenant ID (GUID), a tenant's domain or 'adfs' (amlid's default tenant).", tid)
		}
		tid = id
	}
	props["tenantId"] = strings.ToLower(tid)
	// sku
	sku, _ := props["sku"].(map[string]any)
	if sku == nil {
		return badRequest("properties.sku is required: {\"family\":\"A\",\"name\":\"standard\"} or premium.")
	}
	name, _ := sku["name"].(string)
	switch strings.ToLower(name) {
	case "standard":
		name = "standard"
	case "premium":
		name = "premium"
	default:
		return badRequest("properties.sku.name '%s' is invalid; use standard or premium.", name)
	}
	props["sku"] = map[string]any{"family": "A", "name": name}
	boolProp := func(k string, def bool) (bool, error) {
		switch b := props[k].(type) {
		case nil:
			props[k] = def
			return def, nil
		case bool:
			return b, nil
		}
		return false, badRequest("properties.%s must be a boolean.", k)
	}
	for _, k := range []string{"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment", "enableRbacAuthorization"} {
		if _, err := boolProp(k, false); err != nil {
			return err
		}
	}
	soft, err := boolProp("enableSoftDelete", true)
	if err != nil {
		return err
	}
	if old != nil && !soft {
		if was, _ := old.Properties["enableSoftDelete"].(bool); was {
			return badRequest("Soft delete cannot be turned off once it is enabled on vault '%s' (as in Azure).", w.ID.Name())
		}
	}
	days := 90
	switch d := props["softDeleteRetentionInDays"].(type) {
	case nil:
	case float64:
		days = int(d)
		if float64(days) != d || days < 7 || days > 90 {
			return badRequest("properties.softDeleteRetentionInDays must be an integer from 7 to 90, not %v.", d)
		}
	default:
		return badRequest("properties.softDeleteRetentionInDays must be an integer from 7 to 90.")
	}
	if old != nil {
		if od, ok := old.Properties["softDeleteRetentionInDays"].(float64); ok && int(od) != days {
			return badRequest("softDeleteRetentionInDays cannot change after vault '%s' is created (it is %d).", w.ID.Name(), int(od))
		}
	}
	props["softDeleteRetentionInDays"] = days
	switch pp := props["enablePurgeProtection"].(type) {
	case nil:
		delete(props, "enablePurgeProtection")
	case bool:
		if old != nil && !pp {
			if was, _ := old.Properties["enablePurgeProtection"].(bool); was {
				return badRequest("Purge protection cannot be turned off once it is enabled on vault '%s' (as in Azure).", w.ID.Name())
			}
		}
		if pp && !soft {
			return badRequest("Purge protection needs soft delete: set enableSoftDelete true.")
		}
		if !pp {
			delete(props, "enablePurgeProtection")
		}
	default:
		return badRequest("properties.enablePurgeProtection must be a boolean.")
	}
	pols, err := parsePolicies(props["accessPolicies"])
	if err != nil {
		return err
	}
	props["accessPolicies"] = policiesJSON(pols)
	acls, err := parseNetworkACLs(props["networkAcls"])
	if err != nil {
		return err
	}
	props["networkAcls"] = acls.json()
	pna, _ := props["publicNetworkAccess"].(string)
	switch strings.ToLower(pna) {
	case "", "enabled":
		props["publicNetworkAccess"] = "Enabled"
	case "disabled":
		props["publicNetworkAccess"] = "Disabled"
	default:
		return badRequest("properties.publicNetworkAccess '%s' is invalid; use Enabled or Disabled.", pna)
	}
	if old != nil {
		props["vaultUri"] = old.Properties["vaultUri"]
	}
	return nil
}

// beforeCommitVault claims the global name (or recovers a soft-deleted
// vault) and opens the vault's port, recorded in vaultUri.
func (v *Vaults) beforeCommitVault(ctx context.Context, tx store.Tx, w *arm.Write) error {
	// Hooks run inside the write transaction: read through tx only.
	if tid := w.New.StringProp("tenantId"); tid != "" {
		if _, err := tx.Get(ctx, directory.KindTenant, tid); errors.Is(err, store.ErrNotFound) {
			return badRequest("properties.tenantId '%s' is not a tenant amlid knows.", tid)
		} else if err != nil {
			return err
		}
	}
	if w.Old != nil {
		return nil
	}
	name := strings.ToLower(w.ID.Name())
	mode, _ := w.New.Properties["createMode"].(string)
	delete(w.New.Properties, "createMode")
	recover := strings.EqualFold(mode, "recover")
	rec, err := tx.Get(ctx, KindName, name)
	var ix nameEntry
	switch {
	case errors.Is(err, store.ErrNotFound):
		if recover {
			return arm.Errorf(http.StatusNotFound, "ResourceNotFound",
				"There is no deleted vault named '%s' to recover (createMode recover). List deleted vaults: amlid keyvault list-deleted.", w.ID.Name())
		}
	case err != nil:
		return err
	default:
		_ = json.Unmarshal(rec.Value, &ix)
		if !ix.Deleted {
			return arm.Errorf(http.StatusConflict, "VaultAlreadyExists",
				"The vault name '%s' is already in use (%s). Vault names are global: pick another name.", w.ID.Name(), ix.ID)
		}
		if !recover {
			return arm.Errorf(http.StatusConflict, "ConflictError",
				"A vault named '%s' exists in the deleted state (soft delete). Recover it (amlid keyvault recover -n %s, or PUT with properties.createMode 'recover') or purge it (amlid keyvault purge -n %s) before reusing the name.",
				w.ID.Name(), w.ID.Name(), w.ID.Name())
		}
		if !strings.EqualFold(ix.ID, w.ID.String()) {
			return arm.Errorf(http.StatusConflict, "ConflictError",
				"The deleted vault '%s' was %s; recover it into the same subscription and resource group.", w.ID.Name(), ix.ID)
		}
		if err := v.restoreDeleted(ctx, tx, w); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(nameEntry{ID: w.ID.String()})
	if _, err := tx.Put(ctx, store.Record{Kind: KindName, Key: name, Value: b}, ""); err != nil {
		return err
	}
	port := portOf(w.New.StringProp("vaultUri"))
	uri, err := v.open(w.ID.String(), port)
	if err != nil {
		return err
	}
	w.New.SetProp("vaultUri", uri)
	return nil
}

// open serves vault id on port (0 = a new one) and returns its vaultUri.
func (v *Vaults) open(id string, port int) (string, error) {
	if v.cfg.Hosts == nil {
		pid, _ := arm.ParseID(id)
		return "https://" + strings.ToLower(pid.Name()) + v.cfg.DNSSuffix + "/", nil
	}
	p, err := v.cfg.Hosts.Open(HostKind, id, port)
	if errors.Is(err, hostport.ErrPortInUse) {
		v.cfg.Logger.Warn("key vault port taken by another program; the vault moves to a new port (vaultUri changes)", "vault", id, "port", port)
		p, err = v.cfg.Hosts.Open(HostKind, id, 0)
	}
	if err != nil {
		return "", arm.Errorf(http.StatusInternalServerError, "InternalServerError", "amlid could not open a port for vault %s: %v", id, err)
	}
	pid, _ := arm.ParseID(id)
	v.cfg.Hosts.SetName(id, strings.ToLower(pid.Name())+v.cfg.DNSSuffix)
	return "https://" + v.cfg.Hosts.Host(p) + "/", nil
}

// portOf reads the port of a vaultUri (0 when none).
func portOf(uri string) int {
	u, err := url.Parse(uri)
	if err != nil {
		return 0
	}
	_, ps, err := net.SplitHostPort(u.Host)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(ps)
	return p
}

// beforeDeleteVault soft-deletes (rule: a vault with soft delete is kept as
// a deleted vault, its secrets with it, until purged or its retention ends)
// or, without soft delete, removes the vault's secrets for good.
func (v *Vaults) beforeDeleteVault(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	vault, err := VaultFromResource(r)
	if err != nil {
		return err
	}
	name := strings.ToLower(r.Name)
	if !vault.SoftDelete {
		if err := deleteVaultSecrets(ctx, tx, r.ID); err != nil {
			return err
		}
		if err := tx.Delete(ctx, KindName, name, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	}
	now := v.now()
	d := deletedVault{ID: r.ID, Name: r.Name, Location: r.Location, Tags: r.Tags, DeletionDate: now,
		ScheduledPurgeDate: now.AddDate(0, 0, vault.RetentionDays), PurgeProtection: vault.PurgeProtection, Resource: r}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := tx.Put(ctx, store.Record{Kind: KindDeleted, Key: name, Value: b}, ""); err != nil {
		return err
	}
	ix, _ := json.Marshal(nameEntry{ID: r.ID, Deleted: true})
	_, err = tx.Put(ctx, store.Record{Kind: KindName, Key: name, Value: ix}, "")
	return err
}

// afterCommitVault closes a deleted vault's port.
func (v *Vaults) afterCommitVault(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil && v.cfg.Hosts != nil {
		v.cfg.Hosts.SetName(id.String(), "")
		v.cfg.Hosts.Close(id.String())
	}
}

// OpenHosts reopens the port of every stored vault (at start). A port
// another program took meanwhile is replaced and vaultUri updated.
func (v *Vaults) OpenHosts(ctx context.Context) error {
	recs, err := v.cfg.Store.List(ctx, KindName, store.ListOptions{})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		var ix nameEntry
		if json.Unmarshal(rec.Value, &ix) != nil || ix.Deleted {
			continue
		}
		r, err := loadVaultResource(ctx, v.cfg.Store, ix.ID)
		if err != nil {
			v.cfg.Logger.Warn("key vault in the name index has no resource", "vault", ix.ID, "err", err)
			continue
		}
		was := r.StringProp("vaultUri")
		uri, err := v.open(r.ID, portOf(was))
		if err != nil {
			return err
		}
		if uri != was {
			id, _ := arm.ParseID(r.ID)
			err := v.cfg.Store.Tx(ctx, func(tx store.Tx) error {
				cur, err := loadVaultResource(ctx, tx, r.ID)
				if err != nil {
					return err
				}
				cur.SetProp("vaultUri", uri)
				return putResource(ctx, tx, id, cur)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- record helpers (the ARM store's layout: arm.DecodeResource reads it) ----

type storedLayout struct {
	Resource *arm.Resource  `json:"resource"`
	Internal map[string]any `json:"internal,omitempty"`
}

func loadVaultResource(ctx context.Context, rd store.Reader, id string) (*arm.Resource, error) {
	rec, err := rd.Get(ctx, arm.KindResource, arm.Normalize(id))
	if err != nil {
		return nil, err
	}
	return arm.DecodeResource(rec.Value)
}

func putResource(ctx context.Context, tx store.Tx, id arm.ID, r *arm.Resource) error {
	b, err := json.Marshal(storedLayout{Resource: r, Internal: r.Internal})
	if err != nil {
		return err
	}
	_, err = tx.Put(ctx, store.Record{Kind: arm.KindResource, Key: id.Key(), Parent: id.ParentKey(), Value: b}, "")
	return err
}
