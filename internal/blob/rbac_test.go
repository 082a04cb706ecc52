package blob_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/amlid/amlid/internal/testenv"
)

// rawDo sends a request to the blob listener and returns status, headers
// and body.
func rawDo(t testing.TB, e *testenv.Env, method, path string, hdr map[string]string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.BlobURL()+path, body)
	must(t, err)
	req.Header.Set("x-ms-version", "2021-12-02")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.HTTP.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRBAC: data actions decide bearer access (rules RBAC-2, RBAC-4, DS-4,
// ID-4).
func TestRBAC(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("rbacacct", nil)
	key := e.AccountKey("rbacacct")
	kc := keyClient(t, e, "rbacacct", key)
	ctx := t.Context()
	_, err := kc.CreateContainer(ctx, "data", nil)
	must(t, err)
	_, err = kc.UploadBuffer(ctx, "data", "hello.txt", []byte("hello"), nil)
	must(t, err)

	reader := e.NewApp("reader", e.Tenant())
	e.Grant(reader.ObjectID, testenv.RoleStorageBlobDataReader, e.AccountID("rbacacct"))
	contributor := e.NewApp("contrib", e.Tenant())
	e.Grant(contributor.ObjectID, testenv.RoleContributor, "/subscriptions/"+e.Sub()+"/resourceGroups/"+e.RG)
	nobody := e.NewApp("nobody", e.Tenant())

	t.Run("Storage Blob Data Reader reads but cannot write", func(t *testing.T) {
		c := tokenClient(t, e, reader, "rbacacct")
		resp, err := c.DownloadStream(ctx, "data", "hello.txt", nil)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" {
			t.Fatalf("read %q", b)
		}
		pager := c.NewListBlobsFlatPager("data", nil)
		if _, err := pager.NextPage(ctx); err != nil {
			t.Fatalf("list: %v", err)
		}
		_, err = c.UploadBuffer(ctx, "data", "new.txt", []byte("x"), nil)
		if statusOf(err) != http.StatusForbidden || errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("write as reader: want 403 AuthorizationPermissionMismatch, got %v", err)
		}
		msg := err.Error()
		for _, want := range []string{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", reader.ObjectID,
			e.AccountID("rbacacct") + "/blobServices/default/containers/data", "Storage Blob Data Contributor", "RBAC-4"} {
			if !strings.Contains(msg, want) {
				t.Errorf("denial message lacks %q:\n%s", want, msg)
			}
		}
		if _, err := c.DeleteBlob(ctx, "data", "hello.txt", nil); errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("delete as reader: %v", err)
		}
	})
	t.Run("Contributor cannot read blobs with a token but can list keys", func(t *testing.T) {
		c := tokenClient(t, e, contributor, "rbacacct")
		_, err := c.DownloadStream(ctx, "data", "hello.txt", nil)
		if statusOf(err) != http.StatusForbidden || errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("read as Contributor: want 403 AuthorizationPermissionMismatch, got %v", err)
		}
		if !strings.Contains(err.Error(), "Owner and Contributor grant no data actions") {
			t.Errorf("the denial should explain RBAC-2: %v", err)
		}
		st, out := e.ARM(contributor, http.MethodPost, e.AccountPath("rbacacct")+"/listKeys", testenv.StorageAPIVersion, nil)
		if st != http.StatusOK || len(out["keys"].([]any)) != 2 {
			t.Fatalf("listKeys as Contributor: %d %v", st, out)
		}
		// …and with the key it can read.
		k := out["keys"].([]any)[0].(map[string]any)["value"].(string)
		resp, err := keyClient(t, e, "rbacacct", k).DownloadStream(ctx, "data", "hello.txt", nil)
		must(t, err)
		resp.Body.Close()
	})
	t.Run("no role", func(t *testing.T) {
		c := tokenClient(t, e, nobody, "rbacacct")
		pager := c.NewListContainersPager(nil)
		if _, err := pager.NextPage(ctx); errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("list containers without a role: %v", err)
		}
		st, _ := e.ARM(nobody, http.MethodPost, e.AccountPath("rbacacct")+"/listKeys", testenv.StorageAPIVersion, nil)
		if st != http.StatusForbidden {
			t.Fatalf("listKeys without a role: %d", st)
		}
	})
	t.Run("token of another tenant is refused (ID-4)", func(t *testing.T) {
		tok := e.Token(e.NewApp("other", e.NewTenant("fabrikam")), "https://storage.azure.com/.default")
		st, hdr, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if st != http.StatusUnauthorized || hdr.Get("x-ms-error-code") != "InvalidAuthenticationInfo" || !strings.Contains(body, "ID-4") {
			t.Fatalf("cross-tenant token: %d %s %s", st, hdr.Get("x-ms-error-code"), body)
		}
		if !strings.Contains(hdr.Get("WWW-Authenticate"), "/"+e.Tenant()+"/oauth2/authorize") {
			t.Fatalf("challenge: %q", hdr.Get("WWW-Authenticate"))
		}
	})
	t.Run("token for another audience is refused", func(t *testing.T) {
		tok := e.Token(reader, "https://management.azure.com/.default")
		st, hdr, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if st != http.StatusUnauthorized || hdr.Get("x-ms-error-code") != "InvalidAuthenticationInfo" || !strings.Contains(body, "Audience validation failed") {
			t.Fatalf("ARM token at the blob service: %d %s %s", st, hdr.Get("x-ms-error-code"), body)
		}
		// The audience of the account's own endpoint is accepted.
		tok = e.Token(reader, "https://rbacacct.blob.core.windows.net/.default")
		st, _, body = rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if st != http.StatusOK || body != "hello" {
			t.Fatalf("account audience: %d %s", st, body)
		}
	})
	t.Run("a deleted principal's token stops working", func(t *testing.T) {
		gone := e.NewApp("gone", e.Tenant())
		e.Grant(gone.ObjectID, testenv.RoleStorageBlobDataReader, e.AccountID("rbacacct"))
		tok := e.Token(gone, "https://storage.azure.com/.default")
		if st, _, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", map[string]string{"Authorization": "Bearer " + tok}, nil); st != http.StatusOK {
			t.Fatalf("before delete: %d %s", st, body)
		}
		must(t, e.S.Directory.DeletePrincipal(ctx, gone.ObjectID))
		st, hdr, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", map[string]string{"Authorization": "Bearer " + tok}, nil)
		if st != http.StatusUnauthorized || hdr.Get("x-ms-error-code") != "InvalidAuthenticationInfo" || !strings.Contains(body, "no longer exists") {
			t.Fatalf("after delete: %d %s %s", st, hdr.Get("x-ms-error-code"), body)
		}
	})
	t.Run("no credentials: 401 challenge", func(t *testing.T) {
		st, hdr, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt", nil, nil)
		want := "Bearer authorization_uri=" + e.URL() + "/" + e.Tenant() + "/oauth2/authorize resource_id=https://storage.azure.com"
		if st != http.StatusUnauthorized || hdr.Get("x-ms-error-code") != "NoAuthenticationInformation" || hdr.Get("WWW-Authenticate") != want {
			t.Fatalf("anonymous: %d %s %q %s", st, hdr.Get("x-ms-error-code"), hdr.Get("WWW-Authenticate"), body)
		}
		if !strings.Contains(body, "<Code>NoAuthenticationInformation</Code>") || !strings.Contains(body, "RequestId:") {
			t.Fatalf("error body: %s", body)
		}
		// HEAD: the code travels in the header only.
		st, hdr, body = rawDo(t, e, http.MethodHead, "/rbacacct/data/hello.txt", nil, nil)
		if st != http.StatusUnauthorized || hdr.Get("x-ms-error-code") != "NoAuthenticationInformation" || body != "" {
			t.Fatalf("anonymous HEAD: %d %q %q", st, hdr.Get("x-ms-error-code"), body)
		}
	})
	t.Run("forged SAS is refused", func(t *testing.T) {
		cred, err := azblob.NewSharedKeyCredential("rbacacct", "Zm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdlZCBrZXkgZm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdl")
		must(t, err)
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ContainerName: "data", BlobName: "hello.txt",
			Permissions: (&sas.BlobPermissions{Read: true}).String()}.SignWithSharedKey(cred)
		must(t, err)
		st, hdr, body := rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt?"+qp.Encode(), nil, nil)
		if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthenticationFailed" || !strings.Contains(body, "Signature did not match") {
			t.Fatalf("forged SAS: %d %s %s", st, hdr.Get("x-ms-error-code"), body)
		}
		// A real one works, and a tampered permission breaks it.
		good, err := azblob.NewSharedKeyCredential("rbacacct", key)
		must(t, err)
		qp, err = sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ContainerName: "data", BlobName: "hello.txt",
			Permissions: (&sas.BlobPermissions{Read: true}).String()}.SignWithSharedKey(good)
		must(t, err)
		st, _, body = rawDo(t, e, http.MethodGet, "/rbacacct/data/hello.txt?"+qp.Encode(), nil, nil)
		if st != http.StatusOK || body != "hello" {
			t.Fatalf("valid SAS: %d %s", st, body)
		}
		v, _ := url.ParseQuery(qp.Encode())
		v.Set("sp", "rw")
		st, hdr, _ = rawDo(t, e, http.MethodPut, "/rbacacct/data/hello.txt?"+v.Encode(), map[string]string{"x-ms-blob-type": "BlockBlob"}, strings.NewReader("evil"))
		if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthenticationFailed" {
			t.Fatalf("tampered SAS: %d %s", st, hdr.Get("x-ms-error-code"))
		}
		// A forged shared key header too.
		fk := keyClient(t, e, "rbacacct", "Zm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdlZCBrZXkgZm9yZ2VkIGtleSBmb3JnZWQga2V5IGZvcmdl")
		if _, err := fk.DownloadStream(ctx, "data", "hello.txt", nil); errCode(err) != "AuthenticationFailed" {
			t.Fatalf("forged shared key: %v", err)
		}
	})
}

var (
	_ = context.Background
	_ = policy.RetryOptions{}
)
