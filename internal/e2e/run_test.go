package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// armPut sends an ARM PUT as the bootstrap admin and returns the body.
func (in *instance) armPut(t *testing.T, path, apiVersion string, body any) map[string]any {
	t.Helper()
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, in.State.ARMURL+path+"?api-version="+apiVersion, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT %s: %d %v", path, resp.StatusCode, m)
	}
	return m
}

func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(raw, &c)
	return c
}

// `amlid run --as` runs the seed's get_token_rest() unchanged with
// /usr/bin/python3 as a workload of a resource holding a system- and a
// user-assigned identity (issue 5): the token is the resource's identity's,
// an identity it does not hold is refused (ID-3), the exit code and output
// pass through, and the credentials die with the process.
func TestRunAsWorkload(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	sub := in.State.SubscriptionID
	in.mustCLI(cfg, "group", "create", "-n", "wl", "-l", "eastus")
	uai := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-g", "wl", "-n", "scorer"))
	other := mustJSON(t, in.mustCLI(cfg, "identity", "create", "-g", "wl", "-n", "not-attached"))
	host := "/subscriptions/" + sub + "/resourceGroups/wl/providers/Microsoft.Storage/storageAccounts/wlhost"
	res := in.armPut(t, host, "2023-01-01", map[string]any{"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"},
		"identity": map[string]any{"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": map[string]any{uai["id"].(string): map[string]any{}}}})
	sai := res["identity"].(map[string]any)["principalId"].(string)

	seed, _ := filepath.Abs("../msi/testdata/seed_score.py")
	script := "import importlib.util,sys\n" +
		"spec=importlib.util.spec_from_file_location('seed','" + seed + "'); m=importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n" +
		"print(m.get_token_rest())\n"
	run := func(extraEnv []string, args ...string) (string, string, int) {
		cmd := exec.Command(amlidBin, append([]string{"run", "--as", host}, args...)...)
		cmd.Dir = filepath.Dir(seed) // the workload sees its working folder (sandbox)
		env := cleanEnv()
		env = append(env, in.env()...)
		cmd.Env = append(append(env, "AMLID_CONFIG_DIR="+cfg), extraEnv...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return so.String(), se.String(), code
	}
	// System-assigned by default.
	so, se, code := run(nil, "--", "/usr/bin/python3", "-c", script)
	if code != 0 {
		t.Fatalf("seed under amlid run: %d\n%s%s", code, so, se)
	}
	c := claimsOf(t, so)
	if c["oid"] != sai || c["aud"] != "https://storage.azure.com/" || !strings.HasSuffix(c["xms_mirid"].(string), "/storageAccounts/wlhost") {
		t.Fatalf("system-assigned token claims: %v", c)
	}
	// The UAI the resource holds, by client ID (UAI_CLIENT_ID as the seed reads it).
	so, se, code = run([]string{"UAI_CLIENT_ID=" + uai["clientId"].(string)}, "--", "/usr/bin/python3", "-c", script)
	if code != 0 {
		t.Fatalf("UAI: %s%s", so, se)
	}
	if c := claimsOf(t, so); c["oid"] != uai["principalId"] || !strings.HasSuffix(c["xms_mirid"].(string), "/userAssignedIdentities/scorer") {
		t.Fatalf("user-assigned token claims: %v", c)
	}
	// An identity the resource does not hold: 400, no token (rule ID-3).
	_, se, code = run([]string{"UAI_CLIENT_ID=" + other["clientId"].(string)}, "--", "/usr/bin/python3", "-c", script)
	if code == 0 || !strings.Contains(se, "400") {
		t.Fatalf("identity not held must be refused with 400: %d %s", code, se)
	}
	// --client-id sets the default identity (DEFAULT_IDENTITY_CLIENT_ID, CMP-3).
	so, _, code = run(nil, "--client-id", uai["clientId"].(string), "--", "sh", "-c", "echo $DEFAULT_IDENTITY_CLIENT_ID; exit 7")
	if code != 7 || strings.TrimSpace(so) != uai["clientId"] {
		t.Fatalf("exit code and env must pass through: %d %q", code, so)
	}
	// A client ID the resource does not hold is refused at launch.
	if _, se, code := run(nil, "--client-id", other["clientId"].(string), "--", "true"); code == 0 || !strings.Contains(se, "ID-3") {
		t.Fatalf("--client-id not held: %d %s", code, se)
	}
	// A UAI is not a place code runs.
	cmd := exec.Command(amlidBin, "run", "--as", uai["id"].(string), "--", "true")
	cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "NotAWorkloadHost") {
		t.Fatalf("run --as a UAI: %v %s", err, out)
	}
	// A signal to amlid run reaches the command itself inside the sandbox
	// (bwrap does not forward signals): it runs its trap and exits with it.
	{
		cmd := exec.Command(amlidBin, "run", "--as", host, "--", "sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
		cmd.Env = append(append(cleanEnv(), in.env()...), "AMLID_CONFIG_DIR="+cfg)
		var se bytes.Buffer
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(out)
		if line, _ := rd.ReadString('\n'); line != "ready\n" {
			t.Fatalf("amlid run: %q %s", line, se.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		rest, _ := io.ReadAll(rd)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 42 || !strings.Contains(string(rest), "got TERM") {
			t.Fatalf("SIGTERM must reach the command: %v %q %s", err, rest, se.String())
		}
	}
	// Credentials die with the process: the endpoint a finished workload
	// used no longer answers with a token.
	so, _, _ = run(nil, "--", "sh", "-c", "echo $MSI_ENDPOINT; echo $MSI_SECRET")
	lines := strings.Fields(so)
	if len(lines) != 2 {
		t.Fatalf("env: %q", so)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, lines[0]+"?resource=https://storage.azure.com/&clientid=", nil)
		req.Header.Set("secret", lines[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a dead workload's credentials must be refused, got %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Deleting the resource deletes its system-assigned principal.
	in.mustCLI(cfg, "group", "delete", "-n", "wl", "--yes")
	ex, _, _ := in.cli(cfg, "ad", "sp", "show", "--id", sai)
	if ex != "" {
		t.Fatalf("the SAI's principal must be gone with its resource: %s", ex)
	}
}
