package workload

import "github.com/amlid/amlid/internal/azurehost"

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
