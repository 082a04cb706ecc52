package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/amlid/amlid/internal/server"
	"github.com/amlid/amlid/internal/workload"
	"github.com/spf13/cobra"
)

func (a *app) envCmd() *cobra.Command {
	var azCloud, azureNames bool
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print shell exports that point Azure clients at a running amlid",
		Long: `Print shell exports so that, after eval "$(amlid env)", Azure SDKs, az and
amlid's own CLI reach amlid: CA trust, endpoints, tenant and subscription, and the
bootstrap admin's credentials (DefaultAzureCredential / EnvironmentCredential).

With --azure-hostnames, clients keep Azure's own host names instead:
HTTPS_PROXY points at amlid's proxy, which serves management.azure.com,
login.microsoftonline.com, graph.microsoft.com, {account}.blob.core.windows.net,
{vault}.vault.azure.net, {registry}.azurecr.io, {endpoint}.{region}.inference.ml.azure.com
and their China-cloud names with certificates from amlid's CA. Code written for
Azure (and az on its default AzureCloud) then runs with no endpoint options, and
AZURE_TENANT_ID is the tenant's ID.

With --az-cloud it prints the az commands that register amlid as a custom cloud
for Debian's az 2.45 instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := a.dataDirOrDefault()
			st, err := server.ReadState(dir)
			if err != nil {
				return &cliError{Message: err.Error(), Exit: exitError}
			}
			if azCloud {
				fmt.Fprint(a.stdout, azCloudCommands(st))
				return nil
			}
			lines := [][2]string{
				{"AMLID_DATA_DIR", dir},
				{"AMLID_ARM_URL", st.ARMURL},
				{"AMLID_CA_FILE", st.CAFile},
				{"AMLID_BLOB_URL", st.BlobURL},
				{"SSL_CERT_FILE", st.CABundle},
				{"REQUESTS_CA_BUNDLE", st.CABundle},
				{"CURL_CA_BUNDLE", st.CABundle}, // curl ignores SSL_CERT_FILE
				{"AMLID_TENANT_ID", st.TenantID},
				// "adfs" is the authority form that lets MSAL (Go and Python)
				// skip instance discovery offline, so DefaultAzureCredential
				// works with no code change; it names amlid's default tenant.
				{"AZURE_TENANT_ID", "adfs"},
				{"AZURE_SUBSCRIPTION_ID", st.SubscriptionID},
				{"AZURE_AUTHORITY_HOST", st.AuthorityHost + "/"},
				// azure-ai-ml's MLClient sends its workspace, endpoint and
				// asset calls to this base URL instead of management.azure.com.
				{"AZUREML_DEV_URL_MFE", st.ARMURL},
			}
			if azureNames {
				if st.VaultProxyURL == "" {
					return &cliError{Message: "this amlid publishes no proxy address (state.json has no vaultProxyUrl): restart `amlid up`", Exit: exitError}
				}
				lines = azureHostnameLines(lines, st)
			}
			if b, err := server.ReadBootstrap(dir); err == nil {
				lines = append(lines, [2]string{"AZURE_CLIENT_ID", b.ClientID}, [2]string{"AZURE_CLIENT_SECRET", b.ClientSecret})
			}
			for _, l := range lines {
				if l[1] == "" {
					fmt.Fprintf(a.stdout, "unset %s\n", l[0])
					continue
				}
				fmt.Fprintf(a.stdout, "export %s=%s\n", l[0], shellQuote(l[1]))
			}
			if azureNames {
				fmt.Fprintf(a.stdout, "# az: use its default cloud (az cloud set -n AzureCloud) and az login --service-principal -u \"$AZURE_CLIENT_ID\" -p \"$AZURE_CLIENT_SECRET\" --tenant \"$AZURE_TENANT_ID\"\n")
				return nil
			}
			fmt.Fprintf(a.stdout, "# For az (Debian azure-cli 2.45): eval \"$(amlid env --az-cloud --data-dir %s)\"\n", shellQuote(dir))
			return nil
		},
	}
	cmd.Flags().BoolVar(&azCloud, "az-cloud", false, "Print the 'az cloud register' commands for Debian's az instead")
	cmd.Flags().BoolVar(&azureNames, "azure-hostnames", false, "Reach amlid under Azure's own host names (management.azure.com, {account}.blob.core.windows.net, …) through its HTTPS proxy")
	return cmd
}

// azureHostnameLines turns the loopback exports into the Azure-hostnames
// ones: the proxy in HTTPS_PROXY, the tenant by ID, and no endpoint
// overrides (an empty value is printed as unset).
func azureHostnameLines(lines [][2]string, st *server.State) [][2]string {
	out := make([][2]string, 0, len(lines)+4)
	for _, l := range lines {
		switch l[0] {
		case "AZURE_TENANT_ID":
			l[1] = st.TenantID
		case "AZURE_AUTHORITY_HOST", "AZUREML_DEV_URL_MFE":
			l[1] = ""
		}
		out = append(out, l)
	}
	// Loopback URLs (amlid's own, MSI_ENDPOINT) stay direct. Python and
	// curl read the lower-case names too.
	pe := workload.ProxyEnv(st.VaultProxyURL)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"} {
		out = append(out, [2]string{k, pe[k]})
	}
	return out
}

// azCloudCommands registers amlid as a custom cloud (client-protocols.md §3):
// AD on the adfs authority so az skips instance discovery offline.
func azCloudCommands(st *server.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "export REQUESTS_CA_BUNDLE=%s\n", shellQuote(st.CABundle))
	fmt.Fprintf(&b, "export AZURE_CORE_COLLECT_TELEMETRY=false\n")
	// az 2.45 has no flag for the Microsoft Graph endpoint, so the cloud is
	// registered from a JSON config (keys are camelCase, az snake-cases them).
	cfg := map[string]any{
		"endpoints": map[string]string{
			"resourceManager":                st.ARMURL + "/",
			"activeDirectory":                st.AuthorityHost + "/adfs",
			"activeDirectoryResourceId":      "https://management.core.windows.net/",
			"activeDirectoryGraphResourceId": st.GraphURL + "/",
			"microsoftGraphResourceId":       st.GraphURL + "/",
			"management":                     "https://management.core.windows.net/",
		},
		"suffixes": map[string]string{
			"storageEndpoint":        "core.windows.net",
			"keyvaultDns":            ".vault.azure.net",
			"acrLoginServerEndpoint": ".azurecr.io",
		},
	}
	js, _ := json.Marshal(cfg)
	fmt.Fprintf(&b, "az cloud register -n amlid --cloud-config %s --only-show-errors 2>/dev/null || az cloud update -n amlid --cloud-config %s --only-show-errors\n",
		shellQuote(string(js)), shellQuote(string(js)))
	fmt.Fprintf(&b, "az cloud set -n amlid --only-show-errors\n")
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
