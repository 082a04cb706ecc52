package datastore

import (
	"context"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
)

// API versions this file calls.
const (
	apiDatastore = "2022-10-01"
	apiStorage   = "2022-09-01"
)

// DefaultDatastore is the workspace's default datastore, created with it.
const DefaultDatastore = "workspaceblobstore"

// ensureDefaults creates a workspace's four system datastores, as Azure
// does, the first time the workspace is written: workspaceblobstore (the
// default; container azureml-blobstore-<workspace id>, where the CLI and
// azure-ai-ml upload local files), workspaceartifactstore (container
// azureml), workspacefilestore and workspaceworkingdirectory (file shares).
// They use the account key (cached in the workspace key vault, DS-2) unless
// the workspace's systemDatastoresAuthMode is identity: then the blob stores
// are identity-based and the service reads them as the workspace identity.
// The file stores keep the key either way (DS-3: no identity-based file
// shares). Failures are logged: the workspace exists regardless.
func (p *Provider) ensureDefaults(ctx context.Context, ws *arm.Resource) {
	if _, err := ml.LoadResource(ctx, p.ML.Store, ws.ID+"/datastores/"+DefaultDatastore); err == nil {
		return
	}
	sa := ws.StringProp("storageAccount")
	wsid := strings.ToLower(ws.StringProp("workspaceId"))
	if sa == "" || wsid == "" {
		return
	}
	said, err := arm.ParseID(sa)
	if err != nil {
		return
	}
	tenant := ws.StringProp("tenantId")
	caller := arm.SystemCaller(tenant)
	log := p.ML.Logger
	fail := func(what string, err error) {
		if log != nil {
			log.Warn("default datastores: "+what+" failed", "workspace", ws.ID, "err", err)
		}
	}
	key, err := p.ML.StorageKey(ctx, arm.SystemCaller(tenant), sa)
	if err != nil {
		fail("reading the storage account key", err)
		return
	}
	identity := strings.EqualFold(ws.StringProp("systemDatastoresAuthMode"), "identity")
	blobStore := "azureml-blobstore-" + wsid
	for _, c := range []string{blobStore, "azureml"} {
		_, _, err := p.ML.ARM.Do(ctx, caller, http.MethodPut, sa+"/blobServices/default/containers/"+c+"?api-version="+apiStorage, map[string]any{"properties": map[string]any{}})
		if err != nil && arm.AsError(err).Status != http.StatusConflict {
			fail("creating container "+c, err)
			return
		}
	}
	keyCreds := map[string]any{"credentialsType": "AccountKey", "secrets": map[string]any{"secretsType": "AccountKey", "key": key}}
	blobCreds := func() (map[string]any, string) {
		if !identity {
			return clone(keyCreds), "None"
		}
		auth := "WorkspaceSystemAssignedIdentity"
		if ws.SystemPrincipalID() == "" {
			auth = "WorkspaceUserAssignedIdentity"
		}
		return map[string]any{"credentialsType": "None"}, auth
	}
	type def struct {
		name, typ, contProp, cont string
		isDefault                 bool
	}
	// The default last: its existence marks the set complete.
	defs := []def{
		{"workspaceartifactstore", "AzureBlob", "containerName", "azureml", false},
		{"workspacefilestore", "AzureFile", "fileShareName", "azureml-filestore-" + wsid, false},
		{"workspaceworkingdirectory", "AzureFile", "fileShareName", "code-" + wsid, false},
		{DefaultDatastore, "AzureBlob", "containerName", blobStore, true},
	}
	for _, d := range defs {
		props := map[string]any{"datastoreType": d.typ, "accountName": said.Name(), d.contProp: d.cont,
			"endpoint": "core.windows.net", "protocol": "https", "isDefault": d.isDefault,
			"description": "Created with the workspace", "tags": map[string]any{"createdBy": "amlid"}}
		if d.typ == "AzureBlob" {
			creds, auth := blobCreds()
			props["credentials"], props["serviceDataAccessAuthIdentity"] = creds, auth
		} else {
			props["credentials"], props["serviceDataAccessAuthIdentity"] = clone(keyCreds), "None"
		}
		if _, _, err := p.ML.ARM.Do(ctx, caller, http.MethodPut, ws.ID+"/datastores/"+d.name+"?api-version="+apiDatastore,
			map[string]any{"properties": props}); err != nil {
			fail("creating datastore "+d.name, err)
			return
		}
	}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mm, ok := v.(map[string]any); ok {
			v = clone(mm)
		}
		out[k] = v
	}
	return out
}
