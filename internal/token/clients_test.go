package token

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func getToken(t *testing.T, cred azcore.TokenCredential, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("GetToken(%s): %v", scope, err)
	}
	if time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Fatalf("ExpiresOn %v: want about an hour or more", tok.ExpiresOn)
	}
	return tok.Token
}

// TestAzidentityClientSecret: ClientSecretCredential against a tenant ID
// (instance discovery off) and against the adfs authority.
func TestAzidentityClientSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, tenant string }{
		{"tenant-id", e.tenant},
		{"domain", "contoso.test"},
		{"adfs", "adfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewClientSecretCredential(tc.tenant, e.app.AppID, e.appSecret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: tc.tenant != "adfs"})
			must(t, err)
			raw := getToken(t, cred, "https://management.azure.com/.default")
			e.note(raw)
			c, err := e.svc.Verify(t.Context(), raw, "https://management.azure.com")
			must(t, err)
			wantClaims(t, c, e.app.ObjectID, e.tenant, "https://management.azure.com", "app")
			if c.AppID != e.app.AppID || c.AppIDACR != "1" || c.Version != "2.0" || c.Issuer != IssuerV2Host+"/"+e.tenant+"/v2.0" {
				t.Fatalf("appid=%s acr=%s ver=%s iss=%s", c.AppID, c.AppIDACR, c.Version, c.Issuer)
			}
		})
	}
}

// TestAzidentityClientCertificate: certificate assertions, PS256 with
// x5t#S256 (tenant authority) and RS256 with x5t (adfs authority).
func TestAzidentityClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, tenant string
		chain        bool
	}{
		{"tenant-id PS256", e.tenant, false},
		{"adfs RS256 x5c", "adfs", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewClientCertificateCredential(tc.tenant, e.app.AppID, []*x509.Certificate{e.cert}, e.certKey,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true, SendCertificateChain: tc.chain})
			must(t, err)
			raw := getToken(t, cred, storageAud+"/.default")
			c, err := e.svc.Verify(t.Context(), raw, storageAud+"/")
			must(t, err)
			wantClaims(t, c, e.app.ObjectID, e.tenant, storageAud, "app")
			if c.AppIDACR != "2" {
				t.Fatalf("appidacr %q, want 2 (certificate)", c.AppIDACR)
			}
		})
	}
	t.Run("unregistered certificate", func(t *testing.T) {
		key, cert := selfSignedCert(t)
		cred, err := azidentity.NewClientCertificateCredential(e.tenant, e.app.AppID, []*x509.Certificate{cert}, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
		must(t, err)
		_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{storageAud + "/.default"}})
		if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
			t.Fatalf("want AADSTS700027, got %v", err)
		}
	})
}

// TestAzidentityUsernamePassword: ROPC through the user-realm call, then a
// second resource through MSAL's silent refresh-token redemption.
func TestAzidentityUsernamePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tenant := range []string{e.tenant, "adfs", "organizations"} {
		t.Run(tenant, func(t *testing.T) {
			//lint:ignore SA1019 ROPC is what `az login -u -p` and many scripts use.
			cred, err := azidentity.NewUsernamePasswordCredential(tenant, azCLIClientID, e.user.UPN, e.userPassword, //nolint:staticcheck
				&azidentity.UsernamePasswordCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
			must(t, err)
			raw := getToken(t, cred, "https://management.core.windows.net//.default")
			c, err := e.svc.Verify(t.Context(), raw, armAudience)
			must(t, err)
			wantClaims(t, c, e.user.ObjectID, e.tenant, armAudience, "user")
			if c.UPN != e.user.UPN || c.Scope != "user_impersonation" || c.AppID != azCLIClientID || c.AppIDACR != "0" {
				t.Fatalf("upn=%s scp=%q appid=%s acr=%s", c.UPN, c.Scope, c.AppID, c.AppIDACR)
			}
			if !slices.Contains(c.Groups, e.group.ObjectID) || !slices.Contains(c.Groups, e.group2.ObjectID) {
				t.Fatalf("groups %v: want the direct group %s and the nesting group %s", c.Groups, e.group.ObjectID, e.group2.ObjectID)
			}
			// Second resource: MSAL redeems its refresh token.
			raw2 := getToken(t, cred, storageAud+"/.default")
			c2, err := e.svc.Verify(t.Context(), raw2, storageAud)
			must(t, err)
			wantClaims(t, c2, e.user.ObjectID, e.tenant, storageAud, "user")
		})
	}
	if !strings.Contains(e.logs.String(), "grant_type=refresh_token") {
		t.Error("MSAL never redeemed a refresh token for the second resource")
	}
	t.Run("wrong password", func(t *testing.T) {
		cred, err := azidentity.NewUsernamePasswordCredential(e.tenant, azCLIClientID, e.user.UPN, "nope", //nolint:staticcheck
			&azidentity.UsernamePasswordCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
		must(t, err)
		_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{armAudience + "/.default"}})
		if err == nil || !strings.Contains(err.Error(), "AADSTS50126") {
			t.Fatalf("want AADSTS50126, got %v", err)
		}
	})
}

// TestDefaultAzureCredential: the environment-variable path, offline.
// Needs AZURE_AUTHORITY_HOST (https) and either AZURE_TENANT_ID=adfs or
// DisableInstanceDiscovery in the options (there is no env var for it);
// the transport must trust the server's certificate.
func TestDefaultAzureCredential(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, tenant string
		disableID    bool
	}{
		{"tenant-id", e.tenant, true},
		{"adfs", "adfs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AZURE_CLIENT_ID", e.app.AppID)
			t.Setenv("AZURE_CLIENT_SECRET", e.appSecret)
			t.Setenv("AZURE_TENANT_ID", tc.tenant)
			t.Setenv("AZURE_AUTHORITY_HOST", e.base)
			t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
			opts := e.clientOptions()
			opts.Cloud.ActiveDirectoryAuthorityHost = "" // from AZURE_AUTHORITY_HOST
			cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
				ClientOptions: opts, DisableInstanceDiscovery: tc.disableID})
			must(t, err)
			raw := getToken(t, cred, "https://ml.azure.com/.default")
			c, err := e.svc.Verify(t.Context(), raw, "https://ml.azure.com")
			must(t, err)
			wantClaims(t, c, e.app.ObjectID, e.tenant, "https://ml.azure.com", "app")
		})
	}
}

// TestAzidentityDeviceCode: DeviceCodeCredential; the prompt callback
// approves through the deviceauth form.
func TestAzidentityDeviceCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cred, err := azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{
		TenantID: e.tenant, ClientID: azCLIClientID, ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true,
		UserPrompt: func(ctx context.Context, m azidentity.DeviceCodeMessage) error {
			go func() {
				time.Sleep(200 * time.Millisecond) // let the first poll see authorization_pending
				u, _ := url.Parse(m.VerificationURL)
				q := u.Query()
				q.Set("user_code", m.UserCode)
				u.RawQuery = q.Encode()
				resp, err := e.srv.Client().PostForm(u.String(), url.Values{"username": {e.user.UPN}, "password": {e.userPassword}})
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("approval: %v %v", err, resp)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}()
			return nil
		},
	})
	must(t, err)
	raw := getToken(t, cred, storageAud+"/.default")
	c, err := e.svc.Verify(t.Context(), raw, storageAud)
	must(t, err)
	wantClaims(t, c, e.user.ObjectID, e.tenant, storageAud, "user")
}

// TestAzidentityOnBehalfOf: the user signs in to the app's API, the API
// trades that token for a Storage token for the same user.
func TestAzidentityOnBehalfOf(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	userCred, err := azidentity.NewUsernamePasswordCredential(e.tenant, azCLIClientID, e.user.UPN, e.userPassword, //nolint:staticcheck
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	must(t, err)
	apiToken := getToken(t, userCred, "api://"+e.app.AppID+"/.default")
	c, err := e.svc.Verify(t.Context(), apiToken, "api://"+e.app.AppID)
	must(t, err)
	wantClaims(t, c, e.user.ObjectID, e.tenant, "api://"+e.app.AppID, "user")

	obo, err := azidentity.NewOnBehalfOfCredentialWithSecret(e.tenant, e.app.AppID, apiToken, e.appSecret,
		&azidentity.OnBehalfOfCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	must(t, err)
	raw := getToken(t, obo, storageAud+"/.default")
	c2, err := e.svc.Verify(t.Context(), raw, storageAud)
	must(t, err)
	wantClaims(t, c2, e.user.ObjectID, e.tenant, storageAud, "user")
	if c2.AppID != e.app.AppID {
		t.Fatalf("OBO token appid %s, want the middle-tier app %s", c2.AppID, e.app.AppID)
	}

	// An app token is not a valid OBO assertion.
	appCred, err := azidentity.NewClientSecretCredential(e.tenant, e.app.AppID, e.appSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	must(t, err)
	appTok := getToken(t, appCred, "api://"+e.app.AppID+"/.default")
	code, body := e.post("/"+e.tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"}, "client_id": {e.app.AppID},
		"client_secret": {e.appSecret}, "assertion": {appTok}, "scope": {storageAud + "/.default"}})
	if code != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("OBO with an app token: %d %v", code, body)
	}
}
