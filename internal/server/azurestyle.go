package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/azurehost"
)

// azureStyleEndpoints renders Resource Manager answers for callers in the
// Azure-hostnames mode with Azure's endpoints: an account's
// primaryEndpoints.blob is https://{account}.blob.core.windows.net/, a
// vault's vaultUri https://{vault}.vault.azure.net/, a registry's
// loginServer {registry}.azurecr.io, an online endpoint's scoringUri
// https://{endpoint}.{location}.inference.ml.azure.com/score (China-cloud
// names under management.chinacloudapi.cn), all of which amlid's proxy
// serves. Other callers (loopback, amlid's CLI) get the stored loopback
// endpoints. Nothing is stored: these properties are read-only.
func azureStyleEndpoints(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, ok := azurehost.FromContext(r.Context())
		if !ok || n.Service != azurehost.ARM || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if strings.Contains(rec.header.Get("Content-Type"), "json") && len(body) > 0 && len(body) < 32<<20 {
			if out, changed := rewriteEndpoints(body, n.Cloud); changed {
				body = out
				rec.header.Set("Content-Length", strconv.Itoa(len(body)))
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// rewriteEndpoints rewrites every resource object in an ARM JSON body.
func rewriteEndpoints(body []byte, cloud azurehost.Cloud) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if !walkResources(v, cloud) {
		return nil, false
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), true
}

func walkResources(v any, cloud azurehost.Cloud) bool {
	changed := false
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			changed = walkResources(e, cloud) || changed
		}
	case map[string]any:
		if id, ok := x["id"].(string); ok {
			if props, ok := x["properties"].(map[string]any); ok {
				changed = rewriteResource(id, x, props, cloud) || changed
			}
		}
		if val, ok := x["value"].([]any); ok {
			changed = walkResources(val, cloud) || changed
		}
	}
	return changed
}

// rewriteResource sets Azure's endpoints on one resource by its type.
func rewriteResource(id string, res, props map[string]any, cloud azurehost.Cloud) bool {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	// subscriptions/S/resourceGroups/G/providers/NS/type/name[/child/name]
	if len(parts) < 8 || !strings.EqualFold(parts[4], "providers") {
		return false
	}
	typ := strings.ToLower(parts[5] + "/" + parts[6])
	name := strings.ToLower(parts[7])
	china := cloud == azurehost.China
	pick := func(public, cn string) string {
		if china {
			return cn
		}
		return public
	}
	set := func(m map[string]any, k, v string) bool {
		if old, ok := m[k].(string); ok && old != v {
			m[k] = v
			return true
		}
		return false
	}
	switch {
	case typ == "microsoft.storage/storageaccounts" && len(parts) == 8:
		pe, ok := props["primaryEndpoints"].(map[string]any)
		if !ok {
			return false
		}
		c := set(pe, "blob", "https://"+name+pick(".blob.core.windows.net/", ".blob.core.chinacloudapi.cn/"))
		return set(pe, "dfs", "https://"+name+pick(".dfs.core.windows.net/", ".dfs.core.chinacloudapi.cn/")) || c
	case typ == "microsoft.keyvault/vaults" && len(parts) == 8:
		return set(props, "vaultUri", "https://"+name+pick(".vault.azure.net/", ".vault.azure.cn/"))
	case typ == "microsoft.containerregistry/registries" && len(parts) == 8:
		return set(props, "loginServer", name+pick(".azurecr.io", ".azurecr.cn"))
	case typ == "microsoft.machinelearningservices/workspaces" && len(parts) == 10 && strings.EqualFold(parts[8], "onlineEndpoints"):
		loc, _ := res["location"].(string)
		loc = strings.ToLower(strings.ReplaceAll(loc, " ", ""))
		if loc == "" {
			return false
		}
		base := "https://" + strings.ToLower(parts[9]) + "." + loc + pick(".inference.ml.azure.com", ".inference.ml.azure.cn")
		c := set(props, "scoringUri", base+"/score")
		return set(props, "swaggerUri", base+"/swagger.json") || c
	}
	return false
}
