package msi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amlid/amlid/internal/directory"
)

// Debian's Python SDK (python3-azure, azure-identity 1.13) and az 2.45.
const (
	debianPython = "/usr/bin/python3"
	debianAz     = "/usr/bin/az"
)

func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatal("no /usr/bin/python3")
	}
	if exec.Command(debianPython, "-c", "import azure.identity, requests").Run() != nil {
		t.Fatal("python3-azure is not installed: apt-get install -y python3-azure (scripts/test.sh does)")
	}
}

// cleanEnv is the test process's environment without any variable that
// steers managed-identity source selection.
func cleanEnv() []string {
	drop := map[string]bool{"APPSETTING_WEBSITE_SITE_NAME": true, "UAI_CLIENT_ID": true, "ACC_CLOUD": true,
		"AZURE_TENANT_ID": true, "AZURE_FEDERATED_TOKEN_FILE": true, "AZURE_AUTHORITY_HOST": true}
	for _, k := range miEnvVars {
		drop[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

type pyScenario struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"` // sdk | seed
	Env    map[string]string `json:"env"`
	Kwargs map[string]any    `json:"kwargs,omitempty"`
	Scope  string            `json:"scope,omitempty"`

	aud     string               // expected audience
	want    *directory.Principal // nil: must fail
	wantErr string               // Python exception class when want is nil
}

type pyResult struct {
	Token   string `json:"token"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// runPython runs testdata/clients.py over the scenarios in one process.
func runPython(t *testing.T, scen []pyScenario) map[string]pyResult {
	t.Helper()
	in, err := json.Marshal(scen)
	must(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, filepath.Join("testdata", "clients.py"))
	cmd.Env = cleanEnv()
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res map[string]pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output: %v\n%s\n%s", err, out, stderr.String())
	}
	return res
}

func only(env map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := env[k]; ok {
			out[k] = v
		}
	}
	return out
}

func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestPythonAzureIdentity: azure-identity's ManagedIdentityCredential through
// the Azure ML source, IMDS via AZURE_POD_IDENTITY_AUTHORITY_HOST, App
// Service and CloudShell, with and without client_id; plus the seed's
// get_token_rest() unchanged.
func TestPythonAzureIdentity(t *testing.T) {
	t.Parallel()
	needPython(t)
	e := newEnv(t)
	both, uai := e.register(t, resBoth), e.register(t, resUAI)
	bothEnv, uaiEnv := EnvFor(both, e.base), EnvFor(uai, e.base)
	aml := []string{EnvMSIEndpoint, EnvMSISecret}
	imds := []string{EnvPodIdentityAuthority}
	appsvc := []string{EnvIdentityEndpoint, EnvIdentityHeader}
	sdk := func(name string, env map[string]string, kwargs map[string]any, want *directory.Principal, wantErr string) pyScenario {
		return pyScenario{Name: name, Kind: "sdk", Env: env, Kwargs: kwargs, Scope: storageAud + "/.default", aud: storageAud, want: want, wantErr: wantErr}
	}
	cid := func(p *directory.Principal) map[string]any { return map[string]any{"client_id": p.AppID} }
	idc := func(k, v string) map[string]any { return map[string]any{"identity_config": map[string]string{k: v}} }
	scen := []pyScenario{
		// Azure ML source: GET $MSI_ENDPOINT, header secret, clientid only with client_id=.
		sdk("azureml system-assigned", only(bothEnv, aml...), nil, e.sai, ""),
		sdk("azureml client_id", only(bothEnv, aml...), cid(e.uai1), e.uai1, ""),
		sdk("azureml default user-assigned", only(uaiEnv, aml...), nil, e.uai1, ""),
		sdk("azureml second user-assigned", only(uaiEnv, aml...), cid(e.uai2), e.uai2, ""),
		sdk("azureml not held", only(bothEnv, aml...), cid(e.stranger), nil, "ClientAuthenticationError"),
		// IMDS through AZURE_POD_IDENTITY_AUTHORITY_HOST (no probe, Metadata: true).
		sdk("imds system-assigned", only(bothEnv, imds...), nil, e.sai, ""),
		sdk("imds client_id", only(bothEnv, imds...), cid(e.uai1), e.uai1, ""),
		sdk("imds default user-assigned", only(uaiEnv, imds...), nil, e.uai1, ""),
		sdk("imds object_id", only(uaiEnv, imds...), idc("object_id", e.uai2.ObjectID), e.uai2, ""),
		sdk("imds msi_res_id", only(uaiEnv, imds...), idc("msi_res_id", e.uai2.ResourceID), e.uai2, ""),
		sdk("imds mi_res_id", only(uaiEnv, imds...), idc("mi_res_id", strings.ToUpper(e.uai2.ResourceID)), e.uai2, ""),
		sdk("imds not held", only(bothEnv, imds...), cid(e.uai2), nil, "CredentialUnavailableError"),
		// App Service source and the whole EnvFor environment (App Service wins).
		sdk("appservice client_id", only(uaiEnv, appsvc...), cid(e.uai2), e.uai2, ""),
		sdk("full env default", bothEnv, nil, e.sai, ""),
		sdk("full env client_id", bothEnv, cid(e.uai1), e.uai1, ""),
		sdk("full env not held", bothEnv, cid(e.stranger), nil, "ClientAuthenticationError"),
		// CloudShell source: MSI_ENDPOINT alone → POST, the path binds it.
		sdk("cloudshell system-assigned", only(bothEnv, EnvMSIEndpoint), nil, e.sai, ""),
		// The seed's scoring-script REST call, as a deployment sees its env (EP-4).
		{Name: "seed system-assigned", Kind: "seed", Env: bothEnv, aud: "https://storage.azure.com/", want: e.sai},
		{Name: "seed UAI_CLIENT_ID", Kind: "seed", Env: with(uaiEnv, "UAI_CLIENT_ID", e.uai2.AppID), aud: "https://storage.azure.com/", want: e.uai2},
		{Name: "seed default user-assigned", Kind: "seed", Env: uaiEnv, aud: "https://storage.azure.com/", want: e.uai1},
		{Name: "seed not held", Kind: "seed", Env: with(bothEnv, "UAI_CLIENT_ID", e.uai2.AppID), want: nil, wantErr: "HTTPError"},
	}
	res := runPython(t, scen)
	for _, form := range []string{"secret-get", "imds", "cloudshell-post"} {
		if !strings.Contains(e.logs.String(), "form="+form+" ") {
			t.Errorf("no request in the %s form reached the endpoint", form)
		}
	}
	for _, s := range scen {
		t.Run(s.Name, func(t *testing.T) {
			r, ok := res[s.Name]
			if !ok {
				t.Fatal("no result")
			}
			if s.want == nil {
				if r.Token != "" {
					e.note(r.Token)
					t.Fatal("got a token for an identity the resource does not hold")
				}
				if r.Error != s.wantErr {
					t.Fatalf("error %s (%s), want %s", r.Error, r.Message, s.wantErr)
				}
				return
			}
			if r.Token == "" {
				t.Fatalf("no token: %s: %s", r.Error, r.Message)
			}
			e.verify(t, r.Token, s.aud, s.want)
		})
	}
}

// TestSeedCopyIsVerbatim: testdata/seed_score.py holds get_token_rest()
// exactly as the seed article prints it.
func TestSeedCopyIsVerbatim(t *testing.T) {
	t.Parallel()
	// shared/ sits beside the repository (internal/msi → ../../../shared).
	seeds, _ := filepath.Glob("../../../shared/seeds/002_*.txt")
	if len(seeds) == 0 {
		seeds, _ = filepath.Glob("/work/shared/seeds/002_*.txt")
	}
	if len(seeds) == 0 {
		t.Fatal("seed article not available in ../shared/seeds")
	}
	fn := func(b []byte) string {
		s := string(b)
		i := strings.Index(s, "def get_token_rest():")
		if i < 0 {
			t.Fatal("get_token_rest not found")
		}
		s = s[i:]
		if j := strings.Index(s, "\ndef "); j >= 0 {
			s = s[:j]
		}
		return strings.TrimRight(s, "\n")
	}
	seed, err := os.ReadFile(seeds[0])
	must(t, err)
	mine, err := os.ReadFile(filepath.Join("testdata", "seed_score.py"))
	must(t, err)
	if fn(seed) != fn(mine) {
		t.Fatalf("testdata/seed_score.py differs from the seed's get_token_rest():\n%s\n---\n%s", fn(mine), fn(seed))
	}
}
