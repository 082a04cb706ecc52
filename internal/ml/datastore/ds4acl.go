package datastore

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/token"
)

// azureMLAppID is Azure Machine Learning's first-party application: the
// service that checks a new datastore with the creator's token holds it on
// the creator's behalf.
const azureMLAppID = "0736f41a-0425-4b46-bdb5-1563eff02385"

// aclProbe is the DS-4 check of an identity-based ADLS Gen2 datastore when
// no role grants the caller a blob data read: the caller's own storage
// token lists the file system's root over the DFS plane, where the POSIX
// ACLs decide (rule DS-9: read and execute on the root). It reports whether
// the storage let the caller in, and what it answered otherwise.
func (p *Provider) aclProbe(ctx context.Context, c *arm.Call, account, fs string) (bool, string) {
	if p.Tokens == nil || p.BlobEndpoint == nil || p.ML.Directory == nil {
		return false, "amlid cannot make the check"
	}
	t, err := p.callerStorageToken(ctx, c)
	if err != nil {
		return false, err.Error()
	}
	tok := t.Token
	u := strings.TrimRight(p.BlobEndpoint(account), "/") + "/" + url.PathEscape(fs) + "?resource=filesystem&recursive=false&maxResults=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("x-ms-version", "2021-06-08")
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}}
	resp, err := cl.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return true, ""
	}
	return false, fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
}

// callerStorageToken is a storage token of the caller's own principal, as
// Azure ML's service holds it: a user's is issued to Azure ML's app on the
// user's behalf, a service principal's is its own.
func (p *Provider) callerStorageToken(ctx context.Context, c *arm.Call) (token.AccessToken, error) {
	pr, err := p.ML.Directory.Principal(ctx, c.Caller.ObjectID)
	if err != nil {
		return token.AccessToken{}, err
	}
	if pr.Type == directory.TypeUser {
		return p.Tokens.IssueOnBehalfOf(ctx, pr, azureMLAppID, "https://storage.azure.com/")
	}
	return p.Tokens.IssueAccessToken(ctx, pr, "https://storage.azure.com/")
}
