package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() {
	mlSubcommands = append(mlSubcommands, (*app).mlOnlineEndpointCmd, (*app).mlOnlineDeploymentCmd)
}

// setArgs lets `--set a=1 b=2` work as in az (nargs='+'): words after
// --set that look like key=value are more --set values.
func setArgs(sets, args []string) ([]string, error) {
	for _, a := range args {
		if !strings.Contains(a, "=") || len(sets) == 0 {
			return nil, usageErr("unrecognized argument: %s", a)
		}
		sets = append(sets, a)
	}
	return sets, nil
}

func endpointShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	p, _ := m["properties"].(map[string]any)
	id, _ := m["id"].(string)
	out := map[string]any{
		"id": id, "name": m["name"], "location": m["location"], "tags": orEmpty(m["tags"]), "kind": "Managed",
		"auth_mode":   strings.ToLower(strings.Replace(strings.Replace(fmt.Sprint(p["authMode"]), "AMLToken", "aml_token", 1), "AADToken", "aad_token", 1)),
		"description": p["description"], "traffic": orEmpty(p["traffic"]), "mirror_traffic": map[string]any{},
		"scoring_uri": p["scoringUri"], "openapi_uri": p["swaggerUri"], "provisioning_state": p["provisioningState"],
		"public_network_access": strings.ToLower(fmt.Sprint(p["publicNetworkAccess"])), "properties": map[string]any{},
	}
	if idm, ok := m["identity"].(map[string]any); ok {
		out["identity"] = snakeIdentity(idm)
	}
	if parts := strings.Split(id, "/"); len(parts) > 4 {
		out["resourceGroup"] = parts[4]
	}
	if out["description"] == nil {
		delete(out, "description")
	}
	return out
}

func deploymentShape(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	p, _ := m["properties"].(map[string]any)
	id, _ := m["id"].(string)
	parts := strings.Split(id, "/")
	out := map[string]any{"id": id, "name": m["name"], "type": "managed", "tags": orEmpty(m["tags"]),
		"instance_type": p["instanceType"], "provisioning_state": p["provisioningState"],
		"environment_variables": orEmpty(p["environmentVariables"]), "app_insights_enabled": orFalse(p["appInsightsEnabled"]),
		"egress_public_network_access": "enabled",
	}
	if len(parts) > 10 {
		out["endpoint_name"] = parts[10]
		out["resourceGroup"] = parts[4]
	}
	if sku, ok := m["sku"].(map[string]any); ok {
		out["instance_count"] = sku["capacity"]
	}
	if s, _ := p["model"].(string); s != "" {
		out["model"] = s
	}
	if s, _ := p["environmentId"].(string); s != "" {
		out["environment"] = s
	}
	if cc, ok := p["codeConfiguration"].(map[string]any); ok {
		out["code_configuration"] = map[string]any{"code": cc["codeId"], "scoring_script": cc["scoringScript"]}
	}
	if e, ok := p["provisioningError"]; ok {
		out["provisioning_error"] = e
	}
	return out
}

// endpointPath resolves the endpoint and its workspace.
func (a *app) endpointPath(ctx context.Context, ref *wsRef, name string) (*wsCtx, string, error) {
	if name == "" {
		return nil, "", usageErr("the following arguments are required: --name/-n")
	}
	ws, err := a.workspace(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	return ws, ws.path + "/onlineEndpoints/" + url.PathEscape(name), nil
}

var endpointYAMLKeys = []string{"name", "auth_mode", "description", "tags", "identity", "traffic", "mirror_traffic", "public_network_access", "kind", "location", "properties"}

// endpointBody is the ARM body of an online endpoint YAML (create: with
// azure-ai-ml's defaults).
func endpointBody(spec *mlSpec, authMode string, create bool) (map[string]any, error) {
	if err := spec.checkKeys("online endpoint", endpointYAMLKeys...); err != nil {
		return nil, err
	}
	props := map[string]any{}
	body := map[string]any{"properties": props}
	if m := firstNonEmpty(authMode, spec.str("auth_mode")); m != "" {
		props["authMode"] = m
	} else if create {
		props["authMode"] = "key"
	}
	if d := spec.str("description"); d != "" {
		props["description"] = d
	}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	if t, ok := spec.m["traffic"].(map[string]any); ok {
		props["traffic"] = t
	}
	if spec.has("identity") {
		idm, err := restIdentity(spec.m["identity"])
		if err != nil {
			return nil, err
		}
		body["identity"] = idm
	} else if create {
		body["identity"] = map[string]any{"type": "SystemAssigned"} // azure-ai-ml's default (rule EP-1)
	}
	if l := spec.str("location"); l != "" {
		body["location"] = l
	}
	return body, nil
}

func (a *app) mlOnlineEndpointCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "online-endpoint", Short: "Manage online endpoints (their identity is fixed at creation: rule EP-2)"}
	var ref wsRef
	var name, file, authMode, traffic, requestFile, deploymentName, keyType string
	var sets []string
	var yes, noWait bool
	// prepare reads the YAML with its --set overrides and resolves the
	// endpoint (create and update share it).
	prepare := func(c *cobra.Command, args []string, create bool) (*wsCtx, string, map[string]any, *mlSpec, error) {
		sets, err := setArgs(sets, args)
		if err != nil {
			return nil, "", nil, nil, err
		}
		spec, err := loadMLSpec(file, sets)
		if err != nil {
			return nil, "", nil, nil, err
		}
		ws, p, err := a.endpointPath(c.Context(), &ref, firstNonEmpty(name, spec.str("name")))
		if err != nil {
			return nil, "", nil, nil, err
		}
		body, err := endpointBody(spec, authMode, create)
		return ws, p, body, spec, err
	}
	create := &cobra.Command{
		Use: "create", Short: "Create an online endpoint (system-assigned identity unless the YAML names user-assigned ones: rule EP-1)", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ws, p, body, spec, err := prepare(c, args, true)
			if err != nil {
				return err
			}
			if body["location"] == nil {
				body["location"] = ws.location()
			}
			if _, _, err := a.armDo(c.Context(), http.MethodGet, p, apiML, nil, nil); err == nil {
				return usageErr("online endpoint %s already exists; use `amlid ml online-endpoint update`", firstNonEmpty(name, spec.str("name")))
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(endpointShape(v))
		},
	}
	create.Flags().StringVar(&authMode, "auth-mode", "", "key, aml_token or aad_token (default key)")
	update := &cobra.Command{
		Use: "update", Short: "Update an online endpoint: traffic, description, auth mode (not its identity: rule EP-2)", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			_, p, body, _, err := prepare(c, args, false)
			if err != nil {
				return err
			}
			if traffic != "" {
				t := map[string]any{}
				for _, kv := range strings.Fields(strings.ReplaceAll(traffic, ",", " ")) {
					k, v, ok := strings.Cut(kv, "=")
					n, err := strconv.Atoi(v)
					if !ok || err != nil {
						return usageErr("--traffic expects name=percent pairs, e.g. \"blue=90 green=10\"")
					}
					t[k] = n
				}
				body["properties"].(map[string]any)["traffic"] = t
			}
			v, err := a.armRequest(c.Context(), http.MethodPatch, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(endpointShape(v))
		},
	}
	update.Flags().StringVar(&traffic, "traffic", "", "Traffic split, e.g. \"blue=90 green=10\"")
	show := &cobra.Command{
		Use: "show", Short: "Show an online endpoint", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := a.endpointPath(c.Context(), &ref, name)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			return a.print(endpointShape(v))
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List online endpoints", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), ws.path+"/onlineEndpoints", apiML, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = endpointShape(items[i])
			}
			return a.print(items)
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete an online endpoint and all its deployments (rule EP-5)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := a.endpointPath(c.Context(), &ref, name)
			if err != nil {
				return err
			}
			return a.confirmDelete(c.Context(), p, yes)
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	creds := &cobra.Command{
		Use: "get-credentials", Short: "Show the endpoint's keys (auth_mode key) or a fresh token (aml_token)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := a.endpointPath(c.Context(), &ref, name)
			if err != nil {
				return err
			}
			v, err := a.endpointCredentials(c.Context(), p)
			if err != nil {
				return err
			}
			return a.print(v)
		},
	}
	regen := &cobra.Command{
		Use: "regenerate-keys", Short: "Regenerate the primary or secondary key", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := a.endpointPath(c.Context(), &ref, name)
			if err != nil {
				return err
			}
			kt := map[string]string{"primary": "Primary", "secondary": "Secondary"}[strings.ToLower(keyType)]
			if kt == "" {
				return usageErr("--key-type must be primary or secondary")
			}
			_, err = a.armRequest(c.Context(), http.MethodPost, p+"/regenerateKeys", apiML, map[string]any{"keyType": kt})
			return err
		},
	}
	regen.Flags().StringVar(&keyType, "key-type", "primary", "primary or secondary")
	invoke := &cobra.Command{
		Use: "invoke", Short: "Score: POST the request file to the endpoint's scoring URI", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, p, err := a.endpointPath(c.Context(), &ref, name)
			if err != nil {
				return err
			}
			if requestFile == "" {
				return usageErr("the following arguments are required: --request-file")
			}
			body, err := os.ReadFile(requestFile)
			if err != nil {
				return usageErr("cannot read --request-file: %v", err)
			}
			ep, err := a.armRequest(c.Context(), http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			props, _ := ep.(map[string]any)["properties"].(map[string]any)
			cred, err := a.endpointCredentials(c.Context(), p)
			if err != nil {
				return err
			}
			key := fmt.Sprint(firstNonNil(cred["primaryKey"], cred["accessToken"]))
			t, err := a.target()
			if err != nil {
				return err
			}
			req, _ := http.NewRequestWithContext(c.Context(), http.MethodPost, fmt.Sprint(props["scoringUri"]), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if deploymentName != "" {
				req.Header.Set("azureml-model-deployment", deploymentName)
			}
			resp, err := (&http.Client{Transport: t.HTTP.Transport, Timeout: 5 * time.Minute}).Do(req)
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode >= 300 {
				return &cliError{Message: fmt.Sprintf("(%d) %s", resp.StatusCode, strings.TrimSpace(string(out))), Exit: exitError}
			}
			// az prints the scoring answer as a JSON string.
			var v any = string(out)
			return a.print(v)
		},
	}
	invoke.Flags().StringVar(&requestFile, "request-file", "", "File with the request body (JSON)")
	invoke.Flags().StringVarP(&deploymentName, "deployment-name", "d", "", "Score this deployment (header azureml-model-deployment) instead of the traffic split")
	for _, sc := range []*cobra.Command{create, update, show, list, del, creds, regen, invoke} {
		sc.Flags().StringVarP(&ref.v1name, "workspace-name", "w", "", "Name of the workspace (default: `amlid configure --defaults workspace=…`)")
		sc.Flags().StringVarP(&ref.group, "resource-group", "g", "", "Name of the resource group")
		if sc != list {
			sc.Flags().StringVarP(&name, "name", "n", "", "Name of the endpoint")
		}
		if sc == create || sc == update {
			sc.Flags().StringVarP(&file, "file", "f", "", "Local path to the YAML file of the endpoint")
			sc.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path=value [path=value …]")
			sc.Flags().BoolVar(&noWait, "no-wait", false, "Do not wait (amlid completes endpoint writes at once)")
		}
		cmd.AddCommand(sc)
	}
	return cmd
}

func (a *app) endpointCredentials(ctx context.Context, p string) (map[string]any, error) {
	ep, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
	if err != nil {
		return nil, err
	}
	props, _ := ep.(map[string]any)["properties"].(map[string]any)
	action := "/listKeys"
	if props["authMode"] == "AMLToken" {
		action = "/token"
	}
	v, err := a.armRequest(ctx, http.MethodPost, p+action, apiML, nil)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return m, nil
}

var deploymentYAMLKeys = []string{"name", "endpoint_name", "model", "code_configuration", "environment", "instance_type", "instance_count",
	"environment_variables", "app_insights_enabled", "scale_settings", "request_settings", "liveness_probe", "readiness_probe",
	"egress_public_network_access", "description", "tags", "type", "properties", "data_collector"}

func (a *app) mlOnlineDeploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "online-deployment", Short: "Manage online deployments: scoring code run locally with the endpoint's identity"}
	var ref wsRef
	var name, endpoint, file string
	var sets []string
	var allTraffic, noWait, skipValidation, yes bool
	var lines int
	path := func(ctx context.Context, n string) (*wsCtx, string, string, error) {
		if endpoint == "" {
			return nil, "", "", usageErr("the following arguments are required: --endpoint-name/-e")
		}
		if n == "" {
			return nil, "", "", usageErr("the following arguments are required: --name/-n")
		}
		ws, ep, err := a.endpointPath(ctx, &ref, endpoint)
		if err != nil {
			return nil, "", "", err
		}
		return ws, ep, ep + "/deployments/" + url.PathEscape(n), nil
	}
	write := func(c *cobra.Command, args []string, create bool) error {
		sets, err := setArgs(sets, args)
		if err != nil {
			return err
		}
		spec, err := loadMLSpec(file, sets)
		if err != nil {
			return err
		}
		if err := spec.checkKeys("online deployment", deploymentYAMLKeys...); err != nil {
			return err
		}
		endpoint = firstNonEmpty(endpoint, spec.str("endpoint_name"))
		n := firstNonEmpty(name, spec.str("name"))
		ws, epPath, p, err := path(c.Context(), n)
		if err != nil {
			return err
		}
		ctx := c.Context()
		var cur map[string]any
		if !create {
			v, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			cur, _ = v.(map[string]any)
		} else if _, _, err := a.armDo(ctx, http.MethodGet, p, apiML, nil, nil); err == nil {
			return usageErr("deployment %s already exists in endpoint %s; use `amlid ml online-deployment update`", n, endpoint)
		}
		props := map[string]any{}
		sku := map[string]any{"name": "Default", "capacity": 1}
		if cur != nil {
			props, _ = cur["properties"].(map[string]any)
			if s, ok := cur["sku"].(map[string]any); ok {
				sku = s
			}
		}
		if spec.has("instance_count") {
			sku["capacity"] = spec.m["instance_count"]
		}
		if it := spec.str("instance_type"); it != "" {
			props["instanceType"] = it
		}
		if ev, ok := spec.m["environment_variables"].(map[string]any); ok {
			env := map[string]any{}
			if old, ok := props["environmentVariables"].(map[string]any); ok && !create {
				for k, v := range old {
					env[k] = v
				}
			}
			for k, v := range ev {
				env[k] = fmt.Sprint(v)
			}
			props["environmentVariables"] = env
		}
		if d := spec.str("description"); d != "" {
			props["description"] = d
		}
		a.progressf("Uploading and registering the deployment's assets")
		if spec.has("model") {
			id, err := a.registerModel(ctx, ws, spec, spec.m["model"])
			if err != nil {
				return err
			}
			props["model"] = id
		}
		if cc, ok := spec.m["code_configuration"].(map[string]any); ok {
			code, _ := cc["code"].(string)
			script, _ := cc["scoring_script"].(string)
			if code == "" || script == "" {
				return usageErr("code_configuration needs code and scoring_script")
			}
			if !skipValidation && !strings.HasPrefix(code, "azureml:") {
				if _, err := os.Stat(spec.path(code) + "/" + script); err != nil {
					return usageErr("the scoring script %s was not found in %s", script, spec.path(code))
				}
			}
			id, err := a.registerCode(ctx, ws, spec, code)
			if err != nil {
				return err
			}
			props["codeConfiguration"] = map[string]any{"codeId": id, "scoringScript": script}
		}
		if spec.has("environment") {
			id, err := a.registerEnvironment(ctx, ws, spec, spec.m["environment"])
			if err != nil {
				return err
			}
			props["environmentId"] = id
		}
		delete(props, "provisioningState")
		delete(props, "provisioningError")
		body := map[string]any{"properties": props, "sku": sku}
		if t, ok := spec.m["tags"].(map[string]any); ok {
			body["tags"] = t
		}
		a.progressf("Creating deployment %s of endpoint %s", n, endpoint)
		v, err := a.armRequest(ctx, http.MethodPut, p, apiML, body)
		if err != nil {
			return err
		}
		if noWait {
			return a.print(deploymentShape(v))
		}
		v, err = a.waitDeployment(ctx, p)
		if err != nil {
			return err
		}
		if allTraffic {
			if _, err := a.armRequest(ctx, http.MethodPatch, epPath, apiML, map[string]any{"properties": map[string]any{"traffic": map[string]any{n: 100}}}); err != nil {
				return err
			}
		}
		return a.print(deploymentShape(v))
	}
	create := &cobra.Command{
		Use: "create", Short: "Create a deployment: upload code and model, then start instance_count scoring processes", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error { return write(c, args, true) },
	}
	create.Flags().BoolVar(&allTraffic, "all-traffic", false, "Send all of the endpoint's traffic to this deployment once it succeeds")
	create.Flags().BoolVar(&skipValidation, "skip-script-validation", false, "Do not check that the scoring script exists")
	update := &cobra.Command{
		Use: "update", Short: "Update a deployment (restarts its processes)", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error { return write(c, args, false) },
	}
	show := &cobra.Command{
		Use: "show", Short: "Show a deployment", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, _, p, err := path(c.Context(), name)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			return a.print(deploymentShape(v))
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List the deployments of an endpoint", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if endpoint == "" {
				return usageErr("the following arguments are required: --endpoint-name/-e")
			}
			_, ep, err := a.endpointPath(c.Context(), &ref, endpoint)
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), ep+"/deployments", apiML, nil)
			if err != nil {
				return err
			}
			for i := range items {
				items[i] = deploymentShape(items[i])
			}
			return a.print(items)
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete a deployment (stops its processes)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, _, p, err := path(c.Context(), name)
			if err != nil {
				return err
			}
			return a.confirmDelete(c.Context(), p, yes)
		},
	}
	del.Flags().BoolVarP(&yes, "yes", "y", false, "Do not prompt for confirmation")
	logs := &cobra.Command{
		Use: "get-logs", Short: "Show what the scoring code printed (init() included) and why a deployment failed", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, _, p, err := path(c.Context(), name)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodPost, p+"/getLogs", apiML, map[string]any{"containerType": "InferenceServer", "tail": lines})
			if err != nil {
				return err
			}
			content, _ := v.(map[string]any)["content"].(string)
			if a.output == "json" && a.query == "" {
				_, err = io.WriteString(a.stdout, content)
				return err
			}
			return a.print(content)
		},
	}
	logs.Flags().IntVarP(&lines, "lines", "l", 0, "Lines from the end (default: all)")
	for _, sc := range []*cobra.Command{create, update, show, list, del, logs} {
		sc.Flags().StringVarP(&ref.v1name, "workspace-name", "w", "", "Name of the workspace (default: `amlid configure --defaults workspace=…`)")
		sc.Flags().StringVarP(&ref.group, "resource-group", "g", "", "Name of the resource group")
		sc.Flags().StringVarP(&endpoint, "endpoint-name", "e", "", "Name of the endpoint")
		if sc != list {
			sc.Flags().StringVarP(&name, "name", "n", "", "Name of the deployment")
		}
		if sc == create || sc == update {
			sc.Flags().StringVarP(&file, "file", "f", "", "Local path to the YAML file of the deployment")
			sc.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path=value [path=value …]")
			sc.Flags().BoolVar(&noWait, "no-wait", false, "Return once the deployment is accepted, without waiting for it to start")
		}
		cmd.AddCommand(sc)
	}
	return cmd
}

// waitDeployment polls until the deployment leaves Creating/Updating,
// showing progress on stderr; a Failed deployment is an error naming why.
func (a *app) waitDeployment(ctx context.Context, p string) (any, error) {
	start := time.Now()
	for {
		v, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
		if err != nil {
			return nil, err
		}
		props, _ := v.(map[string]any)["properties"].(map[string]any)
		switch props["provisioningState"] {
		case "Succeeded":
			a.progressDone(fmt.Sprintf("Succeeded in %.1fs", time.Since(start).Seconds()))
			return v, nil
		case "Failed", "Canceled":
			a.progressDone("Failed")
			msg := "the deployment failed"
			if e, ok := props["provisioningError"].(map[string]any); ok {
				msg = fmt.Sprint(e["message"])
			}
			return nil, &cliError{Message: "Deployment failed: " + msg + "\nSee `amlid ml online-deployment get-logs` for what the scoring code printed.", Exit: exitError}
		}
		a.progressTick()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// progressf/progressTick/progressDone show a long step on stderr, as az's
// "Check: endpoint … ....." lines (suppressed by --only-show-errors).
func (a *app) progressf(format string, args ...any) {
	if !a.onlyErrors {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

func (a *app) progressTick() {
	if !a.onlyErrors {
		fmt.Fprint(a.stderr, ".")
	}
}

func (a *app) progressDone(s string) {
	if !a.onlyErrors {
		fmt.Fprintln(a.stderr, " "+s)
	}
}

// confirmDelete asks (unless --yes) and deletes an ML resource.
func (a *app) confirmDelete(ctx context.Context, p string, yes bool) error {
	if err := a.confirm(yes); err != nil {
		return err
	}
	_, err := a.armRequest(ctx, http.MethodDelete, p, apiML, nil)
	return err
}
