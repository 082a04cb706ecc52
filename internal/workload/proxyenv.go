package workload

import (
	"strings"

	"github.com/amlid/amlid/internal/azurehost"
)

// NoProxy is what stays direct when a workload uses amlid's proxy: amlid's
// loopback URLs (MSI_ENDPOINT, the front door, Blob's path-style port).
const NoProxy = "127.0.0.1,localhost"

// ProxyEnv is the environment that sends a workload's HTTPS to Azure's
// host names through amlid's proxy (proxyURL, http://127.0.0.1:PORT), in
// the upper- and lower-case names Go, Python (requests, urllib3) and curl
// read. Workloads run Azure code: the proxy answers them as Azure does
// (azurehost.ProxyURL).
func ProxyEnv(proxyURL string) map[string]string {
	proxyURL = azurehost.ProxyURL(proxyURL)
	return map[string]string{
		"HTTPS_PROXY": proxyURL, "https_proxy": proxyURL,
		"NO_PROXY": NoProxy, "no_proxy": NoProxy,
	}
}

// ProxyEnvFor is ProxyEnv with w's own proxy credential: its HTTPS_PROXY is
// http://azure:<ProxySecret>@127.0.0.1:PORT, still the Azure-hostnames mode
// (user azure), and the proxy knows the requests come from w's resource
// (virtual-network rules, rule DS-8). Without w (or a proxy URL that is
// not plain http://host:port) it is ProxyEnv.
func ProxyEnvFor(proxyURL string, w *Workload) map[string]string {
	rest, ok := strings.CutPrefix(proxyURL, "http://")
	if w == nil || w.ProxySecret == "" || !ok || strings.Contains(rest, "@") {
		return ProxyEnv(proxyURL)
	}
	env := ProxyEnv(proxyURL)
	u := "http://" + azurehost.ProxyUser + ":" + w.ProxySecret + "@" + rest
	env["HTTPS_PROXY"], env["https_proxy"] = u, u
	return env
}
