package cli

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// azPublicClient is az's public client ID; amlid's CLI signs users in as az
// does.
const azPublicClient = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

func init() {
	extraCommands = append(extraCommands, (*app).loginCmd, (*app).logoutCmd)
}

func (a *app) loginCmd() *cobra.Command {
	var sp, deviceCode, allowNoSubs bool
	var user, password, tenant, certificate string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in: a service principal (secret or certificate), a user (password or device code)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			t, err := a.target()
			if err != nil {
				return err
			}
			if tenant == "" || strings.EqualFold(tenant, "adfs") { // adfs: amlid env's name of the default tenant
				tenant = t.TenantID
			}
			p := &profile{TenantID: tenant}
			var tr *tokenResult
			switch {
			case sp:
				if user == "" || (password == "" && certificate == "") {
					return usageErr("usage error: --service-principal --username APPID --password SECRET | --certificate PEM --tenant TENANT")
				}
				p.Type, p.ClientID = "servicePrincipal", user
				if certificate == "" && strings.HasSuffix(strings.ToLower(password), ".pem") {
					if _, err := os.Stat(password); err == nil {
						certificate = password
					}
				}
				if certificate != "" {
					abs, _ := filepath.Abs(certificate)
					p.CertFile = abs
				} else {
					p.ClientSecret = password
				}
				tr, err = a.requestToken(c.Context(), p, armResource)
			case deviceCode:
				p.Type, p.ClientID = "user", azPublicClient
				tr, err = a.deviceCodeLogin(c.Context(), p)
			case user != "":
				if password == "" {
					return usageErr("usage error: --username USER --password PASSWORD (or --use-device-code)")
				}
				p.Type, p.ClientID, p.Username = "user", azPublicClient, user
				tr, err = a.postToken(c.Context(), tenant, url.Values{
					"grant_type": {"password"}, "client_id": {azPublicClient}, "username": {user}, "password": {password},
					"scope": {scopeFor(armResource) + " openid offline_access profile"}, "client_info": {"1"},
				})
			default:
				return usageErr("usage error: pass --service-principal -u APPID -p SECRET, -u USER -p PASSWORD, or --use-device-code")
			}
			if err != nil {
				return err
			}
			p.RefreshToken = tr.RefreshToken
			if err := os.RemoveAll(tokenPath()); err != nil {
				return err
			}
			if err := writePrivate(profilePath(), p); err != nil {
				return err
			}
			// The token just obtained seeds the cache.
			key := p.TenantID + "|" + p.ClientID + "|" + p.Username + "|" + armResource
			_ = writePrivate(tokenPath(), map[string]cachedToken{key: {AccessToken: tr.AccessToken, ExpiresOn: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}})
			subs, err := a.armList(c.Context(), "/subscriptions", "2019-11-01", nil)
			if err != nil {
				return err
			}
			if len(subs) == 0 && !allowNoSubs {
				return &cliError{Message: "No subscriptions found for " + user + ". Pass --allow-no-subscriptions to sign in anyway.", Exit: exitError}
			}
			out := []any{}
			for i, s := range subs {
				m := s.(map[string]any)
				if i == 0 {
					p.Subscription, _ = m["subscriptionId"].(string)
				}
				out = append(out, accountJSON(m, p, i == 0))
			}
			if err := writePrivate(profilePath(), p); err != nil {
				return err
			}
			a.settings.Subscription = ""
			_ = saveSettings(a.settings)
			return a.print(out)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sp, "service-principal", false, "Sign in with a service principal")
	f.StringVarP(&user, "username", "u", "", "User name, or the service principal's app ID")
	f.StringVarP(&password, "password", "p", "", "Password, client secret, or a PEM certificate file with its key")
	f.StringVar(&certificate, "certificate", "", "PEM file with the service principal's certificate and private key")
	f.StringVarP(&tenant, "tenant", "t", "", "Tenant ID (default: amlid's default tenant)")
	f.BoolVar(&deviceCode, "use-device-code", false, "Sign in with the device code flow")
	f.BoolVar(&allowNoSubs, "allow-no-subscriptions", false, "Sign in even if the account has no subscription")
	return cmd
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use: "logout", Short: "Sign out: forget the account and its cached tokens", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, _ := loadProfile()
			if p == nil {
				return &cliError{Message: "There are no active accounts.", Exit: exitError}
			}
			for _, f := range []string{profilePath(), tokenPath()} {
				if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
			return nil
		},
	}
}

// deviceCodeLogin runs the device-code flow: it prints the code and polls.
func (a *app) deviceCodeLogin(ctx context.Context, p *profile) (*tokenResult, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	form := url.Values{"client_id": {p.ClientID}, "scope": {scopeFor(armResource) + " openid offline_access profile"}}
	resp, err := t.HTTP.PostForm(t.AuthorityHost+"/"+p.TenantID+"/oauth2/v2.0/devicecode", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var dc struct {
		DeviceCode string      `json:"device_code"`
		Message    string      `json:"message"`
		Interval   json.Number `json:"interval"`
		ExpiresIn  json.Number `json:"expires_in"`
		Error      string      `json:"error"`
		Desc       string      `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dc); err != nil || resp.StatusCode != http.StatusOK {
		return nil, &cliError{Message: fmt.Sprintf("device code request failed: %s %s", dc.Error, dc.Desc), Exit: exitError}
	}
	fmt.Fprintln(a.stderr, dc.Message)
	interval, _ := dc.Interval.Int64()
	if interval <= 0 {
		interval = 5
	}
	expires, _ := dc.ExpiresIn.Int64()
	deadline := time.Now().Add(time.Duration(expires) * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(interval) * time.Second):
		}
		tr, err := a.postToken(ctx, p.TenantID, url.Values{
			"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {p.ClientID}, "device_code": {dc.DeviceCode},
		})
		if err == nil {
			return tr, nil
		}
		if ce, ok := err.(*cliError); ok && (strings.HasPrefix(ce.Message, "authorization_pending") || strings.HasPrefix(ce.Message, "slow_down")) {
			continue
		}
		return nil, err
	}
	return nil, &cliError{Message: "the device code expired before sign-in completed", Exit: exitError}
}

// clientAssertion signs the RFC 7523 client assertion a certificate
// credential presents, as MSAL does (RS256 with x5t).
func clientAssertion(certFile, clientID, audience string) (string, error) {
	raw, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	var cert *x509.Certificate
	var key crypto.Signer
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE" && cert == nil:
			cert, err = x509.ParseCertificate(b.Bytes)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			var pair tls.Certificate
			pair.PrivateKey, err = parseKey(b)
			key, _ = pair.PrivateKey.(crypto.Signer)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", certFile, err)
		}
	}
	if cert == nil || key == nil {
		return "", fmt.Errorf("%s must hold a PEM certificate and its private key", certFile)
	}
	thumb := sha1.Sum(cert.Raw)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").
		WithHeader("x5t", base64.RawURLEncoding.EncodeToString(thumb[:])))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{audience}, ID: uuid.NewString(),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}).Serialize()
}

func parseKey(b *pem.Block) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

var _ = rand.Reader
