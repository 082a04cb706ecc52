package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// armResource is the audience the CLI asks for when calling ARM.
const armResource = "https://management.azure.com/"

// profile is the signed-in account (AMLID_CONFIG_DIR/profile.json, 0600),
// like az's azureProfile.json + service_principal_entries.json.
type profile struct {
	Type         string `json:"type"` // servicePrincipal | user
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId,omitempty"`     // SP appId, or the public client for users
	ClientSecret string `json:"clientSecret,omitempty"` // SP secret
	CertFile     string `json:"certFile,omitempty"`     // SP certificate (PEM with key)
	Username     string `json:"username,omitempty"`
	RefreshToken string `json:"refreshToken,omitempty"`
	Subscription string `json:"subscription,omitempty"`
}

type cachedToken struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
}

func profilePath() string { return filepath.Join(configDir(), "profile.json") }
func tokenPath() string   { return filepath.Join(configDir(), "tokens.json") }

func loadProfile() (*profile, error) {
	b, err := os.ReadFile(profilePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", profilePath(), err)
	}
	return &p, nil
}

// envProfile is the EnvironmentCredential-style fallback: after
// `eval "$(amlid env)"` the bootstrap admin's credentials are in the
// environment.
func envProfile() *profile {
	id, secret, tenant := os.Getenv("AZURE_CLIENT_ID"), os.Getenv("AZURE_CLIENT_SECRET"), os.Getenv("AZURE_TENANT_ID")
	if strings.EqualFold(tenant, "adfs") { // amlid env's offline-friendly authority form
		tenant = os.Getenv("AMLID_TENANT_ID")
	}
	if id == "" || secret == "" || tenant == "" {
		return nil
	}
	return &profile{Type: "servicePrincipal", TenantID: tenant, ClientID: id, ClientSecret: secret}
}

// currentProfile is the signed-in profile, else the environment's.
func currentProfile() (*profile, error) {
	p, err := loadProfile()
	if err != nil || p != nil {
		return p, err
	}
	return envProfile(), nil
}

// accessToken returns a bearer token for resource, from the cache or the
// token service. With no account it returns an error telling to log in.
func (a *app) accessToken(ctx context.Context, resource string) (string, error) {
	t, err := a.token(ctx, resource)
	return t.AccessToken, err
}

// token is accessToken with the expiry.
func (a *app) token(ctx context.Context, resource string) (cachedToken, error) {
	p, err := currentProfile()
	if err != nil {
		return cachedToken{}, err
	}
	if p == nil {
		return cachedToken{}, &cliError{Message: "Please run 'amlid login' to setup account (or `eval \"$(amlid env)\"` for the bootstrap admin).", Exit: exitError}
	}
	key := p.TenantID + "|" + p.ClientID + "|" + p.Username + "|" + resource
	cache := map[string]cachedToken{}
	if b, err := os.ReadFile(tokenPath()); err == nil {
		_ = json.Unmarshal(b, &cache)
	}
	if c, ok := cache[key]; ok && time.Until(c.ExpiresOn) > 5*time.Minute {
		return c, nil
	}
	tr, err := a.requestToken(ctx, p, resource)
	if err != nil {
		return cachedToken{}, err
	}
	cache[key] = cachedToken{AccessToken: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	for k, c := range cache {
		if time.Now().After(c.ExpiresOn) {
			delete(cache, k)
		}
	}
	if tr.RefreshToken != "" && p.Type == "user" {
		p.RefreshToken = tr.RefreshToken
		if lp, _ := loadProfile(); lp != nil {
			_ = writePrivate(profilePath(), p)
		}
	}
	if err := writePrivate(tokenPath(), cache); err != nil {
		return cachedToken{}, err
	}
	return cache[key], nil
}

type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.Number     `json:"expires_in"`
	IDToken      string          `json:"id_token"`
	Error        string          `json:"error"`
	Description  string          `json:"error_description"`
	Raw          json.RawMessage `json:"-"`
}

type tokenResult struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int64
}

// scopeFor turns a v1 resource into a v2 scope.
func scopeFor(resource string) string {
	if strings.HasSuffix(resource, "/.default") {
		return resource
	}
	return strings.TrimSuffix(resource, "/") + "/.default"
}

func (a *app) requestToken(ctx context.Context, p *profile, resource string) (*tokenResult, error) {
	form := url.Values{"scope": {scopeFor(resource) + " offline_access"}, "client_id": {p.ClientID}}
	switch {
	case p.Type == "servicePrincipal" && p.ClientSecret != "":
		form.Set("grant_type", "client_credentials")
		form.Set("client_secret", p.ClientSecret)
		form.Set("scope", scopeFor(resource))
	case p.Type == "servicePrincipal" && p.CertFile != "":
		t, err := a.target()
		if err != nil {
			return nil, err
		}
		assertion, err := clientAssertion(p.CertFile, p.ClientID, t.AuthorityHost+"/"+p.TenantID+"/oauth2/v2.0/token")
		if err != nil {
			return nil, err
		}
		form.Set("grant_type", "client_credentials")
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
		form.Set("scope", scopeFor(resource))
	case p.Type == "user" && p.RefreshToken != "":
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", p.RefreshToken)
	default:
		return nil, &cliError{Message: "The stored account cannot get new tokens. Please run 'amlid login'.", Exit: exitError}
	}
	return a.postToken(ctx, p.TenantID, form)
}

func (a *app) postToken(ctx context.Context, tenant string, form url.Values) (*tokenResult, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	u := t.AuthorityHost + "/" + tenant + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return nil, &cliError{Message: fmt.Sprintf("cannot reach the token service at %s: %v", t.AuthorityHost, err), Exit: exitError}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("token service answered %d with invalid JSON", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return nil, &cliError{Message: fmt.Sprintf("%s: %s", tr.Error, tr.Description), Exit: exitError}
	}
	n, _ := tr.ExpiresIn.Int64()
	return &tokenResult{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, ExpiresIn: n}, nil
}
