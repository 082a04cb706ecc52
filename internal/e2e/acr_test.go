package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// conformanceModule is the OCI distribution-spec conformance suite, run
// from the Go module cache (pinned for reproducible runs).
const conformanceModule = "github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"

// buildConformance downloads the suite through the Go module proxy and
// builds it.
func buildConformance(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module conformancerun\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dl := exec.Command("go", "mod", "download", "-json", conformanceModule)
	dl.Dir = work
	dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := dl.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", conformanceModule, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s %s", err, mod.Error, out)
	}
	bin := filepath.Join(work, "oci-conformance")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = mod.Dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the conformance suite: %v\n%s", err, out)
	}
	return bin
}

// The OCI distribution-spec conformance suite passes its pull, push,
// content-discovery (tags, referrers) and content-management (deletes)
// workflows against a registry of a real `amlid up`, authenticating as the
// registry's admin user through the token endpoint (rule ACR-1).
func TestACRConformance(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "acr-rg", "-l", "eastus")
	reg := mustJSON(t, in.mustCLI(cfg, "acr", "create", "-n", "confreg", "-g", "acr-rg", "--admin-enabled", "true"))
	ls, _ := reg["loginServer"].(string)
	if !strings.HasPrefix(ls, "127.0.0.1:") || reg["adminUserEnabled"] != true {
		t.Fatalf("acr create: %v", reg)
	}
	cred := mustJSON(t, in.mustCLI(cfg, "acr", "credential", "show", "-n", "confreg"))
	pw := cred["passwords"].([]any)[0].(map[string]any)["value"].(string)

	bin := buildConformance(t)
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = results
	cmd.Env = append(cleanEnv(), "SSL_CERT_FILE="+in.State.CABundle, "OCI_REGISTRY="+ls, "OCI_TLS=enabled",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2", "OCI_USERNAME="+cred["username"].(string), "OCI_PASSWORD="+pw,
		"OCI_VERSION=1.1", "OCI_RESULTS_DIR="+results, "OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_LOG=warn")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OCI Conformance Result: Pass") {
		t.Fatalf("conformance: %v\n%s", err, tailOf(string(out), 8000))
	}
	for _, want := range []string{"Blob chunked", "Blob mount", "Manifest put with subject", "Referrers", "Tag listing", "Manifest delete", "Blob delete"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("the conformance report does not mention %q:\n%s", want, tailOf(string(out), 4000))
		}
	}
	t.Logf("%s", tailOf(string(out), 2500))
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Debian's az drives a registry of amlid: `az acr update --admin-enabled
// false` (ARM PATCH) and `az acr login --expose-token` (challenge + token
// exchange, client-protocols.md §6); amlid's CLI imports images from an
// OCI layout and a docker-save tarball with no network and manages
// repositories.
func TestACRAzAndCLI(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "acr-rg", "-l", "eastus")
	in.mustCLI(cfg, "acr", "create", "-n", "azreg1", "-g", "acr-rg", "--admin-enabled", "true")

	az := newAz(t, in)
	az.must(t, "login", "--service-principal", "-u", in.Boot.ClientID, "-p", in.Boot.ClientSecret, "--tenant", in.Boot.TenantID)
	upd := mustJSON(t, az.must(t, "acr", "update", "-n", "azreg1", "--admin-enabled", "false"))
	if upd["adminUserEnabled"] != false || upd["name"] != "azreg1" {
		t.Fatalf("az acr update: %v", upd)
	}
	// The admin user is off now (rule ACR-1): no credentials.
	if _, se, code := in.cli(cfg, "acr", "credential", "show", "-n", "azreg1"); code != 1 || !strings.Contains(se, "UnAuthorizedForCredentialOperations") {
		t.Fatalf("credential show with the admin off: exit %d %s", code, se)
	}
	tok := mustJSON(t, az.must(t, "acr", "login", "-n", "azreg1", "--expose-token"))
	ls, _ := tok["loginServer"].(string)
	rt, _ := tok["accessToken"].(string)
	if !strings.HasPrefix(ls, "127.0.0.1:") || strings.Count(rt, ".") != 2 {
		t.Fatalf("az acr login --expose-token: %v", tok)
	}
	// The exposed token is a registry refresh token: it buys an access
	// token (the bootstrap admin is Owner: pull and push).
	hc := in.httpClient()
	resp, err := hc.PostForm("https://"+ls+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {ls},
		"scope": {"repository:team/app:pull,push"}, "refresh_token": {rt}})
	if err != nil {
		t.Fatal(err)
	}
	var at map[string]any
	json.NewDecoder(resp.Body).Decode(&at)
	resp.Body.Close()
	if resp.StatusCode != 200 || at["access_token"] == nil {
		t.Fatalf("access token from az's refresh token: %d %v", resp.StatusCode, at)
	}
	// Docker-style Basic with the empty GUID and the refresh token.
	req, _ := http.NewRequest(http.MethodGet, "https://"+ls+"/v2/", nil)
	req.SetBasicAuth("00000000-0000-0000-0000-000000000000", rt)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v2/ with the refresh token: %v %v", err, resp)
	}
	// amlid's CLI prints the same shape.
	mine := mustJSON(t, in.mustCLI(cfg, "acr", "login", "-n", "azreg1", "--expose-token"))
	if mine["loginServer"] != ls || strings.Count(mine["accessToken"].(string), ".") != 2 {
		t.Fatalf("amlid acr login --expose-token: %v", mine)
	}

	// Seed images with no network: an OCI layout and a docker-save tarball.
	src := t.TempDir()
	img, _ := random.Image(64<<10, 3)
	lp, err := layout.Write(filepath.Join(src, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.test/base/python:3.11")
	img2, _ := random.Image(32<<10, 2)
	if err := tarball.WriteToFile(filepath.Join(src, "img.tar"), tag, img2); err != nil {
		t.Fatal(err)
	}
	imp := mustJSON(t, in.mustCLI(cfg, "acr", "import", "-n", "azreg1", "--source", filepath.Join(src, "oci"), "--image", "base/python:3.11"))
	want, _ := img.Digest()
	if imp["digest"] != want.String() {
		t.Fatalf("import from layout: %v, want %s", imp, want)
	}
	in.mustCLI(cfg, "acr", "import", "-n", "azreg1", "--source", filepath.Join(src, "img.tar"), "--image", "base/python:3.12")
	in.mustCLI(cfg, "acr", "import", "-n", "azreg1", "--source", filepath.Join(src, "img.tar"), "--image", "tools/jq")
	if out := in.mustCLI(cfg, "acr", "repository", "list", "-n", "azreg1", "-o", "tsv"); out != "base/python\ntools/jq\n" {
		t.Fatalf("repository list: %q", out)
	}
	if out := in.mustCLI(cfg, "acr", "repository", "show-tags", "-n", "azreg1", "--repository", "base/python", "-o", "tsv"); out != "3.11\n3.12\n" {
		t.Fatalf("show-tags: %q", out)
	}
	// az reads the same catalog.
	if out := az.must(t, "acr", "repository", "list", "-n", "azreg1", "-o", "tsv"); out != "base/python\ntools/jq\n" {
		t.Fatalf("az acr repository list: %q", out)
	}
	del := mustJSON(t, in.mustCLI(cfg, "acr", "repository", "delete", "-n", "azreg1", "--repository", "tools/jq", "--yes"))
	if tags, _ := del["tagsDeleted"].([]any); len(tags) != 1 || tags[0] != "latest" {
		t.Fatalf("repository delete: %v", del)
	}
	if out := in.mustCLI(cfg, "acr", "repository", "list", "-n", "azreg1", "-o", "tsv"); out != "base/python\n" {
		t.Fatalf("repository list after delete: %q", out)
	}
	// The registry and its port go away with it.
	in.mustCLI(cfg, "acr", "delete", "-n", "azreg1", "--yes")
	if _, err := hc.Get("https://" + ls + "/v2/"); err == nil {
		t.Fatal("the deleted registry still answers")
	}
}
