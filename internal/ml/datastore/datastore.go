// Package datastore is the ML provider's data side (issue 18): workspace
// datastores (rules DS-1..DS-4), the default datastores every workspace
// gets, data assets, and data preview (DS-8). It registers its ARM types
// next to the ml package's and reaches workspaces through ml.Provider's
// small API.
//
// Credentials: an identity-based datastore (credentialsType None) stores
// only its account, container and endpoint (DS-1). A credential-based one's
// secret (account key, SAS token, client secret, certificate) is written to
// the workspace's key vault through the vault's data-plane authorization,
// as the workspace's identity (DS-2); the datastore resource keeps none of
// it and a GET never returns it. POST …/listSecrets reads it back, for
// callers holding workspaces/datastores/listSecrets/action.
package datastore

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/keyvault"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/token"
)

// Vaults is the slice of the key-vault provider datastores use.
type Vaults interface {
	SetSecretAs(ctx context.Context, vaultID string, pr keyvault.Principal, name, value string) error
	GetSecretAs(ctx context.Context, vaultID string, pr keyvault.Principal, name string) (string, error)
	DeleteSecret(ctx context.Context, vaultID, name string) error
}

// Provider declares datastores and data assets.
type Provider struct {
	ML *ml.Provider
	// Vaults returns the key-vault provider (built before ML is used).
	Vaults func() Vaults
	// Data preview reads blobs over the Blob data plane.
	Tokens       *token.Service              // tokens for the workspace identity
	RootCAs      *x509.CertPool              // amlid's CA
	BlobEndpoint func(account string) string // an account's blob endpoint on this run

	// doomed maps lower(datastore ID) to its workspace's key vault, noted
	// while a delete transaction can still read the workspace (a
	// workspace's delete removes its datastores first, then itself), so
	// the secret is deleted after the commit.
	doomed sync.Map
}

// Register declares the types on reg and hooks workspace creation.
func (p *Provider) Register(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace: ml.Namespace, Path: "workspaces/datastores", APIVersions: ml.MLAPIVersions,
		CreateStatus: http.StatusOK,
		Name: arm.NameRule{Min: 1, Max: 255, Pattern: regexp.MustCompile(`^[a-zA-Z0-9_]+$`),
			Hint: "letters, digits and underscores"},
		Prepare:      p.prepare,
		Validate:     p.validate,
		BeforeCommit: p.beforeCommit,
		BeforeDelete: p.beforeDelete,
		DeleteCheck:  keepDefault,
		AfterCommit:  p.afterCommit,
		Present:      present,
		ListFilter:   listFilter,
		Actions: map[string]arm.Action{
			"listSecrets": {RBACAction: catalog.DatastoreListSecret, Handler: p.listSecrets},
		},
	})
	p.registerData(reg)
	p.ML.OnWorkspaceWritten(p.ensureDefaults)
}

// kind describes one datastoreType.
type kind struct {
	Name      string   // canonical datastoreType
	Container string   // the property naming the container / file system / share ("" for Gen1)
	Creds     []string // credentialsType values it takes
	Identity  bool     // identity-based access supported (rule DS-3)
}

var kinds = []kind{
	{"AzureBlob", "containerName", []string{"None", "AccountKey", "Sas", "ServicePrincipal", "Certificate"}, true},
	{"AzureDataLakeGen2", "filesystem", []string{"None", "ServicePrincipal", "Certificate"}, true},
	{"AzureFile", "fileShareName", []string{"AccountKey", "Sas"}, false},
	{"AzureDataLakeGen1", "", []string{"None", "ServicePrincipal", "Certificate"}, true},
}

func kindOf(t string) (kind, bool) {
	for _, k := range kinds {
		if strings.EqualFold(k.Name, t) {
			return k, true
		}
	}
	return kind{}, false
}

// secretField is where each credentials type keeps its secret in
// credentials.secrets (and in the listSecrets answer).
var secretField = map[string]string{"AccountKey": "key", "Sas": "sasToken", "ServicePrincipal": "clientSecret", "Certificate": "certificate"}

// credFields are the non-secret fields each credentials type requires.
var credFields = map[string][]string{"ServicePrincipal": {"tenantId", "clientId"}, "Certificate": {"tenantId", "clientId", "thumbprint"}}

var authIdentities = []string{"None", "WorkspaceSystemAssignedIdentity", "WorkspaceUserAssignedIdentity"}

func userErr(format string, args ...any) error {
	return arm.Errorf(http.StatusBadRequest, "UserError", format, args...)
}

func canonical(v string, set []string) (string, bool) {
	for _, s := range set {
		if strings.EqualFold(s, v) {
			return s, true
		}
	}
	return "", false
}

// pending is what prepare hands to the transaction through the body: the
// secret has already gone to the vault; only its absence is stored.
const internalKey = "__amlidDatastore"

// prepare validates the request, applies DS-3 and DS-4, and writes a
// credential's secret to the workspace key vault (DS-2), removing it from
// the body. It runs outside the write transaction (the vault writes its own).
func (p *Provider) prepare(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	props, ok := body["properties"].(map[string]any)
	if !ok {
		return userErr("The datastore needs a properties object with datastoreType (AzureBlob, AzureDataLakeGen2, AzureFile or AzureDataLakeGen1), the account and container, and credentials.")
	}
	delete(props, internalKey)
	ws, err := ml.LoadResource(ctx, p.ML.Store, id.Parent().String())
	if err != nil {
		return nil // the front door answers ParentResourceNotFound
	}
	dt, _ := props["datastoreType"].(string)
	k, ok := kindOf(dt)
	if !ok {
		return userErr("Unknown datastoreType '%v': use AzureBlob, AzureDataLakeGen2, AzureFile or AzureDataLakeGen1 (YAML type: azure_blob, azure_data_lake_gen2, azure_file, azure_data_lake_gen1).", props["datastoreType"])
	}
	props["datastoreType"] = k.Name
	if old != nil && !strings.EqualFold(old.StringProp("datastoreType"), k.Name) {
		return userErr("Datastore '%s' is of type %s; its type cannot change to %s. Delete it and create it again.", id.Name(), old.StringProp("datastoreType"), k.Name)
	}
	// Location fields.
	if k.Name == "AzureDataLakeGen1" {
		if s, _ := props["storeName"].(string); s == "" {
			return userErr("An AzureDataLakeGen1 datastore needs properties.storeName (YAML store_name).")
		}
	} else {
		acct, _ := props["accountName"].(string)
		if acct == "" {
			return userErr("The %s datastore needs properties.accountName (YAML account_name): the storage account's name.", k.Name)
		}
		if !storage.ValidAccountName(acct) {
			return userErr("'%s' is not a storage account name (3 to 24 lower-case letters and digits).", acct)
		}
		// Where the account lives, when it is one of amlid's (the analyzer
		// checks readers' roles on it, rule DS-4).
		delete(props, "subscriptionId")
		delete(props, "resourceGroup")
		if a, err := accountByName(ctx, p.ML.Store, acct); err == nil {
			if aid, err := arm.ParseID(a.ID); err == nil {
				props["subscriptionId"], props["resourceGroup"] = aid.Subscription, aid.ResourceGroup
			}
		}
		if s, _ := props[k.Container].(string); s == "" {
			return userErr("The %s datastore needs properties.%s (YAML %s).", k.Name, k.Container, yamlName(k.Container))
		}
		if props["endpoint"] == nil || props["endpoint"] == "" {
			props["endpoint"] = "core.windows.net"
		}
		if props["protocol"] == nil || props["protocol"] == "" {
			props["protocol"] = "https"
		}
	}
	if v, ok := props["serviceDataAccessAuthIdentity"]; ok && v != nil {
		s, _ := v.(string)
		canon, ok := canonical(s, authIdentities)
		if !ok {
			return userErr("properties.serviceDataAccessAuthIdentity must be None, WorkspaceSystemAssignedIdentity or WorkspaceUserAssignedIdentity, not '%v'.", v)
		}
		props["serviceDataAccessAuthIdentity"] = canon
	} else {
		props["serviceDataAccessAuthIdentity"] = "None"
	}
	switch props["serviceDataAccessAuthIdentity"] {
	case "WorkspaceSystemAssignedIdentity":
		if ws.SystemPrincipalID() == "" {
			return userErr("serviceDataAccessAuthIdentity is WorkspaceSystemAssignedIdentity but workspace %s has no system-assigned identity.", ws.Name)
		}
	case "WorkspaceUserAssignedIdentity":
		if ws.StringProp("primaryUserAssignedIdentity") == "" {
			return userErr("serviceDataAccessAuthIdentity is WorkspaceUserAssignedIdentity but workspace %s has no primary user-assigned identity.", ws.Name)
		}
	}
	if v, ok := props["isDefault"]; ok && v != nil {
		if _, isBool := v.(bool); !isBool {
			return userErr("properties.isDefault must be true or false, not '%v'.", v)
		}
	}
	// Credentials.
	creds, ok := props["credentials"].(map[string]any)
	if !ok && props["credentials"] != nil {
		return userErr("properties.credentials must be an object such as {\"credentialsType\": \"AccountKey\", \"secrets\": {\"secretsType\": \"AccountKey\", \"key\": \"…\"}}, not %T.", props["credentials"])
	}
	if creds == nil {
		creds = map[string]any{"credentialsType": "None"}
		props["credentials"] = creds
	}
	ct, isString := creds["credentialsType"].(string)
	if !isString && creds["credentialsType"] != nil {
		return userErr("credentials.credentialsType must be a string: None (identity-based), AccountKey, Sas, ServicePrincipal or Certificate, not '%v'.", creds["credentialsType"])
	}
	if ct == "" {
		ct = "None"
	}
	canonCT, ok := canonical(ct, []string{"None", "AccountKey", "Sas", "ServicePrincipal", "Certificate"})
	if !ok {
		return userErr("Unknown credentials.credentialsType '%s': use None (identity-based), AccountKey, Sas, ServicePrincipal or Certificate.", ct)
	}
	creds["credentialsType"] = canonCT
	if canonCT == "None" && !k.Identity {
		return userErr("Rule DS-3: identity-based data access supports Azure Blob Storage, Azure Data Lake Storage Gen1 and Gen2 only; an %s datastore needs credentials (YAML credentials: account_key or sas_token).", k.Name)
	}
	if _, ok := canonical(canonCT, k.Creds); !ok {
		return userErr("The %s datastore type does not take %s credentials; it takes %s.", k.Name, canonCT, strings.Join(k.Creds, ", "))
	}
	for _, f := range credFields[canonCT] {
		if s, _ := creds[f].(string); s == "" {
			return userErr("%s credentials need credentials.%s (YAML credentials.%s).", canonCT, f, yamlName(f))
		}
	}
	if canonCT == "None" {
		if secrets, ok := creds["secrets"].(map[string]any); ok && len(secrets) > 0 {
			return userErr("Rule DS-1: an identity-based datastore (credentialsType None) keeps no secret; remove credentials.secrets, or set credentialsType to the secret's type.")
		}
		delete(creds, "secrets")
		return p.checkDS4(ctx, c, ws, id, k, props, old)
	}
	// A credential-based datastore: the secret goes to the vault (DS-2).
	secret, err := secretOf(canonCT, creds)
	if err != nil {
		return err
	}
	delete(creds, "secrets")
	if secret == "" {
		if old != nil && old.Internal != nil && strings.EqualFold(credTypeOf(old), canonCT) {
			return nil // an update keeps the secret already in the vault
		}
		return userErr("%s credentials need credentials.secrets.%s (YAML credentials.%s); the secret is kept in the workspace key vault (rule DS-2).", canonCT, secretField[canonCT], yamlName(secretField[canonCT]))
	}
	if err := p.storeSecret(ctx, ws, id, secret); err != nil {
		return err
	}
	props[internalKey] = map[string]any{"secretName": secretName(id), "vault": ws.StringProp("keyVault")}
	return nil
}

// yamlName is the azure-ai-ml YAML spelling of a REST field.
func yamlName(f string) string {
	switch f {
	case "containerName":
		return "container_name"
	case "fileShareName":
		return "file_share_name"
	case "filesystem":
		return "filesystem"
	case "tenantId":
		return "tenant_id"
	case "clientId":
		return "client_id"
	case "key":
		return "account_key"
	case "sasToken":
		return "sas_token"
	case "clientSecret":
		return "client_secret"
	}
	return f
}

func credTypeOf(r *arm.Resource) string {
	creds, _ := r.Prop("credentials").(map[string]any)
	s, _ := creds["credentialsType"].(string)
	return s
}

var sasSig = regexp.MustCompile(`(?i)(^|[?&])sig=`)

// secretOf reads credentials.secrets for type ct, catching secrets put in
// the wrong field (a SAS token given as an account key and the reverse).
func secretOf(ct string, creds map[string]any) (string, error) {
	secrets, ok := creds["secrets"].(map[string]any)
	if !ok && creds["secrets"] != nil {
		return "", userErr("credentials.secrets must be an object (secretsType and the secret), not %T.", creds["secrets"])
	}
	if secrets == nil {
		return "", nil
	}
	if st, _ := secrets["secretsType"].(string); st != "" && !strings.EqualFold(st, ct) {
		return "", userErr("credentials.secrets.secretsType is '%s' but credentials.credentialsType is '%s': they must match.", st, ct)
	}
	field := secretField[ct]
	for f, t := range map[string]string{"key": "AccountKey", "sasToken": "Sas", "clientSecret": "ServicePrincipal", "certificate": "Certificate"} {
		if f != field && secrets[f] != nil && secrets[f] != "" {
			return "", userErr("credentials.secrets.%s belongs to %s credentials, but credentialsType is %s (which takes secrets.%s).", f, t, ct, field)
		}
	}
	v, ok := secrets[field]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", userErr("credentials.secrets.%s must be a string.", field)
	}
	s = strings.TrimSpace(s)
	switch ct {
	case "AccountKey":
		if sasSig.MatchString(s) || strings.HasPrefix(s, "?") || strings.Contains(s, "sv=") {
			return "", userErr("credentials.secrets.key holds a SAS token (it has query parameters such as sv= and sig=), not an account key. Use credentialsType Sas with secrets.sasToken (YAML credentials: {sas_token: …}).")
		}
		if b, err := base64.StdEncoding.DecodeString(s); err != nil || len(b) < 16 {
			return "", userErr("credentials.secrets.key is not a storage account key (a base64 string, as amlid storage account keys list prints).")
		}
	case "Sas":
		if !sasSig.MatchString(s) {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) >= 32 {
				return "", userErr("credentials.secrets.sasToken holds an account key, not a SAS token. Use credentialsType AccountKey with secrets.key (YAML credentials: {account_key: …}).")
			}
			return "", userErr("credentials.secrets.sasToken is not a SAS token: it has no sig= signature (a SAS looks like sv=…&sr=c&sp=rl&se=…&sig=…; azure-storage-blob's generate_container_sas or azblob's GetSASURL signs one with the account key).")
		}
	}
	return s, nil
}

// secretName is the vault secret holding a datastore's credential
// (access.DatastoreSecretName: the analyzer finds it the same way).
func secretName(id arm.ID) string { return access.DatastoreSecretName(id.String()) }

// actingPrincipal is the workspace's identity as a key-vault principal
// (primary UAI, else system-assigned: access.WorkspaceIdentity).
func (p *Provider) actingPrincipal(ctx context.Context, ws *arm.Resource) (access.Identity, keyvault.Principal, error) {
	id, ok, err := access.WorkspaceIdentity(ctx, access.StoreSource(p.ML.Store), ws)
	if err != nil {
		return id, keyvault.Principal{}, err
	}
	if !ok {
		return id, keyvault.Principal{}, fmt.Errorf("workspace %s has no managed identity", ws.Name)
	}
	tenant := id.TenantID
	if tenant == "" {
		tenant = ws.StringProp("tenantId")
	}
	pr := keyvault.Principal{ObjectID: id.PrincipalID, AppID: id.ClientID, TenantID: tenant, MIResourceID: ws.ID}
	if id.Kind == access.UserAssigned {
		pr.MIResourceID = id.ResourceID
	}
	if pr.AppID == "" && p.ML.Directory != nil {
		if pp, err := p.ML.Directory.Principal(ctx, id.PrincipalID); err == nil {
			pr.AppID = pp.AppID
		}
	}
	return id, pr, nil
}

// vaultError turns a key-vault refusal into the ARM answer naming DS-2,
// the identity and the vault's own explanation and fix.
func vaultError(op string, ws *arm.Resource, id access.Identity, err error) error {
	var ke *keyvault.Error
	if errors.As(err, &ke) {
		status := ke.Status
		if status < 400 || status >= 500 {
			status = http.StatusBadRequest
		}
		return arm.Errorf(status, "KeyVaultAccessDenied",
			"Rule DS-2: a credential-based datastore's secret lives in the workspace key vault %s, which the workspace reaches as its %s (principal %s); the vault refused to %s it: %s",
			ws.StringProp("keyVault"), id.Label(), id.PrincipalID, op, ke.Message)
	}
	if errors.Is(err, keyvault.ErrVaultNotFound) {
		return userErr("Rule DS-2: workspace %s's key vault %s does not exist; a credential-based datastore keeps its secret there.", ws.Name, ws.StringProp("keyVault"))
	}
	return err
}

func (p *Provider) storeSecret(ctx context.Context, ws *arm.Resource, dsID arm.ID, secret string) error {
	vault := ws.StringProp("keyVault")
	if vault == "" {
		return userErr("Rule DS-2: workspace %s has no key vault to keep the datastore's secret in.", ws.Name)
	}
	id, pr, err := p.actingPrincipal(ctx, ws)
	if err != nil {
		return userErr("Rule DS-2: %v; the workspace writes a datastore's secret to its key vault as its own identity.", err)
	}
	if err := p.Vaults().SetSecretAs(ctx, vault, pr, secretName(dsID), secret); err != nil {
		return vaultError("store", ws, id, err)
	}
	return nil
}

// checkDS4 is rule DS-4 on creating (or re-pointing) an identity-based
// datastore: the caller's own identity must be able to read the storage.
func (p *Provider) checkDS4(ctx context.Context, c *arm.Call, ws *arm.Resource, id arm.ID, k kind, props map[string]any, old *arm.Resource) error {
	if c.Caller == nil || c.Caller.System {
		return nil
	}
	acct, _ := props["accountName"].(string)
	cont, _ := props[k.Container].(string)
	if old != nil && strings.EqualFold(credTypeOf(old), "None") && strings.EqualFold(old.StringProp("accountName"), acct) &&
		strings.EqualFold(old.StringProp(k.Container), cont) {
		return nil // nothing the check covers changed
	}
	if k.Name == "AzureDataLakeGen1" {
		return nil // amlid serves no Data Lake Gen1 store to check against
	}
	account, err := accountByName(ctx, p.ML.Store, acct)
	if errors.Is(err, store.ErrNotFound) {
		return userErr("Rule DS-4: creating an identity-based datastore checks your access to its storage with your own token, and storage account '%s' does not exist. Create it first (amlid storage account create -n %s -g <group>) or fix accountName.", acct, acct)
	}
	if err != nil {
		return err
	}
	scope := account.ID + "/blobServices/default/containers/" + cont
	d, err := p.ML.Authz.Check(ctx, c.Caller.TenantID, c.Caller.ObjectID, catalog.BlobRead, true, scope)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	who := c.Caller.Name
	if who == "" {
		who = c.Caller.ObjectID
	}
	roleFix := access.RoleFix(c.Caller.ObjectID, c.Caller.Type, catalog.StorageBlobDataReader.Name, account.ID)
	if hns, _ := account.Prop("isHnsEnabled").(bool); k.Name == "AzureDataLakeGen2" && hns {
		// ADLS Gen2: without a role, the file system's POSIX ACLs decide
		// (DS-9); the caller's own token lists its root.
		ok, answer := p.aclProbe(ctx, c, acct, cont)
		if ok {
			return nil
		}
		return arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
			"Rule DS-4: datastore '%s' is identity-based (no stored credentials), so creating it checks that you can read the storage with your own token: %s (principal %s) holds no role with data action '%s' on file system '%s' of storage account '%s', "+
				"and the file system's ACLs do not let it list the root either (listing / with your token answered %s; rule DS-9: read and execute on the root). "+
				"Fix either: a role (at least %s): %s; or an ACL entry on the root: amlid storage fs access update-recursive --acl user:%s:r-x -p / -f %s --account-name %s (every path), or add user:%s:r-x to the root's ACL with amlid storage fs access set -p / -f %s --account-name %s --acl <its ACL plus the entry>.",
			id.Name(), who, c.Caller.ObjectID, catalog.BlobRead, cont, acct, answer, catalog.StorageBlobDataReader.Name, roleFix,
			c.Caller.ObjectID, cont, acct, c.Caller.ObjectID, cont, acct)
	}
	return arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
		"Rule DS-4: datastore '%s' is identity-based (no stored credentials), so creating it checks that you can read the storage with your own token: %s (principal %s) lacks data action '%s' on container '%s' of storage account '%s'. "+
			"Identity-based access needs at least %s on the account or container (Owner and Contributor grant no data actions). Fix: %s",
		id.Name(), who, c.Caller.ObjectID, catalog.BlobRead, cont, acct, catalog.StorageBlobDataReader.Name, roleFix)
}

// accountByName reads a storage account resource by name (store.ErrNotFound
// when amlid has none).
func accountByName(ctx context.Context, r store.Reader, name string) (*arm.Resource, error) {
	rec, err := r.Get(ctx, storage.KindAccountName, strings.ToLower(name))
	if err != nil {
		return nil, err
	}
	var idx struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}
	if err := json.Unmarshal(rec.Value, &idx); err != nil || idx.ID == "" {
		return nil, store.ErrNotFound
	}
	return ml.LoadResource(ctx, r, idx.ID)
}

// validate runs in the write transaction: it moves prepare's bookkeeping to
// Internal and keeps isDefault unless the request sets it.
func (p *Provider) validate(ctx context.Context, w *arm.Write) error {
	props := w.New.Properties
	if in, ok := props[internalKey].(map[string]any); ok {
		if w.New.Internal == nil {
			w.New.Internal = map[string]any{}
		}
		w.New.Internal["secretName"] = in["secretName"]
		w.New.Internal["vault"] = in["vault"]
		delete(props, internalKey)
	}
	if strings.EqualFold(credTypeOf(w.New), "None") && w.New.Internal != nil {
		delete(w.New.Internal, "secretName")
		delete(w.New.Internal, "vault")
	}
	if creds, ok := props["credentials"].(map[string]any); ok {
		delete(creds, "secrets") // never stored (DS-1, DS-2)
	}
	_, given := propsOf(w.Body)["isDefault"]
	switch {
	case given:
		props["isDefault"] = props["isDefault"] == true
	case w.Old != nil:
		props["isDefault"] = w.Old.Prop("isDefault") == true
	default:
		props["isDefault"] = false
	}
	return nil
}

func propsOf(body map[string]any) map[string]any {
	m, _ := body["properties"].(map[string]any)
	return m
}

// beforeCommit keeps one default datastore per workspace.
func (p *Provider) beforeCommit(ctx context.Context, tx store.Tx, w *arm.Write) error {
	if w.New.Prop("isDefault") != true || (w.Old != nil && w.Old.Prop("isDefault") == true) {
		return nil
	}
	recs, err := tx.List(ctx, arm.KindResource, store.ListOptions{Parent: w.ID.Parent().Key()})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		r, err := arm.DecodeResource(rec.Value)
		if err != nil || !strings.EqualFold(r.Type, catalog.TypeDatastore) || strings.EqualFold(r.ID, w.New.ID) || r.Prop("isDefault") != true {
			continue
		}
		r.SetProp("isDefault", false)
		b, err := arm.EncodeResource(r)
		if err != nil {
			return err
		}
		rec.Value = b
		if _, err := tx.Put(ctx, rec, ""); err != nil {
			return err
		}
	}
	return nil
}

// keepDefault refuses to delete the workspace's default datastore, as
// Azure refuses to delete workspaceblobstore: data uploads and job outputs
// go there. Another datastore made the default first frees it; the
// workspace's own delete takes it along.
func keepDefault(c *arm.Call, r *arm.Resource) error {
	if r.Prop("isDefault") != true {
		return nil
	}
	return userErr("Datastore '%s' is the workspace's default datastore (local data and job outputs are uploaded there) and cannot be deleted. Make another datastore the default first (PUT it with properties.isDefault true), then delete this one.", r.Name)
}

// beforeDelete notes the key vault of a credential-based datastore being
// deleted, alone or with its workspace: the workspace is still readable in
// the transaction, and may be gone by afterCommit.
func (p *Provider) beforeDelete(ctx context.Context, tx store.Tx, r *arm.Resource) error {
	if strings.EqualFold(credTypeOf(r), "None") {
		return nil
	}
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return nil
	}
	rec, err := tx.Get(ctx, arm.KindResource, id.Parent().Key())
	if err != nil {
		return nil
	}
	ws, err := arm.DecodeResource(rec.Value)
	if err != nil || ws.StringProp("keyVault") == "" {
		return nil
	}
	p.doomed.Store(strings.ToLower(r.ID), ws.StringProp("keyVault"))
	return nil
}

// afterCommit removes a secret the datastore no longer holds (deleted,
// also with its workspace, or switched to identity-based), as Azure's
// soft delete does: the secret is gone from get and list.
func (p *Provider) afterCommit(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r != nil && !strings.EqualFold(credTypeOf(r), "None") {
		return
	}
	if p.Vaults == nil {
		return
	}
	vault := ""
	if v, ok := p.doomed.LoadAndDelete(strings.ToLower(id.String())); ok && r == nil {
		vault = v.(string)
	} else if ws, err := ml.LoadResource(ctx, p.ML.Store, id.Parent().String()); err == nil {
		vault = ws.StringProp("keyVault")
	}
	if vault == "" {
		return
	}
	if err := p.Vaults().DeleteSecret(ctx, vault, secretName(id)); err != nil && p.ML.Logger != nil {
		p.ML.Logger.Warn("could not delete a deleted datastore's secret from the workspace key vault", "datastore", id.String(), "vault", vault, "err", err)
	}
}

// present makes sure no secret is ever returned (DS-1, DS-2).
func present(ctx context.Context, r *arm.Resource) {
	if creds, ok := r.Prop("credentials").(map[string]any); ok {
		delete(creds, "secrets")
	}
	delete(r.Properties, internalKey)
	if r.Prop("isDefault") == nil {
		r.SetProp("isDefault", false)
	}
}

// listFilter answers azure-ai-ml's get_default (?isDefault=true).
func listFilter(c *arm.Call, r *arm.Resource) bool {
	if v := c.R.URL.Query().Get("isDefault"); strings.EqualFold(v, "true") {
		return r.Prop("isDefault") == true
	}
	return true
}

// listSecrets answers POST …/datastores/{n}/listSecrets (the caller holds
// workspaces/datastores/listSecrets/action, which the front door checked):
// the secret read from the workspace key vault as the workspace identity.
func (p *Provider) listSecrets(ctx context.Context, c *arm.Call, r *arm.Resource, _ []byte) (int, any, error) {
	ct := credTypeOf(r)
	if strings.EqualFold(ct, "None") || ct == "" {
		return 0, nil, userErr("Rule DS-1: datastore '%s' is identity-based (credentialsType None): it holds no secret. Readers use their own identity (or the workspace's, per serviceDataAccessAuthIdentity).", r.Name)
	}
	id, err := arm.ParseID(r.ID)
	if err != nil {
		return 0, nil, err
	}
	ws, err := ml.LoadResource(ctx, p.ML.Store, id.Parent().String())
	if err != nil {
		return 0, nil, err
	}
	val, err := p.secret(ctx, ws, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"secretsType": ct, secretField[ct]: val}, nil
}

// secret reads a datastore's cached credential as the workspace identity.
func (p *Provider) secret(ctx context.Context, ws *arm.Resource, dsID arm.ID) (string, error) {
	ident, pr, err := p.actingPrincipal(ctx, ws)
	if err != nil {
		return "", userErr("Rule DS-2: %v", err)
	}
	val, err := p.Vaults().GetSecretAs(ctx, ws.StringProp("keyVault"), pr, secretName(dsID))
	if errors.Is(err, keyvault.ErrSecretNotFound) {
		return "", arm.Errorf(http.StatusNotFound, "SecretNotFound", "Rule DS-2: the secret of datastore '%s' is missing from key vault %s (deleted there?). Update the datastore with its credentials again.", dsID.Name(), ws.StringProp("keyVault"))
	}
	if err != nil {
		return "", vaultError("read", ws, ident, err)
	}
	return val, nil
}
