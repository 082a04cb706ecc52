package registry_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Tag lists page from the store (n, last, Link): a walk that follows the
// Link header lists each tag that lives through it exactly once while tags are added
// and deleted between pages.
func TestTagListPagingWhileWriting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ls := e.createRegistry("pagereg1", true)
	opts := e.remoteOpts(&authn.Basic{Username: "pagereg1", Password: e.adminPassword("pagereg1")})
	img, err := random.Image(1024, 1)
	must(t, err)
	live := map[string]bool{}
	tag := func(name string) {
		t.Helper()
		if err := remote.Write(ref(t, ls+"/app:"+name), img, opts...); err != nil {
			t.Fatalf("tag %s: %v", name, err)
		}
		live[name] = true
	}
	for i := range 30 {
		tag(fmt.Sprintf("t%03d", i*10))
	}
	// (ggcr cannot follow a Link of a loopback registry: it takes its
	// scheme to be http, so its paged walk is not used here.)

	stable := map[string]bool{}
	for k := range live {
		stable[k] = true
	}
	deletedUnseen := map[string]bool{}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("pagereg1:"+e.adminPassword("pagereg1")))
	linkRE := regexp.MustCompile(`^<([^>]+)>; rel="next"$`)
	var seen []string
	next := "/v2/app/tags/list?n=4"
	for page := 0; next != ""; page++ {
		st, h, _, body := e.raw("GET", "https://"+ls+next, auth, nil, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %s", next, st, body)
		}
		var out struct{ Tags []string }
		must(t, json.Unmarshal([]byte(body), &out))
		if len(out.Tags) > 4 {
			t.Fatalf("page of %d tags with n=4", len(out.Tags))
		}
		seen = append(seen, out.Tags...)
		next = ""
		if m := linkRE.FindStringSubmatch(h.Get("Link")); m != nil {
			next = m[1]
			if _, err := url.Parse(next); err != nil {
				t.Fatal(err)
			}
		}
		if next == "" {
			break
		}
		for _, name := range []string{fmt.Sprintf("t%03d", page*10), fmt.Sprintf("t%03d", 290-page*10)} {
			if live[name] && name != "t000" {
				if err := remote.Delete(ref(t, ls+"/app:"+name), opts...); err != nil {
					t.Fatalf("delete %s: %v", name, err)
				}
				delete(live, name)
				delete(stable, name)
				if !slices.Contains(seen, name) {
					deletedUnseen[name] = true
				}
			}
		}
		tag(fmt.Sprintf("t%03d", page*10+1))
		tag(fmt.Sprintf("t%03d", 295-page*10))
	}
	count := map[string]int{}
	for _, name := range seen {
		if count[name]++; count[name] > 1 {
			t.Fatalf("%s listed twice: %q", name, seen)
		}
		if deletedUnseen[name] {
			t.Fatalf("%s listed after its deletion", name)
		}
	}
	for name := range stable {
		if count[name] != 1 {
			t.Fatalf("%s lived through the walk but was listed %d times: %q", name, count[name], seen)
		}
	}
	if len(stable) < 15 {
		t.Fatalf("test setup: %d stable tags", len(stable))
	}
}
