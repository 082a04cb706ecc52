package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/blob"
	"github.com/amlid/amlid/internal/server"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// storageResource is the Entra resource of the Blob service.
const storageResource = "https://storage.azure.com"

// blobAuthFlags are the data-plane connection flags az's storage commands
// share.
type blobAuthFlags struct {
	account, key, sas, authMode, endpoint string
}

func (f *blobAuthFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.account, "account-name", "", "Storage account name (env: AZURE_STORAGE_ACCOUNT)")
	fl.StringVar(&f.key, "account-key", "", "Storage account key (env: AZURE_STORAGE_KEY)")
	fl.StringVar(&f.sas, "sas-token", "", "A shared access signature (env: AZURE_STORAGE_SAS_TOKEN)")
	fl.StringVar(&f.authMode, "auth-mode", "", "key (account key or SAS; looked up through ARM when none is given) or login (your Entra token) (env: AZURE_STORAGE_AUTH_MODE)")
	fl.StringVar(&f.endpoint, "blob-endpoint", "", "The account's blob endpoint, e.g. https://127.0.0.1:10000/myaccount (env: AZURE_STORAGE_SERVICE_ENDPOINT)")
}

// blobClient talks to one account's blob endpoint.
type blobClient struct {
	a       *app
	base    string // https://host:port/account (no trailing slash)
	account string
	key     []byte
	sas     url.Values
	token   string
	http    *http.Client
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// stateBlobURL reads "blobUrl" from a running amlid's state.json.
func (a *app) stateBlobURL() string {
	b, err := os.ReadFile(filepath.Join(a.dataDirOrDefault(), server.StateFile))
	if err != nil {
		return ""
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	s, _ := m["blobUrl"].(string)
	return s
}

// findAccount looks an account up through ARM (endpoint and keys).
func (a *app) findAccount(ctx context.Context, name string) (map[string]any, error) {
	items, err := a.listStorageAccounts(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && strings.EqualFold(fmt.Sprint(m["name"]), name) {
			return m, nil
		}
	}
	return nil, &cliError{Message: fmt.Sprintf("The storage account '%s' was not found in subscription; pass --blob-endpoint or check --account-name.", name), Exit: exitNotFound}
}

func (a *app) newBlobClient(ctx context.Context, f *blobAuthFlags) (*blobClient, error) {
	t, err := a.target()
	if err != nil {
		return nil, err
	}
	bc := &blobClient{a: a, http: &http.Client{Transport: t.HTTP.Transport}}
	bc.account = firstNonEmpty(f.account, os.Getenv("AZURE_STORAGE_ACCOUNT"))
	ep := strings.TrimRight(firstNonEmpty(f.endpoint, os.Getenv("AZURE_STORAGE_SERVICE_ENDPOINT")), "/")
	if ep != "" && bc.account == "" {
		if u, err := url.Parse(ep); err == nil {
			bc.account = strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)[0]
			if h := u.Hostname(); bc.account == "" && strings.Contains(h, ".blob.") {
				bc.account = strings.SplitN(h, ".", 2)[0]
			}
		}
	}
	if bc.account == "" {
		return nil, usageErr("the following arguments are required: --account-name (or AZURE_STORAGE_ACCOUNT)")
	}
	var acct map[string]any
	if ep == "" {
		if base := firstNonEmpty(os.Getenv("AMLID_BLOB_URL"), a.stateBlobURL()); base != "" {
			ep = strings.TrimRight(base, "/") + "/" + bc.account
		}
	}
	if ep == "" {
		if acct, err = a.findAccount(ctx, bc.account); err != nil {
			return nil, err
		}
		props, _ := acct["properties"].(map[string]any)
		pe, _ := props["primaryEndpoints"].(map[string]any)
		ep = strings.TrimRight(fmt.Sprint(pe["blob"]), "/")
	}
	bc.base = ep
	mode := strings.ToLower(firstNonEmpty(f.authMode, os.Getenv("AZURE_STORAGE_AUTH_MODE"), "key"))
	switch mode {
	case "login":
		tok, err := a.accessToken(ctx, storageResource)
		if err != nil {
			return nil, err
		}
		bc.token = tok
	case "key":
		if s := firstNonEmpty(f.sas, os.Getenv("AZURE_STORAGE_SAS_TOKEN")); s != "" {
			bc.sas, err = url.ParseQuery(strings.TrimPrefix(s, "?"))
			if err != nil || bc.sas.Get("sig") == "" {
				return nil, usageErr("--sas-token is not a shared access signature (it needs sig=…)")
			}
			break
		}
		k := firstNonEmpty(f.key, os.Getenv("AZURE_STORAGE_KEY"))
		if k == "" {
			a.warnf("There are no credentials provided in your command and environment, we will query for account key for your storage account.\n" +
				"It is recommended to provide --connection-string, --account-key or --sas-token in your command as credentials.\n\n" +
				"You also can add `--auth-mode login` in your command to use Azure Active Directory (Azure AD) for authorization if your login account is assigned required RBAC roles.")
			if acct == nil {
				if acct, err = a.findAccount(ctx, bc.account); err != nil {
					return nil, err
				}
			}
			v, err := a.armRequest(ctx, http.MethodPost, fmt.Sprint(acct["id"])+"/listKeys", apiStorage, nil)
			if err != nil {
				return nil, err
			}
			keys, _ := keysOf(v).([]any)
			if len(keys) == 0 {
				return nil, &cliError{Message: "the account has no keys", Exit: exitError}
			}
			k, _ = keys[0].(map[string]any)["value"].(string)
		}
		bc.key, err = base64.StdEncoding.DecodeString(k)
		if err != nil {
			return nil, usageErr("--account-key is not base64")
		}
	default:
		return nil, usageErr("--auth-mode must be key or login, not %q", mode)
	}
	return bc, nil
}

// escapePath escapes each segment of a blob path (keeping '/').
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// request builds, authorizes and sends one request. path is relative to
// the account ("container" or "container/blob"). Errors (>= 400) become
// *cliError with the service's code.
func (bc *blobClient) request(ctx context.Context, method, path string, query url.Values, hdr http.Header, body io.Reader, size int64) (*http.Response, error) {
	u := bc.base + "/" + escapePath(path)
	q := url.Values{}
	for k, vs := range query {
		q[k] = vs
	}
	for k, vs := range bc.sas {
		q[k] = vs
	}
	if len(q) > 0 {
		u += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("x-ms-version", "2021-06-08")
	req.Header.Set("User-Agent", "amlid-cli")
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	switch {
	case bc.token != "":
		req.Header.Set("Authorization", "Bearer "+bc.token)
	case bc.key != nil:
		blob.SignSharedKey(req, bc.account, bc.key)
	}
	bc.a.debugf("%s %s", method, req.URL.Redacted())
	resp, err := bc.http.Do(req)
	if err != nil {
		return nil, &cliError{Message: fmt.Sprintf("cannot reach the blob endpoint %s: %v", bc.base, err), Exit: exitError}
	}
	bc.a.debugf("-> %d", resp.StatusCode)
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, storageError(resp, raw)
	}
	return resp, nil
}

// storageError turns a Storage error answer into the message az prints:
// the service's message, then ErrorCode.
func storageError(resp *http.Response, raw []byte) error {
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(raw, &doc) != nil {
		// The DFS API answers {"error":{"code","message"}}.
		var j struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &j) == nil {
			doc.Code, doc.Message = j.Error.Code, j.Error.Message
		}
	}
	code := firstNonEmpty(resp.Header.Get("x-ms-error-code"), doc.Code)
	msg := strings.TrimSpace(doc.Message)
	if msg == "" {
		msg = "Operation returned an invalid status '" + http.StatusText(resp.StatusCode) + "'"
	}
	e := &cliError{Message: msg + "\nErrorCode:" + code, Exit: exitError, Status: resp.StatusCode}
	if resp.StatusCode == http.StatusNotFound {
		e.Exit = exitNotFound
	}
	return storageCodeError{e, code}
}

// storageCodeError keeps the service's code for callers (exists, create).
type storageCodeError struct {
	*cliError
	code string
}

func (e storageCodeError) Unwrap() error { return e.cliError }

func codeOf(err error) string {
	if e, ok := err.(storageCodeError); ok {
		return e.code
	}
	return ""
}

// doClose sends a request and discards the body.
func (bc *blobClient) doClose(ctx context.Context, method, path string, query url.Values, hdr http.Header, body io.Reader, size int64) (*http.Response, error) {
	resp, err := bc.request(ctx, method, path, query, hdr, body, size)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// ---- XML listings ----

type xmlListContainers struct {
	Containers []struct {
		Name       string `xml:"Name"`
		Properties struct {
			LastModified string `xml:"Last-Modified"`
			Etag         string `xml:"Etag"`
			LeaseStatus  string `xml:"LeaseStatus"`
			LeaseState   string `xml:"LeaseState"`
			PublicAccess string `xml:"PublicAccess"`
		} `xml:"Properties"`
		Metadata xmlMeta `xml:"Metadata"`
	} `xml:"Containers>Container"`
	NextMarker string `xml:"NextMarker"`
}

type xmlMeta struct {
	Items []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

func (m xmlMeta) mapOf() map[string]any {
	out := map[string]any{}
	for _, it := range m.Items {
		out[it.XMLName.Local] = it.Value
	}
	return out
}

type xmlProps struct {
	Items []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

type xmlListBlobs struct {
	Blobs struct {
		Blob []struct {
			Name struct {
				Encoded bool   `xml:"Encoded,attr"`
				Value   string `xml:",chardata"`
			} `xml:"Name"`
			Properties xmlProps `xml:"Properties"`
			Metadata   xmlMeta  `xml:"Metadata"`
		} `xml:"Blob"`
		BlobPrefix []struct {
			Name string `xml:"Name"`
		} `xml:"BlobPrefix"`
	} `xml:"Blobs"`
	NextMarker string `xml:"NextMarker"`
}

// isoTime turns an RFC 1123 time into az's ISO form.
func isoTime(s string) any {
	t, err := http.ParseTime(s)
	if err != nil {
		if s == "" {
			return nil
		}
		return s
	}
	return t.UTC().Format("2006-01-02T15:04:05+00:00")
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// containerShape is az's container object.
func containerShape(name, etag, lastModified, access string, md map[string]any) map[string]any {
	if md == nil || len(md) == 0 {
		md = nil
	}
	var mdv any = md
	if md == nil {
		mdv = map[string]any{}
	}
	return map[string]any{
		"name": name, "deleted": nil, "version": nil, "metadata": mdv, "immutableStorageWithVersioningEnabled": false,
		"encryptionScope": map[string]any{"defaultEncryptionScope": "$account-encryption-key", "preventEncryptionScopeOverride": false},
		"properties": map[string]any{
			"etag": etag, "lastModified": isoTime(lastModified), "hasImmutabilityPolicy": false, "hasLegalHold": false,
			"lease": map[string]any{"duration": nil, "state": "available", "status": "unlocked"}, "publicAccess": nullIfEmpty(access),
		},
	}
}

// blobShape is az's blob object, from response headers or list properties.
func blobShape(container, name string, get func(string) string, md map[string]any) map[string]any {
	size, _ := strconv.ParseInt(get("Content-Length"), 10, 64)
	tier := get("x-ms-access-tier")
	inferred := get("x-ms-access-tier-inferred") == "true"
	if tier == "" {
		tier = get("AccessTier")
		inferred = get("AccessTierInferred") == "true"
	}
	if md == nil {
		md = map[string]any{}
	}
	return map[string]any{
		"container": container, "name": name, "content": "", "deleted": false, "metadata": md, "snapshot": nil, "versionId": nil,
		"encryptedMetadata": nil, "encryptionScope": nil, "tags": nil, "tagCount": nil, "requestServerEncrypted": true,
		"properties": map[string]any{
			"blobTier": nullIfEmpty(tier), "blobTierInferred": inferred, "blobType": firstNonEmpty(get("x-ms-blob-type"), get("BlobType")),
			"contentLength": size, "creationTime": isoTime(firstNonEmpty(get("x-ms-creation-time"), get("Creation-Time"))),
			"etag": firstNonEmpty(get("ETag"), get("Etag")), "lastModified": isoTime(get("Last-Modified")),
			"contentSettings": map[string]any{
				"contentType": nullIfEmpty(get("Content-Type")), "contentEncoding": nullIfEmpty(get("Content-Encoding")),
				"contentLanguage": nullIfEmpty(get("Content-Language")), "contentDisposition": nullIfEmpty(get("Content-Disposition")),
				"cacheControl": nullIfEmpty(get("Cache-Control")), "contentMd5": nullIfEmpty(get("Content-MD5")),
			},
			"copy": map[string]any{"id": nullIfEmpty(get("x-ms-copy-id")), "source": nullIfEmpty(get("x-ms-copy-source")),
				"status": nullIfEmpty(get("x-ms-copy-status")), "progress": nullIfEmpty(get("x-ms-copy-progress")),
				"completionTime": isoTime(get("x-ms-copy-completion-time"))},
			"lease":           map[string]any{"duration": nil, "state": "available", "status": "unlocked"},
			"serverEncrypted": true,
		},
	}
}

func metaFromHeaders(h http.Header) map[string]any {
	md := map[string]any{}
	for k, vs := range h {
		if n, ok := strings.CutPrefix(strings.ToLower(k), "x-ms-meta-"); ok {
			md[n] = strings.Join(vs, ",")
		}
	}
	return md
}

// ---- progress ----

// progress draws az's progress bar on stderr when it is a terminal.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	total int64
	done  int64
	last  time.Time
	on    bool
}

func (a *app) newProgress(total int64) *progress {
	p := &progress{w: a.stderr, total: total}
	if f, ok := a.stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) && !a.onlyErrors && total > 0 {
		p.on = true
	}
	return p
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if !p.on || (time.Since(p.last) < 100*time.Millisecond && p.done < p.total) {
		return
	}
	p.last = time.Now()
	pct := float64(p.done) / float64(p.total)
	width := 60
	fill := int(pct * float64(width))
	label := "Alive"
	if p.done >= p.total {
		label = "Finished"
	}
	fmt.Fprintf(p.w, "\r%s[%s%s]  %.4f%%", label, strings.Repeat("#", fill), strings.Repeat(" ", width-fill), pct*100)
	if p.done >= p.total {
		fmt.Fprintln(p.w)
	}
}

// progressReader counts bytes read through it (safe for one reader).
type progressReader struct {
	r  io.Reader
	fn func(int64)
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.fn(int64(n))
	}
	return n, err
}

var _ = bytes.NewReader
