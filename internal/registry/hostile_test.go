package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/hostport"
	"github.com/amlid/amlid/internal/registry"
)

// raw sends one request to a registry with an Authorization header and
// returns the status, the headers and the first OCI error code.
func (e *env) raw(method, u, auth string, body []byte, hdr map[string]string) (int, http.Header, string, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	must(e.t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var oe struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	_ = json.Unmarshal(b, &oe)
	code, msg := "", string(b)
	if len(oe.Errors) > 0 {
		code, msg = oe.Errors[0].Code, oe.Errors[0].Message
	}
	return resp.StatusCode, resp.Header, code, msg
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Hostile input gets the OCI error codes, never a panic or a 5xx.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("hostile1", true)
	ls2 := e.createRegistry("hostile2", true)
	base := "https://" + ls
	_, tok := e.form(base+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"hostile1"}, "password": {e.adminPassword("hostile1")},
		"scope": {"repository:app:pull,push,delete repository:a/b:pull,push"}, "service": {ls}})
	bearer := "Bearer " + tok["access_token"].(string)

	// A config blob, pushed monolithically.
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	if st, _, code, msg := e.raw(http.MethodPost, base+"/v2/app/blobs/uploads/?digest="+sha(cfg), bearer, cfg, nil); st != 201 {
		t.Fatalf("push config: %d %s %s", st, code, msg)
	}
	manifest := func(layers ...string) []byte {
		var ls []string
		for _, l := range layers {
			ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":3}`, l))
		}
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[%s]}`,
			sha(cfg), len(cfg), strings.Join(ls, ",")))
	}
	ociJSON := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	missing := sha([]byte("never pushed"))
	big := append([]byte(`{"schemaVersion":2,"annotations":{"x":"`), bytes.Repeat([]byte("a"), 5<<20)...)
	cases := []struct {
		name, method, path string
		auth               string
		body               []byte
		hdr                map[string]string
		status             int
		code               string
	}{
		{"manifest with missing blobs", "PUT", "/v2/app/manifests/v1", bearer, manifest(missing), ociJSON, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest digest mismatch", "PUT", "/v2/app/manifests/" + sha([]byte("other")), bearer, manifest(), ociJSON, 400, "DIGEST_INVALID"},
		{"blob digest mismatch", "POST", "/v2/app/blobs/uploads/?digest=" + sha([]byte("claimed")), bearer, []byte("actual"), nil, 400, "DIGEST_INVALID"},
		{"malformed digest", "GET", "/v2/app/blobs/sha256:xyz", bearer, nil, nil, 400, "DIGEST_INVALID"},
		{"unsupported digest algorithm", "GET", "/v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", bearer, nil, nil, 400, "DIGEST_INVALID"},
		{"name with ..", "GET", "/v2/app/../etc/manifests/latest", bearer, nil, nil, 400, "NAME_INVALID"},
		{"name with .. component", "GET", "/v2/../secret/tags/list", bearer, nil, nil, 400, "NAME_INVALID"},
		{"upper-case name", "GET", "/v2/App/tags/list", bearer, nil, nil, 400, "NAME_INVALID"},
		{"oversized manifest", "PUT", "/v2/app/manifests/big", bearer, big, ociJSON, 413, "SIZE_INVALID"},
		{"not JSON manifest", "PUT", "/v2/app/manifests/bad", bearer, []byte("{"), ociJSON, 400, "MANIFEST_INVALID"},
		{"schema1 manifest", "PUT", "/v2/app/manifests/old", bearer, []byte(`{"schemaVersion":1}`),
			map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, 400, "MANIFEST_INVALID"},
		{"unknown manifest", "GET", "/v2/app/manifests/nope", bearer, nil, nil, 404, "MANIFEST_UNKNOWN"},
		{"unknown blob", "GET", "/v2/app/blobs/" + missing, bearer, nil, nil, 404, "BLOB_UNKNOWN"},
		{"unknown upload", "PATCH", "/v2/app/blobs/uploads/0f1e", bearer, []byte("x"), nil, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"no credentials", "GET", "/v2/app/manifests/v1", "", nil, nil, 401, "UNAUTHORIZED"},
		{"garbage bearer", "GET", "/v2/app/manifests/v1", "Bearer abc.def.ghi", nil, nil, 401, "UNAUTHORIZED"},
		{"an Entra token is no registry token", "GET", "/v2/app/manifests/v1", "Bearer " + e.token(e.admin, armScope), nil, nil, 401, "UNAUTHORIZED"},
		{"scope not granted (other repo)", "GET", "/v2/zzz/manifests/v1", bearer, nil, nil, 401, "UNAUTHORIZED"},
		{"unknown route", "GET", "/v2/app/whatever", bearer, nil, nil, 404, "UNSUPPORTED"},
		{"bad Basic", "GET", "/v2/", "Basic !!!", nil, nil, 401, "UNAUTHORIZED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _, code, msg := e.raw(c.method, base+c.path, c.auth, c.body, c.hdr)
			if st != c.status || code != c.code {
				t.Fatalf("%s %s: %d %s (%s), want %d %s", c.method, c.path, st, code, msg, c.status, c.code)
			}
		})
	}

	t.Run("challenge format az parses", func(t *testing.T) {
		st, h, _, _ := e.raw("GET", base+"/v2/", "", nil, nil)
		want := `Bearer realm="https://` + ls + `/oauth2/token",service="` + ls + `"`
		if st != 401 || h.Get("WWW-Authenticate") != want {
			t.Fatalf("/v2/ challenge: %d %q, want %q", st, h.Get("WWW-Authenticate"), want)
		}
		_, h, _, _ = e.raw("PUT", base+"/v2/a/b/manifests/x", "", nil, nil)
		if got := h.Get("WWW-Authenticate"); !strings.HasSuffix(got, `,scope="repository:a/b:pull,push"`) {
			t.Fatalf("repository challenge: %q", got)
		}
	})
	t.Run("token for another registry", func(t *testing.T) {
		st, _, code, msg := e.raw("GET", "https://"+ls2+"/v2/app/tags/list", bearer, nil, nil)
		if st != 401 || code != "UNAUTHORIZED" || !strings.Contains(msg, ls) {
			t.Fatalf("registry 1's token at registry 2: %d %s %s", st, code, msg)
		}
		// A refresh token of registry 1 at registry 2 too.
		rt := e.exchange(ls, e.admin)
		if st, out := e.accessToken(ls2, rt, "repository:app:pull"); st != 401 {
			t.Fatalf("refresh token of another registry: %d %v", st, out)
		}
	})
	t.Run("token of another tenant (ID-4)", func(t *testing.T) {
		st, out := e.form(base+"/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {ls},
			"access_token": {e.token(e.other, armScope)}})
		if st != 401 || !strings.Contains(toJSON(out), "UNAUTHORIZED") || !strings.Contains(toJSON(out), "ID-4") {
			t.Fatalf("foreign tenant exchange: %d %v", st, out)
		}
		st, out = e.form(base+"/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {ls}, "tenant": {e.tenant2},
			"access_token": {e.token(e.admin, armScope)}})
		if st != 401 {
			t.Fatalf("tenant parameter of another tenant: %d %v", st, out)
		}
		// A token for the wrong audience (storage) is refused too.
		st, out = e.form(base+"/oauth2/exchange", url.Values{"grant_type": {"access_token"}, "service": {ls},
			"access_token": {e.token(e.admin, "https://storage.azure.com/.default")}})
		if st != 401 || !strings.Contains(toJSON(out), "audience") {
			t.Fatalf("storage token exchange: %d %v", st, out)
		}
	})
	t.Run("no anonymous token", func(t *testing.T) {
		resp, err := e.http.Get(base + "/oauth2/token?service=" + url.QueryEscape(ls) + "&scope=repository:app:pull")
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("anonymous token: %d", resp.StatusCode)
		}
	})
	t.Run("chunked upload out of order", func(t *testing.T) {
		st, h, code, _ := e.raw("POST", base+"/v2/app/blobs/uploads/", bearer, nil, nil)
		if st != 202 {
			t.Fatalf("start: %d %s", st, code)
		}
		loc := h.Get("Location")
		st, h, code, _ = e.raw("PATCH", base+loc, bearer, []byte("abc"), map[string]string{"Content-Range": "5-7", "Content-Type": "application/octet-stream"})
		if st != 416 || code != "BLOB_UPLOAD_INVALID" || h.Get("Range") != "0-0" {
			t.Fatalf("out-of-order chunk: %d %s %q", st, code, h.Get("Range"))
		}
		st, h, _, _ = e.raw("PATCH", base+loc, bearer, []byte("abc"), map[string]string{"Content-Range": "0-2"})
		if st != 202 || h.Get("Range") != "0-2" {
			t.Fatalf("first chunk: %d %q", st, h.Get("Range"))
		}
		st, _, code, _ = e.raw("PUT", base+loc+"?digest="+sha([]byte("abcdef")), bearer, []byte("def"), nil)
		if st != 201 {
			t.Fatalf("finish: %d %s", st, code)
		}
		st, h, _, _ = e.raw("GET", base+"/v2/app/blobs/"+sha([]byte("abcdef")), bearer, nil, map[string]string{"Range": "bytes=2-4"})
		if st != 206 || h.Get("Content-Range") != "bytes 2-4/6" {
			t.Fatalf("ranged blob GET: %d %q", st, h.Get("Content-Range"))
		}
	})
}

// The registry's ARM shape: identity spelled as ACR spells it, defaults,
// read-only properties, bad input.
func TestRegistryARM(t *testing.T) {
	t.Parallel()
	// SQLite: attaching a user-assigned identity checks RBAC inside the
	// write transaction, which the memory store cannot serve.
	e := newEnvStore(t, false, "sqlite")
	uaiPath := "/subscriptions/" + e.sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pullid"
	if st, out := e.armDo(e.admin, "PUT", uaiPath, "2023-01-31", map[string]any{"location": "eastus"}); st >= 300 {
		t.Fatalf("uai: %d %v", st, out)
	}
	st, out := e.armDo(e.admin, "PUT", e.registryPath("armreg1"), "2022-02-01-preview", map[string]any{"location": "East US",
		"sku": map[string]any{"name": "premium"}, "identity": map[string]any{"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": map[string]any{uaiPath: map[string]any{}}},
		"properties": map[string]any{"loginServer": "evil.example", "networkRuleBypassOptions": "None"}})
	if st != 200 {
		t.Fatalf("create: %d %v", st, out)
	}
	props := out["properties"].(map[string]any)
	id := out["identity"].(map[string]any)
	if id["type"] != "SystemAssigned, UserAssigned" || id["principalId"] == "" || props["adminUserEnabled"] != false ||
		!strings.HasPrefix(props["loginServer"].(string), "127.0.0.1:") || props["networkRuleBypassOptions"] != "None" ||
		out["sku"].(map[string]any)["name"] != "Premium" || props["provisioningState"] != "Succeeded" {
		t.Fatalf("registry: %v", out)
	}
	for _, c := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"no sku", map[string]any{"location": "eastus"}, "InvalidRequestContent"},
		{"bad sku", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Gold"}}, "InvalidSku"},
		{"anonymous pull", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}, "properties": map[string]any{"anonymousPullEnabled": true}}, "InvalidRequestContent"},
		{"admin not bool", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}, "properties": map[string]any{"adminUserEnabled": "yes"}}, "InvalidRequestContent"},
	} {
		st, out := e.armDo(e.admin, "PUT", e.registryPath("armreg2"), apiACR, c.body)
		if st != 400 || out["error"].(map[string]any)["code"] != c.code {
			t.Fatalf("%s: %d %v", c.name, st, out)
		}
	}
	if st, out := e.armDo(e.admin, "PUT", e.registryPath("a-b"), apiACR, map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}}); st != 400 {
		t.Fatalf("bad name: %d %v", st, out)
	}
	// Deleting the registry closes its port.
	ls := props["loginServer"].(string)
	if st, _ := e.armDo(e.admin, "DELETE", e.registryPath("armreg1"), apiACR, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if resp, err := e.http.Get("https://" + ls + "/v2/"); err == nil {
		resp.Body.Close()
		t.Fatalf("the deleted registry still answers: %d", resp.StatusCode)
	}
}

// At start amlid reopens each registry on the port its loginServer names;
// when another program took that port meanwhile, the registry moves to a
// new one and its loginServer follows.
func TestRegistryPortsReopen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("portreg1", true)
	pw := e.adminPassword("portreg1")
	restart := func() *hostport.Pool {
		e.pool.Shutdown(context.Background()) // amlid stops
		pool := hostport.New(hostport.Config{TLS: e.ca.TLSConfig()})
		t.Cleanup(func() { pool.Shutdown(context.Background()) })
		p, err := registry.New(context.Background(), registry.Config{Store: e.store, Directory: e.dir, Tokens: e.tokens, Authz: e.authz,
			Ports: pool, DataDir: filepath.Join(e.dataDir, "registry")})
		must(t, err)
		must(t, p.OpenAll(context.Background()))
		e.pool = pool
		return pool
	}
	restart()
	req, _ := http.NewRequest("GET", "https://"+ls+"/v2/", nil)
	req.SetBasicAuth("portreg1", pw)
	if resp, err := e.http.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a restart the registry must answer on %s: %v %v", ls, err, resp)
	}
	e.pool.Shutdown(context.Background())
	squat, err := net.Listen("tcp", ls) // another program takes the port
	must(t, err)
	defer squat.Close()
	restart()
	_, out := e.armDo(e.admin, "GET", e.registryPath("portreg1"), apiACR, nil)
	moved := out["properties"].(map[string]any)["loginServer"].(string)
	if moved == ls {
		t.Fatalf("loginServer did not move off the taken port %s", ls)
	}
	req, _ = http.NewRequest("GET", "https://"+moved+"/v2/", nil)
	req.SetBasicAuth("portreg1", pw)
	if resp, err := e.http.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the moved registry must answer on %s: %v %v", moved, err, resp)
	}
}
