package job

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/directory"
	"github.com/amlid/amlid/internal/keyvault"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/datauri"
	"github.com/amlid/amlid/internal/ml/mlblob"
	"github.com/amlid/amlid/internal/storage"
)

// reader is the identity that reads a job's data (rule DS-5): the
// submitting user (user_identity) or one identity of the compute (managed,
// or the fallback). User and compute identity never mix in one job.
type reader struct {
	Kind        string // "user" | "compute"
	PrincipalID string
	TenantID    string
	Label       string
	principal   *directory.Principal
	// Of is the compute, for a compute identity.
	Of *arm.Resource
	// via is the HTTPS_PROXY of the job's first node (its own proxy
	// credential): amlid reads inputs and writes outputs through it, so
	// they take the node's network path (virtual-network rules, DS-8).
	via string
}

func (r *reader) describe() string {
	return fmt.Sprintf("%s (principal %s)", r.Label, r.PrincipalID)
}

func (r *reader) principalType() string {
	if r.Kind == "user" {
		return "User"
	}
	return "ServicePrincipal"
}

// token is a storage token for the reader.
func (p *Provider) readerToken(ctx context.Context, r *reader) (string, error) {
	if r.Kind == "user" {
		t, err := p.Tokens.IssueOnBehalfOf(ctx, r.principal, azureMLAppID, "https://storage.azure.com/")
		return t.Token, err
	}
	t, err := p.Tokens.IssueAccessToken(ctx, r.principal, "https://storage.azure.com/")
	return t.Token, err
}

// azureMLAppID is the application a job's user tokens are issued to (Azure
// Machine Learning's first-party app).
const azureMLAppID = "0736f41a-0425-4b46-bdb5-1563eff02385"

// dataIdentity picks the identity DS-5 reads data with, after cached
// datastore credentials: the job's identity (user_identity: its submitter;
// managed: the compute's identity, or the one its client/object/resource
// ID names, which the compute must hold: ID-3), else the compute's
// identity (CMP-2).
func (p *Provider) dataIdentity(ctx context.Context, job, comp *arm.Resource, s *spec) (*reader, error) {
	switch strings.ToLower(s.Identity.Type) {
	case "useridentity":
		sub, _ := job.Properties["amlidSubmittedBy"].(map[string]any)
		oid := str(sub["objectId"])
		pr, err := p.Directory.Principal(ctx, oid)
		if err != nil || pr.Type != directory.TypeUser {
			return nil, fmt.Errorf("rule DS-5: the job asks for user identity, but its submitter (%s) is not a user: submit it as the user whose data access it should use, or use identity type managed", oid)
		}
		return &reader{Kind: "user", PrincipalID: pr.ObjectID, TenantID: pr.TenantID, Label: "the submitting user " + firstNonEmpty(pr.UPN, pr.DisplayName), principal: pr}, nil
	}
	ids := access.Identities(comp)
	if len(ids) == 0 {
		return nil, fmt.Errorf("rule DS-5: compute %s has no managed identity to read the job's data with: give it one (amlid ml compute update --identity-type system_assigned, rule CMP-1) or submit the job with identity type user_identity", comp.Name)
	}
	pick := ids[0]
	if want := s.Identity; strings.EqualFold(want.Type, "managed") && (want.ClientID != "" || want.ObjectID != "" || want.ResourceID != "") {
		found := false
		for _, id := range ids {
			if (want.ClientID != "" && strings.EqualFold(id.ClientID, want.ClientID)) || (want.ObjectID != "" && strings.EqualFold(id.PrincipalID, want.ObjectID)) ||
				(want.ResourceID != "" && strings.EqualFold(id.ResourceID, want.ResourceID)) {
				pick, found = id, true
			}
		}
		if !found {
			return nil, fmt.Errorf("rule ID-3: compute %s holds no managed identity matching the job's identity (client ID %q, object ID %q, resource ID %q)", comp.Name, want.ClientID, want.ObjectID, want.ResourceID)
		}
	}
	pr, err := p.Directory.Principal(ctx, pick.PrincipalID)
	if err != nil {
		return nil, fmt.Errorf("the %s (principal %s): %v", pick.Label(), pick.PrincipalID, err)
	}
	return &reader{Kind: "compute", PrincipalID: pick.PrincipalID, TenantID: pr.TenantID, Label: "the compute's " + pick.Label(), principal: pr, Of: comp}, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// storageBase is the container URL and client options amlid uses for a
// job's data: the account's Azure name through the node's proxy credential
// when the job has a node (the request comes from the compute's network),
// else amlid's loopback endpoint (the public network).
func (p *Provider) storageBase(rd *reader, account, cont string) (string, *container.ClientOptions) {
	if rd != nil && rd.via != "" {
		if u, err := url.Parse(rd.via); err == nil {
			return "https://" + account + ".blob.core.windows.net/" + cont, &container.ClientOptions{ClientOptions: azcore.ClientOptions{
				Transport: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}},
				Retry:     policy.RetryOptions{MaxRetries: 1},
			}}
		}
	}
	return strings.TrimRight(p.BlobEndpoint(account), "/") + "/" + cont, p.clientOptions()
}

func (p *Provider) clientOptions() *container.ClientOptions {
	return &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}},
		Retry:     policy.RetryOptions{MaxRetries: 1},
	}}
}

var storageMessage = regexp.MustCompile(`<Message>([\s\S]*?)</Message>`)

// networkRefusal is the storage's own message when it refused a request
// for its network rules (403 AuthorizationFailure, rule DS-8): it names the
// rules, where the request came from and the fix.
func networkRefusal(re *azcore.ResponseError) (string, bool) {
	if re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthorizationFailure" {
		return "", false
	}
	if m := storageMessage.FindStringSubmatch(re.Error()); m != nil {
		return html.UnescapeString(strings.TrimSpace(m[1])), true
	}
	return "403 AuthorizationFailure (rule DS-8: the storage account's network rules)", true
}

// fetchInput materialises one input (ro_mount and download alike: a local
// read-only copy; amlid mounts nothing) and returns its local path and what
// identity read it.
func (p *Provider) fetchInput(ctx context.Context, wsID string, comp *arm.Resource, s *spec, rd *reader, name string, in input, dest string) (string, map[string]any, error) {
	res, err := p.Data.Resolve(ctx, wsID, in.URI)
	if err != nil {
		return "", nil, fmt.Errorf("input %s (%s): %v", name, in.URI, err)
	}
	if res.Account == "" || res.Container == "" {
		return "", nil, fmt.Errorf("input %s (%s) is not in blob storage amlid serves", name, in.URI)
	}
	used := map[string]any{"input": name, "uri": res.URI}
	var cc *container.Client
	base, opts := p.storageBase(rd, res.Account, res.Container)
	how := ""
	var who *reader = rd
	if ds := res.DatastoreResource; ds != nil && credType(ds) != "" && credType(ds) != "None" {
		// DS-5 first: the datastore's cached credentials, fetched from the
		// workspace key vault by the compute's identity.
		ct := credType(ds)
		secret, cid, err := p.cachedSecret(ctx, wsID, comp, ds)
		used["identity"], used["principalId"] = "cached datastore credentials ("+ct+") of "+ds.Name, ""
		if err != nil {
			return "", used, err
		}
		switch ct {
		case "AccountKey":
			cred, err := container.NewSharedKeyCredential(res.Account, secret)
			if err != nil {
				return "", used, fmt.Errorf("datastore %s: its account key is not valid: %v", ds.Name, err)
			}
			cc, err = container.NewClientWithSharedKeyCredential(base, cred, opts)
			if err != nil {
				return "", used, err
			}
		case "Sas":
			cc, err = container.NewClientWithNoCredential(base+"?"+strings.TrimPrefix(secret, "?"), opts)
			if err != nil {
				return "", used, err
			}
		default:
			return "", used, fmt.Errorf("datastore %s: amlid reads cached %s credentials of blob datastores only (AccountKey, Sas)", ds.Name, ct)
		}
		how = fmt.Sprintf("the cached credentials of datastore %s (fetched from the workspace key vault by %s)", ds.Name, cid)
		who = nil
	} else {
		tok, err := p.readerToken(ctx, rd)
		if err != nil {
			return "", used, fmt.Errorf("a storage token for %s: %v", rd.describe(), err)
		}
		used["identity"], used["principalId"] = rd.Label, rd.PrincipalID
		cc, err = container.NewClient(base, mlblob.StaticToken(tok), opts)
		if err != nil {
			return "", used, err
		}
		how = rd.describe()
	}
	refused := func(err error) error {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			return fmt.Errorf("input %s (%s): %v", name, res.URI, err)
		}
		if msg, ok := networkRefusal(re); ok {
			return fmt.Errorf("input %s (%s) is read from compute %s's nodes: the storage's firewall refused it: %s", name, res.URI, comp.Name, msg)
		}
		if who == nil {
			return fmt.Errorf("input %s (%s): read with %s: %d %s", name, res.URI, how, re.StatusCode, re.ErrorCode)
		}
		scope := p.accountID(ctx, res.Account)
		return fmt.Errorf("rules DS-4, DS-5: input %s (%s) is read as %s, which may not read it: the storage answered %d %s. It needs data action %s on storage account %s.\nFix: %s",
			name, res.URI, how, re.StatusCode, re.ErrorCode, catalog.BlobRead, res.Account, access.RoleFix(who.PrincipalID, who.principalType(), catalog.StorageBlobDataReader.Name, firstNonEmpty(scope, "<storage account ID>")))
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return "", used, err
	}
	if strings.EqualFold(in.Type, "uri_file") {
		local := filepath.Join(dest, path.Base(res.Path))
		if err := download(ctx, cc, res.Path, local); err != nil {
			return "", used, refused(err)
		}
		return local, used, nil
	}
	prefix := strings.TrimRight(res.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", used, refused(err)
		}
		for _, b := range page.Segment.BlobItems {
			rel := strings.TrimPrefix(*b.Name, prefix)
			if rel == "" || strings.Contains(rel, "..") {
				continue
			}
			if err := download(ctx, cc, *b.Name, filepath.Join(dest, filepath.FromSlash(rel))); err != nil {
				return "", used, refused(err)
			}
		}
	}
	return dest, used, nil
}

func credType(ds *arm.Resource) string {
	c, _ := ds.Prop("credentials").(map[string]any)
	return str(c["credentialsType"])
}

// cachedSecret reads a credential-based datastore's secret from the
// workspace key vault as the compute's identity (seed: "the compute
// cluster uses a managed identity to retrieve connection information for
// datastores from Azure Key Vault").
func (p *Provider) cachedSecret(ctx context.Context, wsID string, comp *arm.Resource, ds *arm.Resource) (string, string, error) {
	ws, err := ml.LoadResource(ctx, p.Store, wsID)
	if err != nil {
		return "", "", err
	}
	vault := ws.StringProp("keyVault")
	id, ok := access.Acting(comp)
	if !ok {
		return "", "", fmt.Errorf("rule DS-5: datastore %s has cached credentials, which compute %s fetches from the workspace key vault with its managed identity; it has none (rule CMP-1)", ds.Name, comp.Name)
	}
	pr, err := p.Directory.Principal(ctx, id.PrincipalID)
	if err != nil {
		return "", "", err
	}
	if p.Vaults == nil || p.Vaults() == nil || vault == "" {
		return "", "", fmt.Errorf("datastore %s: the workspace has no key vault to read its cached credentials from", ds.Name)
	}
	who := fmt.Sprintf("the compute's %s (principal %s)", id.Label(), id.PrincipalID)
	secret, err := p.Vaults().GetSecretAs(ctx, vault, keyvault.Principal{ObjectID: pr.ObjectID, AppID: pr.AppID, TenantID: pr.TenantID, MIResourceID: comp.ID},
		access.DatastoreSecretName(ds.ID))
	if err != nil {
		return "", who, fmt.Errorf("rule DS-5: datastore %s has cached credentials in the workspace key vault %s, which %s may not read: %v", ds.Name, vault, who, err)
	}
	return secret, who, nil
}

func download(ctx context.Context, cc *container.Client, name, local string) error {
	return mlblob.Download(ctx, cc, name, local, 0o400)
}

func (p *Provider) accountID(ctx context.Context, account string) string {
	return storage.AccountIDByName(ctx, p.Store, account)
}

// codeClient is a container client for a code asset's folder, as the
// workspace identity (the service that keeps snapshots).
func (p *Provider) codeClient(ctx context.Context, ws *arm.Resource, codeURI string) (*container.Client, string, error) {
	account, cont, prefix, err := splitBlobURL(codeURI)
	if err != nil {
		return nil, "", err
	}
	id, ok, err := access.WorkspaceIdentity(ctx, access.StoreSource(p.Store), ws)
	if err != nil || !ok {
		return nil, "", fmt.Errorf("workspace %s has no identity to read the code snapshot with", ws.Name)
	}
	pr, err := p.Directory.Principal(ctx, id.PrincipalID)
	if err != nil {
		return nil, "", err
	}
	tok, err := p.Tokens.IssueAccessToken(ctx, pr, "https://storage.azure.com/")
	if err != nil {
		return nil, "", err
	}
	cc, err := container.NewClient(strings.TrimRight(p.BlobEndpoint(account), "/")+"/"+cont, mlblob.StaticToken(tok.Token), p.clientOptions())
	return cc, prefix, err
}

// splitBlobURL reads a code snapshot's folder URL: amlid's path-style
// https://127.0.0.1:port/<account>/<container>/<path> (amlid's CLI) or
// Azure's https://<account>.blob.core.windows.net/<container>/<path>
// (azure-ai-ml uploads through the default datastore's host name).
func splitBlobURL(u string) (account, cont, prefix string, err error) {
	r, perr := datauri.Parse(u)
	if perr != nil || r.Kind != datauri.KindHTTPS || r.Account == "" || r.Container == "" {
		return "", "", "", fmt.Errorf("not a blob folder URL: %q", u)
	}
	account, cont = r.Account, r.Container
	if r.Path != "" {
		prefix = strings.TrimRight(r.Path, "/") + "/"
	}
	return account, cont, prefix, nil
}

// snapshotChecksum hashes a code snapshot's blob names, sizes and MD5s.
func snapshotChecksum(ctx context.Context, cc *container.Client, prefix string) (string, []string, error) {
	var lines, names []string
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", nil, err
		}
		for _, b := range page.Segment.BlobItems {
			md5 := ""
			if b.Properties != nil && b.Properties.ContentMD5 != nil {
				md5 = hex.EncodeToString(b.Properties.ContentMD5)
			}
			size := int64(0)
			if b.Properties != nil && b.Properties.ContentLength != nil {
				size = *b.Properties.ContentLength
			}
			etag := ""
			if b.Properties != nil && b.Properties.ETag != nil {
				etag = string(*b.Properties.ETag)
			}
			lines = append(lines, fmt.Sprintf("%s\x00%d\x00%s\x00%s", *b.Name, size, md5, etag))
			names = append(names, *b.Name)
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), names, nil
}

// codeURI finds a code asset version's blob folder.
func (p *Provider) codeURI(ctx context.Context, codeID string) (string, error) {
	c, err := ml.LoadResource(ctx, p.Store, codeID)
	if err != nil {
		return "", fmt.Errorf("the code asset %s was not found", codeID)
	}
	return c.StringProp("codeUri"), nil
}

// fetchCode downloads the job's code snapshot. For a user-identity job it
// first verifies the snapshot's checksum against the one recorded at
// submission (rule DS-7): a snapshot changed since fails the job before any
// user code runs.
func (p *Provider) fetchCode(ctx context.Context, job, ws *arm.Resource, s *spec, dest string) error {
	uri, err := p.codeURI(ctx, s.CodeID)
	if err != nil {
		return err
	}
	cc, prefix, err := p.codeClient(ctx, ws, uri)
	if err != nil {
		return err
	}
	sum, names, err := snapshotChecksum(ctx, cc, prefix)
	if err != nil {
		return fmt.Errorf("reading the code snapshot %s: %v", uri, err)
	}
	if strings.EqualFold(s.Identity.Type, "useridentity") {
		if want := str(job.Properties["codeChecksum"]); want != "" && want != sum {
			return fmt.Errorf("rule DS-7: the code snapshot %s changed after the job was submitted (checksum %s at submission, %s now); user-identity jobs run only the code that was submitted. Submit the job again", uri, want[:12], sum[:12])
		}
	}
	for _, n := range names {
		rel := strings.TrimPrefix(n, prefix)
		if rel == "" || strings.Contains(rel, "..") {
			continue
		}
		if err := download(ctx, cc, n, filepath.Join(dest, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("downloading the code snapshot: %v", err)
		}
	}
	return nil
}

// uploadOutput uploads an output folder on completion to its datastore
// (its path: azureml://datastores/<d>/paths/<p>; an output without a path
// stays in the job's folder) as the job's data identity, and
// returns the output's URI and how many files it wrote. An empty folder
// writes nothing.
func (p *Provider) uploadOutput(ctx context.Context, wsID string, comp *arm.Resource, rd *reader, job, name string, out output, local string) (string, int, error) {
	var files []string
	_ = filepath.WalkDir(local, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) == 0 {
		return "", 0, nil
	}
	uri := out.URI
	if uri == "" {
		return "", 0, nil // no path: the output stays with the job (amlid ml job stream shows its log)
	}
	res, err := p.Data.Resolve(ctx, wsID, uri)
	if err != nil {
		return "", 0, fmt.Errorf("output %s (%s): %v", name, uri, err)
	}
	if res.Account == "" || res.Container == "" {
		return "", 0, fmt.Errorf("output %s (%s) is not in blob storage amlid serves", name, uri)
	}
	base, opts := p.storageBase(rd, res.Account, res.Container)
	var cc *container.Client
	who := rd
	if ds := res.DatastoreResource; ds != nil && credType(ds) == "AccountKey" {
		secret, _, err := p.cachedSecret(ctx, wsID, comp, ds)
		if err != nil {
			return "", 0, err
		}
		cred, err := container.NewSharedKeyCredential(res.Account, secret)
		if err != nil {
			return "", 0, err
		}
		if cc, err = container.NewClientWithSharedKeyCredential(base, cred, opts); err != nil {
			return "", 0, err
		}
		who = nil
	} else {
		tok, err := p.readerToken(ctx, rd)
		if err != nil {
			return "", 0, err
		}
		if cc, err = container.NewClient(base, mlblob.StaticToken(tok), opts); err != nil {
			return "", 0, err
		}
	}
	prefix := strings.TrimRight(res.Path, "/")
	for _, f := range files {
		rel, _ := filepath.Rel(local, f)
		blob := path.Join(prefix, filepath.ToSlash(rel))
		fh, err := os.Open(f)
		if err != nil {
			return "", 0, err
		}
		_, err = cc.NewBlockBlobClient(blob).UploadFile(ctx, fh, nil)
		fh.Close()
		if err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) {
				if msg, ok := networkRefusal(re); ok {
					return "", 0, fmt.Errorf("output %s (%s) is written from compute %s's nodes: the storage's firewall refused it: %s", name, res.URI, comp.Name, msg)
				}
			}
			if who != nil && errors.As(err, &re) {
				return "", 0, fmt.Errorf("rules DS-4, DS-5: output %s (%s) is written as %s, which may not write there: %d %s. It needs data action %s on storage account %s.\nFix: %s",
					name, res.URI, who.describe(), re.StatusCode, re.ErrorCode, catalog.BlobWrite, res.Account,
					access.RoleFix(who.PrincipalID, who.principalType(), catalog.StorageBlobDataContributor.Name, firstNonEmpty(p.accountID(ctx, res.Account), "<storage account ID>")))
			}
			return "", 0, fmt.Errorf("output %s: %v", name, err)
		}
	}
	return res.URI, len(files), nil
}
