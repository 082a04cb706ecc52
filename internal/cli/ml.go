package cli

import (
	"context"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// apiML is the Microsoft.MachineLearningServices api-version the CLI sends
// (azure-ai-ml 1.4's 2022-10-01 shapes are a subset of it).
const apiML = "2023-04-01"

func init() { extraCommands = append(extraCommands, (*app).mlCmd) }

// mlSubcommands lets the ml capability files add `amlid ml <group>`.
var mlSubcommands = []func(a *app) *cobra.Command{(*app).mlWorkspaceCmd}

func (a *app) mlCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ml", Short: "Azure Machine Learning: workspaces, online endpoints and deployments, environments"}
	for _, c := range mlSubcommands {
		cmd.AddCommand(c(a))
	}
	return cmd
}

// wsRef names a workspace: -n/--name (CLI v2) or -w/--workspace-name (CLI
// v1, which also selects v1's output shape), -g, or the configured defaults
// (`amlid configure --defaults workspace=… group=…`).
type wsRef struct {
	name, v1name, group string
}

func (r *wsRef) flags(c *cobra.Command, nameFlag bool) {
	if nameFlag {
		c.Flags().StringVarP(&r.name, "name", "n", "", "Name of the workspace")
	}
	c.Flags().StringVarP(&r.v1name, "workspace-name", "w", "", "Name of the workspace (CLI v1 spelling; prints v1's output)")
	c.Flags().StringVarP(&r.group, "resource-group", "g", "", "Name of the resource group (default: 'amlid configure --defaults group=…')")
}

func (r *wsRef) v1() bool { return r.v1name != "" }

func (a *app) wsPath(r *wsRef, fileName string) (string, string, error) {
	name := firstNonEmpty(r.name, r.v1name, fileName, a.settings.defaultValue("workspace"))
	if name == "" {
		return "", "", usageErr("the following arguments are required: --name/-n (or --workspace-name/-w)")
	}
	p, err := a.groupResourcePath(r.group, "Microsoft.MachineLearningServices/workspaces", name, "--name/-n")
	if err != nil {
		return "", "", err
	}
	return p, name, nil
}

// workspaceShape prints a workspace as azure-ai-ml does (snake_case), or as
// CLI v1 did (camelCase, identityPrincipalId) when v1 is set.
func workspaceShape(v any, v1 bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	p, _ := m["properties"].(map[string]any)
	if p == nil {
		p = map[string]any{}
	}
	id, _ := m["id"].(string)
	rg := ""
	if parts := strings.Split(id, "/"); len(parts) > 4 {
		rg = parts[4]
	}
	idm, _ := m["identity"].(map[string]any)
	if v1 {
		out := map[string]any{
			"id": id, "name": m["name"], "location": m["location"], "resourceGroup": rg, "tags": orEmpty(m["tags"]),
			"applicationInsights": p["applicationInsights"], "containerRegistry": p["containerRegistry"],
			"keyVault": p["keyVault"], "storageAccount": p["storageAccount"], "description": p["description"],
			"friendlyName": p["friendlyName"], "discoveryUrl": p["discoveryUrl"], "hbiWorkspace": orFalse(p["hbiWorkspace"]),
			"workspaceid": p["workspaceId"], "primaryUserAssignedIdentity": p["primaryUserAssignedIdentity"],
			"imageBuildCompute": p["imageBuildCompute"], "sku": "Basic",
		}
		if idm != nil {
			out["identityPrincipalId"] = idm["principalId"]
			out["identityTenantId"] = idm["tenantId"]
			out["identityType"] = idm["type"]
			if u, ok := idm["userAssignedIdentities"]; ok {
				out["userAssignedIdentities"] = u
			}
		}
		return out
	}
	out := map[string]any{
		"id": id, "name": m["name"], "location": m["location"], "resourceGroup": rg, "tags": orEmpty(m["tags"]),
		"display_name": p["friendlyName"], "description": p["description"],
		"storage_account": p["storageAccount"], "key_vault": p["keyVault"], "application_insights": p["applicationInsights"],
		"container_registry": p["containerRegistry"], "discovery_url": p["discoveryUrl"], "mlflow_tracking_uri": p["mlFlowTrackingUri"],
		"hbi_workspace": orFalse(p["hbiWorkspace"]), "public_network_access": p["publicNetworkAccess"],
		"image_build_compute": p["imageBuildCompute"], "primary_user_assigned_identity": p["primaryUserAssignedIdentity"],
		"enable_data_isolation": orFalse(p["enableDataIsolation"]), "workspace_id": p["workspaceId"],
	}
	if s, ok := p["systemDatastoresAuthMode"]; ok {
		out["system_datastores_auth_mode"] = s
	}
	if enc, ok := p["encryption"].(map[string]any); ok {
		if eid, ok := enc["identity"].(map[string]any); ok {
			out["user_assigned_identity_for_cmk_encryption"] = eid["userAssignedIdentity"]
		}
	}
	if idm != nil {
		out["identity"] = snakeIdentity(idm)
	}
	for k, v := range out {
		if v == nil && k != "container_registry" && k != "primary_user_assigned_identity" {
			delete(out, k)
		}
	}
	return out
}

func orEmpty(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func orFalse(v any) any {
	if v == nil {
		return false
	}
	return v
}

// workspaceYAMLKeys are the fields of azure-ai-ml's workspace schema.
var workspaceYAMLKeys = []string{"name", "location", "display_name", "description", "tags", "identity", "storage_account", "key_vault",
	"container_registry", "application_insights", "image_build_compute", "hbi_workspace", "public_network_access",
	"primary_user_assigned_identity", "customer_managed_key", "user_assigned_identity_for_cmk_encryption",
	"system_datastores_auth_mode", "enable_data_isolation", "resource_group", "id", "managed_network"}

// workspaceFlags are the flags create and update share.
type workspaceFlags struct {
	file, location, displayName, description, containerRegistry, storageAccount, keyVault, appInsights string
	primaryUAI, cmkUAI, imageBuildCompute, identityType, systemDatastoresAuthMode                      string
	uais, sets, tags                                                                                   []string
	updateDependent                                                                                    bool
}

func (f *workspaceFlags) register(c *cobra.Command, create bool) {
	fl := c.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "Local path to the YAML file of the workspace (azure-ai-ml's schema)")
	fl.StringVar(&f.displayName, "display-name", "", "Display name")
	fl.StringVar(&f.description, "description", "", "Description")
	fl.StringVar(&f.containerRegistry, "container-registry", "", "Resource ID of a container registry to bring (rule WS-7)")
	fl.StringVar(&f.appInsights, "application-insights", "", "Resource ID of application insights to bring")
	fl.StringVar(&f.primaryUAI, "primary-user-assigned-identity", "", "Resource ID of the primary user-assigned identity (rule WS-2)")
	fl.StringVar(&f.imageBuildCompute, "image-build-compute", "", "Compute name for image builds")
	fl.StringVar(&f.systemDatastoresAuthMode, "system-datastores-auth-mode", "", "AccessKey, Identity or UserDelegationSAS")
	fl.StringSliceVar(&f.sets, "set", nil, "Update a field of the YAML: --set path.to.field=value")
	fl.StringSliceVar(&f.tags, "tags", nil, "Space-separated tags: key[=value]")
	fl.StringVar(&f.identityType, "identity-type", "", "system_assigned, user_assigned or 'system_assigned,user_assigned'")
	fl.StringSliceVar(&f.uais, "user-assigned-identities", nil, "Resource IDs of user-assigned identities (comma-separated)")
	if create {
		fl.StringVarP(&f.location, "location", "l", "", "Location (default: the resource group's)")
		fl.StringVar(&f.storageAccount, "storage-account", "", "Resource ID of a storage account to bring")
		fl.StringVar(&f.keyVault, "key-vault", "", "Resource ID of a key vault to bring")
		fl.StringVar(&f.keyVault, "keyvault", "", "Resource ID of a key vault to bring (CLI v1 spelling of --key-vault)")
		fl.StringVar(&f.cmkUAI, "user-assigned-identity-for-cmk-encryption", "", "Resource ID of the UAI used for customer-managed-key encryption (rule WS-6)")
	} else {
		fl.BoolVar(&f.updateDependent, "update-dependent-resources", false, "Acknowledge changing the workspace's container registry or application insights (rule WS-7)")
	}
}

// body builds the ARM request body from the YAML file and the flags (flags
// win, as in az).
func (f *workspaceFlags) body(spec *mlSpec) (map[string]any, error) {
	if err := spec.checkKeys("workspace", workspaceYAMLKeys...); err != nil {
		return nil, err
	}
	props := map[string]any{}
	body := map[string]any{"properties": props}
	setStr := func(prop, yamlKey, flag string) {
		if flag != "" {
			props[prop] = flag
		} else if v := spec.str(yamlKey); v != "" {
			props[prop] = v
		}
	}
	setStr("friendlyName", "display_name", f.displayName)
	setStr("description", "description", f.description)
	setStr("storageAccount", "storage_account", f.storageAccount)
	setStr("keyVault", "key_vault", f.keyVault)
	setStr("containerRegistry", "container_registry", f.containerRegistry)
	setStr("applicationInsights", "application_insights", f.appInsights)
	setStr("imageBuildCompute", "image_build_compute", f.imageBuildCompute)
	setStr("primaryUserAssignedIdentity", "primary_user_assigned_identity", f.primaryUAI)
	setStr("publicNetworkAccess", "public_network_access", "")
	setStr("systemDatastoresAuthMode", "system_datastores_auth_mode", f.systemDatastoresAuthMode)
	if v, ok := spec.m["hbi_workspace"].(bool); ok {
		props["hbiWorkspace"] = v
	}
	if v, ok := spec.m["enable_data_isolation"].(bool); ok {
		props["enableDataIsolation"] = v
	}
	if loc := firstNonEmpty(f.location, spec.str("location")); loc != "" {
		body["location"] = loc
	}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	if t, err := parseTags(f.tags); err != nil {
		return nil, err
	} else if t != nil {
		body["tags"] = t
	}
	if spec.has("identity") {
		idm, err := restIdentity(spec.m["identity"])
		if err != nil {
			return nil, err
		}
		body["identity"] = idm
	}
	if f.identityType != "" {
		idm, err := restIdentity(map[string]any{"type": f.identityType, "user_assigned_identities": toAnySlice(f.uais)})
		if err != nil {
			return nil, err
		}
		body["identity"] = idm
	} else if len(f.uais) > 0 || (f.primaryUAI != "" && body["identity"] == nil) {
		// --primary-user-assigned-identity alone (CLI v1) makes a
		// user-assigned workspace with that identity.
		ids := f.uais
		if len(ids) == 0 {
			ids = []string{f.primaryUAI}
		}
		idm, _ := restIdentity(map[string]any{"type": "user_assigned", "user_assigned_identities": toAnySlice(ids)})
		body["identity"] = idm
	}
	cmk := firstNonEmpty(f.cmkUAI, spec.str("user_assigned_identity_for_cmk_encryption"))
	if ck := spec.sub("customer_managed_key"); ck != nil || cmk != "" {
		enc := map[string]any{"status": "Enabled"}
		if ck != nil {
			kv, _ := ck["key_vault"].(string)
			uri, _ := ck["key_uri"].(string)
			enc["keyVaultProperties"] = map[string]any{"keyVaultArmId": kv, "keyIdentifier": uri}
		}
		if cmk != "" {
			enc["identity"] = map[string]any{"userAssignedIdentity": cmk}
		}
		props["encryption"] = enc
	}
	return body, nil
}

func toAnySlice(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

func (a *app) mlWorkspaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "workspace", Short: "Manage Azure ML workspaces (their identities and associated resources)"}
	cmd.AddCommand(a.workspaceCreateCmd(), a.workspaceUpdateCmd(), a.workspaceShowCmd(), a.workspaceListCmd(), a.workspaceDeleteCmd(), a.workspaceListKeysCmd())
	return cmd
}

// workspaceCmd is a verb on the workspace -n/-w (-g) names: run gets its
// path.
func (a *app) workspaceCmd(use, short string, run func(ctx context.Context, ref *wsRef, p string) error) *cobra.Command {
	var ref wsRef
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, _, err := a.wsPath(&ref, "")
			if err != nil {
				return err
			}
			return run(c.Context(), &ref, p)
		},
	}
	ref.flags(c, true)
	return c
}

// workspaceWrite reads a workspace's YAML and flags and resolves the
// workspace they name (create and update).
func (a *app) workspaceWrite(ref *wsRef, f *workspaceFlags) (*mlSpec, string, error) {
	spec, err := loadMLSpec(f.file, f.sets)
	if err != nil {
		return nil, "", err
	}
	p, _, err := a.wsPath(ref, spec.str("name"))
	return spec, p, err
}

func (a *app) workspaceCreateCmd() *cobra.Command {
	var ref wsRef
	var f workspaceFlags
	c := &cobra.Command{
		Use: "create", Short: "Create a workspace (and the storage account, key vault and application insights it does not bring)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			spec, p, err := a.workspaceWrite(&ref, &f)
			if err != nil {
				return err
			}
			body, err := f.body(spec)
			if err != nil {
				return err
			}
			if body["location"] == nil {
				if body["location"], err = a.createLocation(c.Context(), "", ref.group); err != nil {
					return err
				}
			}
			if _, _, err := a.armDo(c.Context(), http.MethodGet, p, apiML, nil, nil); err == nil {
				return usageErr("workspace %s already exists; use `amlid ml workspace update`", firstNonEmpty(ref.name, ref.v1name, spec.str("name")))
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(workspaceShape(v, ref.v1()))
		},
	}
	f.register(c, true)
	ref.flags(c, true)
	return c
}

func (a *app) workspaceUpdateCmd() *cobra.Command {
	var ref wsRef
	var f workspaceFlags
	c := &cobra.Command{
		Use: "update", Short: "Update a workspace: identities (the whole set, rule WS-4), description, dependent resources", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			spec, p, err := a.workspaceWrite(&ref, &f)
			if err != nil {
				return err
			}
			cur, err := a.armRequest(c.Context(), http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			body, err := f.body(spec)
			if err != nil {
				return err
			}
			delete(body, "location")
			if err := f.checkDependents(body, cur); err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodPatch, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(workspaceShape(v, ref.v1()))
		},
	}
	f.register(c, false)
	ref.flags(c, true)
	return c
}

// checkDependents is rule WS-7 on update: changing the workspace's
// registry or application insights needs --update-dependent-resources.
func (f *workspaceFlags) checkDependents(body map[string]any, cur any) error {
	props := body["properties"].(map[string]any)
	curProps, _ := cur.(map[string]any)["properties"].(map[string]any)
	for _, k := range []string{"containerRegistry", "applicationInsights"} {
		nv, _ := props[k].(string)
		ov, _ := curProps[k].(string)
		if nv != "" && ov != "" && !strings.EqualFold(nv, ov) && !f.updateDependent {
			return usageErr("the workspace already has %s %s; changing it to %s needs --update-dependent-resources (rule WS-7)", k, ov, nv)
		}
	}
	return nil
}

func (a *app) workspaceShowCmd() *cobra.Command {
	return a.workspaceCmd("show", "Show a workspace", func(ctx context.Context, ref *wsRef, p string) error {
		v, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
		if err != nil {
			return err
		}
		return a.print(workspaceShape(v, ref.v1()))
	})
}

func (a *app) workspaceListCmd() *cobra.Command {
	var ref wsRef
	c := &cobra.Command{
		Use: "list", Short: "List workspaces (in a group, or the whole subscription)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := a.listPath(firstNonEmpty(ref.group, a.settings.defaultValue("group")), "Microsoft.MachineLearningServices/workspaces")
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), p, apiML, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = workspaceShape(items[i], ref.v1())
			}
			return a.print(items)
		},
	}
	ref.flags(c, false)
	return c
}

func (a *app) workspaceDeleteCmd() *cobra.Command {
	var allResources, yes, noWait bool
	c := a.workspaceCmd("delete", "Delete a workspace (its system-assigned identity and that identity's role assignments go with it)", func(ctx context.Context, _ *wsRef, p string) error {
		if err := a.confirm(yes); err != nil {
			return err
		}
		cur, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
		if err != nil {
			return err
		}
		if _, err := a.armRequest(ctx, http.MethodDelete, p, apiML, nil); err != nil {
			return err
		}
		if allResources {
			a.deleteWorkspaceDependents(ctx, cur)
		}
		return nil
	})
	c.Flags().BoolVar(&allResources, "all-resources", false, "Also delete the associated resources (storage account, key vault, registry, application insights)")
	c.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	c.Flags().BoolVar(&noWait, "no-wait", false, "Do not wait (amlid completes deletes at once)")
	return c
}

// deleteWorkspaceDependents deletes a deleted workspace's associated
// resources (--all-resources), warning about each it cannot.
func (a *app) deleteWorkspaceDependents(ctx context.Context, ws any) {
	props, _ := ws.(map[string]any)["properties"].(map[string]any)
	for _, dep := range []struct{ prop, api string }{
		{"applicationInsights", "2020-02-02"}, {"containerRegistry", "2022-02-01-preview"},
		{"keyVault", "2022-07-01"}, {"storageAccount", apiStorage},
	} {
		id, _ := props[dep.prop].(string)
		if id == "" {
			continue
		}
		if _, err := a.armRequest(ctx, http.MethodDelete, id, dep.api, nil); err != nil {
			a.warnf("could not delete %s: %v", id, err)
		}
	}
}

func (a *app) workspaceListKeysCmd() *cobra.Command {
	return a.workspaceCmd("list-keys", "List the keys of the workspace's associated resources", func(ctx context.Context, _ *wsRef, p string) error {
		v, err := a.armRequest(ctx, http.MethodPost, p+"/listKeys", apiML, nil)
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		out := map[string]any{}
		for k, val := range m {
			out[camelToSnake(k)] = val
		}
		return a.print(out)
	})
}

func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r + 'a' - 'A')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
