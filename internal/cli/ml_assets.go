package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// wsCtx is a resolved workspace: its path and record.
type wsCtx struct {
	path, name string
	res        map[string]any
}

func (w *wsCtx) prop(k string) string {
	p, _ := w.res["properties"].(map[string]any)
	s, _ := p[k].(string)
	return s
}

func (w *wsCtx) location() string { s, _ := w.res["location"].(string); return s }

// workspace resolves -w/--workspace-name, -g and the configured defaults.
func (a *app) workspace(ctx context.Context, r *wsRef) (*wsCtx, error) {
	p, name, err := a.wsPath(&wsRef{v1name: firstNonEmpty(r.v1name, r.name), group: r.group}, "")
	if err != nil {
		return nil, err
	}
	v, err := a.armRequest(ctx, http.MethodGet, p, apiML, nil)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	return &wsCtx{path: p, name: name, res: m}, nil
}

// uploadFolder uploads a local folder (or one file) to the workspace's
// storage account, as azure-ai-ml does through the default datastore
// (container azureml-blobstore-<workspace id>, LocalUpload/<content
// hash>/<folder name>), and returns the folder's blob URL. Unchanged
// content is not uploaded twice.
func (a *app) uploadFolder(ctx context.Context, ws *wsCtx, local string) (string, error) {
	st, err := os.Stat(local)
	if err != nil {
		return "", usageErr("cannot read %s: %v", local, err)
	}
	files, root, err := localFiles(local, st)
	if err != nil {
		return "", err
	}
	sum, _, err := contentHash(root, files)
	if err != nil {
		return "", err
	}
	acctID := ws.prop("storageAccount")
	if acctID == "" {
		return "", &cliError{Message: "the workspace has no storage account", Exit: exitError}
	}
	acct, err := a.armRequest(ctx, http.MethodGet, acctID, apiStorage, nil)
	if err != nil {
		return "", err
	}
	acctName, _ := acct.(map[string]any)["name"].(string)
	keys, err := a.armRequest(ctx, http.MethodPost, acctID+"/listKeys", apiStorage, nil)
	if err != nil {
		return "", err
	}
	kl, _ := keysOf(keys).([]any)
	if len(kl) == 0 {
		return "", &cliError{Message: "the workspace's storage account has no keys", Exit: exitError}
	}
	key, _ := kl[0].(map[string]any)["value"].(string)
	props, _ := acct.(map[string]any)["properties"].(map[string]any)
	pe, _ := props["primaryEndpoints"].(map[string]any)
	ep := strings.TrimRight(fmt.Sprint(pe["blob"]), "/")
	bc, err := a.newBlobClient(ctx, &blobAuthFlags{account: acctName, key: key, authMode: "key", endpoint: ep})
	if err != nil {
		return "", err
	}
	cont := "azureml-blobstore-" + strings.ToLower(ws.prop("workspaceId"))
	_, err = bc.doClose(ctx, http.MethodPut, cont, url.Values{"restype": {"container"}}, nil, nil, 0)
	if err != nil && codeOf(err) != "ContainerAlreadyExists" {
		return "", err
	}
	folder := filepath.Base(filepath.Clean(local))
	prefix := "LocalUpload/" + sum + "/" + folder
	for _, f := range files {
		rel, _ := filepath.Rel(local, f)
		if !st.IsDir() {
			rel = filepath.Base(f)
		}
		if _, err := a.uploadFile(ctx, bc, cont, prefix+"/"+filepath.ToSlash(rel), f, "", nil, true, false); err != nil {
			return "", err
		}
	}
	return ep + "/" + cont + "/" + prefix, nil
}

// assetRef turns "azureml:name:version" / "azureml:name@latest" into the
// asset's version ID in the workspace.
func (a *app) assetRef(ctx context.Context, ws *wsCtx, kind, ref string) (string, error) {
	s := strings.TrimPrefix(ref, "azureml:")
	if strings.HasPrefix(strings.ToLower(s), "/subscriptions/") {
		return s, nil
	}
	name, version, ok := strings.Cut(s, ":")
	if !ok {
		n, label, _ := strings.Cut(s, "@")
		name = n
		if label != "" && label != "latest" {
			return "", usageErr("%s reference %q: only the label 'latest' is known", kind, ref)
		}
		// The service decides "latest" (the most recently created active
		// version), asked as azure-ai-ml asks it.
		q := url.Values{"$orderBy": {"createdtime desc"}, "$top": {"1"}}
		_, v, err := a.armDo(ctx, http.MethodGet, ws.path+"/"+kind+"/"+url.PathEscape(name)+"/versions", apiML, q, nil)
		if err != nil {
			return "", err
		}
		items, _ := v.(map[string]any)["value"].([]any)
		if len(items) == 0 {
			return "", &cliError{Message: fmt.Sprintf("%s %s has no active versions in workspace %s", kind, name, ws.name), Exit: exitNotFound}
		}
		version, _ = items[0].(map[string]any)["name"].(string)
	}
	return ws.path + "/" + kind + "/" + url.PathEscape(name) + "/versions/" + url.PathEscape(version), nil
}

// registerModel registers a model from a YAML value: a reference string,
// or {path, name?, version?} (an anonymous model when unnamed).
func (a *app) registerModel(ctx context.Context, ws *wsCtx, spec *mlSpec, v any) (string, error) {
	switch m := v.(type) {
	case nil:
		return "", nil
	case string:
		return a.assetRef(ctx, ws, "models", m)
	case map[string]any:
		path, _ := m["path"].(string)
		if path == "" {
			return "", usageErr("model needs path (a local folder or file)")
		}
		uri, err := a.uploadFolder(ctx, ws, spec.path(path))
		if err != nil {
			return "", err
		}
		name, _ := m["name"].(string)
		version := fmt.Sprint(firstNonNil(m["version"], "1"))
		if name == "" {
			name = anonName(uri)
		}
		id := ws.path + "/models/" + url.PathEscape(name) + "/versions/" + url.PathEscape(version)
		desc, _ := m["description"].(string)
		if _, err := a.armRequest(ctx, http.MethodPut, id, apiML, map[string]any{"properties": map[string]any{
			"modelUri": uri, "modelType": firstNonNil(m["type"], "custom_model"), "description": desc, "isAnonymous": m["name"] == nil}}); err != nil {
			return "", err
		}
		return id, nil
	}
	return "", usageErr("model must be a reference (azureml:name:version) or {path: …}")
}

func anonName(uri string) string {
	sum := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(sum[:16])
}

func firstNonNil(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// registerCode uploads a code folder and registers it as a code asset.
func (a *app) registerCode(ctx context.Context, ws *wsCtx, spec *mlSpec, code string) (string, error) {
	if strings.HasPrefix(code, "azureml:") {
		return a.assetRef(ctx, ws, "codes", code)
	}
	uri, err := a.uploadFolder(ctx, ws, spec.path(code))
	if err != nil {
		return "", err
	}
	id := ws.path + "/codes/" + anonName(uri) + "/versions/1"
	if _, err := a.armRequest(ctx, http.MethodPut, id, apiML, map[string]any{"properties": map[string]any{"codeUri": uri, "isAnonymous": true}}); err != nil {
		return "", err
	}
	return id, nil
}

// environmentBody maps an environment YAML ({image, conda_file,
// description, build}) to REST; the conda file's content is recorded.
func environmentBody(spec *mlSpec, m map[string]any) (map[string]any, error) {
	props := map[string]any{}
	if img, _ := m["image"].(string); img != "" {
		props["image"] = img
	}
	if cf, _ := m["conda_file"].(string); cf != "" {
		b, err := os.ReadFile(spec.path(cf))
		if err != nil {
			return nil, usageErr("cannot read conda_file: %v", err)
		}
		props["condaFile"] = string(b)
	}
	if d, _ := m["description"].(string); d != "" {
		props["description"] = d
	}
	if b, ok := m["build"].(map[string]any); ok {
		props["build"] = map[string]any{"contextUri": b["path"], "dockerfilePath": firstNonNil(b["dockerfile_path"], "Dockerfile")}
		// A local build context is sent with the request (issue 21): amlid
		// builds the image itself, on the workspace registry.
		if bp, _ := b["path"].(string); bp != "" && !isRemote(bp) {
			files, err := readBuildContext(spec.path(bp))
			if err != nil {
				return nil, err
			}
			props["amlidBuildContext"] = files
		}
	}
	if ri, ok := m["registry_identity"].(map[string]any); ok {
		// v1 RegistryIdentity: the identity the build pulls a private base
		// with (rule ACR-5: it wins over a workspace connection).
		props["registryIdentity"] = map[string]any{"resourceId": firstNonNil(ri["resource_id"], ri["resourceId"]), "clientId": firstNonNil(ri["client_id"], ri["clientId"])}
	}
	if props["image"] == nil && props["build"] == nil {
		return nil, usageErr("an environment needs image (or build)")
	}
	return map[string]any{"properties": props}, nil
}

// registerEnvironment registers an environment from a YAML value: a
// reference string or an inline definition (an anonymous version).
func (a *app) registerEnvironment(ctx context.Context, ws *wsCtx, spec *mlSpec, v any) (string, error) {
	switch m := v.(type) {
	case string:
		return a.assetRef(ctx, ws, "environments", m)
	case map[string]any:
		body, err := environmentBody(spec, m)
		if err != nil {
			return "", err
		}
		name, _ := m["name"].(string)
		version := fmt.Sprint(firstNonNil(m["version"], ""))
		if name == "" {
			name = "CliV2AnonymousEnvironment"
			p := body["properties"].(map[string]any)
			version = anonName(fmt.Sprint(p["image"], "\x00", p["condaFile"]))
		}
		if version == "" {
			version = "1"
		}
		id := ws.path + "/environments/" + url.PathEscape(name) + "/versions/" + url.PathEscape(version)
		if _, err := a.armRequest(ctx, http.MethodPut, id, apiML, body); err != nil {
			return "", err
		}
		return id, nil
	}
	return "", usageErr("environment must be a reference (azureml:name:version) or {image, conda_file}")
}

func environmentShape(v any) any {
	m, p, id, ok := armRecord(v)
	if !ok {
		return v
	}
	name := assetOfVersion(id)
	out := map[string]any{"id": id, "name": name, "version": m["name"], "image": p["image"], "description": p["description"],
		"os_type": strings.ToLower(fmt.Sprint(p["osType"])), "tags": orEmpty(m["tags"])}
	if cf, ok := p["condaFile"].(string); ok {
		out["conda_file"] = cf
	}
	if b, ok := p["build"].(map[string]any); ok {
		out["build"] = map[string]any{"path": b["contextUri"], "dockerfile_path": b["dockerfilePath"]}
	}
	if ri, ok := p["registryIdentity"].(map[string]any); ok {
		out["registry_identity"] = map[string]any{"resource_id": ri["resourceId"], "client_id": ri["clientId"]}
	}
	if b, ok := p["amlidBuild"].(map[string]any); ok {
		out["build_status"], out["built_image"], out["built_digest"] = b["status"], b["image"], b["digest"]
	}
	if p["isArchived"] == true {
		out["archived"] = true
	}
	setGroup(out, id)
	return out
}

func init() { mlSubcommands = append(mlSubcommands, (*app).mlEnvironmentCmd) }

// environmentResource is `amlid ml environment`: versioned assets at
// <workspace>/environments/<name>/versions/<version>.
var environmentResource = &mlResource{
	use: "environment", short: "Manage environments (image + conda file; amlid records the conda file and runs the machine's python3)",
	noun: "environment", collection: "environments", shape: environmentShape,
}

func (a *app) mlEnvironmentCmd() *cobra.Command {
	r := environmentResource
	return a.mlResourceCmd(r, a.environmentCreateCmd(r), a.environmentShowCmd(r), a.environmentListCmd(r), a.environmentArchiveCmd(r))
}

func (a *app) environmentCreateCmd(r *mlResource) *cobra.Command {
	var version, image, conda, buildContext string
	keys := []string{"name", "version", "image", "conda_file", "description", "tags", "build", "os_type", "inference_config"}
	c := a.mlYAMLCmd(r, "Create an environment version", "Local path to the YAML file of the environment", "environment", keys,
		func(ctx context.Context, ir *mlItemRef, spec *mlSpec, n string) error {
			if image != "" {
				spec.m["image"] = image
			}
			if conda != "" {
				spec.m["conda_file"] = conda
			}
			if buildContext != "" {
				abs, _ := filepath.Abs(buildContext)
				spec.m["build"] = map[string]any{"path": abs}
			}
			ws, err := a.workspace(ctx, &ir.ws)
			if err != nil {
				return err
			}
			body, err := environmentBody(spec, spec.m)
			if err != nil {
				return err
			}
			if t, ok := spec.m["tags"].(map[string]any); ok {
				body["tags"] = t
			}
			v := firstNonEmpty(version, spec.str("version"), "1")
			res, err := a.armRequest(ctx, http.MethodPut, ws.path+"/environments/"+url.PathEscape(n)+"/versions/"+url.PathEscape(v), apiML, body)
			if err != nil {
				return err
			}
			return a.print(environmentShape(res))
		})
	fl := c.Flags()
	fl.StringVar(&image, "image", "", "Base image")
	fl.StringVar(&conda, "conda-file", "", "Local path to a conda file (recorded, not installed)")
	fl.StringVar(&buildContext, "build-context", "", "Local folder of a build context (its Dockerfile's FROM is the base when --image is not given)")
	versionFlag(c, &version, "Version (default 1)")
	return c
}

func (a *app) environmentShowCmd(r *mlResource) *cobra.Command {
	var version string
	var stream bool
	c := a.mlItemCmd(r, "show", "Show an environment version", func(ctx context.Context, it mlItem) error {
		id, err := a.assetVersion(ctx, it, version)
		if err != nil {
			return err
		}
		res, err := a.armRequest(ctx, http.MethodGet, id, apiML, nil)
		if err != nil {
			return err
		}
		out := environmentShape(res)
		if p, _ := res.(map[string]any)["properties"].(map[string]any); p != nil {
			if b, ok := p["amlidBuild"].(map[string]any); ok {
				if stream {
					fmt.Fprint(a.stdout, b["log"])
					return nil
				}
				out.(map[string]any)["build_log"] = b["log"]
			}
		}
		if stream {
			return &cliError{Message: "environment " + it.ref.name + " was not built by amlid (no conda file or build context on an amlid registry's image): no build log", Exit: exitError}
		}
		return a.print(out)
	})
	versionFlag(c, &version, "Version (default: the latest)")
	c.Flags().BoolVar(&stream, "stream", false, "Print the image build's log (rule ACR-5 credentials, base pull, push to the workspace registry)")
	return c
}

func (a *app) environmentArchiveCmd(r *mlResource) *cobra.Command {
	var version string
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "archive", Short: "Archive an environment version (hidden from list; still usable by reference)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if ir.name == "" || version == "" {
				return usageErr("the following arguments are required: --name/-n, --version/-v")
			}
			_, p, err := ir.itemPath(c.Context(), a, "")
			if err != nil {
				return err
			}
			id := p + "/versions/" + url.PathEscape(version)
			res, err := a.armRequest(c.Context(), http.MethodGet, id, apiML, nil)
			if err != nil {
				return err
			}
			body := res.(map[string]any)
			p2, _ := body["properties"].(map[string]any)
			if p2 == nil {
				p2 = map[string]any{}
			}
			p2["isArchived"] = true
			res, err = a.armRequest(c.Context(), http.MethodPut, id, apiML, map[string]any{"properties": p2, "tags": body["tags"]})
			if err != nil {
				return err
			}
			return a.print(environmentShape(res))
		},
	}
	versionFlag(c, &version, "Version to archive")
	ir = r.ref(c, r.nameHelp())
	return c
}

func (a *app) environmentListCmd(r *mlResource) *cobra.Command {
	var archived bool
	var ir *mlItemRef
	c := &cobra.Command{
		Use: "list", Short: "List environment versions", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			ws, err := a.workspace(ctx, &ir.ws)
			if err != nil {
				return err
			}
			names := []string{ir.name}
			if ir.name == "" {
				containers, err := a.armList(ctx, ws.path+"/environments", apiML, nil)
				if err != nil {
					return err
				}
				names = nil
				for _, it := range containers {
					n, _ := it.(map[string]any)["name"].(string)
					names = append(names, n)
				}
			}
			out := []any{}
			for _, n := range names {
				var view url.Values // the service hides archived versions unless asked (listViewType)
				if archived {
					view = url.Values{"listViewType": {"All"}}
				}
				items, err := a.armList(ctx, ws.path+"/environments/"+url.PathEscape(n)+"/versions", apiML, view)
				if err != nil {
					return err
				}
				for _, it := range items {
					sh := environmentShape(it).(map[string]any)
					if sh["archived"] == true && !archived {
						continue
					}
					out = append(out, sh)
				}
			}
			return a.print(out)
		},
	}
	c.Flags().BoolVar(&archived, "include-archived", false, "List archived versions too")
	ir = r.ref(c, r.nameHelp())
	return c
}

// readBuildContext reads a local build context folder as path → base64
// (at most 64 MiB); symbolic links and anything outside the folder are
// refused.
func readBuildContext(dir string) (map[string]any, error) {
	out := map[string]any{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			return usageErr("build context %s: %s is a symbolic link; the context takes regular files only", dir, rel)
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(rel, "../") || rel == ".." {
			return usageErr("build context path %s leaves %s", rel, dir)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if total += int64(len(b)); total > 64<<20 {
			return usageErr("build context %s is larger than 64 MiB", dir)
		}
		out[rel] = base64.StdEncoding.EncodeToString(b)
		return nil
	})
	if err != nil {
		var ce *cliError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, usageErr("cannot read the build context %s: %v", dir, err)
	}
	return out, nil
}
