package cli

import (
	"context"
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
	cmd.AddCommand(a.mlModelRegisterCmd(), a.mlModelDeployCmd())
	return cmd
}

func (a *app) mlModelRegisterCmd() *cobra.Command {
	var ref wsRef
	var name, path string
	c := &cobra.Command{
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
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the model")
	c.Flags().StringVarP(&path, "model-path", "p", "", "Local file or folder of the model")
	ref.flags(c, false)
	return c
}

// aciDeploy are the options of `az ml model deploy`.
type aciDeploy struct {
	ref                              wsRef
	name, model, ic, dc, computeType string
	overwrite                        bool
}

func (a *app) mlModelDeployCmd() *cobra.Command {
	d := &aciDeploy{}
	c := &cobra.Command{
		Use: "deploy", Short: "Deploy a model as a service (--compute-type aci needs the registry's admin user: rule ACR-4)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return a.deployACI(c.Context(), d) },
	}
	fl := c.Flags()
	fl.StringVarP(&d.name, "name", "n", "", "Name of the service")
	fl.StringVarP(&d.model, "model", "m", "", "Model to deploy: name:version")
	fl.StringVar(&d.ic, "ic", "", "Inference config file (JSON: entryScript, sourceDirectory, environment)")
	fl.StringVar(&d.ic, "inference-config-file", "", "Inference config file")
	fl.StringVar(&d.dc, "dc", "", "Deployment config file (JSON: computeType, containerResourceRequirements)")
	fl.StringVar(&d.dc, "deploy-config-file", "", "Deployment config file")
	fl.StringVar(&d.computeType, "compute-type", "", "aci (the default)")
	fl.BoolVar(&d.overwrite, "overwrite", false, "Replace an existing service")
	d.ref.flags(c, false)
	return c
}

// deployACI runs a v1 ACI service as an online endpoint with one
// deployment ("default") taking all traffic.
func (a *app) deployACI(ctx context.Context, d *aciDeploy) error {
	if d.name == "" || d.model == "" || d.ic == "" {
		return usageErr("the following arguments are required: --name/-n, --model/-m, --inference-config-file/--ic")
	}
	var icm, dcm map[string]any
	if err := readJSONFile(d.ic, &icm); err != nil {
		return err
	}
	if d.dc != "" {
		if err := readJSONFile(d.dc, &dcm); err != nil {
			return err
		}
	}
	ct := strings.ToLower(firstNonEmpty(d.computeType, fmt.Sprint(firstNonNil(dcm["computeType"], "aci"))))
	if ct != "aci" {
		return usageErr("--compute-type %s: amlid serves v1 deployments to ACI only; for Kubernetes attach the cluster (amlid ml compute attach, rule ACR-3)", ct)
	}
	ws, err := a.workspace(ctx, &d.ref)
	if err != nil {
		return err
	}
	if err := a.checkACIAdmin(ctx, ws); err != nil {
		return err
	}
	spec := &mlSpec{m: map[string]any{}, dir: filepath.Dir(d.ic)}
	src := fmt.Sprint(firstNonNil(icm["sourceDirectory"], "."))
	entry, _ := icm["entryScript"].(string)
	if entry == "" {
		return usageErr("the inference config needs entryScript")
	}
	if _, err := os.Stat(filepath.Join(spec.path(src), entry)); err != nil {
		return usageErr("the entry script %s was not found in %s", entry, spec.path(src))
	}
	ep := ws.path + "/onlineEndpoints/" + url.PathEscape(d.name)
	if _, _, err := a.armDo(ctx, http.MethodGet, ep, apiML, nil, nil); err == nil && !d.overwrite {
		return usageErr("service %s already exists; use --overwrite", d.name)
	}
	if _, err := a.armRequest(ctx, http.MethodPut, ep, apiML, map[string]any{"location": ws.location(),
		"identity": map[string]any{"type": "SystemAssigned"}, "tags": map[string]any{"computeType": "ACI"},
		"properties": map[string]any{"authMode": "Key", "description": "CLI v1 service on Azure Container Instances"}}); err != nil {
		return err
	}
	if err := a.deployACIDefault(ctx, ws, spec, ep, d, src, entry, inferenceEnv(icm)); err != nil {
		return err
	}
	v, err := a.armRequest(ctx, http.MethodPatch, ep, apiML, map[string]any{"properties": map[string]any{"traffic": map[string]any{"default": 100}}})
	if err != nil {
		return err
	}
	props, _ := v.(map[string]any)["properties"].(map[string]any)
	return a.print(map[string]any{"name": d.name, "computeType": "ACI", "state": "Healthy", "scoringUri": props["scoringUri"],
		"swaggerUri": props["swaggerUri"], "id": v.(map[string]any)["id"]})
}

// checkACIAdmin is rule ACR-4: ACI pulls the image with the workspace
// registry's admin credentials, so its admin user must be on.
func (a *app) checkACIAdmin(ctx context.Context, ws *wsCtx) error {
	reg := ws.prop("containerRegistry")
	if reg == "" {
		return nil
	}
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
	return nil
}

// inferenceEnv is the environment of a v1 inference config: its docker
// base image, or amlid's default.
func inferenceEnv(icm map[string]any) map[string]any {
	envm := map[string]any{"image": defaultInferenceImage}
	if e, ok := icm["environment"].(map[string]any); ok {
		if d, ok := e["docker"].(map[string]any); ok {
			if b, _ := d["baseImage"].(string); b != "" {
				envm["image"] = b
			}
		}
	}
	return envm
}

// deployACIDefault registers the service's model, code and environment
// and runs its "default" deployment until it starts.
func (a *app) deployACIDefault(ctx context.Context, ws *wsCtx, spec *mlSpec, ep string, d *aciDeploy, src, entry string, envm map[string]any) error {
	a.progressf("Uploading and registering the service's assets")
	modelID, err := a.assetRef(ctx, ws, "models", d.model)
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
	a.progressf("Creating service %s", d.name)
	if _, err := a.armRequest(ctx, http.MethodPut, dp, apiML, map[string]any{"sku": map[string]any{"name": "Default", "capacity": 1},
		"properties": map[string]any{"model": modelID, "environmentId": envID, "instanceType": "Standard_DS2_v2",
			"codeConfiguration": map[string]any{"codeId": codeID, "scoringScript": entry}}}); err != nil {
		return err
	}
	_, err = a.waitDeployment(ctx, dp)
	return err
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
