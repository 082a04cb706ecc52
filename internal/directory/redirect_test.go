package directory

import "testing"

func TestRedirectURIs(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true}, {"http://localhost:8400/cb", true}, {"http://127.0.0.1/cb", true}, {"http://[::1]:9/cb", true},
		{"http://app.example/cb", false}, {"https://app.example/cb#x", false}, {"/cb", false}, {"javascript:alert(1)", false}, {"ftp://x/y", false},
	} {
		if err := CheckRedirectURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("CheckRedirectURI(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
		}
	}
	reg := []string{"https://app.example/cb", "http://localhost/cb"}
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true}, {"http://localhost:51234/cb", true}, {"http://localhost/cb", true},
		{"https://app.example/cb/", false}, {"https://APP.example/cb", false}, {"https://app.example:444/cb", false},
		{"http://localhost:51234/other", false}, {"http://127.0.0.1:51234/cb", false}, {"https://localhost:51234/cb", false},
		{"https://app.example/cb?x=1", false}, {"https://app.example/cb#f", false},
	} {
		if got := MatchRedirectURI(reg, tc.uri); got != tc.ok {
			t.Errorf("MatchRedirectURI(%q) = %v, want %v", tc.uri, got, tc.ok)
		}
	}
}
