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

// jobBody maps a command job YAML to the REST body azure-ai-ml sends.
func (a *app) jobBody(ctx context.Context, ws *wsCtx, spec *mlSpec) (map[string]any, error) {
	if spec.str("type") == "pipeline" {
		return a.pipelineBody(ctx, ws, spec)
	}
	if err := spec.checkKeys("command job", jobYAMLKeys...); err != nil {
		return nil, err
	}
	if t := spec.str("type"); t != "" && t != "command" {
		return nil, usageErr("job type %q is not supported: amlid runs command jobs", t)
	}
	props := map[string]any{"jobType": "Command", "command": spec.str("command")}
	if strings.TrimSpace(spec.str("command")) == "" {
		return nil, usageErr("the job has no command")
	}
	for k, p := range map[string]string{"display_name": "displayName", "experiment_name": "experimentName", "description": "description"} {
		if v := spec.str(k); v != "" {
			props[p] = v
		}
	}
	if c := spec.str("code"); c != "" {
		id, err := a.registerCode(ctx, ws, spec, c)
		if err != nil {
			return nil, err
		}
		props["codeId"] = id
	}
	if e := spec.str("environment"); e != "" {
		props["environmentId"] = e
	}
	comp := strings.TrimPrefix(spec.str("compute"), "azureml:")
	if comp == "" {
		return nil, usageErr("the job names no compute (compute: azureml:<name>)")
	}
	if !strings.HasPrefix(comp, "/") {
		comp = ws.path + "/computes/" + comp
	}
	props["computeId"] = comp
	inputs := map[string]any{}
	for name, v := range spec.sub("inputs") {
		m, ok := v.(map[string]any)
		if !ok {
			inputs[name] = map[string]any{"jobInputType": "literal", "value": fmt.Sprint(v)}
			continue
		}
		t, _ := m["type"].(string)
		if t == "" {
			t = "uri_folder"
		}
		p, _ := m["path"].(string)
		if p == "" {
			return nil, usageErr("input %s has no path", name)
		}
		if !strings.Contains(p, ":") { // a local path: uploaded as azure-ai-ml does
			u, err := a.uploadFolder(ctx, ws, spec.path(p))
			if err != nil {
				return nil, err
			}
			p = u
		}
		in := map[string]any{"jobInputType": t, "uri": p}
		if mode, _ := m["mode"].(string); mode != "" {
			in["mode"] = mode
		}
		inputs[name] = in
	}
	props["inputs"] = inputs
	outputs := map[string]any{}
	for name, v := range spec.sub("outputs") {
		m, _ := v.(map[string]any)
		t, _ := m["type"].(string)
		if t == "" {
			t = "uri_folder"
		}
		out := map[string]any{"jobOutputType": t}
		if b, ok := v.(string); ok && strings.Contains(b, "${{") {
			out["value"] = b // a pipeline step's ${{parent.outputs.<o>}}
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
	if id := spec.sub("identity"); id != nil {
		t, _ := id["type"].(string)
		rest := map[string]string{"user_identity": "UserIdentity", "managed": "Managed", "managed_identity": "Managed", "aml_token": "AMLToken"}[strings.ToLower(t)]
		if rest == "" {
			return nil, usageErr("identity type %q is not user_identity, managed or aml_token", t)
		}
		idm := map[string]any{"identityType": rest}
		for y, r := range map[string]string{"client_id": "clientId", "object_id": "objectId", "resource_id": "resourceId"} {
			if v, _ := id[y].(string); v != "" {
				idm[r] = v
			}
		}
		props["identity"] = idm
	}
	if ev := spec.sub("environment_variables"); ev != nil {
		props["environmentVariables"] = ev
	}
	if r := spec.sub("resources"); r != nil {
		if n, ok := r["instance_count"]; ok {
			f, ok := toFloat(n)
			if !ok {
				return nil, usageErr("resources.instance_count must be a number")
			}
			props["resources"] = map[string]any{"instanceCount": f}
		}
	}
	body := map[string]any{"properties": props}
	if t, ok := spec.m["tags"].(map[string]any); ok {
		body["tags"] = t
	}
	return body, nil
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

func (a *app) mlJobCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Manage jobs: run command jobs on a compute's nodes with the identity rule DS-5 picks"}
	var ref wsRef
	var name, file string
	var sets []string
	var stream bool
	jobPath := func(ws *wsCtx, n string) string { return ws.path + "/jobs/" + url.PathEscape(n) }
	create := &cobra.Command{
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
			ws, err := a.workspace(ctx, &ref)
			if err != nil {
				return err
			}
			n := firstNonEmpty(name, spec.str("name"))
			if n == "" {
				n = strings.ReplaceAll(randomID(), "-", "")[:20]
			}
			body, err := a.jobBody(ctx, ws, spec)
			if err != nil {
				return err
			}
			v, err := a.armRequest(ctx, http.MethodPut, jobPath(ws, n), apiML, body)
			if err != nil {
				return err
			}
			if stream {
				return a.streamJob(ctx, jobPath(ws, n))
			}
			return a.print(jobShape(v))
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "Local path to the job's YAML (azure-ai-ml's command job schema)")
	create.Flags().StringVarP(&name, "name", "n", "", "Name of the job (default: the YAML's, else a generated one)")
	create.Flags().StringSliceVar(&sets, "set", nil, "Update a field of the YAML: --set path.to.field=value")
	create.Flags().BoolVarP(&stream, "stream", "s", false, "Stream the job's log until it ends")
	show := &cobra.Command{
		Use: "show", Short: "Show a job: status, which identity read each input (DS-5), the error", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			v, err := a.armRequest(c.Context(), http.MethodGet, jobPath(ws, name), apiML, nil)
			if err != nil {
				return err
			}
			return a.print(jobShape(v))
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List a workspace's jobs", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			items, err := a.armList(c.Context(), ws.path+"/jobs", apiML, nil)
			if err != nil {
				return err
			}
			out := []any{}
			for _, it := range items {
				out = append(out, jobShape(it))
			}
			return a.print(out)
		},
	}
	streamCmd := &cobra.Command{
		Use: "stream", Short: "Stream a job's log (user_logs/std_log.txt) until it ends", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			return a.streamJob(c.Context(), jobPath(ws, name))
		},
	}
	cancel := &cobra.Command{
		Use: "cancel", Short: "Cancel a job (its processes are stopped)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodPost, jobPath(ws, name)+"/cancel", apiML, nil)
			return err
		},
	}
	archive := &cobra.Command{
		Use: "archive", Short: "Archive a job (hidden from list unless --include-archived)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := a.workspace(c.Context(), &ref)
			if err != nil {
				return err
			}
			_, err = a.armRequest(c.Context(), http.MethodPatch, jobPath(ws, name), apiML, map[string]any{"properties": map[string]any{"isArchived": true}})
			return err
		},
	}
	cmd.AddCommand(a.jobDownloadCmd(&ref))
	for _, c := range []*cobra.Command{create, show, list, streamCmd, cancel, archive} {
		ref.flags(c, false)
		if c != create && c != list {
			c.Flags().StringVarP(&name, "name", "n", "", "Name of the job")
		}
		cmd.AddCommand(c)
	}
	return cmd
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
func (a *app) jobDownloadCmd(ref *wsRef) *cobra.Command {
	var name, dest, outputName string
	var all bool
	c := &cobra.Command{
		Use: "download", Short: "Download a job's logs and outputs", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			ws, err := a.workspace(ctx, ref)
			if err != nil {
				return err
			}
			p := ws.path + "/jobs/" + url.PathEscape(name)
			dest = firstNonEmpty(dest, ".")
			root := filepath.Join(dest, name)
			v, err := a.armRequest(ctx, http.MethodPost, p+"/getLogs", apiML, nil)
			if err != nil {
				return err
			}
			content, _ := v.(map[string]any)["content"].(string)
			logPath := filepath.Join(root, "artifacts", "user_logs", "std_log.txt")
			if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(logPath, []byte(content), 0o644); err != nil {
				return err
			}
			jv, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
			if err != nil {
				return err
			}
			props, _ := jv.(map[string]any)["properties"].(map[string]any)
			outs, _ := props["outputs"].(map[string]any)
			for oname, ov := range outs {
				if outputName != "" && oname != outputName {
					continue
				}
				if outputName == "" && !all {
					continue
				}
				uri, _ := ov.(map[string]any)["uri"].(string)
				m := regexp.MustCompile(`^azureml://datastores/([^/]+)/paths/(.*)$`).FindStringSubmatch(uri)
				if m == nil {
					continue
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
				n, err := bc.downloadPrefix(ctx, cont, m[2], filepath.Join(root, "named-outputs", oname))
				if err != nil {
					return err
				}
				a.progressf("Downloaded %d file(s) of output %s", n, oname)
				a.progressDone("")
			}
			fmt.Fprintf(a.stderr, "Downloaded the job's artifacts to %s\n", root)
			return nil
		},
	}
	ref.flags(c, false)
	c.Flags().StringVarP(&name, "name", "n", "", "Name of the job")
	c.Flags().StringVarP(&dest, "download-path", "p", "", "Where to download (default: the current folder)")
	c.Flags().StringVar(&outputName, "output-name", "", "Download this named output")
	c.Flags().BoolVar(&all, "all", false, "Download every named output too")
	return c
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
