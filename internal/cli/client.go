package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/server"
	"github.com/google/uuid"
)

// Exit codes, as az uses them.
const (
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
)

// cliError is an error with an exit code; ARM errors print as az prints
// them: "(Code) message".
type cliError struct {
	Code    string
	Message string
	Exit    int
	Status  int
}

func (e *cliError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("(%s) %s\nCode: %s\nMessage: %s", e.Code, e.Message, e.Code, e.Message)
}

func usageErr(format string, args ...any) error {
	return &cliError{Message: fmt.Sprintf(format, args...), Exit: exitUsage}
}

// target is where the CLI sends requests: the ARM base URL and the default
// tenant and subscription, from the environment (`eval "$(amlid env)"`) or
// from a running amlid's state file.
type target struct {
	ARMURL        string
	AuthorityHost string
	TenantID      string
	Subscription  string
	HTTP          *http.Client
	pool          *x509.CertPool
}

// resolveTarget finds the server. AMLID_ARM_URL wins; else the state file
// of --data-dir / AMLID_DATA_DIR / ~/.amlid.
func resolveTarget(dataDir string) (*target, error) {
	t := &target{}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if dataDir == "" {
		dataDir = server.DefaultDataDir()
	}
	st, stErr := server.ReadState(dataDir)
	if st != nil {
		t.ARMURL, t.AuthorityHost, t.TenantID, t.Subscription = st.ARMURL, st.AuthorityHost, st.TenantID, st.SubscriptionID
		if pem, err := os.ReadFile(st.CAFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
	}
	// The environment names amlid unless it is stale: `amlid env` exported
	// AMLID_ARM_URL with the AMLID_DATA_DIR it came from, and a state file
	// there that names another URL means `amlid up` came back on another
	// port since. The running amlid's state wins then.
	envARM := strings.TrimSuffix(os.Getenv("AMLID_ARM_URL"), "/")
	stale := st != nil && envARM != "" && os.Getenv("AMLID_DATA_DIR") != "" && envARM != st.ARMURL
	if envARM != "" && !stale {
		t.ARMURL = envARM
	}
	if v := os.Getenv("AZURE_AUTHORITY_HOST"); v != "" && !stale {
		t.AuthorityHost = strings.TrimSuffix(v, "/")
	}
	if v := os.Getenv("AMLID_TENANT_ID"); v != "" && st == nil {
		t.TenantID = v
	}
	if v := os.Getenv("AZURE_SUBSCRIPTION_ID"); v != "" && st == nil {
		t.Subscription = v
	}
	if v := os.Getenv("AMLID_CA_FILE"); v != "" {
		if pem, err := os.ReadFile(v); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
	}
	if t.ARMURL == "" {
		return nil, &cliError{Message: fmt.Sprintf("cannot find amlid: %v. Or set AMLID_ARM_URL (eval \"$(amlid env)\").", stErr), Exit: exitError}
	}
	if t.AuthorityHost == "" {
		t.AuthorityHost = t.ARMURL
	}
	t.pool = pool
	t.HTTP = &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	return t, nil
}

// armRequest sends one ARM request and decodes the JSON answer (nil for an
// empty body). ARM errors become *cliError.
func (a *app) armRequest(ctx context.Context, method, path, apiVersion string, body any) (any, error) {
	_, v, err := a.armDo(ctx, method, path, apiVersion, nil, body)
	return v, err
}

func (a *app) armDo(ctx context.Context, method, path, apiVersion string, query url.Values, body any) (int, any, error) {
	t, err := a.target()
	if err != nil {
		return 0, nil, err
	}
	u := t.ARMURL + path
	if !strings.HasPrefix(path, "/") {
		u = path // absolute nextLink
	}
	pu, err := url.Parse(u)
	if err != nil {
		return 0, nil, err
	}
	q := pu.Query()
	for k, vs := range query {
		q[k] = vs
	}
	if apiVersion != "" && q.Get("api-version") == "" {
		q.Set("api-version", apiVersion)
	}
	pu.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	tok, err := a.accessToken(ctx, armResource)
	if err != nil {
		return 0, nil, err
	}
	return a.httpJSON(ctx, method, pu.String(), tok, body)
}

// httpJSON sends a JSON request with a bearer token and decodes the JSON
// answer (nil for an empty body). Error bodies become *cliError.
func (a *app) httpJSON(ctx context.Context, method, u, tok string, body any) (int, any, error) {
	t, err := a.target()
	if err != nil {
		return 0, nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "amlid-cli")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if pu, err := url.Parse(u); err == nil {
		a.debugf("%s %s", method, pu.Redacted())
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return 0, nil, &cliError{Message: fmt.Sprintf("cannot reach amlid at %s: %v", t.ARMURL, err), Exit: exitError}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	a.debugf("-> %d (%d bytes)", resp.StatusCode, len(raw))
	if resp.StatusCode >= 400 {
		return resp.StatusCode, nil, armError(resp.StatusCode, raw)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return resp.StatusCode, nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("amlid answered %d with invalid JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, v, nil
}

// armList follows nextLink and returns every item.
func (a *app) armList(ctx context.Context, path, apiVersion string, query url.Values) ([]any, error) {
	var out []any
	for next := path; next != ""; {
		_, v, err := a.armDo(ctx, http.MethodGet, next, apiVersion, query, nil)
		if err != nil {
			return nil, err
		}
		m, _ := v.(map[string]any)
		items, _ := m["value"].([]any)
		out = append(out, items...)
		next, _ = m["nextLink"].(string)
		query = nil
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func armError(status int, raw []byte) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	e := &cliError{Code: body.Error.Code, Message: body.Error.Message, Exit: exitError, Status: status}
	if e.Code == "" { // an OAuth2 error body
		var oe struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		if json.Unmarshal(raw, &oe) == nil && oe.Error != "" {
			e.Code, e.Message = oe.Error, oe.Desc
		}
	}
	if e.Code == "" {
		e.Message = fmt.Sprintf("Operation returned an invalid status code '%s'", http.StatusText(status))
	}
	if status == http.StatusNotFound {
		e.Exit = exitNotFound
	}
	return e
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

func randomID() string { return uuid.NewString() }
