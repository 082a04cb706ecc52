package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/rbac"
	"github.com/spf13/cobra"
)

// `amlid ml datastore` and `amlid ml data` (issue 18), with az ml's verbs
// and azure-ai-ml 1.4's YAML schemas.

func init() {
	mlSubcommands = append(mlSubcommands, (*app).mlDatastoreCmd, (*app).mlDataCmd)
}

// datastoreTypes maps the YAML type to REST datastoreType and the
// container property.
var datastoreTypes = map[string]struct{ rest, contYAML, contREST string }{
	"azure_blob":           {"AzureBlob", "container_name", "containerName"},
	"azure_data_lake_gen2": {"AzureDataLakeGen2", "filesystem", "filesystem"},
	"azure_file":           {"AzureFile", "file_share_name", "fileShareName"},
	"azure_data_lake_gen1": {"AzureDataLakeGen1", "store_name", "storeName"},
}

// datastoreBody maps a datastore YAML to the REST body.
func datastoreBody(spec *mlSpec) (map[string]any, error) {
	if err := spec.checkKeys("datastore", "name", "type", "description", "tags", "properties", "account_name", "container_name",
		"filesystem", "file_share_name", "store_name", "endpoint", "protocol", "credentials", "service_data_access_auth_identity"); err != nil {
		return nil, err
	}
	typ := strings.ToLower(spec.str("type"))
	dt, ok := datastoreTypes[typ]
	if !ok {
		return nil, usageErr("datastore type %q is not one of azure_blob, azure_data_lake_gen2, azure_file, azure_data_lake_gen1", spec.str("type"))
	}
	props := map[string]any{"datastoreType": dt.rest}
	for yk, rk := range map[string]string{"account_name": "accountName", dt.contYAML: dt.contREST, "endpoint": "endpoint",
		"protocol": "protocol", "description": "description"} {
		if s := spec.str(yk); s != "" {
			props[rk] = s
		}
	}
	if s := spec.str("service_data_access_auth_identity"); s != "" {
		m := map[string]string{"none": "None", "workspace_system_assigned_identity": "WorkspaceSystemAssignedIdentity",
			"workspace_user_assigned_identity": "WorkspaceUserAssignedIdentity"}
		if v, ok := m[strings.ToLower(s)]; ok {
			s = v
		}
		props["serviceDataAccessAuthIdentity"] = s
	}
	if t := spec.sub("tags"); t != nil {
		props["tags"] = t
	}
	creds := map[string]any{"credentialsType": "None"}
	if c := spec.sub("credentials"); len(c) > 0 {
		str := func(k string) string { s, _ := c[k].(string); return s }
		switch {
		case c["account_key"] != nil:
			creds = map[string]any{"credentialsType": "AccountKey", "secrets": map[string]any{"secretsType": "AccountKey", "key": str("account_key")}}
		case c["sas_token"] != nil:
			creds = map[string]any{"credentialsType": "Sas", "secrets": map[string]any{"secretsType": "Sas", "sasToken": str("sas_token")}}
		case c["client_secret"] != nil:
			creds = map[string]any{"credentialsType": "ServicePrincipal", "tenantId": str("tenant_id"), "clientId": str("client_id"),
				"secrets": map[string]any{"secretsType": "ServicePrincipal", "clientSecret": str("client_secret")}}
		case c["certificate"] != nil:
			creds = map[string]any{"credentialsType": "Certificate", "tenantId": str("tenant_id"), "clientId": str("client_id"), "thumbprint": str("thumbprint"),
				"secrets": map[string]any{"secretsType": "Certificate", "certificate": str("certificate")}}
		default:
			var keys []string
			for k := range c {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, usageErr("credentials (%s) must hold account_key, sas_token, client_secret (with tenant_id, client_id) or certificate (with tenant_id, client_id, thumbprint); omit credentials for identity-based access", strings.Join(keys, ", "))
		}
		for yk, rk := range map[string]string{"authority_url": "authorityUrl", "resource_url": "resourceUrl"} {
			if s := str(yk); s != "" {
				creds[rk] = s
			}
		}
	}
	props["credentials"] = creds
	return map[string]any{"properties": props}, nil
}

// datastoreShape prints a datastore as `az ml datastore show` does.
func datastoreShape(v any) any {
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
	out := map[string]any{"id": id, "name": m["name"], "description": p["description"], "tags": orEmpty(p["tags"])}
	for rt, yk := range map[string]string{"AzureBlob": "azure_blob", "AzureDataLakeGen2": "azure_data_lake_gen2", "AzureFile": "azure_file", "AzureDataLakeGen1": "azure_data_lake_gen1"} {
		if p["datastoreType"] == rt {
			out["type"] = yk
			d := datastoreTypes[yk]
			out[d.contYAML] = p[d.contREST]
		}
	}
	for rk, yk := range map[string]string{"accountName": "account_name", "endpoint": "endpoint", "protocol": "protocol"} {
		if p[rk] != nil {
			out[yk] = p[rk]
		}
	}
	if s, _ := p["serviceDataAccessAuthIdentity"].(string); s != "" && s != "None" {
		out["service_data_access_auth_identity"] = camelToSnake(s)
	}
	creds := map[string]any{}
	if c, ok := p["credentials"].(map[string]any); ok {
		for rk, yk := range map[string]string{"tenantId": "tenant_id", "clientId": "client_id", "thumbprint": "thumbprint", "authorityUrl": "authority_url", "resourceUrl": "resource_url"} {
			if c[rk] != nil {
				creds[yk] = c[rk]
			}
		}
		if ct, _ := c["credentialsType"].(string); ct != "" && ct != "None" {
			creds["type"] = camelToSnake(ct)
		}
	}
	out["credentials"] = creds
	out["is_default"] = p["isDefault"] == true
	setGroup(out, id)
	return out
}

// datastoreResource is `amlid ml datastore`.
var datastoreResource = &mlResource{
	use: "datastore", short: "Manage datastores: identity-based (rules DS-1, DS-3, DS-4) or with credentials kept in the workspace key vault (DS-2)",
	noun: "datastore", collection: "datastores", shape: datastoreShape,
	create: &mlCreate{short: "Create or update a datastore from a YAML file", fileHelp: "Local path to the YAML file of the datastore", body: datastoreBody},
	show: &mlShow{short: "Show a datastore (never its secret)",
		secrets: &mlSecrets{help: "Also read the cached credential (workspaces/datastores/listSecrets/action)", action: "listSecrets", merge: true}},
	list:   &mlList{short: "List the workspace's datastores"},
	delete: &mlDelete{short: "Delete a datastore (the data stays; its cached secret leaves the vault)"},
}

func (a *app) mlDatastoreCmd() *cobra.Command {
	return a.mlResourceCmd(datastoreResource, a.datastoreSecretReadersCmd(datastoreResource))
}

// datastoreSecretReadersCmd is `amlid ml datastore secret-readers`.
func (a *app) datastoreSecretReadersCmd(r *mlResource) *cobra.Command {
	short := "Who can read a datastore's cached secret: through its listSecrets action or straight from the workspace key vault (rule DS-2)"
	return a.mlItemCmd(r, "secret-readers", short, func(ctx context.Context, it mlItem) error {
		src := armSource{a}
		ds, err := src.Get(ctx, it.path)
		if err != nil {
			return err
		}
		d, err := a.decider(ctx, ds.ID)
		if err != nil {
			return err
		}
		as, err := a.assignmentsAt(ctx, ds.ID, it.ws.prop("keyVault"))
		if err != nil {
			return err
		}
		x := access.NewWhoCanIndex(as, d.Role)
		x.Members = a.groupMembers(ctx)
		out, notes, err := access.SecretReaders(ctx, src, x, ds)
		if err != nil {
			return err
		}
		for _, n := range notes {
			a.warnf("%s", n)
		}
		if out == nil {
			out = []access.SecretReader{}
		}
		return a.print(out)
	})
}

// dataShape prints a data asset version as `az ml data show` does.
func dataShape(v any) any {
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
	name := assetOfVersion(id)
	out := map[string]any{"id": id, "name": name, "version": m["name"], "type": p["dataType"], "path": p["dataUri"],
		"description": p["description"], "tags": orEmpty(p["tags"]), "is_archived": p["isArchived"] == true}
	setGroup(out, id)
	if sd, ok := m["systemData"].(map[string]any); ok {
		out["creation_context"] = map[string]any{"created_at": sd["createdAt"], "created_by": sd["createdBy"],
			"created_by_type": sd["createdByType"], "last_modified_at": sd["lastModifiedAt"]}
	}
	return out
}

// isRemote tells a data path that names storage from a local path.
func isRemote(p string) bool {
	l := strings.ToLower(p)
	for _, pre := range []string{"azureml:", "https://", "http://", "wasbs://", "wasb://", "abfss://", "abfs://", "adl://"} {
		if strings.HasPrefix(l, pre) {
			return true
		}
	}
	return false
}

// dataResource is `amlid ml data`: versioned assets at
// <workspace>/data/<name>/versions/<version>, so its verbs are its own.
var dataResource = &mlResource{
	use: "data", short: "Manage data assets (uri_file, uri_folder, mltable); local paths are uploaded to the default datastore",
	noun: "data asset", collection: "data", shape: dataShape,
}

func (a *app) mlDataCmd() *cobra.Command {
	r := dataResource
	return a.mlResourceCmd(r, a.dataCreateCmd(r), a.dataShowCmd(r), a.dataListCmd(r),
		a.dataArchiveCmd(r, "archive", true), a.dataArchiveCmd(r, "restore", false))
}

// versionFlag registers -v/--version.
func versionFlag(c *cobra.Command, v *string, help string) {
	c.Flags().StringVarP(v, "version", "v", "", help)
}

func (a *app) dataCreateCmd(r *mlResource) *cobra.Command {
	var version, path, typ, desc string
	keys := []string{"name", "version", "type", "path", "description", "tags", "properties", "datastore"}
	c := a.mlYAMLCmd(r, "Create a data asset version from a YAML file or flags", "Local path to the YAML file of the data asset", "data", keys,
		func(ctx context.Context, ir *mlItemRef, spec *mlSpec, n string) error {
			p := firstNonEmpty(path, spec.str("path"))
			if p == "" {
				return usageErr("the following arguments are required: --path/-p (or path in the YAML)")
			}
			t := strings.ToLower(firstNonEmpty(typ, spec.str("type"), "uri_folder"))
			ws, err := a.workspace(ctx, &ir.ws)
			if err != nil {
				return err
			}
			if !isRemote(p) {
				if p, err = a.uploadToDatastore(ctx, ws, spec.path(p), spec.str("datastore"), t); err != nil {
					return err
				}
			}
			asset := ws.path + "/data/" + url.PathEscape(n)
			v := firstNonEmpty(version, spec.str("version"))
			if v == "" {
				v = a.nextVersion(ctx, asset)
			}
			props := map[string]any{"dataType": t, "dataUri": p, "description": firstNonEmpty(desc, spec.str("description"))}
			if tg := spec.sub("tags"); tg != nil {
				props["tags"] = tg
			}
			res, err := a.armRequest(ctx, http.MethodPut, asset+"/versions/"+url.PathEscape(v), apiML, map[string]any{"properties": props})
			if err != nil {
				return err
			}
			return a.print(dataShape(res))
		})
	fl := c.Flags()
	fl.StringVarP(&path, "path", "p", "", "Local path (uploaded to the default datastore) or azureml://, https://, wasbs:// URI")
	fl.StringVarP(&typ, "type", "t", "", "uri_file, uri_folder (default) or mltable")
	fl.StringVarP(&desc, "description", "d", "", "Description")
	versionFlag(c, &version, "Version")
	return c
}

// nextVersion is the asset container's nextVersion, or "1".
func (a *app) nextVersion(ctx context.Context, asset string) string {
	if cont, err := a.armRequest(ctx, http.MethodGet, asset, apiML, nil); err == nil {
		cp, _ := cont.(map[string]any)["properties"].(map[string]any)
		if nv, ok := cp["nextVersion"].(string); ok && nv != "" {
			return nv
		}
	}
	return "1"
}

func (a *app) dataShowCmd(r *mlResource) *cobra.Command {
	var version, label string
	var preview bool
	var rows int
	short := "Show a data asset version (--preview reads its first rows, rule DS-8)"
	c := a.mlItemCmd(r, "show", short, func(ctx context.Context, it mlItem) error {
		if version == "" && label != "" && label != "latest" {
			return usageErr("--label: only 'latest' is known")
		}
		id, err := a.assetVersion(ctx, it, version)
		if err != nil {
			return err
		}
		if preview {
			res, err := a.armRequest(ctx, http.MethodPost, id+"/preview", apiML, map[string]any{"rows": rows})
			if err != nil {
				return err
			}
			return a.print(res)
		}
		res, err := a.armRequest(ctx, http.MethodGet, id, apiML, nil)
		if err != nil {
			return err
		}
		return a.print(dataShape(res))
	})
	c.Flags().BoolVar(&preview, "preview", false, "Read the first rows as the studio's data preview does (workspace or your identity, rule DS-8)")
	c.Flags().IntVar(&rows, "rows", 10, "Rows to preview")
	versionFlag(c, &version, "Version")
	c.Flags().StringVarP(&label, "label", "l", "", "Label (latest)")
	return c
}

func (a *app) dataListCmd(r *mlResource) *cobra.Command {
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "list", Short: "List data assets (with --name, its versions)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ir.ws)
			if err != nil {
				return err
			}
			out := []any{}
			if ir.name != "" {
				items, err := a.armList(c.Context(), ws.path+"/data/"+url.PathEscape(ir.name)+"/versions", apiML, nil)
				if err != nil {
					return err
				}
				for _, it := range items {
					out = append(out, dataShape(it))
				}
				return a.print(out)
			}
			items, err := a.armList(c.Context(), ws.path+"/data", apiML, nil)
			if err != nil {
				return err
			}
			for _, it := range items {
				m, _ := it.(map[string]any)
				p, _ := m["properties"].(map[string]any)
				if p["isArchived"] == true {
					continue
				}
				out = append(out, map[string]any{"name": m["name"], "latest_version": p["latestVersion"], "description": p["description"]})
			}
			return a.print(out)
		},
	}
	ir = r.ref(c, r.nameHelp())
	return c
}

// dataArchiveCmd is `amlid ml data archive|restore`: isArchived on the
// asset, or on one version.
func (a *app) dataArchiveCmd(r *mlResource, use string, archived bool) *cobra.Command {
	var version string
	short := map[bool]string{true: "Archive a data asset (or one version)", false: "Restore an archived data asset (or one version)"}[archived]
	c := a.mlItemCmd(r, use, short, func(ctx context.Context, it mlItem) error {
		p := it.path
		if version != "" {
			p += "/versions/" + url.PathEscape(version)
		}
		return a.setArchived(ctx, p, archived)
	})
	versionFlag(c, &version, "Version")
	return c
}

// setArchived reads an asset (or version) and writes it back with
// isArchived set.
func (a *app) setArchived(ctx context.Context, p string, archived bool) error {
	res, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
	if err != nil {
		return err
	}
	m, _ := res.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["isArchived"] = archived
	delete(props, "provisioningState")
	_, err = a.armRequest(ctx, http.MethodPut, p, apiML, map[string]any{"properties": props})
	return err
}

// uploadToDatastore uploads a local file or folder to a datastore (the
// workspace default unless named), as azure-ai-ml does: container of the
// datastore, LocalUpload/<content hash>/<name>, with the datastore's cached
// credential (listSecrets) or, for an identity-based datastore, the
// caller's own token. It returns the azureml://datastores/…/paths/… URI.
func (a *app) uploadToDatastore(ctx context.Context, ws *wsCtx, local, dsName, dataType string) (string, error) {
	st, err := os.Stat(local)
	if err != nil {
		return "", usageErr("cannot read %s: %v", local, err)
	}
	if dataType == "uri_file" && st.IsDir() {
		return "", usageErr("%s is a folder; a uri_file data asset needs a file (use --type uri_folder)", local)
	}
	if dataType != "uri_file" && !st.IsDir() {
		return "", usageErr("%s is a file; a %s data asset needs a folder (use --type uri_file)", local, dataType)
	}
	if _, err := os.Stat(filepath.Join(local, "MLTable")); dataType == "mltable" && err != nil {
		return "", usageErr("an mltable data asset's folder holds its MLTable file, and %s has none", local)
	}
	bc, dsN, cont, err := a.datastoreBlobClient(ctx, ws, dsName)
	if err != nil {
		return "", err
	}
	files, root, err := localFiles(local, st)
	if err != nil {
		return "", err
	}
	if st.IsDir() && len(files) == 0 {
		return "", usageErr("%s is an empty folder", local)
	}
	sum, total, err := contentHash(root, files)
	if err != nil {
		return "", err
	}
	base := filepath.Base(filepath.Clean(local))
	prefix := "LocalUpload/" + sum + "/" + base
	if _, err := bc.doClose(ctx, http.MethodPut, cont, url.Values{"restype": {"container"}}, nil, nil, 0); err != nil && codeOf(err) != "ContainerAlreadyExists" {
		return "", err
	}
	a.progressf("Uploading %s (%d file(s), %s) to datastore %s", base, len(files), humanBytes(total), dsN)
	for _, f := range files {
		name := prefix
		if st.IsDir() {
			rel, _ := filepath.Rel(local, f)
			name = prefix + "/" + filepath.ToSlash(rel)
		}
		if _, err := a.uploadFile(ctx, bc, cont, name, f, "", nil, true, false); err != nil {
			return "", err
		}
		a.progressTick()
	}
	a.progressDone("done")
	uri := "azureml://datastores/" + dsN + "/paths/" + prefix
	if st.IsDir() {
		uri += "/"
	}
	return uri, nil
}

// datastoreBlobClient opens a blob datastore (the workspace default unless
// named) with its cached credential (listSecrets) or, identity-based, the
// caller's own token; it returns the client, the datastore's name and its
// container.
func (a *app) datastoreBlobClient(ctx context.Context, ws *wsCtx, dsName string) (*blobClient, string, string, error) {
	var ds map[string]any
	if dsName == "" {
		items, err := a.armList(ctx, ws.path+"/datastores", apiML, url.Values{"isDefault": {"true"}})
		if err != nil {
			return nil, "", "", err
		}
		if len(items) == 0 {
			return nil, "", "", &cliError{Message: "workspace " + ws.name + " has no default datastore", Exit: exitError}
		}
		ds, _ = items[0].(map[string]any)
	} else {
		v, err := a.armRequest(ctx, http.MethodGet, ws.path+"/datastores/"+url.PathEscape(strings.TrimPrefix(dsName, "azureml:")), apiML, nil)
		if err != nil {
			return nil, "", "", err
		}
		ds, _ = v.(map[string]any)
	}
	dsID, _ := ds["id"].(string)
	dsN, _ := ds["name"].(string)
	props, _ := ds["properties"].(map[string]any)
	if t, _ := props["datastoreType"].(string); t != "AzureBlob" && t != "AzureDataLakeGen2" {
		return nil, "", "", &cliError{Message: fmt.Sprintf("datastore %s is %s; local files are uploaded to blob datastores only", dsN, t), Exit: exitError}
	}
	cont, _ := props["containerName"].(string)
	if cont == "" {
		cont, _ = props["filesystem"].(string)
	}
	creds, _ := props["credentials"].(map[string]any)
	flags := &blobAuthFlags{account: fmt.Sprint(props["accountName"])}
	switch ct, _ := creds["credentialsType"].(string); ct {
	case "AccountKey", "Sas":
		s, err := a.armRequest(ctx, http.MethodPost, dsID+"/listSecrets", apiML, nil)
		if err != nil {
			return nil, "", "", err
		}
		sm, _ := s.(map[string]any)
		flags.authMode = "key"
		flags.key, _ = sm["key"].(string)
		flags.sas, _ = sm["sasToken"].(string)
	case "None", "":
		flags.authMode = "login" // identity-based: the caller's own token (DS-4)
	default:
		return nil, "", "", &cliError{Message: fmt.Sprintf("datastore %s uses %s credentials; amlid uploads with an account key, a SAS token or your identity", dsN, ct), Exit: exitError}
	}
	bc, err := a.newBlobClient(ctx, flags)
	return bc, dsN, cont, err
}

// localFiles lists the regular files of a local folder, sorted, or the
// one file; root is what their names are relative to in contentHash.
func localFiles(local string, st os.FileInfo) ([]string, string, error) {
	if !st.IsDir() {
		return []string{local}, filepath.Dir(local), nil
	}
	var files []string
	err := filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, "", &cliError{Message: err.Error(), Exit: exitError}
	}
	sort.Strings(files)
	return files, local, nil
}

// contentHash is azure-ai-ml's upload folder name for files: a hash of
// their names (relative to root), sizes and contents; total is their size.
func contentHash(root string, files []string) (string, int64, error) {
	h := sha256.New()
	var total int64
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		b, err := os.ReadFile(f)
		if err != nil {
			return "", 0, &cliError{Message: err.Error(), Exit: exitError}
		}
		total += int64(len(b))
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32], total, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// assignmentsAt lists the role assignments at, above and below each scope
// (deduplicated).
func (a *app) assignmentsAt(ctx context.Context, scopes ...string) ([]rbac.Assignment, error) {
	seen := map[string]bool{}
	var as []rbac.Assignment
	for _, scope := range scopes {
		if scope == "" {
			continue
		}
		items, err := a.armList(ctx, strings.TrimRight(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments", apiRoleAssignments, nil)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			m, _ := it.(map[string]any)
			p, _ := m["properties"].(map[string]any)
			k := strings.ToLower(str(p["scope"]) + "|" + str(m["name"]))
			if seen[k] {
				continue
			}
			seen[k] = true
			as = append(as, rbac.Assignment{ID: str(m["id"]), Name: str(m["name"]), Scope: str(p["scope"]), RoleDefinitionID: str(p["roleDefinitionId"]),
				PrincipalID: str(p["principalId"]), PrincipalType: str(p["principalType"])})
		}
	}
	return as, nil
}

// groupMembers expands a group's members through Graph (who-can).
func (a *app) groupMembers(ctx context.Context) func(g string) []access.Member {
	return func(g string) []access.Member {
		ms, err := a.graphItems(ctx, "/v1.0/groups/"+url.PathEscape(g)+"/members")
		if err != nil {
			return nil
		}
		var out []access.Member
		for _, m := range ms {
			mm, _ := m.(map[string]any)
			t := "ServicePrincipal"
			switch strings.TrimPrefix(str(mm["@odata.type"]), "#microsoft.graph.") {
			case "user":
				t = "User"
			case "group":
				t = "Group"
			}
			out = append(out, access.Member{ID: str(mm["id"]), Type: t})
		}
		return out
	}
}
