package cli

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { mlSubcommands = append(mlSubcommands, (*app).mlJobCmd) }

// jobYAMLKeys are the command-job keys of azure-ai-ml's schema amlid reads.
var jobYAMLKeys = []string{"$schema", "type", "name", "display_name", "experiment_name", "description", "tags", "command", "code",
	"inputs", "outputs", "environment", "compute", "identity", "environment_variables", "resources", "distribution", "limits", "services"}

// jobBody maps a command job YAML to the REST body azure-ai-ml sends: the
// spec is checked, then each step below fills its part of the properties.
func (a *app) jobBody(ctx context.Context, ws *wsCtx, spec *mlSpec) (map[string]any, error) {
	if spec.str("type") == "pipeline" {
		return a.pipelineBody(ctx, ws, spec)
	}
	if err := checkCommandJob(spec); err != nil {
		return nil, err
	}
	props := map[string]any{"jobType": "Command", "command": spec.str("command")}
	for k, p := range map[string]string{"display_name": "displayName", "experiment_name": "experimentName", "description": "description"} {
		if v := spec.str(k); v != "" {
			props[p] = v
		}
	}
	for _, step := range []func(context.Context, *wsCtx, *mlSpec, map[string]any) error{
		a.jobCode, jobCompute, a.jobInputs, jobOutputs, jobIdentity, jobResources,
	} {
		if err := step(ctx, ws, spec, props); err != nil {
			return nil, err
		}
	}
	body := map[string]any{"properties": props}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	return body, nil
}

// checkCommandJob refuses what is not a command job amlid can run: keys
// outside jobYAMLKeys, another type, no command.
func checkCommandJob(spec *mlSpec) error {
	if err := spec.checkKeys("command job", jobYAMLKeys...); err != nil {
		return err
	}
	if t := spec.str("type"); t != "" && t != "command" {
		return usageErr("job type %q is not supported: amlid runs command jobs", t)
	}
	if strings.TrimSpace(spec.str("command")) == "" {
		return usageErr("the job has no command")
	}
	return nil
}

// jobCode registers the code folder (codeId) and names the environment
// (environmentId).
func (a *app) jobCode(ctx context.Context, ws *wsCtx, spec *mlSpec, props map[string]any) error {
	if c := spec.str("code"); c != "" {
		id, err := a.registerCode(ctx, ws, spec, c)
		if err != nil {
			return err
		}
		props["codeId"] = id
	}
	if e := spec.str("environment"); e != "" {
		props["environmentId"] = e
	}
	return nil
}

// jobCompute is the computeId: azureml:<name> in the workspace, or an ARM ID.
func jobCompute(_ context.Context, ws *wsCtx, spec *mlSpec, props map[string]any) error {
	comp := strings.TrimPrefix(spec.str("compute"), "azureml:")
	if comp == "" {
		return usageErr("the job names no compute (compute: azureml:<name>)")
	}
	if !strings.HasPrefix(comp, "/") {
		comp = ws.path + "/computes/" + comp
	}
	props["computeId"] = comp
	return nil
}

// jobInputs maps inputs: a scalar is a literal; a path without a scheme is
// a local folder, uploaded as azure-ai-ml does.
func (a *app) jobInputs(ctx context.Context, ws *wsCtx, spec *mlSpec, props map[string]any) error {
	inputs := map[string]any{}
	for name, v := range spec.sub("inputs") {
		m, ok := v.(map[string]any)
		if !ok {
			inputs[name] = map[string]any{"jobInputType": "literal", "value": fmt.Sprint(v)}
			continue
		}
		p, _ := m["path"].(string)
		if p == "" {
			return usageErr("input %s has no path", name)
		}
		if !strings.Contains(p, ":") {
			u, err := a.uploadFolder(ctx, ws, spec.path(p))
			if err != nil {
				return err
			}
			p = u
		}
		in := map[string]any{"jobInputType": dataType(m), "uri": p}
		if mode, _ := m["mode"].(string); mode != "" {
			in["mode"] = mode
		}
		inputs[name] = in
	}
	props["inputs"] = inputs
	return nil
}

// jobOutputs maps outputs: type (uri_folder unless said), path, mode, or a
// pipeline step's ${{parent.outputs.<o>}} binding.
func jobOutputs(_ context.Context, _ *wsCtx, spec *mlSpec, props map[string]any) error {
	outputs := map[string]any{}
	for name, v := range spec.sub("outputs") {
		m, _ := v.(map[string]any)
		out := map[string]any{"jobOutputType": dataType(m)}
		if b, ok := v.(string); ok && strings.Contains(b, "${{") {
			out["value"] = b
		}
		if p, _ := m["path"].(string); p != "" {
			out["uri"] = p
		}
		if mode, _ := m["mode"].(string); mode != "" {
			out["mode"] = mode
		}
		outputs[name] = out
	}
	props["outputs"] = outputs
	return nil
}

// dataType is an input's or output's type: uri_folder unless said.
func dataType(m map[string]any) string {
	if t, _ := m["type"].(string); t != "" {
		return t
	}
	return "uri_folder"
}

// jobIdentity maps identity: user_identity, managed (managed_identity) or
// aml_token, with the managed identity's client, object or resource ID.
func jobIdentity(_ context.Context, _ *wsCtx, spec *mlSpec, props map[string]any) error {
	id := spec.sub("identity")
	if id == nil {
		return nil
	}
	t, _ := id["type"].(string)
	rest := map[string]string{"user_identity": "UserIdentity", "managed": "Managed", "managed_identity": "Managed", "aml_token": "AMLToken"}[strings.ToLower(t)]
	if rest == "" {
		return usageErr("identity type %q is not user_identity, managed or aml_token", t)
	}
	idm := map[string]any{"identityType": rest}
	for y, r := range map[string]string{"client_id": "clientId", "object_id": "objectId", "resource_id": "resourceId"} {
		if v, _ := id[y].(string); v != "" {
			idm[r] = v
		}
	}
	props["identity"] = idm
	return nil
}

// jobResources maps environment_variables and resources.instance_count.
func jobResources(_ context.Context, _ *wsCtx, spec *mlSpec, props map[string]any) error {
	if ev := spec.sub("environment_variables"); ev != nil {
		props["environmentVariables"] = ev
	}
	if r := spec.sub("resources"); r != nil {
		if n, ok := r["instance_count"]; ok {
			f, ok := toFloat(n)
			if !ok {
				return usageErr("resources.instance_count must be a number")
			}
			props["resources"] = map[string]any{"instanceCount": f}
		}
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// jobShape is what `amlid ml job show` prints (azure-ai-ml's YAML keys).
func jobShape(v any) any {
	m, _ := v.(map[string]any)
	p, _ := m["properties"].(map[string]any)
	if p == nil {
		return v
	}
	out := map[string]any{"name": m["name"], "id": m["id"], "type": "command", "status": p["status"], "command": p["command"],
		"compute": p["computeId"], "environment": p["environmentId"], "code": p["codeId"], "inputs": p["inputs"], "outputs": p["outputs"],
		"identity": p["identity"], "environment_variables": p["environmentVariables"], "data_access": p["dataAccess"]}
	if msg, _ := p["amlidMessage"].(string); msg != "" {
		out["error"] = msg
	}
	if jt, _ := p["jobType"].(string); strings.EqualFold(jt, "Pipeline") {
		out["type"], out["settings"], out["jobs"], out["steps"] = "pipeline", p["settings"], p["jobs"], p["steps"]
		delete(out, "command")
		delete(out, "compute")
		delete(out, "environment")
		delete(out, "code")
		delete(out, "environment_variables")
		delete(out, "data_access")
	}
	if sb, ok := p["amlidSubmittedBy"].(map[string]any); ok {
		out["submitted_by"] = sb["objectId"]
	}
	return out
}

// jobResource is `amlid ml job`: show, list and cancel are declared;
// create, stream, archive and download are commands of their own over the
// same item flags (-n, -w, -g).
var jobResource = &mlResource{
	use: "job", short: "Manage jobs: run command jobs on a compute's nodes with the identity rule DS-5 picks",
	noun: "job", collection: "jobs", shape: jobShape,
	show:    &mlShow{short: "Show a job: status, which identity read each input (DS-5), the error"},
	list:    &mlList{short: "List a workspace's jobs"},
	actions: []mlAction{{use: "cancel", short: "Cancel a job (its processes are stopped)", verb: "cancel"}},
}

func (a *app) mlJobCmd() *cobra.Command {
	r := jobResource
	return a.mlResourceCmd(r, a.jobCreateCmd(r), a.jobStreamCmd(r), a.jobArchiveCmd(r), a.jobDownloadCmd(r))
}

// jobCreateCmd is `amlid ml job create -f job.yml [--set k=v]... [k=v]...
// [-n name] [--stream]`: the name is -n, else the YAML's, else a generated
// one.
func (a *app) jobCreateCmd(r *mlResource) *cobra.Command {
	var file string
	var sets []string
	var stream bool
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "create", Short: "Submit a job from its YAML", Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			sets, err := setArgs(sets, args)
			if err != nil {
				return err
			}
			spec, err := loadMLSpec(file, sets)
			if err != nil {
				return err
			}
			ws, coll, err := ir.collectionPath(ctx, a)
			if err != nil {
				return err
			}
			n := firstNonEmpty(ir.name, spec.str("name"))
			if n == "" {
				n = strings.ReplaceAll(randomID(), "-", "")[:20]
			}
			body, err := a.jobBody(ctx, ws, spec)
			if err != nil {
				return err
			}
			p := coll + "/" + url.PathEscape(n)
			v, err := a.armRequest(ctx, http.MethodPut, p, apiML, body)
			if err != nil {
				return err
			}
			if stream {
				return a.streamJob(ctx, p)
			}
			return a.print(jobShape(v))
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "Local path to the job's YAML (azure-ai-ml's command job schema)")
	c.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path.to.field=value")
	c.Flags().BoolVarP(&stream, "stream", "s", false, "Stream the job's log until it ends")
	ir = r.ref(c, "Name of the job (default: the YAML's, else a generated one)")
	return c
}

// jobStreamCmd is `amlid ml job stream -n name`.
func (a *app) jobStreamCmd(r *mlResource) *cobra.Command {
	return a.mlItemCmd(r, "stream", "Stream a job's log (user_logs/std_log.txt) until it ends", func(ctx context.Context, it mlItem) error {
		return a.streamJob(ctx, it.path)
	})
}

// jobArchiveCmd is `amlid ml job archive -n name`: PATCH isArchived.
func (a *app) jobArchiveCmd(r *mlResource) *cobra.Command {
	return a.mlItemCmd(r, "archive", "Archive a job (hidden from list unless --include-archived)", func(ctx context.Context, it mlItem) error {
		_, err := a.armRequest(ctx, http.MethodPatch, it.path, apiML, map[string]any{"properties": map[string]any{"isArchived": true}})
		return err
	})
}

// streamJob prints the job's log as it grows and returns when the job
// ends: exit 1 unless it Completed, with the job's error.
func (a *app) streamJob(ctx context.Context, p string) error {
	printed := 0
	for {
		v, err := a.armRequest(ctx, http.MethodPost, p+"/getLogs", apiML, nil)
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		content, _ := m["content"].(string)
		if len(content) > printed {
			fmt.Fprint(a.stdout, content[printed:])
			printed = len(content)
		}
		st, _ := m["status"].(string)
		switch st {
		case "Completed":
			fmt.Fprintf(a.stderr, "Execution Summary\n=================\nStatus: %s\n", st)
			return nil
		case "Failed", "Canceled":
			jv, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
			msg := ""
			if err == nil {
				if pp, ok := jv.(map[string]any)["properties"].(map[string]any); ok {
					msg, _ = pp["amlidMessage"].(string)
				}
			}
			return &cliError{Message: fmt.Sprintf("Job %s %s: %s", p[strings.LastIndex(p, "/")+1:], strings.ToLower(st), msg), Exit: exitError}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// jobDownloadCmd is `amlid ml job download`: the job's logs (artifacts/
// user_logs/std_log.txt) and its outputs with a datastore path (named/<o>/),
// read from their datastores with the caller's own Entra token.
func (a *app) jobDownloadCmd(r *mlResource) *cobra.Command {
	var dest, outputName string
	var all bool
	c := a.mlItemCmd(r, "download", "Download a job's logs and outputs", func(ctx context.Context, it mlItem) error {
		root := filepath.Join(firstNonEmpty(dest, "."), it.ref.name)
		if err := a.downloadJobLog(ctx, it.path, root); err != nil {
			return err
		}
		jv, err := a.armRequest(ctx, http.MethodGet, it.path, apiML, nil)
		if err != nil {
			return err
		}
		props, _ := jv.(map[string]any)["properties"].(map[string]any)
		outs, _ := props["outputs"].(map[string]any)
		for oname, ov := range outs {
			if outputName != "" && oname != outputName || outputName == "" && !all {
				continue
			}
			uri, _ := ov.(map[string]any)["uri"].(string)
			if err := a.downloadJobOutput(ctx, it.ws, uri, filepath.Join(root, "named-outputs", oname)); err != nil {
				return err
			}
		}
		fmt.Fprintf(a.stderr, "Downloaded the job's artifacts to %s\n", root)
		return nil
	})
	c.Flags().StringVarP(&dest, "download-path", "p", "", "Where to download (default: the current folder)")
	c.Flags().StringVar(&outputName, "output-name", "", "Download this named output")
	c.Flags().BoolVar(&all, "all", false, "Download every named output too")
	return c
}

// downloadJobLog writes the job's log to root/artifacts/user_logs/std_log.txt.
func (a *app) downloadJobLog(ctx context.Context, p, root string) error {
	v, err := a.armRequest(ctx, http.MethodPost, p+"/getLogs", apiML, nil)
	if err != nil {
		return err
	}
	content, _ := v.(map[string]any)["content"].(string)
	logPath := filepath.Join(root, "artifacts", "user_logs", "std_log.txt")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(logPath, []byte(content), 0o644)
}

// datastoreURI is azureml://datastores/<name>/paths/<path>.
var datastoreURI = regexp.MustCompile(`^azureml://datastores/([^/]+)/paths/(.*)$`)

// downloadJobOutput downloads an output written to a datastore path into
// dir, from the datastore's account with the caller's token; an output
// with another URI is passed over.
func (a *app) downloadJobOutput(ctx context.Context, ws *wsCtx, uri, dir string) error {
	m := datastoreURI.FindStringSubmatch(uri)
	if m == nil {
		return nil
	}
	dsv, err := a.armRequest(ctx, http.MethodGet, ws.path+"/datastores/"+url.PathEscape(m[1]), apiML, nil)
	if err != nil {
		return err
	}
	dp, _ := dsv.(map[string]any)["properties"].(map[string]any)
	acct, _ := dp["accountName"].(string)
	cont := firstNonEmpty(str(dp["containerName"]), str(dp["filesystem"]))
	bc, err := a.newBlobClient(ctx, &blobAuthFlags{account: acct, authMode: "login"})
	if err != nil {
		return err
	}
	n, err := bc.downloadPrefix(ctx, cont, m[2], dir)
	if err != nil {
		return err
	}
	a.progressf("Downloaded %d file(s) of output %s", n, filepath.Base(dir))
	a.progressDone("")
	return nil
}

// downloadPrefix downloads every blob under prefix into dir.
func (bc *blobClient) downloadPrefix(ctx context.Context, cont, prefix, dir string) (int, error) {
	resp, err := bc.request(ctx, http.MethodGet, cont, url.Values{"restype": {"container"}, "comp": {"list"}, "prefix": {prefix}}, nil, nil, 0)
	if err != nil {
		return 0, err
	}
	var list struct {
		Blobs []struct {
			Name string `xml:"Name"`
		} `xml:"Blobs>Blob"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range list.Blobs {
		rel := strings.TrimPrefix(strings.TrimPrefix(b.Name, prefix), "/")
		if rel == "" || strings.Contains(rel, "..") {
			continue
		}
		r, err := bc.request(ctx, http.MethodGet, cont+"/"+b.Name, nil, nil, nil, 0)
		if err != nil {
			return n, err
		}
		local := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			r.Body.Close()
			return n, err
		}
		f, err := os.Create(local)
		if err != nil {
			r.Body.Close()
			return n, err
		}
		_, err = io.Copy(f, r.Body)
		r.Body.Close()
		f.Close()
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
