package blob

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzParseBlockList: Put Block List bodies are client XML. The parser
// never panics and refuses with a 4xx.
func FuzzParseBlockList(f *testing.F) {
	for _, s := range []string{
		`<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>QUFB</Latest><Committed>QkJC</Committed><Uncommitted>Q0ND</Uncommitted></BlockList>`,
		`<BlockList></BlockList>`, `<BlockList><Latest>` + strings.Repeat("A", 100) + `</Latest>`, `<Blocks/>`, ``,
		`<!DOCTYPE l [<!ENTITY a "aaaa">]><BlockList><Latest>&a;</Latest></BlockList>`, `<BlockList><Latest><Latest/></Latest></BlockList>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		refs, e := parseBlockList(b)
		if e != nil {
			if e.Status < 400 || e.Status >= 500 {
				t.Fatalf("status %d", e.Status)
			}
			return
		}
		for _, r := range refs {
			if r.list != "Latest" && r.list != "Committed" && r.list != "Uncommitted" {
				t.Fatalf("list %q", r.list)
			}
		}
	})
}

// FuzzBlobPath: the account, container and blob come from the URL path
// and never contain each other's separators wrongly.
func FuzzBlobPath(f *testing.F) {
	for _, s := range []string{"/acct/c/b", "/acct", "/", "", "/a//b", "/a/c/dir/sub/blob.txt", "/a/c/%2F", "//a/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		a, c, b := parsePath(p)
		if strings.Contains(a, "/") || strings.Contains(c, "/") {
			t.Fatalf("%q: account %q container %q", p, a, c)
		}
		if b != "" && strings.TrimPrefix(p, "/") != a+"/"+c+"/"+b {
			t.Fatalf("%q: %q %q %q", p, a, c, b)
		}
		_ = hostStyleAccount(p)
		_, _ = parseSASTime(p)
		_ = checkBlockID(p)
		r, err := http.NewRequest(http.MethodGet, "https://h/x", nil)
		if err == nil {
			r.Header.Set("Range", p)
			_, _, _ = parseRange(r, 1000)
			r.Header.Set("x-ms-meta-"+strings.Map(func(r rune) rune {
				if r < 'a' || r > 'z' {
					return 'x'
				}
				return r
			}, p), p)
			_, _ = parseMetadata(r)
		}
	})
}
