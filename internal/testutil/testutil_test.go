package testutil

import (
	"strings"
	"sync"
	"testing"
)

// fakeT records failures instead of stopping the test.
type fakeT struct {
	testing.TB
	errors, fatals []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, format)
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, format)
}

// CheckLog finds a noted value, a JWT's payload or signature alone, and
// refuses a scan over too few values; a clean log passes.
func TestSecretsCheckLog(t *testing.T) {
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAifQ.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2g"
	parts := strings.Split(jwt, ".")
	var s Secrets
	var wg sync.WaitGroup
	for _, v := range []string{"p@ssw0rd-value", "", jwt} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Note(v) }()
	}
	wg.Wait()
	for _, tc := range []struct {
		logs       string
		min        int
		errs, fata int
	}{
		{"token issued for app x", 2, 0, 0},
		{"password=p@ssw0rd-value", 2, 1, 0},
		{"claims " + parts[1], 2, 1, 0},
		{"sig " + parts[2], 2, 1, 0},
		{"clean", 3, 0, 1},
	} {
		f := &fakeT{}
		s.CheckLog(f, tc.logs, tc.min)
		if len(f.errors) != tc.errs || len(f.fatals) != tc.fata {
			t.Errorf("CheckLog(%q, %d): %d errors, %d fatals; want %d, %d", tc.logs, tc.min, len(f.errors), len(f.fatals), tc.errs, tc.fata)
		}
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Write([]byte("ab")) }()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("ab", 8) {
		t.Fatalf("Buffer holds %q", got)
	}
}
