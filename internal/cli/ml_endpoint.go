package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
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
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
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
	setGroup(out, id)
	if out["description"] == nil {
		delete(out, "description")
	}
	return out
}

func deploymentShape(v any) any {
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
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

// endpointResource is `amlid ml online-endpoint`.
var endpointResource = &mlResource{
	use: "online-endpoint", short: "Manage online endpoints (their identity is fixed at creation: rule EP-2)",
	noun: "endpoint", collection: "onlineEndpoints", shape: endpointShape,
	show:   &mlShow{short: "Show an online endpoint"},
	list:   &mlList{short: "List online endpoints"},
	delete: &mlDelete{short: "Delete an online endpoint and all its deployments (rule EP-5)"},
}

func (a *app) mlOnlineEndpointCmd() *cobra.Command {
	r := endpointResource
	return a.mlResourceCmd(r, a.endpointCreateCmd(r), a.endpointUpdateCmd(r), a.endpointCredentialsCmd(r),
		a.endpointRegenerateKeysCmd(r), a.endpointInvokeCmd(r))
}

// yamlWrite are the flags of a create or update from YAML that takes az's
// space-separated --set values (online endpoints and deployments).
type yamlWrite struct {
	ir     *mlItemRef
	file   string
	sets   []string
	noWait bool
}

func (w *yamlWrite) register(r *mlResource, c *cobra.Command, noWaitHelp string) {
	c.Flags().StringVarP(&w.file, "file", "f", "", "Local path to the YAML file of the "+r.noun)
	c.Flags().StringSliceVar(&w.sets, "set", nil, "Update a field of the YAML: --set path=value [path=value …]")
	c.Flags().BoolVar(&w.noWait, "no-wait", false, noWaitHelp)
	w.ir = r.ref(c, r.nameHelp())
}

// load reads the YAML with its --set overrides (more of them in args).
func (w *yamlWrite) load(args []string) (*mlSpec, error) {
	sets, err := setArgs(w.sets, args)
	if err != nil {
		return nil, err
	}
	return loadMLSpec(w.file, sets)
}

const endpointNoWait = "Do not wait (amlid completes endpoint writes at once)"

// prepareEndpoint reads an endpoint's YAML and resolves it (create and
// update share it).
func (a *app) prepareEndpoint(ctx context.Context, w *yamlWrite, args []string, authMode string, create bool) (*wsCtx, string, map[string]any, *mlSpec, error) {
	spec, err := w.load(args)
	if err != nil {
		return nil, "", nil, nil, err
	}
	ws, p, err := w.ir.itemPath(ctx, a, firstNonEmpty(w.ir.name, spec.str("name")))
	if err != nil {
		return nil, "", nil, nil, err
	}
	body, err := endpointBody(spec, authMode, create)
	return ws, p, body, spec, err
}

func (a *app) endpointCreateCmd(r *mlResource) *cobra.Command {
	var w yamlWrite
	var authMode string
	c := &cobra.Command{
		Use: "create", Short: "Create an online endpoint (system-assigned identity unless the YAML names user-assigned ones: rule EP-1)", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ws, p, body, spec, err := a.prepareEndpoint(c.Context(), &w, args, authMode, true)
			if err != nil {
				return err
			}
			if body["location"] == nil {
				body["location"] = ws.location()
			}
			if _, _, err := a.armDo(c.Context(), http.MethodGet, p, apiML, nil, nil); err == nil {
				return usageErr("online endpoint %s already exists; use `amlid ml online-endpoint update`", firstNonEmpty(w.ir.name, spec.str("name")))
			}
			v, err := a.armRequest(c.Context(), http.MethodPut, p, apiML, body)
			if err != nil {
				return err
			}
			return a.print(endpointShape(v))
		},
	}
	c.Flags().StringVar(&authMode, "auth-mode", "", "key, aml_token or aad_token (default key)")
	w.register(r, c, endpointNoWait)
	return c
}

// parseTraffic reads --traffic "blue=90 green=10".
func parseTraffic(s string) (map[string]any, error) {
	t := map[string]any{}
	for _, kv := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, usageErr("--traffic expects name=percent pairs, e.g. \"blue=90 green=10\"")
		}
		t[k] = n
	}
	return t, nil
}

func (a *app) endpointUpdateCmd(r *mlResource) *cobra.Command {
	var w yamlWrite
	var traffic string
	c := &cobra.Command{
		Use: "update", Short: "Update an online endpoint: traffic, description, auth mode (not its identity: rule EP-2)", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			_, p, body, _, err := a.prepareEndpoint(c.Context(), &w, args, "", false)
			if err != nil {
				return err
			}
			if traffic != "" {
				t, err := parseTraffic(traffic)
				if err != nil {
					return err
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
	c.Flags().StringVar(&traffic, "traffic", "", "Traffic split, e.g. \"blue=90 green=10\"")
	w.register(r, c, endpointNoWait)
	return c
}

func (a *app) endpointCredentialsCmd(r *mlResource) *cobra.Command {
	short := "Show the endpoint's keys (auth_mode key) or a fresh token (aml_token)"
	return a.mlItemCmd(r, "get-credentials", short, func(ctx context.Context, it mlItem) error {
		v, err := a.endpointCredentials(ctx, it.path)
		if err != nil {
			return err
		}
		return a.print(v)
	})
}

func (a *app) endpointRegenerateKeysCmd(r *mlResource) *cobra.Command {
	var keyType string
	c := a.mlItemCmd(r, "regenerate-keys", "Regenerate the primary or secondary key", func(ctx context.Context, it mlItem) error {
		kt := map[string]string{"primary": "Primary", "secondary": "Secondary"}[strings.ToLower(keyType)]
		if kt == "" {
			return usageErr("--key-type must be primary or secondary")
		}
		_, err := a.armRequest(ctx, http.MethodPost, it.path+"/regenerateKeys", apiML, map[string]any{"keyType": kt})
		return err
	})
	c.Flags().StringVar(&keyType, "key-type", "primary", "primary or secondary")
	return c
}

func (a *app) endpointInvokeCmd(r *mlResource) *cobra.Command {
	var requestFile, deploymentName string
	c := a.mlItemCmd(r, "invoke", "Score: POST the request file to the endpoint's scoring URI", func(ctx context.Context, it mlItem) error {
		if requestFile == "" {
			return usageErr("the following arguments are required: --request-file")
		}
		body, err := os.ReadFile(requestFile)
		if err != nil {
			return usageErr("cannot read --request-file: %v", err)
		}
		out, err := a.invokeEndpoint(ctx, it.path, deploymentName, body)
		if err != nil {
			return err
		}
		// az prints the scoring answer as a JSON string.
		var v any = out
		return a.print(v)
	})
	c.Flags().StringVar(&requestFile, "request-file", "", "File with the request body (JSON)")
	c.Flags().StringVarP(&deploymentName, "deployment-name", "d", "", "Score this deployment (header azureml-model-deployment) instead of the traffic split")
	return c
}

// invokeEndpoint POSTs body to the endpoint's scoring URI with its key or
// token (to one deployment when named) and returns the answer.
func (a *app) invokeEndpoint(ctx context.Context, p, deployment string, body []byte) (string, error) {
	ep, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
	if err != nil {
		return "", err
	}
	props, _ := ep.(map[string]any)["properties"].(map[string]any)
	cred, err := a.endpointCredentials(ctx, p)
	if err != nil {
		return "", err
	}
	key := fmt.Sprint(firstNonNil(cred["primaryKey"], cred["accessToken"]))
	t, err := a.target()
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprint(props["scoringUri"]), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if deployment != "" {
		req.Header.Set("azureml-model-deployment", deployment)
	}
	resp, err := (&http.Client{Transport: t.HTTP.Transport, Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return "", &cliError{Message: err.Error(), Exit: exitError}
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return "", &cliError{Message: fmt.Sprintf("(%d) %s", resp.StatusCode, strings.TrimSpace(string(out))), Exit: exitError}
	}
	return string(out), nil
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

// deploymentResource is `amlid ml online-deployment`: items below their
// endpoint (-e/--endpoint-name).
var deploymentResource = &mlResource{
	use: "online-deployment", short: "Manage online deployments: scoring code run locally with the endpoint's identity",
	noun: "deployment", collection: "deployments", shape: deploymentShape,
	parent: &mlParent{flag: "endpoint-name", shorthand: "e", help: "Name of the endpoint", collection: "onlineEndpoints"},
	show:   &mlShow{short: "Show a deployment"},
	list:   &mlList{short: "List the deployments of an endpoint"},
	delete: &mlDelete{short: "Delete a deployment (stops its processes)"},
}

func (a *app) mlOnlineDeploymentCmd() *cobra.Command {
	r := deploymentResource
	return a.mlResourceCmd(r, a.deploymentWriteCmd(r, true), a.deploymentWriteCmd(r, false), a.deploymentLogsCmd(r))
}

// deploymentWrite are the flags of `online-deployment create|update`.
type deploymentWrite struct {
	yamlWrite
	allTraffic, skipValidation bool
}

func (a *app) deploymentWriteCmd(r *mlResource, create bool) *cobra.Command {
	w := &deploymentWrite{}
	use, short := "update", "Update a deployment (restarts its processes)"
	if create {
		use, short = "create", "Create a deployment: upload code and model, then start instance_count scoring processes"
	}
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error { return a.writeDeployment(c.Context(), w, args, create) },
	}
	if create {
		c.Flags().BoolVar(&w.allTraffic, "all-traffic", false, "Send all of the endpoint's traffic to this deployment once it succeeds")
		c.Flags().BoolVar(&w.skipValidation, "skip-script-validation", false, "Do not check that the scoring script exists")
	}
	w.register(r, c, "Return once the deployment is accepted, without waiting for it to start")
	return c
}

// writeDeployment creates or updates a deployment from its YAML, waits for
// it to start (unless --no-wait) and sends it all traffic if asked.
func (a *app) writeDeployment(ctx context.Context, w *deploymentWrite, args []string, create bool) error {
	spec, err := w.load(args)
	if err != nil {
		return err
	}
	if err := spec.checkKeys("online deployment", deploymentYAMLKeys...); err != nil {
		return err
	}
	ir := w.ir
	ir.parent = firstNonEmpty(ir.parent, spec.str("endpoint_name"))
	n := firstNonEmpty(ir.name, spec.str("name"))
	ws, p, err := ir.itemPath(ctx, a, n)
	if err != nil {
		return err
	}
	var cur map[string]any
	if !create {
		v, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
		if err != nil {
			return err
		}
		cur, _ = v.(map[string]any)
	} else if _, _, err := a.armDo(ctx, http.MethodGet, p, apiML, nil, nil); err == nil {
		return usageErr("deployment %s already exists in endpoint %s; use `amlid ml online-deployment update`", n, ir.parent)
	}
	body, err := a.deploymentBody(ctx, ws, spec, cur, w.skipValidation)
	if err != nil {
		return err
	}
	a.progressf("Creating deployment %s of endpoint %s", n, ir.parent)
	v, err := a.armRequest(ctx, http.MethodPut, p, apiML, body)
	if err != nil {
		return err
	}
	if w.noWait {
		return a.print(deploymentShape(v))
	}
	if v, err = a.waitDeployment(ctx, p); err != nil {
		return err
	}
	if w.allTraffic {
		traffic := map[string]any{"properties": map[string]any{"traffic": map[string]any{n: 100}}}
		if _, err := a.armRequest(ctx, http.MethodPatch, ir.parentPath(ws), apiML, traffic); err != nil {
			return err
		}
	}
	return a.print(deploymentShape(v))
}

// deploymentBody is the PUT body of a deployment: cur (nil on create)
// with the YAML's settings, its model, code and environment registered.
func (a *app) deploymentBody(ctx context.Context, ws *wsCtx, spec *mlSpec, cur map[string]any, skipValidation bool) (map[string]any, error) {
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
		if old, ok := props["environmentVariables"].(map[string]any); ok && cur != nil {
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
	if err := a.deploymentAssets(ctx, ws, spec, props, skipValidation); err != nil {
		return nil, err
	}
	delete(props, "provisioningState")
	delete(props, "provisioningError")
	body := map[string]any{"properties": props, "sku": sku}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	return body, nil
}

// deploymentAssets registers the YAML's model, code and environment and
// records their IDs in props.
func (a *app) deploymentAssets(ctx context.Context, ws *wsCtx, spec *mlSpec, props map[string]any, skipValidation bool) error {
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
	return nil
}

func (a *app) deploymentLogsCmd(r *mlResource) *cobra.Command {
	var lines int
	short := "Show what the scoring code printed (init() included) and why a deployment failed"
	c := a.mlItemCmd(r, "get-logs", short, func(ctx context.Context, it mlItem) error {
		v, err := a.armRequest(ctx, http.MethodPost, it.path+"/getLogs", apiML, map[string]any{"containerType": "InferenceServer", "tail": lines})
		if err != nil {
			return err
		}
		content, _ := v.(map[string]any)["content"].(string)
		if a.output == "json" && a.query == "" {
			_, err = io.WriteString(a.stdout, content)
			return err
		}
		return a.print(content)
	})
	c.Flags().IntVarP(&lines, "lines", "l", 0, "Lines from the end (default: all)")
	return c
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
