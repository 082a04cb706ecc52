package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
)

// clientToken gets an access token for scope with the client-credentials
// grant, as azidentity's ClientSecretCredential does.
func (in *instance) clientToken(t *testing.T, tenant, appID, secret, scope string) string {
	t.Helper()
	code, body := in.tokenRequest(t, tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {appID},
		"client_secret": {secret}, "scope": {scope}})
	if code != http.StatusOK {
		t.Fatalf("token for %s: %d %v", scope, code, body)
	}
	return body["access_token"].(string)
}

func (in *instance) tokenRequest(t *testing.T, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := in.httpClient().PostForm(in.State.AuthorityHost+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// newSP creates a service principal with no role through the CLI and
// returns its appId, secret and object ID.
func (in *instance) newSP(t *testing.T, cfg, name string) (appID, secret, objectID string) {
	t.Helper()
	sp := mustJSON(t, in.mustCLI(cfg, "ad", "sp", "create-for-rbac", "-n", name))
	appID, secret = sp["appId"].(string), sp["password"].(string)
	objectID = mustJSON(t, in.mustCLI(cfg, "ad", "sp", "show", "--id", appID))["id"].(string)
	return
}

// Rule EP-6 / issue 15 hole 3: an aad_token endpoint takes an Entra token
// for https://ml.azure.com of the endpoint's tenant whose principal holds
// onlineEndpoints/score/action on the endpoint; the refusal names the action
// and the roles that grant it.
func TestAADTokenScoringEP6(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "group", "create", "-n", "aad-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=aad-rg", "workspace=aad-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "aad-ws")
	in.mustCLI(cfg, "ml", "environment", "create", "-f", filepath.Join(echo, "environment.yml"))
	ep := mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", filepath.Join(echo, "endpoint.yml"), "--auth-mode", "aad_token"))
	if ep["auth_mode"] != "aad_token" {
		t.Fatalf("auth_mode: %v", ep["auth_mode"])
	}
	in.mustCLI(cfg, "ml", "online-deployment", "create", "-f", filepath.Join(echo, "deployment.yml"), "--name", "blue", "--all-traffic",
		"--set", "instance_count=1", "environment_variables.DEPLOYMENT_COLOR=blue")
	ep = mustJSON(t, in.mustCLI(cfg, "ml", "online-endpoint", "show", "-n", "echo-endpoint"))
	uri, epID := ep["scoring_uri"].(string), ep["id"].(string)
	score := func(token string, deployment ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, uri, strings.NewReader(`{"x": 1}`))
		req.Header.Set("Authorization", "Bearer "+token)
		if len(deployment) > 0 {
			req.Header.Set("azureml-model-deployment", deployment[0])
		}
		resp, err := in.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tenant := in.State.TenantID
	const mlScope = "https://ml.azure.com/.default"

	// The bootstrap admin is Owner of the subscription: allowed.
	owner := in.clientToken(t, tenant, in.Boot.ClientID, in.Boot.ClientSecret, mlScope)
	if code, body := score(owner); code != http.StatusOK {
		t.Fatalf("Owner scoring: %d %s", code, body)
	}
	// Issue 15 hole 7: a deployment that does not exist is a client error
	// (clients retry 5xx for minutes).
	for _, dep := range []string{"no-such-deployment", "../blue", "blue/../../x"} {
		if code, body := score(owner, dep); code != http.StatusNotFound {
			t.Fatalf("scoring deployment %q: %d %s, want 404", dep, code, body)
		}
	}
	appID, secret, oid := in.newSP(t, cfg, "scorer")
	tok := in.clientToken(t, tenant, appID, secret, mlScope)
	t.Run("a principal with no role on the endpoint gets 403 naming the action and the roles", func(t *testing.T) {
		code, body := score(tok)
		if code != http.StatusForbidden {
			t.Fatalf("%d %s, want 403", code, body)
		}
		for _, want := range []string{"EP-6", oid, "onlineEndpoints/score/action", "AzureML Data Scientist", "amlid role assignment create"} {
			if !strings.Contains(body, want) {
				t.Fatalf("refusal lacks %q: %s", want, body)
			}
		}
	})
	t.Run("a token for another audience gets 401", func(t *testing.T) {
		if code, body := score(in.clientToken(t, tenant, in.Boot.ClientID, in.Boot.ClientSecret, "https://management.azure.com/.default")); code != http.StatusUnauthorized {
			t.Fatalf("%d %s, want 401", code, body)
		}
	})
	t.Run("Reader on the group does not grant scoring", func(t *testing.T) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", oid, "--assignee-principal-type", "ServicePrincipal",
			"--role", "Reader", "-g", "aad-rg")
		if code, body := score(tok); code != http.StatusForbidden {
			t.Fatalf("%d %s, want 403", code, body)
		}
	})
	t.Run("AzureML Data Scientist on the endpoint opens scoring", func(t *testing.T) {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", oid, "--assignee-principal-type", "ServicePrincipal",
			"--role", "AzureML Data Scientist", "--scope", epID)
		if code, body := score(tok); code != http.StatusOK {
			t.Fatalf("%d %s, want 200", code, body)
		}
	})
}

// Issue 15 hole 4: Graph takes its audiences from configuration, never from
// the request's Host; the token endpoint refuses resources amlid does not
// serve (AADSTS500011).
func TestGraphAudienceNotFromHost(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	tenant := in.State.TenantID
	graph := func(tok, host string) int {
		req, _ := http.NewRequest(http.MethodGet, in.State.GraphURL+"/v1.0/servicePrincipals", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if host != "" {
			req.Host = host
		}
		resp, err := in.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := func(scope string) string {
		return in.clientToken(t, tenant, in.Boot.ClientID, in.Boot.ClientSecret, scope)
	}
	if code := graph(tok("https://graph.microsoft.com/.default"), ""); code != http.StatusOK {
		t.Fatalf("a Graph token: %d", code)
	}
	for _, c := range []struct{ scope, host string }{
		{"https://management.azure.com/.default", "management.azure.com"},
		{"https://management.core.windows.net//.default", "management.core.windows.net"},
		{"https://vault.azure.net/.default", "vault.azure.net"},
		{"https://storage.azure.com/.default", "storage.azure.com"},
		{"https://ml.azure.com/.default", "ml.azure.com"},
	} {
		if code := graph(tok(c.scope), c.host); code != http.StatusUnauthorized {
			t.Errorf("a token for %s with Host: %s listed service principals: %d, want 401", c.scope, c.host, code)
		}
	}
	code, body := in.tokenRequest(t, tenant, url.Values{"grant_type": {"client_credentials"}, "client_id": {in.Boot.ClientID},
		"client_secret": {in.Boot.ClientSecret}, "scope": {"https://made-up-api.example/.default"}})
	if desc, _ := body["error_description"].(string); code != http.StatusBadRequest || !strings.HasPrefix(desc, "AADSTS500011") {
		t.Fatalf("a made-up resource: %d %v", code, body)
	}
}

// Issue 15 hole 6: the role assignments amlid grants by itself (here the
// Storage Blob Data Reader a system-assigned endpoint gets on the workspace
// storage) carry their full ARM ID and are deleted by the usual command.
func TestAutomaticAssignmentsDeletable(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	echo := filepath.Join("testdata", "ml", "echo")
	in.mustCLI(cfg, "group", "create", "-n", "auto-rg", "-l", "eastus")
	in.mustCLI(cfg, "configure", "--defaults", "group=auto-rg", "workspace=auto-ws")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "auto-ws")
	storage := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "auto-ws", "--query", "storage_account", "-o", "tsv"))
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-f", filepath.Join(echo, "endpoint.yml"))
	pid := strings.TrimSpace(in.mustCLI(cfg, "ml", "online-endpoint", "show", "-n", "echo-endpoint", "--query", "identity.principal_id", "-o", "tsv"))
	list := func() []map[string]any {
		var ras []map[string]any
		out := in.mustCLI(cfg, "role", "assignment", "list", "--assignee", pid, "--scope", storage)
		if err := json.Unmarshal([]byte(out), &ras); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return ras
	}
	ras := list()
	if len(ras) != 1 || ras[0]["roleDefinitionName"] != "Storage Blob Data Reader" {
		t.Fatalf("the endpoint identity's assignments on the workspace storage: %v", ras)
	}
	want := storage + "/providers/Microsoft.Authorization/roleAssignments/" + ras[0]["name"].(string)
	if id, _ := ras[0]["id"].(string); !strings.EqualFold(id, want) {
		t.Fatalf("automatic assignment id %q, want %q", id, want)
	}
	in.mustCLI(cfg, "role", "assignment", "delete", "--assignee", pid, "--role", "Storage Blob Data Reader", "--scope", storage)
	if ras := list(); len(ras) != 0 {
		t.Fatalf("after delete: %v", ras)
	}
	// The workspace's own grants too (its identity on the storage account).
	wsPID := strings.TrimSpace(in.mustCLI(cfg, "ml", "workspace", "show", "-n", "auto-ws", "--query", "identity.principal_id", "-o", "tsv"))
	var wras []map[string]any
	json.Unmarshal([]byte(in.mustCLI(cfg, "role", "assignment", "list", "--assignee", wsPID, "--all")), &wras)
	if len(wras) == 0 {
		t.Fatal("the workspace identity holds no automatic assignment")
	}
	for _, ra := range wras {
		if id, _ := ra["id"].(string); !strings.HasSuffix(strings.ToLower(id), "/providers/microsoft.authorization/roleassignments/"+strings.ToLower(ra["name"].(string))) {
			t.Fatalf("workspace assignment without a full ID: %v", ra)
		}
	}
}

// Issue 15 hole 5: amlid does not evaluate ABAC conditions, so it refuses
// every role assignment that carries one (Azure's armauthorization client),
// malformed ones with Azure's "condition is invalid" code.
func TestRoleAssignmentConditionsRefused(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "abac-rg", "-l", "eastus")
	_, _, oid := in.newSP(t, cfg, "abac-reader")
	cred := in.credential(t, in.State.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	ra, err := armauthorization.NewRoleAssignmentsClient(in.State.SubscriptionID, cred, in.armOptions())
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + in.State.SubscriptionID + "/resourceGroups/abac-rg"
	reader := "/subscriptions/" + in.State.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	create := func(cond, version string) error {
		p := &armauthorization.RoleAssignmentProperties{PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr(reader),
			PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}
		if cond != "" {
			p.Condition = to.Ptr(cond)
		}
		if version != "" {
			p.ConditionVersion = to.Ptr(version)
		}
		_, err := ra.Create(t.Context(), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: p}, nil)
		return err
	}
	const good = "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR " +
		"(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'public'))"
	for _, c := range []struct{ name, cond, version, code string }{
		{"a well-formed condition", good, "2.0", "RoleAssignmentConditionNotSupported"},
		{"a well-formed condition without version", good, "", "RoleAssignmentConditionNotSupported"},
		{"the malformed condition of the report", "' and assignedTo(atScope()", "2.0", "InvalidRoleAssignmentCondition"},
		{"unbalanced brackets", "(@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name StringEquals 'x')", "2.0", "InvalidRoleAssignmentCondition"},
		{"no attribute", "true", "2.0", "InvalidRoleAssignmentCondition"},
		{"version 1.0", good, "1.0", "InvalidRoleAssignmentCondition"},
		{"a version without a condition", "", "2.0", "InvalidRoleAssignmentCondition"},
	} {
		if code, ecode := respCode(create(c.cond, c.version)); code != http.StatusBadRequest || ecode != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.name, code, ecode, c.code)
		}
	}
	var ras []map[string]any
	json.Unmarshal([]byte(in.mustCLI(cfg, "role", "assignment", "list", "--assignee", oid, "--all")), &ras)
	if len(ras) != 0 {
		t.Fatalf("a refused assignment was stored: %v", ras)
	}
	if err := create("", ""); err != nil {
		t.Fatalf("the same assignment without a condition: %v", err)
	}
}

// Issue 15 hole 7: `amlid up` writes state.json before any port answers,
// so `amlid env` run as soon as the front door answers a TLS handshake
// works.
func TestStateWrittenBeforeServing(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(amlidBin, "up", "--data-dir", dir, "--port", strconv.Itoa(port), "--msi-port", "-1", "--blob-port", "-1", "--resource-port-base", "-1")
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	for {
		c, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatal("amlid up exited before serving")
		case <-time.After(5 * time.Millisecond):
		}
	}
	out, err := exec.Command(amlidBin, "env", "--data-dir", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "AZURE_TENANT_ID") {
		t.Fatalf("amlid env as soon as the port answers: %v\n%s", err, out)
	}
}

// A verb a Graph collection does not take (PATCH or DELETE on
// /v1.0/applications, …) gets 405, never a panic.
func TestGraphCollectionVerbs(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	tok := in.clientToken(t, in.State.TenantID, in.Boot.ClientID, in.Boot.ClientSecret, "https://graph.microsoft.com/.default")
	for _, coll := range []string{"users", "groups", "servicePrincipals", "applications"} {
		for _, m := range []string{http.MethodPatch, http.MethodDelete, http.MethodPut} {
			req, _ := http.NewRequest(m, in.State.GraphURL+"/v1.0/"+coll, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := in.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(b), "is not supported") {
				t.Errorf("%s /v1.0/%s: %d %s, want 405", m, coll, resp.StatusCode, b)
			}
		}
	}
}
