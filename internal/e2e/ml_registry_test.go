package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// privateBase makes a tiny OCI layout and imports it into registry reg as
// repo:tag with amlid acr import; it returns the image reference.
func (in *instance) privateBase(t *testing.T, cfg, reg, repoTag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	img, _ := random.Image(16<<10, 2)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	in.mustCLI(cfg, "acr", "import", "-n", reg, "--source", dir, "--image", repoTag)
	ls := mustJSON(t, in.mustCLI(cfg, "acr", "show", "-n", reg))["loginServer"].(string)
	return ls + "/" + repoTag
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Seed 000 step 2 and seed 003 (issue 21): a managed environment built on a
// private base image through a workspace connection naming a UAI is refused
// while the workspace SAI lacks Managed Identity Operator on the UAI, then
// while the UAI lacks AcrPull on the private registry (each refusal names
// rule ACR-5, the identity and the grant command, and the seeds' role
// spellings fix them); the built image lands in the workspace registry
// (created on first need, WS-7) as azureml/azureml_<hash>, pulls with
// go-containerregistry and has the same digest when rebuilt; a
// RegistryIdentity on the environment naming a second UAI wins over the
// connection. Connections keep admin passwords out of GETs.
func TestEnvironmentBuildOnPrivateBase(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	in.mustCLI(cfg, "group", "create", "-n", "reg-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=reg-rg")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "reg-ws"))
	wsPath := ws["id"].(string)
	sai := ws["identity"].(map[string]any)["principal_id"]
	privReg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "privreg21", "--sku", "Basic"))["id"].(string)
	base := in.privateBase(t, cfg, "privreg21", "base/py:1")
	ls := strings.SplitN(base, "/", 2)[0]
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "pulluai"))
	uaiID, uaiPID := uai["id"].(string), uai["principalId"].(string)

	dir := t.TempDir()
	conn := writeFile(t, dir, "conn.yml", fmt.Sprintf("name: privacr\ntype: container_registry\ntarget: %s\ncredentials:\n  type: managed_identity\n  resource_id: %s\n  client_id: %s\n", ls, uaiID, uai["clientId"]))
	got := mustJSON(t, in.mustCLI(cfg, "ml", "connection", "create", "-f", conn, "-w", "reg-ws"))
	if got["credentials"].(map[string]any)["resource_id"] != uaiID {
		t.Fatalf("connection: %v", got)
	}

	envPath := wsPath + "/environments/pyenv/versions/"
	envBody := func(extra map[string]any) map[string]any {
		p := map[string]any{"image": base, "condaFile": "name: env\ndependencies:\n- python=3.10\n"}
		for k, v := range extra {
			p[k] = v
		}
		return map[string]any{"properties": p}
	}
	// 1. No Managed Identity Operator for the workspace SAI on the UAI.
	st, out := in.armDo(t, admin, http.MethodPut, envPath+"1", "2023-04-01", envBody(nil))
	msg := fmt.Sprint(out)
	if st != http.StatusForbidden || !strings.Contains(msg, "ACR-5") || !strings.Contains(msg, "Managed Identity Operator") || !strings.Contains(msg, fmt.Sprint(sai)) {
		t.Fatalf("build without Managed Identity Operator: %d %s", st, msg)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", fmt.Sprint(sai), "--assignee-principal-type", "ServicePrincipal",
		"--role", "managedidentityoperator", "--scope", uaiID)
	// 2. No AcrPull for the UAI on the private registry.
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"1", "2023-04-01", envBody(nil))
	msg = fmt.Sprint(out)
	if st != http.StatusForbidden || !strings.Contains(msg, "ACR-5") || !strings.Contains(msg, "AcrPull") || !strings.Contains(msg, uaiPID) ||
		strings.Contains(msg, "Managed Identity Operator") ||
		!strings.Contains(msg, "role assignment create") {
		t.Fatalf("build without AcrPull for the UAI: %d %s", st, msg)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uaiPID, "--assignee-principal-type", "ServicePrincipal",
		"--role", "acrpull", "--scope", privReg)
	// 3. Both: the build runs and pushes to the workspace registry.
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"1", "2023-04-01", envBody(nil))
	if st != http.StatusOK {
		t.Fatalf("build with both grants: %d %v", st, out)
	}
	b1 := out["properties"].(map[string]any)["amlidBuild"].(map[string]any)
	if !strings.Contains(b1["image"].(string), "/azureml/azureml_") || !strings.Contains(b1["log"].(string), uaiID) {
		t.Fatalf("build result: %v", b1)
	}
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"2", "2023-04-01", envBody(nil))
	if st != http.StatusOK {
		t.Fatalf("rebuild: %d %v", st, out)
	}
	b2 := out["properties"].(map[string]any)["amlidBuild"].(map[string]any)
	if b1["digest"] != b2["digest"] || b1["image"] != b2["image"] {
		t.Fatalf("same inputs, different builds: %v vs %v", b1, b2)
	}
	// The built image pulls with go-containerregistry as an AcrPull holder
	// (the workspace SAI got Contributor on the registry it created; a new
	// app gets AcrPull).
	wsReg := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "show", "-n", "reg-ws"))["container_registry"]
	if wsReg == nil {
		t.Fatalf("workspace has no registry after the build (WS-7)")
	}
	appID, secret, oid := in.newSP(t, cfg, "puller21")
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", oid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "AcrPull", "--scope", fmt.Sprint(wsReg))
	wsLS := strings.SplitN(b1["image"].(string), "/", 2)[0]
	at := in.clientToken(t, in.Boot.TenantID, appID, secret, "https://management.azure.com/.default")
	resp, err := in.httpClient().PostForm("https://"+wsLS+"/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {wsLS},
		"tenant": {in.Boot.TenantID}, "access_token": {at}})
	if err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	json.NewDecoder(resp.Body).Decode(&ex)
	resp.Body.Close()
	rt, _ := ex["refresh_token"].(string)
	if rt == "" {
		t.Fatalf("exchange at the workspace registry: %d %v", resp.StatusCode, ex)
	}
	ref, err := name.ParseReference(b1["image"].(string))
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithTransport(in.httpClient().Transport), remote.WithAuth(authn.FromConfig(authn.AuthConfig{IdentityToken: rt})))
	if err != nil {
		t.Fatalf("pull the built image as an AcrPull holder: %v", err)
	}
	if d, _ := img.Digest(); d.String() != b1["digest"] {
		t.Fatalf("pulled %s, built %s", d, b1["digest"])
	}
	layers, _ := img.Layers()
	if len(layers) != 3 {
		t.Fatalf("built image has %d layers, want the base's 2 + 1", len(layers))
	}

	// An online deployment of the built environment pulls it as the
	// endpoint's identity before it starts; the pull opens its log.
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", filepath.Join(echo, "endpoint.yml"), "-w", "reg-ws", "-n", "reg-ep")
	in.mustCLI(cfg, "ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"), "-w", "reg-ws", "--endpoint-name", "reg-ep",
		"--name", "blue", "--all-traffic", "--set", "instance_count=1", "environment=azureml:pyenv:1", "environment_variables.DEPLOYMENT_COLOR=blue")
	logs := in.mustCLI(cfg, "ml", "online-deployment", "get-logs", "-w", "reg-ws", "--endpoint-name", "reg-ep", "--name", "blue")
	if !strings.Contains(logs, "pulled "+b1["image"].(string)) || !strings.Contains(logs, "system-assigned identity of") {
		t.Fatalf("deployment log lacks the image pull:\n%s", logs)
	}

	// The CLI: a build context whose Dockerfile names the private base,
	// the build log through show --stream, list and archive.
	ctxDir := t.TempDir()
	writeFile(t, ctxDir, "Dockerfile", "FROM "+base+"\nCOPY requirements.txt /tmp/\n")
	writeFile(t, ctxDir, "requirements.txt", "numpy\n")
	built := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "create", "-n", "ctxenv", "--version", "1", "--build-context", ctxDir, "-w", "reg-ws"))
	if built["build_status"] != "Succeeded" || built["image"] != base || !strings.Contains(fmt.Sprint(built["built_image"]), "/azureml/azureml_") {
		t.Fatalf("environment create --build-context: %v", built)
	}
	if log := in.mustCLI(cfg, "ml", "environment", "show", "-n", "ctxenv", "--version", "1", "--stream", "-w", "reg-ws"); !strings.Contains(log, "pushed ") || !strings.Contains(log, "pulled base "+base) {
		t.Fatalf("show --stream:\n%s", log)
	}
	in.mustCLI(cfg, "ml", "environment", "archive", "-n", "ctxenv", "--version", "1", "-w", "reg-ws")
	if l := in.mustCLI(cfg, "ml", "environment", "list", "-n", "ctxenv", "-w", "reg-ws"); strings.Contains(l, "ctxenv") {
		t.Fatalf("archived version still listed: %s", l)
	}
	if sh := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "show", "-n", "ctxenv", "--version", "1", "-w", "reg-ws")); sh["archived"] != true || sh["built_digest"] != built["built_digest"] {
		t.Fatalf("archive changed the build or did not archive: %v", sh)
	}
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"8", "2023-04-01", map[string]any{"properties": map[string]any{"image": base,
		"amlidBuildContext": map[string]any{"../escape.txt": "eA=="}}})
	if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "leaves the context") {
		t.Fatalf("build context with '..': %d %v", st, out)
	}

	// 4. A RegistryIdentity on the environment names a second UAI, which
	// wins over the connection: refused until it has its own grants.
	uai2 := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "envuai"))
	ri := map[string]any{"registryIdentity": map[string]any{"resourceId": uai2["id"], "clientId": uai2["clientId"]}}
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"3", "2023-04-01", envBody(ri))
	msg = fmt.Sprint(out)
	if st != http.StatusForbidden || !strings.Contains(msg, uai2["id"].(string)) {
		t.Fatalf("registry identity without grants: %d %s", st, msg)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", fmt.Sprint(sai), "--assignee-principal-type", "ServicePrincipal",
		"--role", "Managed Identity Operator", "--scope", uai2["id"].(string))
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", uai2["principalId"].(string), "--assignee-principal-type", "ServicePrincipal",
		"--role", "acrpull", "--scope", privReg)
	st, out = in.armDo(t, admin, http.MethodPut, envPath+"3", "2023-04-01", envBody(ri))
	if st != http.StatusOK || !strings.Contains(fmt.Sprint(out), uai2["id"].(string)) {
		t.Fatalf("build with the registry identity: %d %v", st, out)
	}

	// Admin-credential connections: the password never comes back on GET.
	adm := writeFile(t, dir, "adm.yml", "name: admacr\ntype: container_registry\ntarget: example.azurecr.io\ncredentials:\n  type: username_password\n  username: admuser\n  password: s3cret-Pa55word-21\n")
	in.mustCLI(cfg, "ml", "connection", "create", "-f", adm, "-w", "reg-ws")
	shown := in.mustCLI(cfg, "ml", "connection", "show", "-n", "admacr", "-w", "reg-ws")
	listed := in.mustCLI(cfg, "ml", "connection", "list", "-w", "reg-ws")
	if strings.Contains(shown+listed, "s3cret-Pa55word-21") || !strings.Contains(shown, "admuser") {
		t.Fatalf("a GET returned the password: %s %s", shown, listed)
	}
	if s := in.mustCLI(cfg, "ml", "connection", "show", "-n", "admacr", "-w", "reg-ws", "--include-secrets"); !strings.Contains(s, "s3cret-Pa55word-21") {
		t.Fatalf("listsecrets: %s", s)
	}
	if strings.Contains(in.Log.String(), "s3cret-Pa55word-21") {
		t.Errorf("the server log shows the connection password")
	}
	filepath.Walk(in.DataDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "s3cret-Pa55word-21") {
				t.Errorf("the password is stored in clear in %s", p)
			}
		}
		return nil
	})

	// Bad input.
	both := writeFile(t, dir, "both.yml", fmt.Sprintf("name: both\ntype: container_registry\ntarget: %s\ncredentials:\n  resource_id: %s\n  username: u\n  password: p\n", ls, uaiID))
	in.cliFails(t, cfg, []string{"ACR-5", "both"}, "ml", "connection", "create", "-f", both, "-w", "reg-ws")
	for _, c := range []struct {
		image string
		want  string
	}{
		{ls + "/base/py", "no tag or digest"},
		{"127.0.0.1:1/base/py:1", "no amlid registry"},
	} {
		st, out := in.armDo(t, admin, http.MethodPut, envPath+"9", "2023-04-01", map[string]any{"properties": map[string]any{"image": c.image}})
		if st != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), c.want) {
			t.Fatalf("image %s: %d %v", c.image, st, out)
		}
	}
}

// Seed 000 step 1 and ACR-5's first half: a compute pulls a private base
// image as is, through the registry's OCI API with a token exchanged for its
// own identity: refused (naming ACR-5, the compute's identity and the grant)
// until the seed's `role assignment create --role acrpull`; then the pull
// shows in the run's log and the image lands on the node.
func TestComputePullsPrivateBaseAsIs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "asis-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=asis-rg", "workspace=asis-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "asis-ws")
	privReg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "privreg22", "--sku", "Basic"))["id"].(string)
	base := in.privateBase(t, cfg, "privreg22", "base/py:1")
	c := mustJSON(t, in.mustCLI(cfg, "ml", "compute", "create", "-f", filepath.Join("testdata", "ml", "compute", "create-cluster-sai.yml")))
	cid, pid := c["id"].(string), c["identity"].(map[string]any)["principal_id"].(string)
	in.mustCLI(cfg, "ml", "environment", "create", "-n", "asis", "--version", "1", "--image", base)

	_, se, code := in.cli(cfg, "run", "--as", cid, "--environment", "azureml:asis:1", "--sandbox", "off", "--", "/bin/true")
	if code == 0 || !strings.Contains(se, "ACR-5") || !strings.Contains(se, pid) || !strings.Contains(se, "AcrPull") ||
		!strings.Contains(se, "role assignment create") || !strings.Contains(se, privReg) {
		t.Fatalf("pull without AcrPull: exit %d\n%s", code, se)
	}
	// amlid analyze lists the environment whose pull would be refused, with the fix.
	envID := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "show", "-n", "asis", "--version", "1"))["id"].(string)
	met, found, fix := analyzeFinding(t, in.analyze(t, cfg), envID, "ACR-5")
	if !found || met || !strings.Contains(fix, pid) || !strings.Contains(fix, "AcrPull") {
		t.Fatalf("analyze on the as-is environment: found %v met %v fix %q", found, met, fix)
	}
	in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type", "ServicePrincipal",
		"--role", "acrpull", "--scope", privReg)
	if met, found, _ := analyzeFinding(t, in.analyze(t, cfg), envID, "ACR-5"); !found || !met {
		t.Fatalf("analyze after the grant: found %v met %v", found, met)
	}
	so, se, code := in.cli(cfg, "run", "--as", cid, "--environment", "azureml:asis:1", "--sandbox", "off", "--", "/bin/true")
	if code != 0 || !strings.Contains(se, "pulled "+base) {
		t.Fatalf("pull with AcrPull: exit %d\n%s\n%s", code, so, se)
	}
	_, rest, _ := strings.Cut(se, "image layout written to ")
	dir, _, _ := strings.Cut(rest, " ")
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err != nil || !strings.Contains(string(b), "manifests") {
		t.Fatalf("no image layout on the node at %q: %v %s", dir, err, b)
	}
	// A job whose environment is that image pulls it as the compute's
	// identity before it starts, and says so in its log.
	jobYAML := filepath.Join(t.TempDir(), "job.yml")
	os.WriteFile(jobYAML, []byte("command: echo job-ran\nenvironment: azureml:asis:1\ncompute: azureml:"+c["name"].(string)+"\n"), 0o644)
	if so, se, code := in.cli(cfg, "ml", "job", "create", "-f", jobYAML, "-n", "asis-job", "--stream"); code != 0 || !strings.Contains(so, "pulled "+base) || !strings.Contains(so, "job-ran") {
		t.Fatalf("a job on the private image: exit %d\n%s\n%s", code, so, se)
	}
	// The v1 SDK's set_connection body (category ACR, authType
	// RegistryConnection, value {ResourceId, ClientId} as JSON text).
	admin := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	wsID := strings.SplitN(cid, "/computes/", 2)[0]
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "v1uai"))
	ls := strings.SplitN(base, "/", 2)[0]
	val := fmt.Sprintf(`{"ResourceId": %q, "ClientId": %q}`, uai["id"], uai["clientId"])
	st, out := in.armDo(t, admin, http.MethodPut, wsID+"/connections/v1conn", "2021-07-01", map[string]any{"properties": map[string]any{
		"category": "ACR", "authType": "RegistryConnection", "target": ls, "value": val}})
	creds, _ := out["properties"].(map[string]any)["credentials"].(map[string]any)
	if st != http.StatusOK || !strings.EqualFold(fmt.Sprint(creds["resourceId"]), uai["id"].(string)) || out["properties"].(map[string]any)["category"] != "ContainerRegistry" {
		t.Fatalf("v1 connection body: %d %v", st, out)
	}
	in.mustCLI(cfg, "ml", "connection", "delete", "-n", "v1conn", "--yes")

	// Admin credentials through a connection (ACR-5's other path): the
	// build pulls the base with the registry's admin user.
	in.mustCLI(cfg, "acr", "create", "-n", "admreg22", "--sku", "Basic", "--admin-enabled", "true")
	admBase := in.privateBase(t, cfg, "admreg22", "base/adm:1")
	acred := mustJSON(t, in.mustCLI(cfg, "acr", "credential", "show", "-n", "admreg22"))
	pw := acred["passwords"].([]any)[0].(map[string]any)["value"].(string)
	connYAML := writeFile(t, t.TempDir(), "adm.yml", fmt.Sprintf("name: admconn\ntype: container_registry\ntarget: %s\ncredentials:\n  type: username_password\n  username: %s\n  password: %s\n",
		strings.SplitN(admBase, "/", 2)[0], acred["username"], pw))
	in.mustCLI(cfg, "ml", "connection", "create", "-f", connYAML)
	condaF := writeFile(t, t.TempDir(), "conda.yml", "name: e\n")
	built := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "create", "-n", "admenv", "--version", "1", "--image", admBase, "--conda-file", condaF))
	if built["build_status"] != "Succeeded" {
		t.Fatalf("build with admin credentials: %v", built)
	}
	if log := in.mustCLI(cfg, "ml", "environment", "show", "-n", "admenv", "--version", "1", "--stream"); !strings.Contains(log, "admin user "+fmt.Sprint(acred["username"])) || strings.Contains(log, pw) {
		t.Fatalf("admin build log:\n%s", log)
	}

	// Bad input: an environment that is no version.
	in.cliFails(t, cfg, []string{"azureml:<name>:<version>"}, "run", "--as", cid, "--environment", "azureml:asis", "--sandbox", "off", "--", "/bin/true")
}

// azure-ai-ml 1.4.0 (issue 21): ml_client.connections creates, gets and
// lists a container_registry connection naming a UAI, and one with admin
// credentials whose password a get never returns;
// ml_client.environments.create_or_update(Environment(image=…)) registers an
// as-is environment on a private amlid registry, and one with a conda file
// is built onto the workspace registry.
func TestMLClientConnectionsAndEnvironments(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pyreg-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=pyreg-rg")
	ws := mustJSON(t, in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pyreg-ws"))
	sai := ws["identity"].(map[string]any)["principal_id"].(string)
	privReg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "privreg23", "--sku", "Basic"))["id"].(string)
	base := in.privateBase(t, cfg, "privreg23", "base/py:1")
	ls := strings.SplitN(base, "/", 2)[0]
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-n", "pyuai"))
	for _, g := range [][3]string{{sai, "managedidentityoperator", uai["id"].(string)}, {uai["principalId"].(string), "acrpull", privReg}} {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", g[0], "--assignee-principal-type", "ServicePrincipal", "--role", g[1], "--scope", g[2])
	}
	conda := writeFile(t, t.TempDir(), "conda.yml", "name: env\ndependencies:\n- python=3.10\n")
	got := mustJSON(t, in.python(t, []string{"BASE=" + base, "LS=" + ls, "UAI_ID=" + uai["id"].(string), "UAI_CLIENT=" + uai["clientId"].(string), "CONDA=" + conda}, "-c", `
import os, json
from azure.ai.ml import MLClient
from azure.ai.ml.entities import Environment, WorkspaceConnection, ManagedIdentityConfiguration, UsernamePasswordConfiguration
from azure.identity import DefaultAzureCredential
ml = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], "pyreg-rg", "pyreg-ws")
c = ml.connections.create_or_update(WorkspaceConnection(name="privacr", type="container_registry", target=os.environ["LS"],
    credentials=ManagedIdentityConfiguration(client_id=os.environ["UAI_CLIENT"], resource_id=os.environ["UAI_ID"])))
ml.connections.create_or_update(WorkspaceConnection(name="admacr", type="container_registry", target="other.azurecr.io",
    credentials=UsernamePasswordConfiguration(username="admin1", password="py-s3cret-21")))
adm = ml.connections.get("admacr")
asis = ml.environments.create_or_update(Environment(name="asis", version="1", image=os.environ["BASE"]))
built = ml.environments.create_or_update(Environment(name="built", version="1", image=os.environ["BASE"], conda_file=os.environ["CONDA"]))
print(json.dumps({"conn": c.name, "type": c.type, "resource_id": c.credentials.resource_id, "adm_user": adm.credentials.username,
    "adm_password": adm.credentials.password, "listed": sorted(x.name for x in ml.connections.list()),
    "asis": asis.image, "built": built.image}))
`))
	if got["conn"] != "privacr" || got["type"] != "container_registry" || !strings.EqualFold(fmt.Sprint(got["resource_id"]), uai["id"].(string)) ||
		got["adm_user"] != "admin1" || got["adm_password"] != nil || fmt.Sprint(got["listed"]) != "[admacr privacr]" || got["asis"] != base || got["built"] != base {
		t.Fatalf("MLClient: %v", got)
	}
	sh := mustJSON(t, in.mustCLI(cfg, "ml", "environment", "show", "-n", "built", "--version", "1", "-w", "pyreg-ws"))
	if sh["build_status"] != "Succeeded" || !strings.Contains(fmt.Sprint(sh["build_log"]), uai["id"].(string)) {
		t.Fatalf("the MLClient environment was not built through the connection: %v", sh)
	}
}
