package endpoint

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml/mlblob"
	"github.com/amlid/amlid/internal/storage"
)

// downloadFolder copies the blobs under a folder URL
// (https://host/{account}/{container}/{prefix}) into dest, as the Azure ML
// service fetches a deployment's code and model: with a token of the
// endpoint's identity (rule EP-3's acting identity), never with a key amlid
// fetched for itself, so a deployment reads only what that identity may
// read (the data plane's RBAC, conditions and firewall apply). Only storage
// amlid serves is read: a URL naming any other host is refused before
// anything is sent, and a loopback URL recorded by an earlier run (another
// --blob-port) goes to this run's blob endpoint.
func (p *Provider) downloadFolder(ctx context.Context, ws, ep *arm.Resource, folderURL, dest string) error {
	u, err := url.Parse(folderURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("not an https blob folder URL: %q", folderURL)
	}
	if !isLoopback(u.Hostname()) || p.BlobEndpoint == nil {
		return fmt.Errorf("%s is not storage amlid serves (its blob endpoint is https://127.0.0.1:<blob-port>/<account>/…); amlid reads a deployment's code and model only from its own storage accounts and sends nothing to %s", folderURL, u.Host)
	}
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("not a blob folder URL (https://host/<account>/<container>/<folder>): %q", folderURL)
	}
	account, cont := parts[0], parts[1]
	prefix := ""
	if len(parts) == 3 && parts[2] != "" {
		prefix = strings.TrimRight(parts[2], "/") + "/"
	}
	acting, ok := access.Acting(ep)
	if !ok {
		return fmt.Errorf("rule EP-3: endpoint %s has no identity to read %s with", ep.Name, folderURL)
	}
	pid, who := acting.PrincipalID, acting.Label()
	principal, err := p.Directory.Principal(ctx, pid)
	if err != nil {
		return fmt.Errorf("the %s (principal %s): %v", who, pid, err)
	}
	tok, err := p.Tokens.IssueAccessToken(ctx, principal, "https://storage.azure.com/")
	if err != nil {
		return fmt.Errorf("a storage token for the %s (principal %s): %v", who, pid, err)
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}},
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}}
	base := strings.TrimRight(p.BlobEndpoint(account), "/")
	cc, err := container.NewClient(base+"/"+cont, mlblob.StaticToken(tok.Token), opts)
	if err != nil {
		return err
	}
	refused := func(err error) error {
		var re *azcore.ResponseError
		if !errors.As(err, &re) || (re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusNotFound) {
			return err
		}
		scope := "storage account " + account
		if id := storage.AccountIDByName(ctx, p.Store, account); id != "" {
			scope = id
		}
		if re.StatusCode == http.StatusNotFound {
			return fmt.Errorf("rule EP-3: %s does not exist for the %s (principal %s): %d %s", folderURL, who, pid, re.StatusCode, re.ErrorCode)
		}
		return fmt.Errorf("rule EP-3: the %s (principal %s) may not read %s: storage account %s answered %d %s. "+
			"Grant it a data role on the account (amlid role assignment create --assignee-object-id %s --assignee-principal-type ServicePrincipal --role \"Storage Blob Data Reader\" --scope %s), "+
			"or register the asset in storage the endpoint may read", who, pid, folderURL, account, re.StatusCode, re.ErrorCode, pid, scope)
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return err
	}
	n := 0
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return refused(err)
		}
		for _, b := range page.Segment.BlobItems {
			rel := strings.TrimPrefix(*b.Name, prefix)
			clean := filepath.Clean(filepath.FromSlash(rel))
			if rel == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
				return fmt.Errorf("blob %q would land outside the folder", *b.Name)
			}
			if err := mlblob.Download(ctx, cc, *b.Name, filepath.Join(dest, clean), 0o600); err != nil {
				return refused(err)
			}
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no blobs under %s", folderURL)
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
