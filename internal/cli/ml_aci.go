package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

func init() { mlSubcommands = append(mlSubcommands, (*app).mlModelCmd) }

// defaultInferenceImage is the base image a v1 inference config without
// one gets (recorded, not pulled: the machine's python3 runs the code).
const defaultInferenceImage = "mcr.microsoft.com/azureml/minimal-ubuntu20.04-py38-cpu-inference:latest"

// mlModelCmd is CLI v1's `az ml model register|deploy`. A deployment to
// Azure Container Instances (--compute-type aci) pulls its image with the
// workspace registry's admin credentials: while the admin user is off it is
// refused (rule ACR-4); with it on, the service runs as an online endpoint
// with one deployment ("default").
func (a *app) mlModelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "model", Short: "CLI v1: register models and deploy them as services (ACI: rule ACR-4)"}
	var ref wsRef
	var name, path, model, ic, dc, computeType string
	var overwrite bool
	register := &cobra.Command{
		Use: "register", Short: "Register a model from a local file or folder", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" || path == "" {
				return usageErr("the following arguments are required: --name/-n, --model-path/-p")
			}
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			wd, _ := os.Getwd()
			versions, err := a.armList(c.Context(), ws.path+"/models/"+url.PathEscape(name)+"/versions", apiML, nil)
			if err != nil {
				versions = nil
			}
			next := 1
			for _, v := range versions {
				var n int
				if _, err := fmt.Sscanf(fmt.Sprint(v.(map[string]any)["name"]), "%d", &n); err == nil && n >= next {
					next = n + 1
				}
			}
			id, err := a.registerModel(c.Context(), ws, &mlSpec{m: map[string]any{}, dir: wd}, map[string]any{"name": name, "path": path, "version": next})
			if err != nil {
				return err
			}
			return a.print(map[string]any{"id": name + ":" + fmt.Sprint(next), "name": name, "version": next, "armId": id})
		},
	}
	register.Flags().StringVarP(&name, "name", "n", "", "Name of the model")
	register.Flags().StringVarP(&path, "model-path", "p", "", "Local file or folder of the model")
	deploy := &cobra.Command{
		Use: "deploy", Short: "Deploy a model as a service (--compute-type aci needs the registry's admin user: rule ACR-4)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			if name == "" || model == "" || ic == "" {
				return usageErr("the following arguments are required: --name/-n, --model/-m, --inference-config-file/--ic")
			}
			var icm, dcm map[string]any
			if err := readJSONFile(ic, &icm); err != nil {
				return err
			}
			if dc != "" {
				if err := readJSONFile(dc, &dcm); err != nil {
					return err
				}
			}
			ct := strings.ToLower(firstNonEmpty(computeType, fmt.Sprint(firstNonNil(dcm["computeType"], "aci"))))
			if ct != "aci" {
				return usageErr("--compute-type %s: amlid serves v1 deployments to ACI only; for Kubernetes attach the cluster (amlid ml compute attach, rule ACR-3)", ct)
			}
			ws, err := a.workspace(ctx, &ref)
			if err != nil {
				return err
			}
			// Rule ACR-4: ACI pulls the image with the registry's admin
			// credentials.
			if reg := ws.prop("containerRegistry"); reg != "" {
				r, err := a.armRequest(ctx, http.MethodGet, reg, apiACR, nil)
				if err != nil {
					return err
				}
				props, _ := r.(map[string]any)["properties"].(map[string]any)
				if props["adminUserEnabled"] != true {
					rn := reg[strings.LastIndex(reg, "/")+1:]
					return &cliError{Exit: exitError, Message: fmt.Sprintf("Rule ACR-4: a deployment to Azure Container Instances pulls its image with the admin credentials of the workspace registry, and the admin user of registry %s is off. "+
						"Enable it: amlid acr update -n %s --admin-enabled true (or deploy to an online endpoint, which pulls with its managed identity: rule EP-3).", reg, rn)}
				}
			}
			icDir := filepath.Dir(ic)
			src := fmt.Sprint(firstNonNil(icm["sourceDirectory"], "."))
			entry, _ := icm["entryScript"].(string)
			if entry == "" {
				return usageErr("the inference config needs entryScript")
			}
			image := defaultInferenceImage
			envm := map[string]any{"image": image}
			if e, ok := icm["environment"].(map[string]any); ok {
				if d, ok := e["docker"].(map[string]any); ok {
					if b, _ := d["baseImage"].(string); b != "" {
						envm["image"] = b
					}
				}
			}
			spec := &mlSpec{m: map[string]any{}, dir: icDir}
			if _, err := os.Stat(filepath.Join(spec.path(src), entry)); err != nil {
				return usageErr("the entry script %s was not found in %s", entry, spec.path(src))
			}
			ep := ws.path + "/onlineEndpoints/" + url.PathEscape(name)
			if _, _, err := a.armDo(ctx, http.MethodGet, ep, apiML, nil, nil); err == nil && !overwrite {
				return usageErr("service %s already exists; use --overwrite", name)
			}
			if _, err := a.armRequest(ctx, http.MethodPut, ep, apiML, map[string]any{"location": ws.location(),
				"identity": map[string]any{"type": "SystemAssigned"}, "tags": map[string]any{"computeType": "ACI"},
				"properties": map[string]any{"authMode": "Key", "description": "CLI v1 service on Azure Container Instances"}}); err != nil {
				return err
			}
			a.progressf("Uploading and registering the service's assets")
			modelID, err := a.assetRef(ctx, ws, "models", model)
			if err != nil {
				return err
			}
			codeID, err := a.registerCode(ctx, ws, spec, src)
			if err != nil {
				return err
			}
			envID, err := a.registerEnvironment(ctx, ws, spec, envm)
			if err != nil {
				return err
			}
			dp := ep + "/deployments/default"
			a.progressf("Creating service %s", name)
			if _, err := a.armRequest(ctx, http.MethodPut, dp, apiML, map[string]any{"sku": map[string]any{"name": "Default", "capacity": 1},
				"properties": map[string]any{"model": modelID, "environmentId": envID, "instanceType": "Standard_DS2_v2",
					"codeConfiguration": map[string]any{"codeId": codeID, "scoringScript": entry}}}); err != nil {
				return err
			}
			if _, err := a.waitDeployment(ctx, dp); err != nil {
				return err
			}
			v, err := a.armRequest(ctx, http.MethodPatch, ep, apiML, map[string]any{"properties": map[string]any{"traffic": map[string]any{"default": 100}}})
			if err != nil {
				return err
			}
			props, _ := v.(map[string]any)["properties"].(map[string]any)
			return a.print(map[string]any{"name": name, "computeType": "ACI", "state": "Healthy", "scoringUri": props["scoringUri"],
				"swaggerUri": props["swaggerUri"], "id": v.(map[string]any)["id"]})
		},
	}
	deploy.Flags().StringVarP(&name, "name", "n", "", "Name of the service")
	deploy.Flags().StringVarP(&model, "model", "m", "", "Model to deploy: name:version")
	deploy.Flags().StringVar(&ic, "ic", "", "Inference config file (JSON: entryScript, sourceDirectory, environment)")
	deploy.Flags().StringVar(&ic, "inference-config-file", "", "Inference config file")
	deploy.Flags().StringVar(&dc, "dc", "", "Deployment config file (JSON: computeType, containerResourceRequirements)")
	deploy.Flags().StringVar(&dc, "deploy-config-file", "", "Deployment config file")
	deploy.Flags().StringVar(&computeType, "compute-type", "", "aci (the default)")
	deploy.Flags().BoolVar(&overwrite, "overwrite", false, "Replace an existing service")
	for _, s := range []*cobra.Command{register, deploy} {
		ref.flags(s, false)
		cmd.AddCommand(s)
	}
	return cmd
}

func readJSONFile(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return usageErr("cannot read %s: %v", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return usageErr("%s is not valid JSON: %v", p, err)
	}
	return nil
}
