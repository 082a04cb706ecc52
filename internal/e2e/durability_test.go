package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/amlid/amlid/internal/store/pgtest"
	"github.com/google/uuid"
)

// durWrite is one write of the durability test: a PUT and how to check it
// survived.
type durWrite struct {
	kind string // arm | assignment | blob | secret
	path string // ARM path (arm, assignment), blob path, secret name
	body []byte
	want string // what a GET must contain
}

// durClient sends the test's requests to one running instance.
type durClient struct {
	in       *instance
	http     *http.Client
	armTok   string
	blobTok  string
	vaultTok string
	vaultURI string
}

func newDurClient(t *testing.T, in *instance) *durClient {
	t.Helper()
	cred := in.credential(t, in.Boot.TenantID, in.Boot.ClientID, in.Boot.ClientSecret)
	tok := func(scope string) string {
		at, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		return at.Token
	}
	tr := in.httpClient().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	c := &durClient{in: in, http: &http.Client{Transport: tr}, armTok: tok("https://management.azure.com/.default"),
		blobTok: tok("https://storage.azure.com/.default"), vaultTok: tok("https://vault.azure.net/.default")}
	return c
}

func (c *durClient) do(method, url, tok string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *durClient) url(w durWrite) (string, string, map[string]string) {
	switch w.kind {
	case "blob":
		return c.in.State.BlobURL + w.path, c.blobTok, map[string]string{"x-ms-version": "2021-06-08", "x-ms-blob-type": "BlockBlob"}
	case "secret":
		return c.vaultURI + "secrets/" + w.path + "?api-version=7.4", c.vaultTok, nil
	case "assignment":
		return c.in.State.ARMURL + w.path + "?api-version=2022-04-01", c.armTok, nil
	}
	return c.in.State.ARMURL + w.path + "?api-version=2021-04-01", c.armTok, nil
}

func (c *durClient) put(w durWrite) (bool, error) {
	u, tok, hdr := c.url(w)
	code, b, err := c.do(http.MethodPut, u, tok, w.body, hdr)
	if err != nil {
		return false, nil // not acknowledged (the server died under it)
	}
	if code >= 300 {
		return false, fmt.Errorf("PUT %s: %d %s", u, code, b)
	}
	return true, nil
}

func (c *durClient) check(w durWrite) error {
	u, tok, hdr := c.url(w)
	code, b, err := c.do(http.MethodGet, u, tok, nil, hdr)
	if err != nil {
		return err
	}
	if code != http.StatusOK || !strings.Contains(string(b), w.want) {
		return fmt.Errorf("GET %s after kill -9: %d %.200s (want %q)", u, code, b, w.want)
	}
	return nil
}

func (c *durClient) mustPut(t *testing.T, w durWrite) {
	t.Helper()
	if ok, err := c.put(w); !ok || err != nil {
		t.Fatalf("setup %s %s: %v", w.kind, w.path, err)
	}
}

// readVault refreshes the vault's URI (its port may move across restarts).
func (c *durClient) readVault(t *testing.T, id string) {
	t.Helper()
	code, b, err := c.do(http.MethodGet, c.in.State.ARMURL+id+"?api-version=2023-07-01", c.armTok, nil, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("vault: %d %s %v", code, b, err)
	}
	var v struct {
		Properties struct {
			VaultURI string `json:"vaultUri"`
		} `json:"properties"`
	}
	json.Unmarshal(b, &v)
	c.vaultURI = v.Properties.VaultURI
}

// Durability (issue 15): amlid is killed with SIGKILL while 1,000 writes
// run 16 at a time (ARM resource groups, role assignments, blobs, Key Vault
// secrets), three times on one data dir; after each restart every write
// that was acknowledged (2xx) reads back. On SQLite and on PostgreSQL.
func TestNoAcknowledgedWriteLostOnKill9(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var extra []string
			if backend == "postgres" {
				extra = []string{"--store", pgtest.Start(t)}
			}
			dir := t.TempDir()
			in := start(t, dir, extra...)
			sub := in.State.SubscriptionID
			cfg := t.TempDir()
			in.mustCLI(cfg, "group", "create", "-n", "dur", "-l", "eastus")
			acct := mustJSON(t, in.mustCLI(cfg, "storage", "account", "create", "-n", "durst", "-g", "dur", "-l", "eastus"))
			in.mustCLI(cfg, "storage", "container", "create", "--account-name", "durst", "-n", "dur")
			in.mustCLI(cfg, "role", "assignment", "create", "--assignee-object-id", in.Boot.ObjectID, "--assignee-principal-type", "ServicePrincipal",
				"--role", "Storage Blob Data Contributor", "--scope", acct["id"].(string))
			vaultID := mustJSON(t, in.mustCLI(cfg, "keyvault", "create", "-n", "durkv", "-g", "dur"))["id"].(string)
			c := newDurClient(t, in)
			code, b, err := c.do(http.MethodGet, in.State.ARMURL+"/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01", c.armTok, nil, nil)
			if err != nil || code != http.StatusOK {
				t.Fatalf("role definitions: %d %v", code, err)
			}
			var defs struct {
				Value []struct{ ID string } `json:"value"`
			}
			json.Unmarshal(b, &defs)
			const scopes = 16
			for j := range scopes {
				c.mustPut(t, durWrite{kind: "arm", path: fmt.Sprintf("/subscriptions/%s/resourcegroups/dur-scope-%d", sub, j), body: []byte(`{"location":"eastus"}`)})
			}
			if len(defs.Value)*scopes < 250 {
				t.Fatalf("%d role definitions × %d scopes cannot give 250 distinct assignments", len(defs.Value), scopes)
			}

			var acked []durWrite
			for round := range 3 {
				c = newDurClient(t, in)
				c.readVault(t, vaultID)
				// A principal of this round's assignments.
				uai := fmt.Sprintf("/subscriptions/%s/resourceGroups/dur/providers/Microsoft.ManagedIdentity/userAssignedIdentities/dur-%d", sub, round)
				code, b, err := c.do(http.MethodPut, in.State.ARMURL+uai+"?api-version=2023-01-31", c.armTok, []byte(`{"location":"eastus"}`), nil)
				if err != nil || code >= 300 {
					t.Fatalf("identity: %d %s %v", code, b, err)
				}
				var id struct {
					Properties struct {
						PrincipalID string `json:"principalId"`
					} `json:"properties"`
				}
				json.Unmarshal(b, &id)
				writes := make([]durWrite, 0, 1000)
				for i := range 250 {
					writes = append(writes,
						durWrite{kind: "arm", path: fmt.Sprintf("/subscriptions/%s/resourcegroups/dur-%d-%d", sub, round, i),
							body: fmt.Appendf(nil, `{"location":"eastus","tags":{"n":"r%d-%d"}}`, round, i), want: fmt.Sprintf(`"r%d-%d"`, round, i)},
						durWrite{kind: "assignment", path: fmt.Sprintf("/subscriptions/%s/resourceGroups/dur-scope-%d/providers/Microsoft.Authorization/roleAssignments/%s", sub, i/len(defs.Value), uuid.NewString()),
							body: fmt.Appendf(nil, `{"properties":{"roleDefinitionId":%q,"principalId":%q,"principalType":"ServicePrincipal"}}`, defs.Value[i%len(defs.Value)].ID, id.Properties.PrincipalID),
							want: id.Properties.PrincipalID},
						durWrite{kind: "blob", path: fmt.Sprintf("/durst/dur/r%d/b%d", round, i), body: fmt.Appendf(nil, "blob-r%d-%d", round, i), want: fmt.Sprintf("blob-r%d-%d", round, i)},
						durWrite{kind: "secret", path: fmt.Sprintf("s-%d-%d", round, i), body: fmt.Appendf(nil, `{"value":"secret-r%d-%d"}`, round, i), want: fmt.Sprintf("secret-r%d-%d", round, i)})
				}
				// Kill once this many writes were acknowledged: early, midway, late.
				killAt := int64([]int{250, 500, 750}[round])
				var (
					next, done atomic.Int64
					mu         sync.Mutex
					failures   []error
					wg         sync.WaitGroup
					killed     = make(chan struct{})
					once       sync.Once
				)
				for range 16 {
					wg.Go(func() {
						for {
							i := int(next.Add(1) - 1)
							if i >= len(writes) {
								return
							}
							select {
							case <-killed:
								return
							default:
							}
							ok, err := c.put(writes[i])
							mu.Lock()
							if err != nil {
								failures = append(failures, err)
							}
							if ok {
								acked = append(acked, writes[i])
							}
							mu.Unlock()
							if ok && done.Add(1) == killAt {
								once.Do(func() { in.kill9(); close(killed) })
							}
						}
					})
				}
				wg.Wait()
				once.Do(func() { in.kill9(); close(killed) })
				if len(failures) > 0 {
					t.Fatalf("round %d: writes refused before the kill: %v", round, failures[0])
				}
				t.Logf("%s round %d: %d of %d writes acknowledged before kill -9", backend, round, done.Load(), len(writes))

				in = start(t, dir, extra...)
				c = newDurClient(t, in)
				c.readVault(t, vaultID)
				var lost atomic.Int64
				var cw sync.WaitGroup
				work := make(chan durWrite)
				for range 16 {
					cw.Go(func() {
						for w := range work {
							if err := c.check(w); err != nil {
								if lost.Add(1) <= 5 {
									t.Errorf("round %d: an acknowledged %s write is lost: %v", round, w.kind, err)
								}
							}
						}
					})
				}
				for _, w := range acked {
					work <- w
				}
				close(work)
				cw.Wait()
				if n := lost.Load(); n > 0 {
					t.Fatalf("round %d: %d of %d acknowledged writes lost", round, n, len(acked))
				}
			}
		})
	}
}
