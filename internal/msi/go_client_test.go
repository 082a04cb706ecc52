package msi

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/amlid/amlid/internal/directory"
	"github.com/google/uuid"
)

// miEnvVars are every variable that steers MSAL Go's source selection.
var miEnvVars = []string{EnvMSIEndpoint, EnvMSISecret, EnvIdentityEndpoint, EnvIdentityHeader, EnvPodIdentityAuthority,
	EnvDefaultIdentityClient, "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"}

// setMIEnv gives the process exactly these MI variables (azidentity reads
// the environment when the credential is built and MSAL again per request,
// so these tests use t.Setenv and cannot run in parallel).
func setMIEnv(t *testing.T, env map[string]string, keep ...string) {
	t.Helper()
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for _, k := range miEnvVars {
		if v, ok := env[k]; ok && (len(keep) == 0 || kept[k]) {
			t.Setenv(k, v)
		} else {
			t.Setenv(k, "")
		}
	}
}

// goToken gets a token with azidentity's ManagedIdentityCredential.
func goToken(t *testing.T, id azidentity.ManagedIDKind, scope string) (string, error) {
	t.Helper()
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: id})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	return tk.Token, err
}

type goCase struct {
	name string
	id   azidentity.ManagedIDKind
	want *directory.Principal // nil: must fail
}

func runGoCases(t *testing.T, e *env, cases []goCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// MSAL Go caches managed-identity tokens process-wide per
			// (identity selector, resource): a fresh audience per case makes
			// every case reach the server.
			aud := "https://" + uuid.NewString()[:8] + ".blob.storage.test"
			tok, err := goToken(t, c.id, aud+"/.default")
			if c.want == nil {
				if err == nil || tok != "" {
					t.Fatalf("got a token for an identity the resource does not hold")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e.verify(t, tok, aud, c.want)
		})
	}
}

// TestGoAzureMLSource: MSI_ENDPOINT + MSI_SECRET (MSAL Go's AzureML source,
// which always sends clientid=, empty or DEFAULT_IDENTITY_CLIENT_ID).
func TestGoAzureMLSource(t *testing.T) {
	e := newEnv(t)
	t.Run("system-assigned default", func(t *testing.T) {
		w := e.register(t, resBoth)
		if w.DefaultClientID != "" {
			t.Fatalf("DefaultClientID %q for a resource whose default identity is system-assigned", w.DefaultClientID)
		}
		setMIEnv(t, EnvFor(w, e.base), EnvMSIEndpoint, EnvMSISecret, EnvDefaultIdentityClient)
		runGoCases(t, e, []goCase{
			{"default", nil, e.sai},
			{"uai by client ID", azidentity.ClientID(e.uai1.AppID), e.uai1},
			{"not held", azidentity.ClientID(e.stranger.AppID), nil},
			{"held elsewhere", azidentity.ClientID(e.uai2.AppID), nil},
		})
	})
	t.Run("user-assigned default with DEFAULT_IDENTITY_CLIENT_ID", func(t *testing.T) {
		w := e.register(t, resUAI)
		env := EnvFor(w, e.base)
		if env[EnvDefaultIdentityClient] != e.uai1.AppID {
			t.Fatalf("DEFAULT_IDENTITY_CLIENT_ID %q, want uai1's client ID (rule CMP-3)", env[EnvDefaultIdentityClient])
		}
		setMIEnv(t, env, EnvMSIEndpoint, EnvMSISecret, EnvDefaultIdentityClient)
		runGoCases(t, e, []goCase{
			{"default", nil, e.uai1},
			{"second uai by client ID", azidentity.ClientID(e.uai2.AppID), e.uai2},
			{"not held", azidentity.ClientID(e.sai.AppID), nil},
		})
	})
	t.Run("user-assigned default, clientid empty", func(t *testing.T) {
		w := e.register(t, resUAI)
		setMIEnv(t, EnvFor(w, e.base), EnvMSIEndpoint, EnvMSISecret)
		runGoCases(t, e, []goCase{{"default", nil, e.uai1}})
	})
	t.Run("no identity", func(t *testing.T) {
		w := e.register(t, resNone)
		setMIEnv(t, EnvFor(w, e.base), EnvMSIEndpoint, EnvMSISecret)
		runGoCases(t, e, []goCase{{"default", nil, nil}})
	})
}

// TestGoAppServiceSource: IDENTITY_ENDPOINT + IDENTITY_HEADER, with every
// selector MSAL Go sends (client_id, mi_res_id, object_id).
func TestGoAppServiceSource(t *testing.T) {
	e := newEnv(t)
	w := e.register(t, resUAI)
	setMIEnv(t, EnvFor(w, e.base), EnvIdentityEndpoint, EnvIdentityHeader)
	runGoCases(t, e, []goCase{
		{"default", nil, e.uai1},
		{"client ID", azidentity.ClientID(e.uai2.AppID), e.uai2},
		{"resource ID", azidentity.ResourceID(e.uai2.ResourceID), e.uai2},
		{"object ID", azidentity.ObjectID(e.uai2.ObjectID), e.uai2},
		{"not held by client ID", azidentity.ClientID(e.stranger.AppID), nil},
		{"not held by resource ID", azidentity.ResourceID(e.stranger.ResourceID), nil},
		{"not held by object ID", azidentity.ObjectID(e.sai.ObjectID), nil},
	})
}

// TestGoFullEnv: the whole EnvFor environment, as a workload gets it. Go
// picks the App Service source (it comes first), as on App Service.
func TestGoFullEnv(t *testing.T) {
	e := newEnv(t)
	w := e.register(t, resBoth)
	setMIEnv(t, EnvFor(w, e.base))
	runGoCases(t, e, []goCase{
		{"default", nil, e.sai},
		{"uai", azidentity.ClientID(e.uai1.AppID), e.uai1},
		{"not held", azidentity.ClientID(e.uai2.AppID), nil},
	})
	t.Run("DefaultAzureCredential", func(t *testing.T) {
		for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME",
			"AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_ID"} {
			t.Setenv(k, "") // restores the old value afterwards
			os.Unsetenv(k)
		}
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		must(t, err)
		aud := "https://" + uuid.NewString()[:8] + ".vault.test"
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{aud + "/.default"}})
		must(t, err)
		e.verify(t, tk.Token, aud, e.sai)
	})
}

// TestGoCloudShellSource: MSI_ENDPOINT without MSI_SECRET makes MSAL Go
// POST like az does; the workload path alone binds it.
func TestGoCloudShellSource(t *testing.T) {
	e := newEnv(t)
	w := e.register(t, resBoth)
	setMIEnv(t, EnvFor(w, e.base), EnvMSIEndpoint)
	runGoCases(t, e, []goCase{{"default", nil, e.sai}})

	e.reg.Unregister(w.ID)
	runGoCases(t, e, []goCase{{"after the workload ended", nil, nil}})
}
