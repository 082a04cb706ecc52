package oci

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/store/memory"
)

// FuzzReferences: digests, repository names, tags and request paths are
// client input. Nothing panics; a parsed digest prints back to itself;
// refusals are 4xx.
func FuzzReferences(f *testing.F) {
	for _, s := range []string{
		"sha256:" + strings.Repeat("a", 64), "sha512:" + strings.Repeat("b", 128), "sha256:", ":", "sha256:XYZ", "md5:abc",
		"/v2/", "/v2/_catalog", "/v2/a/b/c/manifests/latest", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/u1", "/v2/a/tags/list",
		"/v2/../manifests/x", "/v2//manifests/x", "/v2/a/manifests/", "library/ubuntu", "A/B", "a..b", "a/-b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, e := ParseDigest(s); e == nil {
			if d.String() != s {
				t.Fatalf("ParseDigest(%q).String() = %q", s, d.String())
			}
		} else if e.Status < 400 || e.Status >= 500 {
			t.Fatalf("digest %q: status %d", s, e.Status)
		}
		if r, e := parseRoute(s); e == nil {
			if r.repo != "" {
				_ = CheckName(r.repo)
			}
		} else if e.Status < 400 || e.Status >= 500 {
			t.Fatalf("route %q: status %d", s, e.Status)
		}
		if e := CheckName(s); e != nil && (e.Status < 400 || e.Status >= 500) {
			t.Fatalf("name %q: status %d", s, e.Status)
		}
		_ = ValidTag(s)
		_, _, _ = parseContentRange(s)
	})
}

type allowAll struct{}

func (allowAll) Authorize(r *http.Request, repo string, actions ...string) (*Access, *Error) {
	return &Access{Namespace: "fuzz", Can: func(string, string) bool { return true },
		Denied: func(string, ...string) *Error { return Errorf(http.StatusForbidden, CodeDenied, "denied") }}, nil
}

// FuzzManifest: manifests pushed by clients are JSON of any shape. A push
// is answered 2xx or 4xx, never 5xx, and never panics.
func FuzzManifest(f *testing.F) {
	h, err := New(Config{Store: memory.New(), Dir: f.TempDir(), Auth: allowAll{}})
	if err != nil {
		f.Fatal(err)
	}
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2}`
	for _, s := range []string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` + cfg + `,"layers":[]}`,
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":7}]}`,
		`{"schemaVersion":2,"config":` + cfg + `,"layers":[{"digest":"sha256:x","size":-1}],"subject":{"digest":"sha256:","size":0}}`,
		`{"schemaVersion":1}`, `[]`, `null`, `{"schemaVersion":2,"mediaType":"x"}`, ``,
	} {
		f.Add(s, "latest", "")
	}
	f.Add(`{}`, "sha256:"+strings.Repeat("a", 64), "application/vnd.docker.distribution.manifest.v2+json")
	f.Fuzz(func(t *testing.T, body, ref, ctype string) {
		req, err := http.NewRequest(http.MethodPut, "https://r/v2/repo/manifests/"+ref, strings.NewReader(body))
		if err != nil {
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("PUT manifest %q (%q): %d %s", ref, body, rec.Code, rec.Body.String())
		}
	})
}
