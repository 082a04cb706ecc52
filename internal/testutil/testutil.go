// Package testutil holds test helpers shared by packages that
// internal/testenv cannot serve: testenv starts the whole server, so the
// packages the server is built from (token, msi, …) cannot import it in
// their own tests. It imports nothing of amlid.
package testutil

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a goroutine-safe buffer for the logs of concurrent handlers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Secrets collects the sensitive values a test saw (secrets, passwords,
// tokens, workload IDs) so that CheckLog can show none reached a log.
// Safe for concurrent use; the zero value is ready.
type Secrets struct {
	mu   sync.Mutex
	vals []string
}

// Note records values; empty ones are skipped.
func (s *Secrets) Note(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vals {
		if v != "" {
			s.vals = append(s.vals, v)
		}
	}
}

// CheckLog fails t when logs hold a noted value or, for a JWT, its
// payload or signature part alone (a token is recognisable from either),
// or when fewer than min values were noted (a scan over nothing proves
// nothing).
func (s *Secrets) CheckLog(t testing.TB, logs string, min int) {
	t.Helper()
	s.mu.Lock()
	vals := append([]string(nil), s.vals...)
	s.mu.Unlock()
	if len(vals) < min {
		t.Fatalf("only %d sensitive values noted (want at least %d)", len(vals), min)
	}
	for _, v := range vals {
		probes := []string{v}
		// Only a JWT's parts are probed alone: a client secret may hold
		// dots too (Entra's do), and a one-letter part would match any log.
		if p := strings.Split(v, "."); len(p) == 3 && len(p[0]) > 8 && len(p[1]) > 8 && len(p[2]) > 16 {
			probes = append(probes, p[1], p[2])
		}
		for _, p := range probes {
			if strings.Contains(logs, p) {
				t.Errorf("the log holds a sensitive value (%d chars, %.6s…)", len(p), p)
			}
		}
	}
}

// ReportLatencies adds a benchmark's throughput (req/s over b.N) and the
// median and 99th percentile of the measured latencies (p50-µs, p99-µs);
// nothing when none were measured. lat is sorted in place.
func ReportLatencies(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
