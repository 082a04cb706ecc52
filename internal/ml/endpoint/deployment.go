package endpoint

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/assets"
	"github.com/amlid/amlid/internal/msi"
	"github.com/amlid/amlid/internal/runtime"
	"github.com/amlid/amlid/internal/store"
	"github.com/amlid/amlid/internal/workload"
)

// DeploymentType is the online deployment type name.
const DeploymentType = EndpointType + "/deployments"

func (p *Provider) registerDeployment(reg *arm.Registry) {
	reg.Register(&arm.ResourceType{
		Namespace:    ml.Namespace,
		Path:         "workspaces/onlineEndpoints/deployments",
		APIVersions:  ml.MLAPIVersions,
		Tracked:      true,
		CreateStatus: http.StatusOK,
		Name: arm.NameRule{Min: 3, Max: 32, Pattern: regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`),
			Hint: "letters, digits and hyphens, starting with a letter and ending with a letter or digit"},
		Prepare:     p.prepareDeployment,
		Validate:    p.validateDeployment,
		AfterCommit: p.afterCommitDeployment,
		Present:     presentDeployment,
		Actions: map[string]arm.Action{
			"getLogs": {Handler: p.deploymentLogs},
		},
	})
}

// presentDeployment shows why a deployment failed (the message Azure puts
// in the failed operation) as properties.provisioningError.
func presentDeployment(ctx context.Context, r *arm.Resource) {
	if f, _ := r.Internal["failure"].(string); f != "" && r.StringProp("provisioningState") == "Failed" {
		r.Properties["provisioningError"] = map[string]any{"code": "DeploymentFailed", "message": f}
	}
}

func (p *Provider) prepareDeployment(ctx context.Context, c *arm.Call, id arm.ID, old *arm.Resource, body map[string]any) error {
	if l, _ := body["location"].(string); l == "" {
		if old != nil {
			body["location"] = old.Location
		} else if ep, err := ml.LoadResource(ctx, p.Store, id.Parent().String()); err == nil {
			body["location"] = ep.Location
		}
	}
	return nil
}

func (p *Provider) validateDeployment(ctx context.Context, w *arm.Write) error {
	nu := w.New
	props := nu.Properties
	if nu.SKU == nil {
		nu.SKU = map[string]any{"name": "Default", "capacity": float64(1)}
	}
	capacity, ok := nu.SKU["capacity"].(float64)
	if !ok && nu.SKU["capacity"] != nil {
		return arm.Errorf(http.StatusBadRequest, "UserError", "instance_count (sku.capacity) must be a number, not %v.", nu.SKU["capacity"])
	} else if !ok {
		capacity = 1
	}
	if capacity < 1 || capacity > runtime.MaxInstances || capacity != float64(int(capacity)) {
		return arm.Errorf(http.StatusBadRequest, "UserError", "instance_count (sku.capacity) must be a whole number from 1 to %d.", runtime.MaxInstances)
	}
	nu.SKU["capacity"] = capacity
	if nu.SKU["name"] == nil {
		nu.SKU["name"] = "Default"
	}
	ws := w.ID.Parent().Parent().String()
	singular := map[string]string{"models": "a model", "environments": "an environment", "codes": "a code"}
	ref := func(prop, kind string, required bool) error {
		v, _ := props[prop].(string)
		if v == "" {
			if required {
				return arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s is required: the ID of %s version of workspace %s.", prop, singular[kind], w.ID.Parent().Parent().Name())
			}
			return nil
		}
		if !strings.HasPrefix(strings.ToLower(v), strings.ToLower(ws)+"/"+kind+"/") {
			return arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s '%s' must be %s version of the same workspace (%s/%s/…/versions/…).", prop, v, singular[kind], ws, kind)
		}
		if _, err := assets.Load(ctx, p.Store, v); err != nil {
			return arm.Errorf(http.StatusBadRequest, "UserError", "properties.%s '%s' was not found: register it first.", prop, v)
		}
		return nil
	}
	if err := ref("model", "models", false); err != nil {
		return err
	}
	if err := ref("environmentId", "environments", true); err != nil {
		return err
	}
	cc, _ := props["codeConfiguration"].(map[string]any)
	if cc == nil {
		return arm.Errorf(http.StatusBadRequest, "UserError", "properties.codeConfiguration {codeId, scoringScript} is required (YAML code_configuration: {code, scoring_script}).")
	}
	script, _ := cc["scoringScript"].(string)
	if script == "" || filepath.IsAbs(script) || strings.Contains(filepath.ToSlash(script), "../") || script == ".." {
		return arm.Errorf(http.StatusBadRequest, "UserError", "codeConfiguration.scoringScript must be a path inside the code folder, not '%s'.", script)
	}
	codeID, _ := cc["codeId"].(string)
	props["_code"] = codeID
	if err := ref("_code", "codes", true); err != nil {
		return err
	}
	delete(props, "_code")
	if ev, ok := props["environmentVariables"]; ok && ev != nil {
		m, ok := ev.(map[string]any)
		if !ok {
			return arm.Errorf(http.StatusBadRequest, "UserError", "environmentVariables must map names to strings.")
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				m[k] = fmt.Sprint(v)
			}
		}
	}
	if props["instanceType"] == nil {
		props["instanceType"] = "Standard_DS3_v2"
	}
	if props["endpointComputeType"] == nil {
		props["endpointComputeType"] = "Managed"
	}
	if nu.Internal == nil {
		nu.Internal = map[string]any{}
	}
	gen, _ := nu.Internal["generation"].(float64)
	nu.Internal["generation"] = gen + 1
	if w.Old == nil {
		props["provisioningState"] = "Creating"
	} else {
		props["provisioningState"] = "Updating"
	}
	return nil
}

// afterCommitDeployment starts (or restarts) the deployment's processes in
// the background, or stops them when it was deleted (rule EP-5: deleting an
// endpoint deletes its deployments).
func (p *Provider) afterCommitDeployment(ctx context.Context, id arm.ID, r *arm.Resource) {
	if r == nil {
		p.stopDeployment(id.String())
		return
	}
	gen, _ := r.Internal["generation"].(float64)
	go p.deploy(context.Background(), r.ID, gen)
}

func (p *Provider) stopDeployment(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Runtime.Stop(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		p.Log().Warn("stop deployment", "id", id, "err", err)
	}
	p.mu.Lock()
	wl := p.workloads[strings.ToLower(id)]
	delete(p.workloads, strings.ToLower(id))
	p.mu.Unlock()
	if wl != "" {
		p.Workloads.Unregister(wl)
	}
}

// deploy brings a deployment to Succeeded or Failed: the workspace
// registry (created on this first need, rule WS-7), the endpoint identity's
// roles (rule EP-3), the code and model downloaded from the workspace's
// storage, then instance_count scoring processes with the endpoint's
// identity wired in (rule EP-4).
func (p *Provider) deploy(ctx context.Context, id string, gen float64) {
	state, msg := "Succeeded", ""
	if err := p.runDeployment(ctx, id, gen); err != nil {
		if errors.Is(err, errSuperseded) {
			return
		}
		state, msg = "Failed", err.Error()
		p.Log().Warn("deployment failed", "id", id, "err", msg)
	}
	err := p.UpdateResource(ctx, id, func(cur *arm.Resource) error {
		if g, _ := cur.Internal["generation"].(float64); g != gen {
			return errSuperseded
		}
		cur.SetProp("provisioningState", state)
		if msg != "" {
			cur.Internal["failure"] = msg
		} else {
			delete(cur.Internal, "failure")
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deleted while it started (its delete stopped nothing yet): stop
		// what this start launched.
		p.stopDeployment(id)
	case err != nil && !errors.Is(err, errSuperseded):
		p.Log().Error("record deployment state", "id", id, "err", err)
	}
}

var errSuperseded = errors.New("deployment superseded by a newer write")

func (p *Provider) runDeployment(ctx context.Context, id string, gen float64) error {
	dep, err := ml.LoadResource(ctx, p.Store, id)
	if err != nil {
		return errSuperseded
	}
	if g, _ := dep.Internal["generation"].(float64); g != gen {
		return errSuperseded
	}
	did, _ := arm.ParseID(dep.ID)
	epID := did.Parent()
	ep, err := ml.LoadResource(ctx, p.Store, epID.String())
	if err != nil {
		return errSuperseded
	}
	wsID := epID.Parent().String()
	// Rule WS-7: the first deployment creates the workspace registry.
	reg, err := p.EnsureRegistry(ctx, wsID)
	if err != nil {
		return fmt.Errorf("the workspace's container registry: %v", err)
	}
	ws, err := ml.LoadResource(ctx, p.Store, wsID)
	if err != nil {
		return errSuperseded
	}
	if pid := ep.SystemPrincipalID(); pid != "" {
		if granted, _ := ep.Internal["acrPullGranted"].(string); !strings.EqualFold(granted, reg) {
			// A registry created after the endpoint: Azure grants the
			// endpoint's system-assigned identity AcrPull on it.
			err := p.Store.Tx(ctx, func(tx store.Tx) error {
				return p.Authz.Grant(ctx, tx, pid, "ServicePrincipal", catalog.AcrPull.ID, reg)
			})
			if err != nil {
				return err
			}
			_ = p.UpdateResource(ctx, ep.ID, func(cur *arm.Resource) error { cur.Internal["acrPullGranted"] = reg; return nil })
		}
	}
	if err := p.checkEP3(ctx, ep, ws, reg); err != nil {
		return err
	}
	// Assets.
	dir := filepath.Join(p.WorkDir, "deployments", shortHash(dep.ID))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cc, _ := dep.Prop("codeConfiguration").(map[string]any)
	codeID, _ := cc["codeId"].(string)
	script, _ := cc["scoringScript"].(string)
	code, err := assets.Load(ctx, p.Store, codeID)
	if err != nil {
		return fmt.Errorf("code %s: %v", codeID, err)
	}
	// Issue 21: an environment naming an amlid registry's image is pulled
	// as the endpoint's acting identity before the processes start (the
	// code still runs on the host's python3); the pull opens the log.
	var prelude strings.Builder
	if envID := dep.StringProp("environmentId"); envID != "" && p.PullImage != nil {
		if envRes, err := assets.Load(ctx, p.Store, envID); err == nil {
			if id, ok := access.Acting(ep); ok {
				if id.TenantID == "" {
					id.TenantID = ws.StringProp("tenantId")
				}
				if _, err := p.PullImage(ctx, envRes, id, filepath.Join(dir, "image"), &prelude); err != nil {
					return err
				}
			}
		}
	}
	codeDir := filepath.Join(dir, "code")
	if err := p.downloadFolder(ctx, ws, ep, code.StringProp("codeUri"), codeDir); err != nil {
		return fmt.Errorf("downloading the code %s: %v", code.StringProp("codeUri"), err)
	}
	modelDir := ""
	if mid := dep.StringProp("model"); mid != "" {
		model, err := assets.Load(ctx, p.Store, mid)
		if err != nil {
			return fmt.Errorf("model %s: %v", mid, err)
		}
		// AZUREML_MODEL_DIR is ./azureml-models/{name}/{version}; the
		// registered folder appears inside it under its own name.
		mid, _ := arm.ParseID(model.ID)
		modelDir = filepath.Join(dir, "azureml-models", mid.Names[1], mid.Names[2])
		uri := strings.TrimRight(model.StringProp("modelUri"), "/")
		if err := p.downloadFolder(ctx, ws, ep, uri, filepath.Join(modelDir, uri[strings.LastIndex(uri, "/")+1:])); err != nil {
			return fmt.Errorf("downloading the model %s: %v", model.StringProp("modelUri"), err)
		}
	}
	// Identity (rule EP-4): the endpoint's identities, through MSI_ENDPOINT.
	p.stopDeployment(dep.ID)
	wl, err := p.Workloads.Register(ctx, ep.ID, workload.WithLabel("online deployment "+did.Name()+" of "+epID.Name()))
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.workloads[strings.ToLower(dep.ID)] = wl.ID
	p.mu.Unlock()
	env := map[string]string{}
	if ev, ok := dep.Prop("environmentVariables").(map[string]any); ok {
		for k, v := range ev {
			env[k] = fmt.Sprint(v)
		}
	}
	for k, v := range msi.EnvFor(wl, p.MSIURL) {
		env[k] = v
	}
	// Scoring code trusts amlid's CA as Azure's containers trust the
	// public roots: requests, azure-core and urllib read these.
	if p.CABundle != "" {
		for _, k := range []string{"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"} {
			if _, set := env[k]; !set {
				env[k] = p.CABundle
			}
		}
	}
	// Azure's host names reach amlid through its proxy (the code is run
	// unchanged); loopback (MSI_ENDPOINT, amlid's own URLs) stays direct.
	if p.ProxyURL != nil && p.ProxyURL() != "" {
		for k, v := range workload.ProxyEnvFor(p.ProxyURL(), wl) {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
	}
	capacity, _ := dep.SKU["capacity"].(float64)
	spec := runtime.Spec{ID: dep.ID, CodeDir: codeDir, ScoringScript: script, ModelDir: modelDir, Env: env, Instances: int(capacity)}
	spec.Prelude = prelude.String()
	if p.CABundle != "" {
		spec.ReadOnly = []string{p.CABundle} // visible in the workload sandbox
	}
	if err := p.Runtime.Start(ctx, spec); err != nil {
		return err
	}
	return nil
}

// checkEP3 verifies rule EP-3 with the access wing's requirements: the
// endpoint's acting identity (access.Acting) holds AcrPull on the workspace
// registry reg and Storage Blob Data Reader on the workspace storage.
func (p *Provider) checkEP3(ctx context.Context, ep, ws *arm.Resource, reg string) error {
	w := ws.Clone()
	w.SetProp("containerRegistry", reg) // the registry may have just been created (WS-7)
	src := access.NewMemorySource(access.StoreSource(p.Store), w)
	res, err := access.EP3(ctx, src, ep)
	if err != nil {
		return err
	}
	fs, err := access.EvaluateAll(ctx, p.Authz, src, res.Requirements)
	if err != nil {
		return err
	}
	if unmet := access.Unmet(fs); len(unmet) > 0 {
		return errors.New(access.Refusal("EP-3", unmet[0].Identity, unmet))
	}
	return nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(s)))
	return hex.EncodeToString(sum[:8])
}

// deploymentLogs answers POST …/deployments/{d}/getLogs {containerType,
// tail} with {content}: what the scoring code printed (init() included),
// and why the deployment failed.
func (p *Provider) deploymentLogs(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	var req struct {
		Tail          int    `json:"tail"`
		ContainerType string `json:"containerType"`
	}
	if len(body) > 0 {
		if err := arm.DecodeJSON(body, &req); err != nil {
			return 0, nil, err
		}
	}
	logs, err := p.Runtime.Logs(r.ID, req.Tail)
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return 0, nil, err
	}
	if f, _ := r.Internal["failure"].(string); f != "" {
		logs += "\namlid: the deployment failed: " + f + "\n"
	}
	return http.StatusOK, map[string]any{"content": logs}, nil
}

// ResumeDeployments restarts, at amlid's start, the processes of every
// deployment, and reopens each endpoint's scoring port.
func (p *Provider) ResumeDeployments(ctx context.Context) error {
	recs, err := p.Store.List(ctx, arm.KindResource, store.ListOptions{})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		r, err := arm.DecodeResource(rec.Value)
		if err != nil {
			continue
		}
		switch {
		case strings.EqualFold(r.Type, EndpointType):
			port := portOf(r.StringProp("scoringUri"))
			if _, err := p.Hosts.Open(EndpointKind, r.ID, port); err != nil {
				p.Log().Warn("reopen the endpoint's scoring port", "endpoint", r.ID, "port", port, "err", err)
			}
		case strings.EqualFold(r.Type, DeploymentType):
			gen, _ := r.Internal["generation"].(float64)
			go p.deploy(context.Background(), r.ID, gen)
		}
	}
	return nil
}

func portOf(u string) int {
	var port int
	if i := strings.LastIndex(u, ":"); i >= 0 {
		fmt.Sscanf(u[i+1:], "%d", &port)
	}
	return port
}
