package tlsca

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateReuseAndServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.CertPEM, again.CertPEM) || !bytes.Equal(ca.Leaf.Certificate[0], again.Leaf.Certificate[0]) {
		t.Fatal("second start must reuse the CA and the leaf certificate")
	}
	if fi, err := os.Stat(filepath.Join(dir, caKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key must be 0600: %v %v", fi.Mode(), err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.TLS = ca.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}}
		u := "https://" + host + ":" + srv.Listener.Addr().(interface{ String() string }).String()[len("127.0.0.1:"):]
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
	}
	// A client that does not trust the CA is refused.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := cl.Get(srv.URL); err == nil {
		t.Fatal("an untrusting client must fail the handshake")
	}
}

func TestExtraNamesReissueLeafNotCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := LoadOrCreate(dir)
	ca2, err := LoadOrCreate(dir, "vault.amlid.test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca.CertPEM, ca2.CertPEM) {
		t.Fatal("CA must be kept")
	}
	if ca2.Leaf.Leaf.VerifyHostname("vault.amlid.test") != nil {
		t.Fatal("leaf must carry the new name")
	}
}

func TestBrokenCAIsAClearError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, CAFile), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, caKeyFile), []byte("junk"), 0o600)
	if _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("want error")
	}
}
