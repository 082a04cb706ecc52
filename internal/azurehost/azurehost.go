// Package azurehost knows Azure's public- and China-cloud host names that
// amlid serves through its HTTPS proxy (`amlid env --azure-hostnames`):
// which service a name belongs to and which resource it names. Requests
// that arrive under such a name carry it in their context, so services
// print Azure-style URLs (discovery documents, challenges) to those callers
// and loopback ones to everyone else.
package azurehost

import (
	"context"
	"net"
	"strings"
)

// Service is what a host name addresses.
type Service string

const (
	ARM      Service = "arm"      // management.azure.com
	Login    Service = "login"    // login.microsoftonline.com (Entra)
	Graph    Service = "graph"    // graph.microsoft.com
	Blob     Service = "blob"     // {account}.blob.core.windows.net
	DFS      Service = "dfs"      // {account}.dfs.core.windows.net
	Vault    Service = "vault"    // {vault}.vault.azure.net
	Registry Service = "registry" // {registry}.azurecr.io
	Scoring  Service = "scoring"  // {endpoint}.{region}.inference.ml.azure.com
	MLAPI    Service = "mlapi"    // {region}.api.azureml.ms (workspace discovery, run history)
)

// Cloud is the Azure cloud a name belongs to.
type Cloud string

const (
	Public Cloud = "AzureCloud"
	China  Cloud = "AzureChinaCloud"
)

// Name is a parsed Azure host name.
type Name struct {
	Host     string // lower case, no port
	Service  Service
	Cloud    Cloud
	Resource string // account, vault, registry or endpoint name; "" for ARM, Entra, Graph
}

// fixed names, by cloud.
var fixed = map[string]Name{
	"management.azure.com":             {Service: ARM, Cloud: Public},
	"management.chinacloudapi.cn":      {Service: ARM, Cloud: China},
	"login.microsoftonline.com":        {Service: Login, Cloud: Public},
	"login.windows.net":                {Service: Login, Cloud: Public},
	"login.chinacloudapi.cn":           {Service: Login, Cloud: China},
	"login.partner.microsoftonline.cn": {Service: Login, Cloud: China},
	"graph.microsoft.com":              {Service: Graph, Cloud: Public},
	"microsoftgraph.chinacloudapi.cn":  {Service: Graph, Cloud: China},
}

// suffixes of per-resource names: the resource is the first label.
var suffixes = []struct {
	suffix string
	svc    Service
	cloud  Cloud
}{
	{".blob.core.windows.net", Blob, Public},
	{".blob.core.chinacloudapi.cn", Blob, China},
	{".dfs.core.windows.net", DFS, Public},
	{".dfs.core.chinacloudapi.cn", DFS, China},
	{".vault.azure.net", Vault, Public},
	{".vault.azure.cn", Vault, China},
	{".azurecr.io", Registry, Public},
	{".azurecr.cn", Registry, China},
	{".inference.ml.azure.com", Scoring, Public},
	{".inference.ml.azure.cn", Scoring, China},
	{".api.azureml.ms", MLAPI, Public},
	{".api.ml.azure.cn", MLAPI, China},
}

// Parse recognises host (a port is ignored). ok is false for names amlid
// does not serve.
func Parse(host string) (Name, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if n, ok := fixed[host]; ok {
		n.Host = host
		return n, true
	}
	for _, s := range suffixes {
		rest, ok := strings.CutSuffix(host, s.suffix)
		if !ok || rest == "" {
			continue
		}
		label := rest
		if s.svc == Scoring {
			// {endpoint}.{region}: the endpoint is the first label.
			var region string
			var cut bool
			label, region, cut = strings.Cut(rest, ".")
			if !cut || region == "" || strings.Contains(region, ".") {
				return Name{}, false
			}
		} else if strings.Contains(label, ".") {
			return Name{}, false
		}
		if !validLabel(label) {
			return Name{}, false
		}
		return Name{Host: host, Service: s.svc, Cloud: s.cloud, Resource: label}, true
	}
	return Name{}, false
}

// validLabel: a DNS label (letters, digits, hyphens; 1-63).
func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// LoginHost is the Entra host of a cloud.
func LoginHost(c Cloud) string {
	if c == China {
		return "login.chinacloudapi.cn"
	}
	return "login.microsoftonline.com"
}

// ProxyUser is the user name in the proxy URL of the Azure-hostnames mode
// (http://azure:hostnames@127.0.0.1:PORT; Python's requests sends no
// credentials without a password). Clients send it on CONNECT
// (Proxy-Authorization: Basic), which tells the proxy that the caller's
// credentials are Azure-style (tenant by ID, Azure's login host): it then
// answers as Azure does (challenges, discovery documents, endpoints). A
// CONNECT without it (`amlid keyvault proxy-env`, whose credentials use
// amlid's own authority and "adfs") gets amlid's loopback answers under
// the same names.
const ProxyUser = "azure"

// ProxyURL is the Azure-hostnames form of the proxy's URL (http://host:port).
func ProxyURL(proxy string) string {
	if rest, ok := strings.CutPrefix(proxy, "http://"); ok && !strings.Contains(rest, "@") {
		return "http://" + ProxyUser + ":hostnames@" + rest
	}
	return proxy
}

type ctxKey struct{}

// WithName marks a request as arrived under an Azure name (the proxy).
func WithName(ctx context.Context, n Name) context.Context {
	return context.WithValue(ctx, ctxKey{}, n)
}

// FromContext returns the Azure name a request arrived under.
func FromContext(ctx context.Context) (Name, bool) {
	n, ok := ctx.Value(ctxKey{}).(Name)
	return n, ok
}

// AuthorityBase is the Entra base URL to name to the caller of ctx: Azure's
// login host of the request's cloud when it arrived under an Azure name,
// fallback (amlid's own authority host) otherwise.
func AuthorityBase(ctx context.Context, fallback string) string {
	if n, ok := FromContext(ctx); ok {
		return "https://" + LoginHost(n.Cloud)
	}
	return fallback
}
