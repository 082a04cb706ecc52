package storage

import (
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
)

// The steps of (*Provider).validateAccount, one per property group, in the
// order the checks run (the first failing one decides the error).

// normalizeAccountSKU checks sku.name (kept from the old document when
// absent) and rewrites the sku to its canonical name and tier.
func normalizeAccountSKU(nu, old *arm.Resource) error {
	skuName, _ := nu.SKU["name"].(string)
	if skuName == "" && old != nil {
		skuName, _ = old.SKU["name"].(string)
	}
	if skuName == "" {
		return badRequest("InvalidRequestContent", "The request content was invalid: sku.name is required (Standard_LRS, Standard_GRS, Standard_RAGRS, Standard_ZRS, Premium_LRS, …).")
	}
	canon, ok := skus[strings.ToLower(skuName)]
	if !ok {
		return badRequest("InvalidRequestContent", "The sku '%s' is not supported. Use one of Standard_LRS, Standard_GRS, Standard_RAGRS, Standard_ZRS, Standard_GZRS, Standard_RAGZRS, Premium_LRS, Premium_ZRS.", skuName)
	}
	tier := strings.SplitN(canon, "_", 2)[0]
	nu.SKU = map[string]any{"name": canon, "tier": tier}
	return nil
}

// normalizeAccountKind checks kind (kept from the old document when absent),
// allows only the Storage → StorageV2 change, and returns the canonical kind.
func normalizeAccountKind(name string, nu, old *arm.Resource) (string, error) {
	if nu.Kind == "" && old != nil {
		nu.Kind = old.Kind
	}
	if nu.Kind == "" {
		return "", badRequest("InvalidRequestContent", "The request content was invalid: kind is required (StorageV2, Storage, BlobStorage, BlockBlobStorage, FileStorage).")
	}
	k, ok := kinds[strings.ToLower(nu.Kind)]
	if !ok {
		return "", badRequest("InvalidRequestContent", "The kind '%s' is not supported. Use StorageV2, Storage, BlobStorage, BlockBlobStorage or FileStorage.", nu.Kind)
	}
	if old != nil && old.Kind != k && !(old.Kind == "Storage" && k == "StorageV2") {
		return "", badRequest("InvalidRequestContent", "The kind of storage account '%s' cannot change from %s to %s (only Storage → StorageV2 is an upgrade).", name, old.Kind, k)
	}
	nu.Kind = k
	return k, nil
}

// accountProps is the new properties of an account being written, with the
// old document (nil on create) to take absent values from.
type accountProps struct {
	props map[string]any
	old   *arm.Resource
}

// boolean reads a boolean property: absent or null keeps the old value, or
// def on create.
func (a accountProps) boolean(key string, def bool) (bool, error) {
	v, present := a.props[key]
	if !present || v == nil {
		if a.old != nil {
			if ov, ok := a.old.Properties[key].(bool); ok {
				return ov, nil
			}
		}
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, badRequest("InvalidRequestContent", "properties.%s must be a boolean, not %v.", key, v)
	}
	return b, nil
}

// normalizeSwitches sets every boolean switch and refuses a change of
// isHnsEnabled after creation.
func (a accountProps) normalizeSwitches(name string) error {
	for _, bp := range []struct {
		key string
		def bool
	}{{"allowSharedKeyAccess", true}, {"allowBlobPublicAccess", false}, {"supportsHttpsTrafficOnly", true},
		{"isHnsEnabled", false}, {"allowCrossTenantReplication", false}, {"defaultToOAuthAuthentication", false}} {
		b, err := a.boolean(bp.key, bp.def)
		if err != nil {
			return err
		}
		a.props[bp.key] = b
	}
	if a.old != nil {
		if was, _ := a.old.Properties["isHnsEnabled"].(bool); was != a.props["isHnsEnabled"].(bool) {
			return badRequest("InvalidRequestContent", "isHnsEnabled cannot be changed after the storage account '%s' is created.", name)
		}
	}
	return nil
}

// enum sets a string property to its allowed spelling: absent or null keeps
// the old value, or def on create (no property when def is empty).
func (a accountProps) enum(key, def string, allowed ...string) error {
	v, present := a.props[key]
	if !present || v == nil {
		if a.old != nil {
			if ov, ok := a.old.Properties[key].(string); ok {
				a.props[key] = ov
				return nil
			}
		}
		if def == "" {
			delete(a.props, key)
		} else {
			a.props[key] = def
		}
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return badRequest("InvalidRequestContent", "properties.%s must be a string, not %v.", key, v)
	}
	for _, al := range allowed {
		if strings.EqualFold(al, s) {
			a.props[key] = al
			return nil
		}
	}
	return badRequest("InvalidRequestContent", "properties.%s '%s' is invalid; use one of %s.", key, s, strings.Join(allowed, ", "))
}

// normalizeEnums sets minimumTlsVersion, publicNetworkAccess and accessTier
// (Hot by default on kind StorageV2 and BlobStorage).
func (a accountProps) normalizeEnums(kind string) error {
	if err := a.enum("minimumTlsVersion", "TLS1_2", "TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"); err != nil {
		return err
	}
	if err := a.enum("publicNetworkAccess", "Enabled", "Enabled", "Disabled", "SecuredByPerimeter"); err != nil {
		return err
	}
	accessDefault := ""
	if kind == "StorageV2" || kind == "BlobStorage" {
		accessDefault = "Hot"
	}
	return a.enum("accessTier", accessDefault, "Hot", "Cool", "Cold", "Premium")
}

// normalizeNetworkACLs parses networkAcls (the old ones when absent) and
// stores them in their canonical JSON form.
func (a accountProps) normalizeNetworkACLs() error {
	var raw any = a.props["networkAcls"]
	if raw == nil && a.old != nil {
		raw = a.old.Properties["networkAcls"]
	}
	acls, err := ParseNetworkACLs(raw)
	if err != nil {
		return err
	}
	a.props["networkAcls"] = acls.JSON()
	return nil
}

// defaultEncryption fills encryption (the old one when absent) with
// Microsoft-managed keys and the blob and file services enabled.
func (a accountProps) defaultEncryption(now time.Time) {
	props := a.props
	if _, ok := props["encryption"].(map[string]any); !ok {
		if a.old != nil && a.old.Properties["encryption"] != nil {
			props["encryption"] = a.old.Properties["encryption"]
		} else {
			props["encryption"] = map[string]any{}
		}
	}
	enc := props["encryption"].(map[string]any)
	if _, ok := enc["keySource"]; !ok {
		enc["keySource"] = "Microsoft.Storage"
	}
	if _, ok := enc["requireInfrastructureEncryption"]; !ok {
		enc["requireInfrastructureEncryption"] = false
	}
	svcs, _ := enc["services"].(map[string]any)
	if svcs == nil {
		svcs = map[string]any{}
		enc["services"] = svcs
	}
	for _, s := range []string{"blob", "file"} {
		m, _ := svcs[s].(map[string]any)
		if m == nil {
			m = map[string]any{}
			svcs[s] = m
		}
		m["enabled"] = true
		if _, ok := m["keyType"]; !ok {
			m["keyType"] = "Account"
		}
		if _, ok := m["lastEnabledTime"]; !ok {
			m["lastEnabledTime"] = now.Format(time.RFC3339Nano)
		}
	}
}

// setAccountReadOnly sets the read-only properties (creation times, primary
// endpoints and location) and, on create, the tenant and the two account keys.
func (p *Provider) setAccountReadOnly(w *arm.Write, now time.Time) {
	nu, old := w.New, w.Old
	props := nu.Properties
	if old != nil {
		for _, ro := range []string{"creationTime", "keyCreationTime"} {
			if v, ok := old.Properties[ro]; ok {
				props[ro] = v
			}
		}
	} else {
		props["creationTime"] = now.Format(time.RFC3339Nano)
	}
	hns, _ := props["isHnsEnabled"].(bool)
	props["primaryEndpoints"] = p.primaryEndpoints(w.ID.Name(), hns)
	props["primaryLocation"] = nu.Location
	props["statusOfPrimary"] = "available"
	if nu.Internal == nil {
		nu.Internal = map[string]any{}
	}
	if old == nil {
		nu.Internal["tenantId"] = w.TenantID
		k1, k2 := newKey(), newKey()
		nu.Internal["keys"] = []any{
			map[string]any{"keyName": "key1", "value": k1, "permissions": "FULL", "creationTime": now.Format(time.RFC3339Nano)},
			map[string]any{"keyName": "key2", "value": k2, "permissions": "FULL", "creationTime": now.Format(time.RFC3339Nano)},
		}
		props["keyCreationTime"] = map[string]any{"key1": now.Format(time.RFC3339Nano), "key2": now.Format(time.RFC3339Nano)}
	}
}
