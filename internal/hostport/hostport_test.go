package hostport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

func TestOpenServesEachResourceOnItsOwnPort(t *testing.T) {
	p := New(Config{})
	defer p.Shutdown(context.Background())
	p.Handle("vault", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg, _ := Resource(r.Context())
		io.WriteString(w, tg.Kind+" "+tg.ID+" "+tg.Host)
	}))
	a, err := p.Open("vault", "/x/vaults/a", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Open("vault", "/x/vaults/b", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two resources share port %d", a)
	}
	if again, _ := p.Open("vault", "/X/VAULTS/A", 0); again != a {
		t.Fatalf("reopening gave %d, want %d", again, a)
	}
	for id, port := range map[string]int{"/x/vaults/a": a, "/x/vaults/b": b} {
		resp, err := http.Get("http://" + p.Host(port) + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "vault " + id + " 127.0.0.1:" + strconv.Itoa(port); string(body) != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	p.Close("/x/vaults/a")
	if _, err := http.Get("http://" + p.Host(a) + "/"); err == nil {
		t.Fatal("closed resource still answers")
	}
	if _, ok := p.Port("/x/vaults/a"); ok {
		t.Fatal("closed resource still has a port")
	}
}

func TestOpenRequestedPortInUse(t *testing.T) {
	p := New(Config{})
	defer p.Shutdown(context.Background())
	p.Handle("registry", http.NotFoundHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if _, err := p.Open("registry", "/r", port); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("err = %v, want ErrPortInUse", err)
	}
	if _, err := p.Open("nokind", "/r", 0); err == nil {
		t.Fatal("a kind without handler opened")
	}
}

func TestBasePortAllocation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().(*net.TCPAddr).Port
	defer ln.Close() // base itself is taken: allocation skips it
	p := New(Config{BasePort: base})
	defer p.Shutdown(context.Background())
	p.Handle("k", http.NotFoundHandler())
	got, err := p.Open("k", "/a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got <= base || got > base+2000 {
		t.Fatalf("allocated %d, want just above %d", got, base)
	}
}
