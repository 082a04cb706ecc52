package keyvault_test

import (
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func newDefaultCred(opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	// Only the transport (for the CA): the authority comes from
	// AZURE_AUTHORITY_HOST, as in a user's program after eval "$(amlid env)".
	return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: opts.Transport}})
}
