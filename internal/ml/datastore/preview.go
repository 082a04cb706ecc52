package datastore

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml/datauri"
)

// Data preview (rule DS-8): POST …/data/{n}/versions/{v}/preview reads the
// first rows of a data asset as the studio does. Who reads:
//   - the storage account allows only chosen networks (networkAcls
//     defaultAction Deny): the workspace identity, which the firewall lets
//     through as a trusted Azure service only with bypass AzureServices;
//   - else the datastore's serviceDataAccessAuthIdentity when it names the
//     workspace's system- or user-assigned identity;
//   - else a credential-based datastore's cached credential (DS-5's order);
//   - else the caller's own identity.
// The workspace identity and the cached credential read through the Blob
// data plane for real (a token for the identity, or the key), so its RBAC,
// firewall and trusted-service decisions apply. The caller's identity is
// decided by the same RBAC engine (its data action on the container) and
// the bytes are then read by amlid.

// PreviewIdentity says who read (or would have read) the data.
type PreviewIdentity struct {
	Kind        string `json:"kind"` // workspace | credential | caller
	PrincipalID string `json:"principalId,omitempty"`
	Label       string `json:"label"`
	Why         string `json:"why"`
}

const maxPreviewBytes = 64 << 10

func (p *Provider) previewAction() arm.Action {
	return arm.Action{RBACAction: catalog.DataVersionRead, Handler: p.preview}
}

func (p *Provider) preview(ctx context.Context, c *arm.Call, r *arm.Resource, body []byte) (int, any, error) {
	var req struct {
		Rows int `json:"rows"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, nil, userErr("The preview request body must be JSON {\"rows\": N}: %v", err)
		}
	}
	if req.Rows <= 0 {
		req.Rows = 10
	}
	if req.Rows > 1000 {
		return 0, nil, userErr("rows must be at most 1000.")
	}
	vid, err := arm.ParseID(r.ID)
	if err != nil {
		return 0, nil, err
	}
	wsID := vid.Parent().Parent()
	ws, err := p.mlResource(ctx, wsID.String())
	if err != nil {
		return 0, nil, err
	}
	res, err := p.Resolve(ctx, wsID.String(), r.StringProp("dataUri"))
	var de *datauri.Error
	if errors.As(err, &de) {
		return 0, nil, userErr("Data asset %s:%s: %s", vid.Parent().Name(), vid.Name(), de.Msg)
	}
	if err != nil {
		return 0, nil, err
	}
	if t := res.DatastoreType; t != "" && t != "AzureBlob" && t != "AzureDataLakeGen2" {
		return 0, nil, userErr("Data preview reads Blob and ADLS Gen2 datastores; datastore %s is %s.", res.Datastore, t)
	}
	acct, err := accountByName(ctx, p.ML.Store, res.Account)
	if err != nil {
		return 0, nil, userErr("Data preview: storage account '%s' is not one of amlid's.", res.Account)
	}
	who, cc, err := p.previewClient(ctx, c, ws, res, acct)
	if err != nil {
		return 0, nil, err
	}
	file, rows, err := readRows(ctx, cc, res.Container, res.Path, r.StringProp("dataType"), req.Rows)
	if err != nil {
		return 0, nil, p.previewRefusal(res, acct, who, err)
	}
	return http.StatusOK, map[string]any{"uri": res.URI, "datastore": res.Datastore, "account": res.Account, "container": res.Container,
		"file": file, "identity": who, "rows": rows}, nil
}

func (p *Provider) mlResource(ctx context.Context, id string) (*arm.Resource, error) {
	return access.StoreSource(p.ML.Store).Get(ctx, id)
}

// previewClient picks the reader (rule DS-8) and returns a container client
// acting as it.
func (p *Provider) previewClient(ctx context.Context, c *arm.Call, ws *arm.Resource, res *datauri.Resolved, acct *arm.Resource) (PreviewIdentity, *container.Client, error) {
	acls, _ := acct.Prop("networkAcls").(map[string]any)
	deny := strings.EqualFold(fmt.Sprint(acls["defaultAction"]), "Deny")
	sdai := "None"
	ct := "None"
	if ds := res.DatastoreResource; ds != nil {
		sdai = ds.StringProp("serviceDataAccessAuthIdentity")
		ct = credTypeOf(ds)
	}
	cURL := strings.TrimRight(p.BlobEndpoint(acct.Name), "/") + "/" + res.Container
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.RootCAs}}},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
	switch {
	case deny || (sdai != "" && sdai != "None"):
		why := fmt.Sprintf("datastore %s's serviceDataAccessAuthIdentity is %s", res.Datastore, sdai)
		if deny {
			why = fmt.Sprintf("storage account %s allows only chosen networks (networkAcls.defaultAction Deny), so data preview reads as the workspace identity, a trusted Azure service (rule DS-8)", acct.Name)
		}
		id, ok, err := access.WorkspaceIdentity(ctx, access.StoreSource(p.ML.Store), ws)
		if sdai == "WorkspaceSystemAssignedIdentity" && !deny {
			id, ok = access.Acting(ws)
		}
		if err != nil || !ok {
			return PreviewIdentity{}, nil, userErr("Rule DS-8: %s, but workspace %s has no such identity.", why, ws.Name)
		}
		who := PreviewIdentity{Kind: "workspace", PrincipalID: id.PrincipalID, Label: id.Label(), Why: why}
		pr, err := p.ML.Directory.Principal(ctx, id.PrincipalID)
		if err != nil {
			return who, nil, err
		}
		tok, err := p.Tokens.IssueAccessToken(ctx, pr, "https://storage.azure.com/")
		if err != nil {
			return who, nil, err
		}
		cc, err := container.NewClient(cURL, staticToken{tok.Token, tok.ExpiresOn}, opts)
		return who, cc, err
	case ct == "AccountKey" || ct == "Sas":
		dsID, _ := arm.ParseID(res.DatastoreResource.ID)
		who := PreviewIdentity{Kind: "credential", Label: "the " + ct + " credential cached for datastore " + res.Datastore,
			Why: fmt.Sprintf("datastore %s caches a credential, which readers use before any identity (rule DS-5)", res.Datastore)}
		secret, err := p.secret(ctx, ws, dsID)
		if err != nil {
			return who, nil, err
		}
		if ct == "Sas" {
			cc, err := container.NewClientWithNoCredential(cURL+"?"+strings.TrimPrefix(secret, "?"), opts)
			return who, cc, err
		}
		cred, err := azblob.NewSharedKeyCredential(acct.Name, secret)
		if err != nil {
			return who, nil, userErr("The account key cached for datastore %s is not valid: %v", res.Datastore, err)
		}
		cc, err := container.NewClientWithSharedKeyCredential(cURL, cred, opts)
		return who, cc, err
	case ct == "None":
		who := PreviewIdentity{Kind: "caller", Label: "you", Why: fmt.Sprintf("datastore %s is identity-based with serviceDataAccessAuthIdentity None: the studio reads with your identity", res.Datastore)}
		if res.DatastoreResource == nil {
			who.Why = "the data's URL is outside every datastore: the studio reads with your identity"
		}
		if c.Caller == nil || c.Caller.System {
			break
		}
		who.PrincipalID = c.Caller.ObjectID
		scope := acct.ID + "/blobServices/default/containers/" + res.Container
		d, err := p.ML.Authz.Check(ctx, c.Caller.TenantID, c.Caller.ObjectID, catalog.BlobRead, true, scope)
		if err != nil {
			return who, nil, err
		}
		if hns, _ := acct.Prop("isHnsEnabled").(bool); !d.Allowed && hns && res.DatastoreType == "AzureDataLakeGen2" && p.Tokens != nil {
			// No role: on a hierarchical namespace the POSIX ACLs decide
			// (rule DS-9), so the read goes to the data plane with the
			// caller's own storage token.
			tok, err := p.callerStorageToken(ctx, c)
			if err != nil {
				return who, nil, err
			}
			who.Why += fmt.Sprintf("; no role grants you a blob data read there, so file system %s's ACLs decide (rule DS-9)", res.Container)
			cc, err := container.NewClient(cURL, staticToken{tok.Token, tok.ExpiresOn}, opts)
			return who, cc, err
		}
		if !d.Allowed {
			return who, nil, arm.Errorf(http.StatusForbidden, "AuthorizationFailed",
				"Rule DS-8: data preview reads %s as you (%s): principal %s lacks data action '%s' on container %s of storage account %s (%s needed; Owner and Contributor grant no data actions). Fix: %s",
				res.URI, who.Why, c.Caller.ObjectID, catalog.BlobRead, res.Container, acct.Name, catalog.StorageBlobDataReader.Name,
				access.RoleFix(c.Caller.ObjectID, c.Caller.Type, catalog.StorageBlobDataReader.Name, acct.ID))
		}
		key, err := p.ML.StorageKey(ctx, arm.SystemCaller(ws.StringProp("tenantId")), acct.ID)
		if err != nil {
			return who, nil, err
		}
		cred, err := azblob.NewSharedKeyCredential(acct.Name, key)
		if err != nil {
			return who, nil, err
		}
		cc, err := container.NewClientWithSharedKeyCredential(cURL, cred, opts)
		return who, cc, err
	}
	return PreviewIdentity{}, nil, userErr("Data preview of %s: datastore %s uses %s credentials, which amlid does not read with.", res.URI, res.Datastore, ct)
}

// previewRefusal turns the data plane's refusal into the ARM answer naming
// DS-8, the identity, and the fix.
func (p *Provider) previewRefusal(res *datauri.Resolved, acct *arm.Resource, who PreviewIdentity, err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		var ae *arm.Error
		if errors.As(err, &ae) {
			return ae
		}
		return userErr("Data preview of %s: %v", res.URI, err)
	}
	msg := re.ErrorCode
	if re.RawResponse != nil && re.RawResponse.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(re.RawResponse.Body, 8<<10))
		if s := xmlMessage(string(b)); s != "" {
			msg += ": " + s
		}
	}
	if re.StatusCode == http.StatusNotFound {
		return arm.Errorf(http.StatusNotFound, "DataNotFound", "Data preview of %s: the storage has no such blob or container (%s).", res.URI, msg)
	}
	fix := ""
	switch {
	case re.ErrorCode == "AuthorizationFailure" && who.Kind == "workspace":
		fix = fmt.Sprintf(" Fix: let trusted Azure services through the firewall (amlid storage account update -n %s --bypass AzureServices).", acct.Name)
		acls, _ := acct.Prop("networkAcls").(map[string]any)
		if vr, _ := acls["virtualNetworkRules"].([]any); len(vr) > 0 {
			fix = fmt.Sprintf(" Data preview runs in Azure ML's service, never on a compute in your subnets: the account's %d virtualNetworkRules entries do not let it through.", len(vr)) + fix +
				" Compute in an allowed subnet still reads the data in jobs."
		}
	case re.ErrorCode == "AuthorizationPermissionMismatch" && who.Kind == "caller" && who.PrincipalID != "":
		// Read with the caller's token: the file system's ACLs refused.
		fix = fmt.Sprintf(" Fix either: a role (at least %s) on the account or file system; or ACL entries giving principal %s read on the file and execute on every folder above it: amlid storage fs access update-recursive --acl user:%s:r-x -p / -f %s --account-name %s (every path).",
			catalog.StorageBlobDataReader.Name, who.PrincipalID, who.PrincipalID, res.Container, acct.Name)
	case re.ErrorCode == "AuthorizationPermissionMismatch" && who.PrincipalID != "":
		fix = " Fix: " + access.RoleFix(who.PrincipalID, "ServicePrincipal", catalog.StorageBlobDataReader.Name, acct.ID)
	}
	status := re.StatusCode
	if status < 400 || status >= 500 {
		status = http.StatusBadRequest
	}
	return arm.Errorf(status, "DataAccessDenied", "Rule DS-8: data preview of %s reads storage account %s as %s (principal %s) because %s; the storage refused: %s.%s",
		res.URI, acct.Name, who.Label, orDash(who.PrincipalID), who.Why, msg, fix)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func xmlMessage(body string) string {
	i := strings.Index(body, "<Message>")
	j := strings.Index(body, "</Message>")
	if i < 0 || j < i {
		return ""
	}
	m := body[i+len("<Message>") : j]
	if k := strings.Index(m, "\nRequestId:"); k >= 0 {
		m = m[:k]
	}
	return strings.TrimSpace(m)
}

// readRows reads the first n lines of the data: the blob itself for a
// uri_file, else the first blob under the folder (MLTable files skipped).
func readRows(ctx context.Context, cc *container.Client, cont, path, dataType string, n int) (string, []string, error) {
	name := path
	if dataType != "uri_file" || strings.HasSuffix(path, "/") || path == "" {
		prefix := path
		if prefix != "" && !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix})
		name = ""
		for pager.More() && name == "" {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return "", nil, err
			}
			for _, b := range page.Segment.BlobItems {
				if b.Name != nil && !strings.HasSuffix(*b.Name, "/MLTable") && *b.Name != "MLTable" {
					name = *b.Name
					break
				}
			}
		}
		if name == "" {
			return "", nil, arm.Errorf(http.StatusNotFound, "DataNotFound", "Data preview: no blobs under '%s' in container %s.", prefix, cont)
		}
	}
	resp, err := cc.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		return name, nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, maxPreviewBytes))
	sc.Buffer(make([]byte, 0, 4096), maxPreviewBytes)
	rows := []string{}
	for len(rows) < n && sc.Scan() {
		rows = append(rows, sc.Text())
	}
	return name, rows, nil
}

// staticToken is a TokenCredential for one token amlid issued.
type staticToken struct {
	token   string
	expires time.Time
}

func (s staticToken) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.token, ExpiresOn: s.expires}, nil
}
