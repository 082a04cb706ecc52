package endpoint

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/storage"
)

// downloadFolder copies the blobs under a folder URL
// (https://host/{account}/{container}/{prefix}) into dest, as the Azure ML
// service fetches a deployment's code and model from the workspace's
// storage. amlid reads them with the account key, as the service does with
// the default datastore's credentials.
func (p *Provider) downloadFolder(ctx context.Context, ws *arm.Resource, folderURL, dest string) error {
	u, err := url.Parse(folderURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("not an https blob folder URL: %q", folderURL)
	}
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/"), "/", 3)
	if len(parts) < 2 {
		return fmt.Errorf("not a blob folder URL (https://host/<account>/<container>/<folder>): %q", folderURL)
	}
	account, cont := parts[0], parts[1]
	prefix := ""
	if len(parts) == 3 && parts[2] != "" {
		prefix = strings.TrimRight(parts[2], "/") + "/"
	}
	key, err := p.accountKey(ctx, ws, account)
	if err != nil {
		return err
	}
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return err
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}},
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}}
	base := u.Scheme + "://" + u.Host + "/" + account
	if p.BlobEndpoint != nil && isLoopback(u.Hostname()) {
		// A URL recorded by an earlier amlid run (another --blob-port):
		// the account is served at this run's blob endpoint.
		base = strings.TrimRight(p.BlobEndpoint(account), "/")
	}
	cc, err := container.NewClientWithSharedKeyCredential(base+"/"+cont, cred, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	n := 0
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, b := range page.Segment.BlobItems {
			rel := strings.TrimPrefix(*b.Name, prefix)
			clean := filepath.Clean(filepath.FromSlash(rel))
			if rel == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
				return fmt.Errorf("blob %q would land outside the folder", *b.Name)
			}
			if err := downloadBlob(ctx, cc, *b.Name, filepath.Join(dest, clean)); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("no blobs under %s", folderURL)
	}
	return nil
}

func downloadBlob(ctx context.Context, cc *container.Client, name, path string) error {
	resp, err := cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// accountKey reads key1 of a storage account by name (through ARM, as
// amlid itself).
func (p *Provider) accountKey(ctx context.Context, ws *arm.Resource, account string) (string, error) {
	rec, err := p.Store.Get(ctx, storage.KindAccountName, strings.ToLower(account))
	if err != nil {
		return "", fmt.Errorf("storage account %s: %v", account, err)
	}
	var idx struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(rec.Value, &idx); err != nil {
		return "", err
	}
	return p.StorageKey(ctx, arm.SystemCaller(ws.StringProp("tenantId")), idx.ID)
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
