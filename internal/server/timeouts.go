package server

import (
	"io"
	"net/http"
	"time"
)

// Read limits of the HTTPS listeners (issue 15 hole 7): a client that stops
// sending must not hold a connection and a handler forever.
const (
	// DefaultBodyIdleTimeout is how long a request body may send nothing
	// before the read fails (Options.BodyIdleTimeout).
	DefaultBodyIdleTimeout = 30 * time.Second
	// readHeaderTimeout bounds the request line and headers.
	readHeaderTimeout = 10 * time.Second
	// frontReadTimeout bounds the body of a request on the front door
	// (ARM, Entra, Graph: small JSON and form bodies).
	frontReadTimeout = 2 * time.Minute
	// dataReadTimeout bounds the body of a request on the data planes
	// (Blob blocks up to 4000 MiB, registry layers).
	dataReadTimeout = 30 * time.Minute
	// idleTimeout closes kept-alive connections that send no new request.
	idleTimeout = 2 * time.Minute
)

// limitBody makes every read of a request body fail once the body has sent
// nothing for idle (up to an eighth more, see arm), or once the request has lasted max, whichever comes
// first. It stands in for http.Server.ReadTimeout, which amlid does not set
// on its HTTPS servers: that deadline stays on the connection after the
// body is read, and when it passes net/http's background read cancels the
// request's context, so any handler running longer (a large download, a
// slow deployment) would be cut. Headers are bounded by ReadHeaderTimeout,
// idle keep-alive connections by IdleTimeout.
func limitBody(h http.Handler, idle, max time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && idle > 0 {
			b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle, limit: time.Now().Add(max)}
			// Armed before the handler runs: a body the handler never reads
			// is still read (to be discarded) by net/http afterwards.
			b.arm()
			r.Body = b
		}
		h.ServeHTTP(w, r)
	})
}

type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	limit    time.Time
	deadline time.Time // the read deadline set last
}

// arm keeps the read deadline at least idle ahead (or at the limit). A
// large body arrives in 16 KiB TLS records, one Read each: setting the
// deadline on every Read (a runtime timer update) would cost more than the
// copy, so it is moved only when less than idle is left, to idle plus an
// eighth: a stalled body is cut after idle to 9/8 idle of silence.
func (b *idleBody) arm() {
	now := time.Now()
	if !b.deadline.IsZero() && b.deadline.Sub(now) >= b.idle {
		return
	}
	d := now.Add(b.idle + b.idle/8)
	if d.After(b.limit) {
		d = b.limit
	}
	if d.Equal(b.deadline) {
		return
	}
	b.deadline = d
	_ = b.rc.SetReadDeadline(d)
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.arm()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// The whole body arrived: lift the deadline, or net/http's
		// background read would hit it while the handler still works and
		// cancel the request's context. (On any other error the deadline
		// stays: the rest of a stalled body must not be waited for.)
		_ = b.rc.SetReadDeadline(time.Time{})
		b.deadline = time.Time{}
	}
	return n, err
}
