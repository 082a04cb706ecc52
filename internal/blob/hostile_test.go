package blob_test

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/amlid/amlid/internal/testenv"
)

// accountSAS is an all-powerful account SAS for raw requests.
func accountSAS(t testing.TB, account, key string, perms sas.AccountPermissions, types sas.AccountResourceTypes) string {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(account, key)
	must(t, err)
	qp, err := sas.AccountSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour),
		Permissions: perms.String(), ResourceTypes: types.String()}.SignWithSharedKey(cred)
	must(t, err)
	return qp.Encode()
}

var allPerms = sas.AccountPermissions{Read: true, Write: true, Delete: true, List: true, Add: true, Create: true}
var allTypes = sas.AccountResourceTypes{Service: true, Container: true, Object: true}

// TestHostileNames: dot segments, encoded slashes and backslashes in blob
// names never reach outside the container's directory; data files are
// named by random IDs only.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("hostile", nil)
	key := e.AccountKey("hostile")
	s := accountSAS(t, "hostile", key, allPerms, allTypes)
	st, _, body := rawDo(t, e, http.MethodPut, "/hostile/box?restype=container&"+s, nil, nil)
	testenv.MustStatus(t, "create container", st, http.StatusCreated, body)

	// A canary next to the data dir that a traversal would overwrite.
	canary := filepath.Join(filepath.Dir(e.BlobDir()), "passwd")
	must(t, os.WriteFile(canary, []byte("canary"), 0o600))
	big := bytes.Repeat([]byte("B"), 200<<10) // above the inline bound: a data file
	names := []string{
		"../../passwd",
		"..%2F..%2F..%2Fpasswd",
		"%2E%2E/%2E%2E/passwd",
		"a/../../../passwd",
		`..\..\passwd`,
		"..%5C..%5Cpasswd",
		"%2Fabsolute%2Fpasswd",
		"./././x",
		"..",
	}
	for _, n := range names {
		for _, data := range [][]byte{[]byte("small " + n), big} {
			st, _, body := rawDo(t, e, http.MethodPut, "/hostile/box/"+n+"?"+s, map[string]string{"x-ms-blob-type": "BlockBlob"}, bytes.NewReader(data))
			testenv.MustStatus(t, "put "+n, st, http.StatusCreated, body)
			st, _, got := rawDo(t, e, http.MethodGet, "/hostile/box/"+n+"?"+s, nil, nil)
			if st != http.StatusOK || got != string(data) {
				t.Fatalf("get %q: %d (%d bytes)", n, st, len(got))
			}
		}
	}
	if b, _ := os.ReadFile(canary); string(b) != "canary" {
		t.Fatal("the canary outside the data dir was overwritten")
	}
	// Every file under the data dir is <dir>/c/<uid>/<id> or a temp file.
	idRE := regexp.MustCompile(`^c/[0-9a-f]{32}/[0-9a-f]{32}$`)
	n := 0
	must(t, filepath.WalkDir(e.BlobDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(e.BlobDir(), p)
		if !idRE.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("unexpected file in the data dir: %s", rel)
		}
		n++
		return nil
	}))
	if n == 0 {
		t.Fatal("no data files were written")
	}
	// The names are listed as the service decoded them.
	st, _, list := rawDo(t, e, http.MethodGet, "/hostile/box?restype=container&comp=list&"+s, nil, nil)
	testenv.MustStatus(t, "list", st, http.StatusOK, list)
	for _, want := range []string{"<Name>../../passwd</Name>", `<Name>..\..\passwd</Name>`, "<Name>/absolute/passwd</Name>"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %s:\n%s", want, list)
		}
	}
	// Invalid UTF-8 and NUL are refused; control characters are listed
	// encoded.
	for _, bad := range []string{"bad%FFname", "nul%00byte"} {
		st, hdr, _ := rawDo(t, e, http.MethodPut, "/hostile/box/"+bad+"?"+s, map[string]string{"x-ms-blob-type": "BlockBlob"}, strings.NewReader("x"))
		if st != http.StatusBadRequest || hdr.Get("x-ms-error-code") != "InvalidResourceName" {
			t.Errorf("name %s: %d %s", bad, st, hdr.Get("x-ms-error-code"))
		}
	}
	st, _, body = rawDo(t, e, http.MethodPut, "/hostile/box/ctl%01name?"+s, map[string]string{"x-ms-blob-type": "BlockBlob"}, strings.NewReader("x"))
	testenv.MustStatus(t, "control character name", st, http.StatusCreated, body)
	_, _, list = rawDo(t, e, http.MethodGet, "/hostile/box?restype=container&comp=list&prefix=ctl&"+s, nil, nil)
	if !strings.Contains(list, `<Name Encoded="true">ctl%01name</Name>`) {
		t.Errorf("encoded name: %s", list)
	}
	// Other containers and accounts cannot be reached through a name.
	st, _, _ = rawDo(t, e, http.MethodGet, "/hostile/box/..%2F..%2Fother%2Fbox%2Fx?"+s, nil, nil)
	if st != http.StatusNotFound {
		t.Errorf("cross-container name: %d", st)
	}
}

// TestHostileBodies: oversized headers, bad block lists, bad IDs and
// digests are 4xx with the service's codes; nothing panics.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	e := testenv.NewStorage(t, testenv.Options{})
	e.CreateAccount("bodies", nil)
	key := e.AccountKey("bodies")
	s := accountSAS(t, "bodies", key, allPerms, allTypes)
	st, _, body := rawDo(t, e, http.MethodPut, "/bodies/box?restype=container&"+s, nil, nil)
	testenv.MustStatus(t, "create container", st, http.StatusCreated, body)
	code := func(what string, st int, hdr http.Header, wantStatus int, wantCode string) {
		t.Helper()
		if st != wantStatus || (wantCode != "" && hdr.Get("x-ms-error-code") != wantCode) {
			t.Errorf("%s: %d %s, want %d %s", what, st, hdr.Get("x-ms-error-code"), wantStatus, wantCode)
		}
	}

	// Oversized headers: the listener's bound (431), and metadata above
	// the service's 8 KiB (400 MetadataTooLarge).
	st, hdr, _ := rawDo(t, e, http.MethodPut, "/bodies/box/h?"+s, map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-meta-huge": strings.Repeat("x", 100<<10)}, strings.NewReader("x"))
	code("100 KiB header", st, hdr, http.StatusRequestHeaderFieldsTooLarge, "")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/h?"+s, map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-meta-big": strings.Repeat("x", 9<<10)}, strings.NewReader("x"))
	code("9 KiB metadata", st, hdr, http.StatusBadRequest, "MetadataTooLarge")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/h?"+s, map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-meta-1bad": "v"}, strings.NewReader("x"))
	code("metadata name", st, hdr, http.StatusBadRequest, "InvalidMetadata")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/h?"+s, map[string]string{"x-ms-blob-type": "PageBlob"}, strings.NewReader("x"))
	code("page blob", st, hdr, http.StatusBadRequest, "InvalidHeaderValue")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/h?"+s, nil, strings.NewReader("x"))
	code("no blob type", st, hdr, http.StatusBadRequest, "MissingRequiredHeader")

	// Content-MD5 that does not match.
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/md5?"+s, map[string]string{"x-ms-blob-type": "BlockBlob", "Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, strings.NewReader("data"))
	code("Content-MD5 mismatch", st, hdr, http.StatusBadRequest, "Md5Mismatch")
	st, hdr, _ = rawDo(t, e, http.MethodGet, "/bodies/box/md5?"+s, nil, nil)
	code("blob after a refused upload", st, hdr, http.StatusNotFound, "BlobNotFound")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/md5?comp=block&blockid=QUFBQQ%3D%3D&"+s, map[string]string{"Content-MD5": "bm90IGFuIG1kNQ=="}, strings.NewReader("data"))
	code("bad Content-MD5 value", st, hdr, http.StatusBadRequest, "InvalidHeaderValue")

	// Block IDs.
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=block&blockid=not*base64&"+s, nil, strings.NewReader("data"))
	code("bad block id", st, hdr, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=block&"+s, nil, strings.NewReader("data"))
	code("missing block id", st, hdr, http.StatusBadRequest, "MissingRequiredQueryParameter")
	long := base64.StdEncoding.EncodeToString(make([]byte, 65))
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=block&blockid="+long+"&"+s, nil, strings.NewReader("data"))
	code("65-byte block id", st, hdr, http.StatusBadRequest, "InvalidQueryParameterValue")
	idA, idB := base64.StdEncoding.EncodeToString([]byte("block-a")), base64.StdEncoding.EncodeToString([]byte("block-b"))
	for _, id := range []string{idA, idB} {
		st, _, body := rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=block&blockid="+id+"&"+s, nil, strings.NewReader("data-"+id))
		testenv.MustStatus(t, "put block", st, http.StatusCreated, body)
	}
	// Issue 15 hole 7: one blob's block IDs all have the same length.
	idLong := base64.StdEncoding.EncodeToString([]byte("block-long-id"))
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=block&blockid="+idLong+"&"+s, nil, strings.NewReader("data"))
	code("block id of another length", st, hdr, http.StatusBadRequest, "InvalidBlobOrBlock")
	st, _, body = rawDo(t, e, http.MethodPut, "/bodies/box/other?comp=block&blockid="+idLong+"&"+s, nil, strings.NewReader("data"))
	testenv.MustStatus(t, "that length on another blob", st, http.StatusCreated, body)

	// Put Block List: bad XML in many shapes.
	for name, doc := range map[string]string{
		"not xml":          "this is not xml",
		"truncated":        "<?xml version=\"1.0\"?><BlockList><Latest>" + idA,
		"wrong root":       "<Blocks><Latest>" + idA + "</Latest></Blocks>",
		"unknown element":  "<BlockList><Newest>" + idA + "</Newest></BlockList>",
		"nested element":   "<BlockList><Latest><x/></Latest></BlockList>",
		"two roots":        "<BlockList></BlockList><BlockList></BlockList>",
		"text in the list": "<BlockList>junk<Latest>" + idA + "</Latest></BlockList>",
		"entity bomb":      `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><BlockList><Latest>&b;</Latest></BlockList>`,
		"empty body":       "",
	} {
		st, hdr, _ := rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader(doc))
		code("block list: "+name, st, hdr, http.StatusBadRequest, "InvalidXmlDocument")
	}
	huge := "<BlockList>" + strings.Repeat("<Latest>"+idA+"</Latest>", (9<<20)/30) + "</BlockList>"
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader(huge))
	code("9 MiB block list", st, hdr, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge")
	// Block lists that refer to missing blocks.
	missing := base64.StdEncoding.EncodeToString([]byte("block-z"))
	for name, doc := range map[string]string{
		"latest missing":          "<BlockList><Latest>" + idA + "</Latest><Latest>" + missing + "</Latest></BlockList>",
		"uncommitted missing":     "<BlockList><Uncommitted>" + missing + "</Uncommitted></BlockList>",
		"committed not committed": "<BlockList><Committed>" + idA + "</Committed></BlockList>",
	} {
		st, hdr, _ := rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader(doc))
		code("block list: "+name, st, hdr, http.StatusBadRequest, "InvalidBlockList")
	}
	short := base64.StdEncoding.EncodeToString([]byte("b"))
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader("<BlockList><Latest>"+idA+"</Latest><Latest>"+short+"</Latest></BlockList>"))
	code("block IDs of two lengths", st, hdr, http.StatusBadRequest, "InvalidBlobOrBlock")
	// The staged blocks survived the refusals and commit fine.
	st, _, body = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil,
		strings.NewReader(`<?xml version="1.0" encoding="utf-8"?><BlockList><Uncommitted>`+idB+`</Uncommitted><Latest>`+idA+`</Latest></BlockList>`))
	testenv.MustStatus(t, "good block list", st, http.StatusCreated, body)
	st, _, body = rawDo(t, e, http.MethodGet, "/bodies/box/blk?"+s, nil, nil)
	if st != http.StatusOK || body != "data-"+idB+"data-"+idA {
		t.Fatalf("committed blob: %d %q", st, body)
	}
	// Re-commit reusing a committed block, then a block list naming a
	// block that was committed before but is no longer.
	st, _, body = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader("<BlockList><Committed>"+idA+"</Committed></BlockList>"))
	testenv.MustStatus(t, "recommit", st, http.StatusCreated, body)
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=blocklist&"+s, nil, strings.NewReader("<BlockList><Committed>"+idB+"</Committed></BlockList>"))
	code("block dropped by the last commit", st, hdr, http.StatusBadRequest, "InvalidBlockList")
	st, _, body = rawDo(t, e, http.MethodGet, "/bodies/box/blk?"+s, nil, nil)
	if st != http.StatusOK || body != "data-"+idA {
		t.Fatalf("recommitted blob: %d %q", st, body)
	}

	// Ranges.
	st, hdr, _ = rawDo(t, e, http.MethodGet, "/bodies/box/blk?"+s, map[string]string{"x-ms-range": "bytes=abc"}, nil)
	code("bad x-ms-range", st, hdr, http.StatusBadRequest, "InvalidHeaderValue")
	st, hdr, _ = rawDo(t, e, http.MethodGet, "/bodies/box/blk?"+s, map[string]string{"Range": "bytes=9999-"}, nil)
	code("range past the end", st, hdr, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
	if hdr.Get("Content-Range") != "bytes */"+itoa(len("data-"+idA)) {
		t.Errorf("416 Content-Range: %q", hdr.Get("Content-Range"))
	}
	// Unknown operations and verbs.
	st, hdr, _ = rawDo(t, e, http.MethodPut, "/bodies/box/blk?comp=lease&"+s, nil, nil)
	code("lease", st, hdr, http.StatusBadRequest, "InvalidQueryParameterValue")
	st, hdr, _ = rawDo(t, e, http.MethodPatch, "/bodies/box/blk?"+s, nil, nil)
	code("PATCH", st, hdr, http.StatusBadRequest, "UnsupportedHttpVerb")
	st, hdr, _ = rawDo(t, e, http.MethodGet, "/nosuchaccount/box/blk", nil, nil)
	code("unknown account", st, hdr, http.StatusNotFound, "ResourceNotFound")
	st, hdr, _ = rawDo(t, e, http.MethodGet, "/bodies/nobox/blk?"+s, nil, nil)
	code("unknown container", st, hdr, http.StatusNotFound, "ContainerNotFound")
	if strings.Contains(e.Logs(), "panic") {
		t.Fatalf("the server panicked:\n%s", e.Logs())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
