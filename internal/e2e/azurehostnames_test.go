package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// runHelper is the Go client the tests run as a separate process in the
// environment `amlid env --azure-hostnames` prints: the code a user writes
// for Azure, with Azure's host names and no endpoint or client options.
func runHelper(name string) int {
	ctx := context.Background()
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	arg := os.Getenv("AMLID_E2E_ARG")
	switch name {
	case "azsecrets":
		client, err := azsecrets.NewClient("https://"+arg+".vault.azure.net/", cred, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		value := "go-value-" + arg
		if _, err := client.SetSecret(ctx, "go-secret", azsecrets.SetSecretParameters{Value: &value}, nil); err != nil {
			fmt.Fprintln(os.Stderr, "SetSecret:", err)
			return 1
		}
		got, err := client.GetSecret(ctx, "go-secret", "", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "GetSecret:", err)
			return 1
		}
		fmt.Println(*got.ID, *got.Value)
	case "azblob":
		client, err := azblob.NewClient("https://"+arg+".blob.core.windows.net/", cred, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := client.UploadBuffer(ctx, "data", "go.txt", []byte("from go"), nil); err != nil {
			fmt.Fprintln(os.Stderr, "UploadBuffer:", err)
			return 1
		}
		resp, err := client.DownloadStream(ctx, "data", "go.txt", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "DownloadStream:", err)
			return 1
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(b))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		return 2
	}
	return 0
}

// azureEnv is what `amlid env --azure-hostnames` exports (unset names dropped).
func (in *instance) azureEnv(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(amlidBin, "env", "--azure-hostnames", "--data-dir", in.DataDir).Output()
	if err != nil {
		t.Fatalf("amlid env --azure-hostnames: %v", err)
	}
	var env []string
	for _, l := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(l, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	return env
}

func runIn(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, so.String(), se.String())
	}
	return so.String()
}

// Azure's host names through amlid (issue 16): in a shell set up by
// `eval "$(amlid env --azure-hostnames)"`, code and commands written for
// Azure run unchanged — Python's BlobServiceClient on
// https://<acct>.blob.core.windows.net, Go's azsecrets on
// https://<vault>.vault.azure.net/ (challenge-resource verification on) and
// azblob, Debian's az on its default AzureCloud, and azure-ai-ml's MLClient
// — with AZURE_TENANT_ID the tenant's real ID.
func TestAzureHostnamesShell(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	const rg, acct, vault, ws = "names-rg", "namesacct", "namesvault", "names-ws"
	in.mustCLI(cfg, "group", "create", "-n", rg, "-l", "eastus")
	in.mustCLI(cfg, "storage", "account", "create", "-n", acct, "-g", rg)
	in.mustCLI(cfg, "keyvault", "create", "-n", vault, "-g", rg, "--enable-rbac-authorization", "true")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", ws, "-g", rg)
	for _, role := range []string{"Storage Blob Data Contributor", "Key Vault Secrets Officer"} {
		in.mustCLI(cfg, "role", "assignment", "create", "--assignee", in.Boot.ClientID, "--role", role, "-g", rg)
	}
	in.mustCLI(cfg, "storage", "container", "create", "-n", "data", "--account-name", acct, "--auth-mode", "login")

	env := append(cleanEnv(), in.azureEnv(t)...)
	joined := strings.Join(env, "\n")
	if !strings.Contains(joined, "AZURE_TENANT_ID="+in.State.TenantID) || !strings.Contains(joined, "HTTPS_PROXY=http://azure:hostnames@127.0.0.1:") ||
		strings.Contains(joined, "AZURE_AUTHORITY_HOST=") || strings.Contains(joined, "AZUREML_DEV_URL_MFE=") {
		t.Fatalf("amlid env --azure-hostnames:\n%s", joined)
	}

	// Python: Azure's blob host name, DefaultAzureCredential, nothing else.
	out := runIn(t, env, "/usr/bin/python3", "-c", `
from azure.identity import DefaultAzureCredential
from azure.storage.blob import BlobServiceClient
svc = BlobServiceClient("https://`+acct+`.blob.core.windows.net", DefaultAzureCredential())
c = svc.get_container_client("data")
c.upload_blob("py.txt", b"from python", overwrite=True)
print(c.download_blob("py.txt").readall().decode(), sorted(b.name for b in c.list_blobs()))
`)
	if !strings.Contains(out, "from python ['py.txt']") {
		t.Fatalf("Python BlobServiceClient: %s", out)
	}

	// The China cloud's names too: Entra at login.chinacloudapi.cn, Blob at
	// .blob.core.chinacloudapi.cn.
	out = runIn(t, env, "/usr/bin/python3", "-c", `
from azure.identity import AzureAuthorityHosts, DefaultAzureCredential
from azure.storage.blob import BlobServiceClient
svc = BlobServiceClient("https://`+acct+`.blob.core.chinacloudapi.cn", DefaultAzureCredential(authority=AzureAuthorityHosts.AZURE_CHINA))
print(svc.get_container_client("data").download_blob("py.txt").readall().decode())
`)
	if strings.TrimSpace(out) != "from python" {
		t.Fatalf("Python on China-cloud names: %s", out)
	}

	// Go: azsecrets with challenge-resource verification on, and azblob.
	self, _ := os.Executable()
	out = runIn(t, append(env, "AMLID_E2E_HELPER=azsecrets", "AMLID_E2E_ARG="+vault), self)
	if !strings.HasPrefix(out, "https://"+vault+".vault.azure.net/secrets/go-secret/") || !strings.Contains(out, "go-value-"+vault) {
		t.Fatalf("Go azsecrets: %s", out)
	}
	out = runIn(t, append(env, "AMLID_E2E_HELPER=azblob", "AMLID_E2E_ARG="+acct), self)
	if strings.TrimSpace(out) != "from go" {
		t.Fatalf("Go azblob: %s", out)
	}

	// azure-ai-ml: no AZUREML_DEV_URL_MFE, management.azure.com through the proxy.
	out = runIn(t, append(env, "PYTHONPATH="+pydashStub(t)), "/usr/bin/python3", "-c", `
import os
from azure.ai.ml import MLClient
from azure.identity import DefaultAzureCredential
ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], "`+rg+`", "`+ws+`")
print(ml_client.workspaces.get("`+ws+`").name)
`)
	if strings.TrimSpace(out) != ws {
		t.Fatalf("MLClient.workspaces.get: %s", out)
	}

	// An online endpoint's scoring URI is Azure's in this mode, and answers
	// there (no deployment yet: the scoring service itself says so).
	in.mustCLI(cfg, "ml", "online-endpoint", "create", "-g", rg, "-w", ws, "--name", "names-ep", "-f",
		"testdata/ml/endpoints/online/managed/managed-identities/1-sai-create-endpoint.yml")
	out = runIn(t, append(env, "PYTHONPATH="+pydashStub(t)), "/usr/bin/python3", "-c", `
import os, requests
from azure.ai.ml import MLClient
from azure.identity import DefaultAzureCredential
ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], "`+rg+`", "`+ws+`")
ep = ml_client.online_endpoints.get("names-ep")
key = ml_client.online_endpoints.get_keys("names-ep").primary_key
r = requests.post(ep.scoring_uri, json={"data": [[1]]}, headers={"Authorization": "Bearer " + key})
print(ep.scoring_uri, r.status_code, r.headers.get("content-type"))
`)
	t.Logf("scoring through the Azure name: %s", out)
	if f := strings.Fields(out); len(f) < 2 || f[0] != "https://names-ep.eastus.inference.ml.azure.com/score" ||
		f[1] == "401" || f[1] == "403" || f[1] == "407" || !strings.Contains(out, "json") {
		t.Fatalf("scoring through the Azure name: %s", out)
	}

	// Debian's az on its default cloud: no az cloud register.
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatal("az not found: install Debian's azure-cli (scripts/test.sh does)")
	}
	azEnv := append(env, "AZURE_CONFIG_DIR="+t.TempDir(), "AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_ONLY_SHOW_ERRORS=true",
		"AZURE_CORE_NO_COLOR=true")
	upload := t.TempDir() + "/az.txt"
	os.WriteFile(upload, []byte("from az"), 0o644)
	out = runIn(t, azEnv, "bash", "-euo", "pipefail", "-c", `
test "$(az cloud show --query name -o tsv)" = AzureCloud
az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
az group list --query "[].name" -o tsv
az storage blob upload --auth-mode login --account-name `+acct+` -c data -n az.txt -f `+upload+` -o none
az storage blob download --auth-mode login --account-name `+acct+` -c data -n az.txt -f `+upload+`.back -o none
cat `+upload+`.back
`)
	if !strings.Contains(out, rg) || !strings.Contains(out, "from az") {
		t.Fatalf("az on AzureCloud: %s", out)
	}

	// Resources report Azure's endpoints to callers in this mode, amlid's
	// loopback ones to the others.
	out = runIn(t, azEnv, "bash", "-euo", "pipefail", "-c", `
az storage account show -n `+acct+` -g `+rg+` --query primaryEndpoints.blob -o tsv
az keyvault show -n `+vault+` --query properties.vaultUri -o tsv
`)
	if want := "https://" + acct + ".blob.core.windows.net/\nhttps://" + vault + ".vault.azure.net/\n"; out != want {
		t.Fatalf("endpoints in the Azure-hostnames mode: %q, want %q", out, want)
	}
	if got := in.mustCLI(cfg, "storage", "account", "show", "-n", acct, "-g", rg, "--query", "primaryEndpoints.blob", "-o", "tsv"); !strings.HasPrefix(got, "https://127.0.0.1:") {
		t.Fatalf("loopback callers see %q", got)
	}
}

// The proxy refuses what it must, logs it, and keeps serving (issue 16):
// an unknown host, a Host header or TLS name that disagrees with the
// CONNECT name (one account's data is never reached by naming another), a
// malformed CONNECT, a plain HTTP request.
func TestAzureProxyRefusals(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "px-rg", "-l", "eastus")
	in.mustCLI(cfg, "storage", "account", "create", "-n", "pxaccta", "-g", "px-rg")
	in.mustCLI(cfg, "storage", "account", "create", "-n", "pxacctb", "-g", "px-rg")
	proxy := strings.TrimPrefix(in.State.VaultProxyURL, "http://")
	pem, _ := os.ReadFile(in.State.CAFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)

	raw := func(req string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for req, want := range map[string]string{
		"CONNECT unknown.example.com:443 HTTP/1.1\r\nHost: unknown.example.com:443\r\n\r\n":                       "403 amlid serves no Azure host named unknown.example.com",
		"CONNECT nosuchvault.vault.azure.net:443 HTTP/1.1\r\nHost: nosuchvault.vault.azure.net:443\r\n\r\n":       "403 amlid has no key vault named 'nosuchvault'",
		"CONNECT pxaccta.blob.core.windows.net:8080 HTTP/1.1\r\nHost: pxaccta.blob.core.windows.net:8080\r\n\r\n": "403 amlid serves pxaccta.blob.core.windows.net on port 443 only",
		"CONNECT :443 HTTP/1.1\r\nHost: :443\r\n\r\n":                                                             "400",
		"CONNECT pxaccta.blob.core.windows.net:abc HTTP/1.1\r\nHost: x:abc\r\n\r\n":                               "400",
		"CONNECT  HTTP/1.1\r\n\r\n":   "400",
		"\x16\x03\x01garbage\r\n\r\n": "400",
		"GET http://management.azure.com/ HTTP/1.1\r\nHost: management.azure.com\r\n\r\n": "405",
	} {
		if got := raw(req); !strings.HasPrefix(got, "HTTP/1.1 "+want) {
			t.Errorf("%q: got %q, want %q", req, got, want)
		}
	}

	// tunnel opens CONNECT name and a TLS session with sni, in the
	// Azure-hostnames mode (the proxy user `amlid env --azure-hostnames` puts
	// in HTTPS_PROXY) or not.
	tunnel := func(name, sni string, azure bool) (*tls.Conn, error) {
		c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		auth := ""
		if azure {
			auth = "Proxy-Authorization: Basic YXp1cmU6\r\n" // azure:
		}
		fmt.Fprintf(c, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n%s\r\n", name, name, auth)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT %s: %v %v", name, err, resp)
		}
		tc := tls.Client(c, &tls.Config{ServerName: sni, RootCAs: roots})
		return tc, tc.Handshake()
	}
	// A TLS name other than the CONNECT name: no certificate, no session.
	if tc, err := tunnel("pxaccta.blob.core.windows.net", "pxacctb.blob.core.windows.net", true); err == nil {
		tc.Close()
		t.Fatal("TLS for pxacctb inside a tunnel to pxaccta was accepted")
	}
	// A Host header other than the CONNECT name: 421, the handler never runs.
	// In the Azure-hostnames mode the challenge names Azure's login host and
	// the tenant's ID; without it (`amlid keyvault proxy-env` callers, whose
	// credentials use amlid's authority) amlid's own authority.
	for _, azure := range []bool{true, false} {
		tc, err := tunnel("pxaccta.blob.core.windows.net", "pxaccta.blob.core.windows.net", azure)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(tc)
		for _, host := range []string{"pxacctb.blob.core.windows.net", "pxaccta.blob.core.windows.net"} {
			fmt.Fprintf(tc, "GET /data?restype=container HTTP/1.1\r\nHost: %s\r\nx-ms-version: 2021-08-06\r\n\r\n", host)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := 401
			if host != "pxaccta.blob.core.windows.net" {
				want = 421
			}
			if resp.StatusCode != want {
				t.Fatalf("Host %s in a tunnel to pxaccta: %d %s", host, resp.StatusCode, body)
			}
			authority := "https://login.microsoftonline.com/"
			if !azure {
				authority = in.State.AuthorityHost + "/"
			}
			if want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), authority+in.State.TenantID) {
				t.Fatalf("challenge (Azure mode %v): %q", azure, resp.Header.Get("WWW-Authenticate"))
			}
		}
		tc.Close()
	}
	// The server's log reaches the test through a pipe: wait (boundedly)
	// for the lines of the refusals above to arrive.
	wants := []string{"CONNECT refused", "Host header disagrees", "TLS name disagrees", "malformed CONNECT", "not a CONNECT"}
	log := in.Log.String()
	for i := 0; i < 100 && !containsAll(log, wants); i++ {
		time.Sleep(50 * time.Millisecond)
		log = in.Log.String()
	}
	for _, want := range wants {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "panic") {
		t.Fatalf("panic in the log:\n%s", log)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
