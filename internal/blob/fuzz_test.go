package blob_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amlid/amlid/internal/testenv"
)

// FuzzBlobAuth: SAS query strings, Shared Key headers and paths are
// attacker input. Whatever arrives, the Blob plane answers a 4xx (or a
// success only for a genuine credential) and never a 5xx or a panic.
func FuzzBlobAuth(f *testing.F) {
	e := testenv.NewStorage(f, testenv.Options{})
	e.CreateAccount("fuzzacct", nil)
	key := e.AccountKey("fuzzacct")
	good := accountSAS(f, "fuzzacct", key, allPerms, allTypes)
	f.Add("/fuzzacct/c?restype=container", good, "")
	f.Add("/fuzzacct/c/b", good, "")
	f.Add("/fuzzacct/c/b", strings.Replace(good, "sig=", "sig=AAAA", 1), "")
	f.Add("/fuzzacct/c/b", "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2999-01-01T00:00:00Z&sig=%2B%2F%3D", "")
	f.Add("/fuzzacct/c/b", "sv=&se=&sig=&sp=&srt=&ss=&sip=999.1.1.1-::1&spr=https,http", "")
	f.Add("/fuzzacct/c/b", "", "SharedKey fuzzacct:AAAA")
	f.Add("/fuzzacct/c/b", "", "SharedKey fuzzacct")
	f.Add("/fuzzacct/c/b", "", "SharedKeyLite fuzzacct:"+strings.Repeat("=", 44))
	f.Add("/fuzzacct/c/b", "", "Bearer a.b.c")
	f.Add("/other/c/b", good, "")
	f.Add("/fuzzacct/c/b?comp=block&blockid=QUFB", good, "")
	f.Fuzz(func(t *testing.T, path, query, authz string) {
		u := "https://127.0.0.1" + path
		if query != "" {
			if strings.Contains(u, "?") {
				u += "&" + query
			} else {
				u += "?" + query
			}
		}
		for _, m := range []string{http.MethodGet, http.MethodPut} {
			req, err := http.NewRequest(m, u, strings.NewReader("x"))
			if err != nil {
				return
			}
			req.RemoteAddr = "127.0.0.1:50000"
			req.Header.Set("x-ms-version", "2021-08-06")
			req.Header.Set("x-ms-blob-type", "BlockBlob")
			req.Header.Set("x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT")
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			rec := httptest.NewRecorder()
			e.S.Blob.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s (Authorization %q): %d %s", m, u, authz, rec.Code, rec.Body.String())
			}
		}
	})
}
