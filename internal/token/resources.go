package token

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/store"
	"github.com/google/uuid"
)

// servedResources are the Entra resources (application ID URIs and the
// well-known application IDs) of the Azure services amlid implements. A
// token for anything else would be accepted by no plane, so the token
// endpoint refuses it the way Entra refuses an unknown resource
// (AADSTS500011) rather than minting an audience of the caller's choosing.
var servedResources = map[string]bool{
	"https://management.azure.com":         true, // Resource Manager
	"https://management.core.windows.net":  true, // Resource Manager, as az asks for it
	"797f4846-ba00-4fd7-ba43-dac1f8f63013": true, // Windows Azure Service Management API
	"https://graph.microsoft.com":          true, // Microsoft Graph
	graphAppID:                             true,
	"https://storage.azure.com":            true, // Azure Storage
	"e406a681-f3d4-42a8-90b6-c2b029497af1": true,
	"https://vault.azure.net":              true, // Key Vault
	"cfa8b339-82a2-471a-a3c9-0fc0be7a4093": true,
	"https://containerregistry.azure.net":  true, // Container Registry
	"https://ml.azure.com":                 true, // Azure Machine Learning (aad_token scoring)
	"18a66f5f-dbdf-4c17-9dd7-1634712a9cbe": true,
}

// servedHostSuffixes are resources named by an account's host (Entra
// accepts https://<account>.blob.core.windows.net as Storage).
var servedHostSuffixes = []string{".blob.core.windows.net", ".dfs.core.windows.net"}

// normResource lower-cases a resource and drops its trailing slashes
// (az asks for "https://management.core.windows.net/").
func normResource(r string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(r)), "/")
}

// knownResource reports whether amlid serves resource, or whether it names
// an application registered in tenant tid (its appId or api://<appId>).
func (s *Service) knownResource(ctx context.Context, tid, resource string) (bool, error) {
	r := normResource(resource)
	if servedResources[r] {
		return true, nil
	}
	for _, extra := range s.cfg.Resources {
		if e := normResource(extra); e != "" && r == e {
			return true, nil
		}
	}
	for _, prefix := range s.cfg.ResourcePrefixes {
		if p := normResource(prefix) + "/"; strings.HasPrefix(r, p) && len(r) > len(p) && !strings.Contains(r[len(p):], "/") {
			return true, nil
		}
	}
	if host, ok := strings.CutPrefix(r, "https://"); ok && !strings.ContainsAny(host, "/?#@:") {
		for _, suf := range servedHostSuffixes {
			if name, ok := strings.CutSuffix(host, suf); ok && name != "" && !strings.Contains(name, ".") {
				return true, nil
			}
		}
	}
	appID := strings.TrimPrefix(r, "api://")
	if _, err := uuid.Parse(appID); err != nil || len(appID) != 36 {
		return false, nil
	}
	_, err := s.dir.Lookup(ctx, tid, directory.IndexAppID, appID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// checkResource refuses a token request for a resource amlid does not
// serve and no application of the tenant registers (AADSTS500011).
func (s *Service) checkResource(ctx context.Context, tid, resource string) *oauthError {
	ok, err := s.knownResource(ctx, tid, resource)
	if err != nil {
		return errServer(err)
	}
	if ok {
		return nil
	}
	return newErr(http.StatusBadRequest, "invalid_resource", 500011,
		"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. amlid issues tokens for the services it serves (https://management.azure.com, https://graph.microsoft.com, https://storage.azure.com, https://vault.azure.net, https://containerregistry.azure.net, https://ml.azure.com) and for applications registered in the tenant (their appId or api://<appId>).",
		resource, tid)
}
