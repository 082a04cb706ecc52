package blob_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/amlid/amlid/internal/testenv"
)

func sasClient(t testing.TB, e *testenv.Env, account, query string) *azblob.Client {
	c, err := azblob.NewClientWithNoCredential(e.AccountURL(account)+"?"+query, clientOpts(e))
	must(t, err)
	return c
}

// TestSAS: account and service SAS, their permissions, resource types,
// validity window, IP range and stored access policies.
func TestSAS(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("sasacct", nil)
	key := e.AccountKey("sasacct")
	kc := keyClient(t, e, "sasacct", key)
	ctx := t.Context()
	_, err := kc.CreateContainer(ctx, "box", nil)
	must(t, err)
	_, err = kc.UploadBuffer(ctx, "box", "f.txt", []byte("sas data"), nil)
	must(t, err)
	cred, err := azblob.NewSharedKeyCredential("sasacct", key)
	must(t, err)

	t.Run("account SAS read-only", func(t *testing.T) {
		q := accountSAS(t, "sasacct", key, sas.AccountPermissions{Read: true, List: true}, sas.AccountResourceTypes{Container: true, Object: true})
		c := sasClient(t, e, "sasacct", q)
		resp, err := c.DownloadStream(ctx, "box", "f.txt", nil)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "sas data" {
			t.Fatalf("read: %q", b)
		}
		if _, err := c.NewListBlobsFlatPager("box", nil).NextPage(ctx); err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		if _, err := c.UploadBuffer(ctx, "box", "w.txt", []byte("x"), nil); errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("write with r: %v", err)
		}
		if _, err := c.NewListContainersPager(nil).NextPage(ctx); errCode(err) != "AuthorizationResourceTypeMismatch" {
			t.Fatalf("list containers without srt=s: %v", err)
		}
	})
	t.Run("account SAS create-only", func(t *testing.T) {
		q := accountSAS(t, "sasacct", key, sas.AccountPermissions{Create: true}, sas.AccountResourceTypes{Object: true})
		c := sasClient(t, e, "sasacct", q)
		_, err := c.UploadBuffer(ctx, "box", "created.txt", []byte("x"), nil)
		must(t, err)
		if _, err := c.UploadBuffer(ctx, "box", "created.txt", []byte("y"), nil); errCode(err) != "AuthorizationPermissionMismatch" {
			t.Fatalf("overwrite with c: %v", err)
		}
	})
	t.Run("service SAS for a blob", func(t *testing.T) {
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ContainerName: "box", BlobName: "f.txt",
			Permissions: (&sas.BlobPermissions{Read: true}).String(), ContentType: "text/x-sas"}.SignWithSharedKey(cred)
		must(t, err)
		st, hdr, body := rawDo(t, e, http.MethodGet, "/sasacct/box/f.txt?"+qp.Encode(), nil, nil)
		if st != http.StatusOK || body != "sas data" || hdr.Get("Content-Type") != "text/x-sas" {
			t.Fatalf("blob SAS: %d %q %s", st, body, hdr.Get("Content-Type"))
		}
		// The signature covers the blob: another blob's URL fails.
		st, hdr, _ = rawDo(t, e, http.MethodGet, "/sasacct/box/created.txt?"+qp.Encode(), nil, nil)
		if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthenticationFailed" {
			t.Fatalf("blob SAS on another blob: %d %s", st, hdr.Get("x-ms-error-code"))
		}
	})
	t.Run("service SAS for a container", func(t *testing.T) {
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ContainerName: "box",
			Permissions: (&sas.ContainerPermissions{Read: true, List: true, Write: true}).String()}.SignWithSharedKey(cred)
		must(t, err)
		cc, err := container.NewClientWithNoCredential(e.AccountURL("sasacct")+"box?"+qp.Encode(), &container.ClientOptions{ClientOptions: clientOpts(e).ClientOptions})
		must(t, err)
		page, err := cc.NewListBlobsFlatPager(nil).NextPage(ctx)
		must(t, err)
		if len(page.Segment.BlobItems) < 1 {
			t.Fatal("container SAS list is empty")
		}
		_, err = cc.NewBlockBlobClient("via-container-sas").UploadBuffer(ctx, []byte("ok"), nil)
		must(t, err)
		if _, err := cc.Delete(ctx, nil); errCode(err) != "AuthorizationResourceTypeMismatch" {
			t.Fatalf("container delete with a service SAS: %v", err)
		}
	})
	t.Run("stored access policy", func(t *testing.T) {
		cc := kc.ServiceClient().NewContainerClient("box")
		start, exp := time.Now().Add(-time.Minute).UTC().Truncate(time.Second), time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		_, err := cc.SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{ContainerACL: []*container.SignedIdentifier{{
			ID: ptr("readers"), AccessPolicy: &container.AccessPolicy{Start: &start, Expiry: &exp, Permission: ptr("rl")}}}})
		must(t, err)
		pol, err := cc.GetAccessPolicy(ctx, nil)
		must(t, err)
		if len(pol.SignedIdentifiers) != 1 || *pol.SignedIdentifiers[0].ID != "readers" || *pol.SignedIdentifiers[0].AccessPolicy.Permission != "rl" {
			t.Fatalf("access policy: %+v", pol.SignedIdentifiers)
		}
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ContainerName: "box", Identifier: "readers"}.SignWithSharedKey(cred)
		must(t, err)
		st, _, body := rawDo(t, e, http.MethodGet, "/sasacct/box/f.txt?"+qp.Encode(), nil, nil)
		if st != http.StatusOK || body != "sas data" {
			t.Fatalf("si SAS: %d %s", st, body)
		}
		qp, err = sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ContainerName: "box", Identifier: "writers"}.SignWithSharedKey(cred)
		must(t, err)
		if st, hdr, _ := rawDo(t, e, http.MethodGet, "/sasacct/box/f.txt?"+qp.Encode(), nil, nil); st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "AuthenticationFailed" {
			t.Fatalf("unknown si: %d %s", st, hdr.Get("x-ms-error-code"))
		}
	})
	t.Run("expired, not yet valid, wrong IP", func(t *testing.T) {
		sign := func(v sas.AccountSignatureValues) string {
			v.Protocol, v.Permissions, v.ResourceTypes = sas.ProtocolHTTPS, (&sas.AccountPermissions{Read: true}).String(), (&sas.AccountResourceTypes{Object: true}).String()
			qp, err := v.SignWithSharedKey(cred)
			must(t, err)
			return qp.Encode()
		}
		for name, tc := range map[string]struct {
			q    string
			code string
		}{
			"expired":       {sign(sas.AccountSignatureValues{ExpiryTime: time.Now().Add(-time.Minute)}), "AuthenticationFailed"},
			"not yet valid": {sign(sas.AccountSignatureValues{StartTime: time.Now().Add(time.Hour), ExpiryTime: time.Now().Add(2 * time.Hour)}), "AuthenticationFailed"},
			"other IP":      {sign(sas.AccountSignatureValues{ExpiryTime: time.Now().Add(time.Hour), IPRange: sas.IPRange{Start: []byte{10, 0, 0, 1}, End: []byte{10, 0, 0, 9}}}), "AuthorizationSourceIPMismatch"},
		} {
			st, hdr, body := rawDo(t, e, http.MethodGet, "/sasacct/box/f.txt?"+tc.q, nil, nil)
			if st != http.StatusForbidden || hdr.Get("x-ms-error-code") != tc.code {
				t.Errorf("%s: %d %s %s", name, st, hdr.Get("x-ms-error-code"), body)
			}
		}
		ok := sign(sas.AccountSignatureValues{ExpiryTime: time.Now().Add(time.Hour), IPRange: sas.IPRange{Start: []byte{127, 0, 0, 1}}})
		if st, _, body := rawDo(t, e, http.MethodGet, "/sasacct/box/f.txt?"+ok, nil, nil); st != http.StatusOK {
			t.Errorf("sip=127.0.0.1: %d %s", st, body)
		}
	})
	t.Run("allowSharedKeyAccess false", func(t *testing.T) {
		e.CreateAccount("nokeyacct", map[string]any{"allowSharedKeyAccess": false})
		nk := e.AccountKey("nokeyacct")
		c := keyClient(t, e, "nokeyacct", nk)
		if _, err := c.CreateContainer(ctx, "box", nil); errCode(err) != "KeyBasedAuthenticationNotPermitted" || statusOf(err) != http.StatusForbidden {
			t.Fatalf("shared key on a keyless account: %v", err)
		}
		q := accountSAS(t, "nokeyacct", nk, allPerms, allTypes)
		if st, hdr, _ := rawDo(t, e, http.MethodPut, "/nokeyacct/box?restype=container&"+q, nil, nil); st != http.StatusForbidden || hdr.Get("x-ms-error-code") != "KeyBasedAuthenticationNotPermitted" {
			t.Fatalf("SAS on a keyless account: %d %s", st, hdr.Get("x-ms-error-code"))
		}
		// Tokens still work.
		w := e.NewApp("nokey-writer", e.Tenant())
		e.Grant(w.ObjectID, testenv.RoleStorageBlobDataOwner, e.AccountID("nokeyacct"))
		tc := tokenClient(t, e, w, "nokeyacct")
		_, err := tc.CreateContainer(ctx, "box", nil)
		must(t, err)
		_, err = tc.UploadBuffer(ctx, "box", "x", []byte("token ok"), nil)
		must(t, err)
	})
}

var (
	_ = context.Background
	_ = strings.Contains
)
