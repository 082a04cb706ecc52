package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// Datastore rules (issue 18): what an identity-based datastore asks of the
// identities that read it (DS-4), and who can read a credential-based
// datastore's cached secret (DS-2).

func init() {
	Rules = append(Rules, Rule{ID: "DS-4", Type: catalog.TypeDatastore, Eval: DS4,
		Summary: "an identity-based datastore is read with the reader's own identity: the workspace identity it names (serviceDataAccessAuthIdentity) needs at least Storage Blob Data Reader on its storage"})
}

// DatastoreAccountID is the storage account resource ID a datastore points
// at ("" when its subscriptionId/resourceGroup are unknown: an account
// outside amlid, or ADLS Gen1).
func DatastoreAccountID(ds *arm.Resource) string {
	acct, sub, rg := ds.StringProp("accountName"), ds.StringProp("subscriptionId"), ds.StringProp("resourceGroup")
	if acct == "" || sub == "" || rg == "" {
		return ""
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + catalog.TypeStorageAccount + "/" + acct
}

// DatastoreContainer is the container, file system or share a datastore names.
func DatastoreContainer(ds *arm.Resource) string {
	for _, k := range []string{"containerName", "filesystem", "fileShareName"} {
		if s := ds.StringProp(k); s != "" {
			return s
		}
	}
	return ""
}

// DatastoreSecretName is the name of the key-vault secret holding a
// credential-based datastore's secret (rule DS-2): derived from the
// datastore's ID, so the datastore stores no pointer to it.
func DatastoreSecretName(datastoreID string) string {
	id := strings.TrimRight(datastoreID, "/")
	name := id[strings.LastIndex(id, "/")+1:]
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	n := b.String()
	if len(n) > 60 {
		n = n[:60]
	}
	sum := sha256.Sum256([]byte(strings.ToLower(id)))
	return "datastore-" + n + "-" + hex.EncodeToString(sum[:])[:12]
}

func credentialsType(ds *arm.Resource) string {
	c, _ := ds.Prop("credentials").(map[string]any)
	s, _ := c["credentialsType"].(string)
	if s == "" {
		return "None"
	}
	return s
}

// DS4 is rule DS-4 for one datastore: an identity-based Blob or ADLS Gen2
// datastore whose serviceDataAccessAuthIdentity names a workspace identity
// is read as that identity, which needs Storage Blob Data Reader on the
// container. Without it, every reader uses its own identity (noted).
func DS4(ctx context.Context, src Source, ds *arm.Resource) (Result, error) {
	var res Result
	if !strings.EqualFold(ds.Type, catalog.TypeDatastore) {
		return res, fmt.Errorf("rule DS-4 applies to datastores, not to %s: `amlid analyze -w <workspace>` evaluates it for each datastore", ds.Type)
	}
	if !strings.EqualFold(credentialsType(ds), "None") {
		res.Notes = append(res.Notes, fmt.Sprintf("Datastore %s caches %s credentials in the workspace key vault (rule DS-2): readers use them, not their identity; `amlid ml datastore secret-readers -n %s` lists who can read them.",
			ds.Name, credentialsType(ds), ds.Name))
		return res, nil
	}
	if t := ds.StringProp("datastoreType"); t != "AzureBlob" && t != "AzureDataLakeGen2" {
		return res, nil
	}
	acct := DatastoreAccountID(ds)
	if acct == "" {
		res.Notes = append(res.Notes, fmt.Sprintf("Datastore %s points at storage account '%s', which is not one of amlid's: its readers' access cannot be checked.", ds.Name, ds.StringProp("accountName")))
		return res, nil
	}
	sdai := ds.StringProp("serviceDataAccessAuthIdentity")
	if sdai == "" || sdai == "None" {
		res.Notes = append(res.Notes, fmt.Sprintf("Datastore %s is identity-based: each user and compute identity that reads it needs at least %s on %s (`amlid access who-can --scope %s --action %s` lists them).",
			ds.Name, catalog.StorageBlobDataReader.Name, acct, acct, catalog.BlobRead))
		return res, nil
	}
	wsID, err := parentID(ds.ID)
	if err != nil {
		return res, err
	}
	ws, err := src.Get(ctx, wsID)
	if err != nil {
		return res, err
	}
	var id Identity
	var ok bool
	switch sdai {
	case "WorkspaceSystemAssignedIdentity":
		id, ok = Acting(ws)
		ok = ok && id.Kind == SystemAssigned
	default:
		id, ok, err = WorkspaceIdentity(ctx, src, ws)
		if errors.Is(err, ErrNotFound) {
			return res, fmt.Errorf("rule DS-4: the workspace's primary user-assigned identity was not found")
		}
		if err != nil {
			return res, err
		}
	}
	if !ok {
		return res, fmt.Errorf("rule DS-4: datastore %s reads as the workspace's %s, which workspace %s does not have", ds.Name, sdai, ws.Name)
	}
	if id.TenantID == "" {
		id.TenantID = ws.StringProp("tenantId")
	}
	scope := acct
	if c := DatastoreContainer(ds); c != "" {
		scope += "/blobServices/default/containers/" + c
	}
	res.Requirements = append(res.Requirements, rbacReq("DS-4", ds.ID, id, catalog.StorageBlobDataReader, catalog.BlobRead, true, scope,
		fmt.Sprintf("datastore %s is identity-based and its serviceDataAccessAuthIdentity (%s) makes the service read it as this identity", ds.Name, sdai)))
	return res, nil
}

// SecretReader is one principal able to read a datastore's cached secret,
// and how.
type SecretReader struct {
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType,omitempty"`
	// Via is "listSecrets" (the ML action on the datastore), "vault-rbac"
	// (a Key Vault data role) or "vault-access-policy".
	Via             string `json:"via"`
	Role            string `json:"role,omitempty"`
	AssignmentScope string `json:"assignmentScope,omitempty"`
	ViaGroup        string `json:"viaGroup,omitempty"`
	Permissions     string `json:"permissions,omitempty"`
}

// SecretReaders lists who can read a credential-based datastore's cached
// secret (rule DS-2; the seed's warning that "other workspace users with
// sufficient permissions can retrieve those credentials"): through the
// datastore's listSecrets action, and straight from the workspace key vault
// (its RBAC data roles or its access policies). x indexes the role
// assignments at and above both scopes.
func SecretReaders(ctx context.Context, src Source, x *WhoCanIndex, ds *arm.Resource) ([]SecretReader, []string, error) {
	var out []SecretReader
	var notes []string
	if strings.EqualFold(credentialsType(ds), "None") {
		return nil, []string{fmt.Sprintf("Datastore %s is identity-based (rule DS-1): it caches no secret.", ds.Name)}, nil
	}
	for _, g := range x.WhoCan(ds.ID, catalog.DatastoreListSecret, false) {
		out = append(out, SecretReader{PrincipalID: g.PrincipalID, PrincipalType: g.PrincipalType, Via: "listSecrets", Role: g.Role,
			AssignmentScope: g.AssignmentScope, ViaGroup: g.ViaGroup})
	}
	wsID, err := parentID(ds.ID)
	if err != nil {
		return nil, nil, err
	}
	ws, err := src.Get(ctx, wsID)
	if err != nil {
		return nil, nil, err
	}
	vaultID := ws.StringProp("keyVault")
	vault, err := src.Get(ctx, vaultID)
	switch {
	case vaultID == "" || errors.Is(err, ErrNotFound):
		notes = append(notes, "The workspace key vault was not found.")
	case err != nil:
		return nil, nil, err
	case vault.Prop("enableRbacAuthorization") == true:
		for _, g := range x.WhoCan(vault.ID+"/secrets/"+DatastoreSecretName(ds.ID), catalog.SecretGet, true) {
			out = append(out, SecretReader{PrincipalID: g.PrincipalID, PrincipalType: g.PrincipalType, Via: "vault-rbac", Role: g.Role,
				AssignmentScope: g.AssignmentScope, ViaGroup: g.ViaGroup})
		}
	default:
		for _, p := range PoliciesOf(vault.Prop("accessPolicies")) {
			if p.Grants("get") {
				out = append(out, SecretReader{PrincipalID: p.ObjectID, Via: "vault-access-policy", AssignmentScope: vault.ID,
					Permissions: strings.Join(p.Permissions["secrets"], " ")})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := strings.ToLower(out[i].PrincipalID), strings.ToLower(out[j].PrincipalID); a != b {
			return a < b
		}
		return out[i].Via < out[j].Via
	})
	return out, notes, nil
}

func readersAsGrants(rs []SecretReader) []Grant {
	out := make([]Grant, len(rs))
	for i, r := range rs {
		out[i] = Grant{PrincipalID: r.PrincipalID}
	}
	return out
}

func init() {
	Rules = append(Rules, Rule{ID: "DS-8", Type: catalog.TypeDatastore, Eval: DS8Datastore,
		Summary: "a datastore on a storage account that denies by default is read by jobs from their compute's network: each compute of the workspace needs an allowed subnet (virtualNetworkRules) — reported per compute, never failing the check"})
}

// lister is a Source that can also list (the store, ARM in the CLI).
type lister interface {
	List(ctx context.Context, scope, resourceType string) ([]*arm.Resource, error)
}

// DS8Datastore is rule DS-8 for a datastore whose storage account denies
// by default: for each cluster and compute instance of the workspace, an
// optional requirement that its network (its subnet) gets through, so
// `analyze` shows which computes can run jobs on the datastore.
func DS8Datastore(ctx context.Context, src Source, ds *arm.Resource) (Result, error) {
	var res Result
	acctID := DatastoreAccountID(ds)
	if acctID == "" {
		return res, nil
	}
	acct, err := src.Get(ctx, acctID)
	if errors.Is(err, ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if !denies(acct) {
		return res, nil
	}
	wsID, err := parentID(ds.ID)
	if err != nil {
		return res, err
	}
	l, ok := src.(lister)
	if !ok {
		res.Notes = append(res.Notes, fmt.Sprintf("Storage account %s denies by default: jobs read datastore %s only from computes in its allowed subnets.", acct.Name, ds.Name))
		return res, nil
	}
	comps, err := l.List(ctx, wsID, catalog.TypeCompute)
	if err != nil {
		return res, err
	}
	sort.Slice(comps, func(i, j int) bool { return comps[i].ID < comps[j].ID })
	for _, c := range comps {
		if t := ComputeTypeOf(c); t != ComputeAml && t != ComputeInstance {
			continue
		}
		id, ok := Acting(c)
		if !ok {
			id = Identity{Of: c.ID}
		}
		q, err := SubnetRequirement(ctx, src, ds.ID, id, c, acctID,
			fmt.Sprintf("jobs on compute %s read datastore %s from the compute's network, behind storage account %s's firewall", c.Name, ds.Name, acct.Name))
		if err != nil {
			return res, err
		}
		if q != nil {
			q.Optional = true
			res.Requirements = append(res.Requirements, *q)
		}
	}
	return res, nil
}
