package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A request body that stops sending must not hold its connection forever
// (issue 15 hole 7): on the front door and on the Blob port the read fails
// once the body has been idle for BodyIdleTimeout, the client gets an
// answer (never a 5xx) and the connection is closed.
func TestStalledBodyIsCut(t *testing.T) {
	t.Parallel()
	s, err := Start(context.Background(), Options{DataDir: t.TempDir(), Store: "memory:", Port: -1, MSIPort: -1, BlobPort: -1,
		ResourcePortBase: -1, BodyIdleTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	tlsCfg := &tls.Config{RootCAs: s.CertPool(), NextProtos: []string{"http/1.1"}}
	for _, c := range []struct{ name, base, path, ctype string }{
		{"token endpoint", s.State.AuthorityHost, "/" + s.Bootstrap.TenantID + "/oauth2/v2.0/token", "application/x-www-form-urlencoded"},
		{"ARM", s.State.ARMURL, "/subscriptions/" + s.Bootstrap.SubscriptionID + "/resourcegroups/rg?api-version=2021-04-01", "application/json"},
		{"Blob", s.State.BlobURL, "/acct/c/b", "application/octet-stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, _ := url.Parse(c.base)
			conn, err := tls.Dial("tcp", u.Host, tlsCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A generous bound only so that a regression fails instead of
			// hanging the suite; the server cuts the body after 0.5 s.
			conn.SetDeadline(time.Now().Add(60 * time.Second))
			method := "POST"
			if c.name != "token endpoint" {
				method = "PUT"
			}
			io.WriteString(conn, method+" "+c.path+" HTTP/1.1\r\nHost: "+u.Host+"\r\nContent-Type: "+c.ctype+
				"\r\nContent-Length: 100000\r\nx-ms-blob-type: BlockBlob\r\n\r\ngrant_type=client_cr")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
					t.Fatal("the stalled body still holds the connection after 60 s")
				}
				return // closed without an answer: the connection was released
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("a stalled body answered %d", resp.StatusCode)
			}
			if _, err := conn.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
				t.Fatalf("the connection stays open after the answer: %v", err)
			}
		})
	}
}
