package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amlid/amlid/internal/msi"
)

// redacted replaces secrets in the log.
const redacted = "[redacted]"

// logSink is a deployment's log file: lines from every instance and from
// amlid, with the workload's credentials redacted.
type logSink struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	max     int64
	secrets [][]byte
	closed  bool
}

// openSink truncates the log (a new run starts a new log) and drops an
// older rotated one.
func openSink(path string, max int64, secrets []string) (*logSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(path + ".1")
	l := &logSink{path: path, f: f, max: max}
	for _, s := range secrets {
		l.secrets = append(l.secrets, []byte(s))
	}
	return l, nil
}

// hexRun finds a workload ID in an endpoint URL.
var hexRun = regexp.MustCompile(`[0-9a-fA-F]{32,}`)

// secretsOf lists the values the log must never show: the managed-identity
// secret and the workload ID inside the endpoint URLs (a credential for the
// endpoint forms that take no secret). Longest first, so that a secret
// containing another is replaced whole.
func secretsOf(env map[string]string) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 8 && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	add(env[msi.EnvMSISecret])
	add(env[msi.EnvIdentityHeader])
	// HTTPS_PROXY carries the workload's own proxy credential (virtual-network rules).
	for _, k := range []string{msi.EnvMSIEndpoint, msi.EnvIdentityEndpoint, msi.EnvPodIdentityAuthority, "HTTPS_PROXY", "https_proxy"} {
		for _, id := range hexRun.FindAllString(env[k], -1) {
			add(id)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

func (l *logSink) redact(b []byte) []byte {
	for _, s := range l.secrets {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte(redacted))
		}
	}
	return b
}

// writeLine appends one line (or a chunk of a very long one) of a
// process's output.
func (l *logSink) writeLine(prefix string, line []byte) {
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, l.redact(line)...)
	if buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	l.write(buf)
}

// notef appends one of amlid's own lines.
func (l *logSink) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	line := time.Now().Format("2006-01-02 15:04:05.000") + " amlid: " + strings.ReplaceAll(msg, "\n", " ") + "\n"
	l.write(l.redact([]byte(line)))
}

func (l *logSink) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.size > 0 && l.size+int64(len(b)) > l.max {
		l.rotate()
	}
	n, _ := l.f.Write(b)
	l.size += int64(n)
}

// rotate keeps one older file: path.1.
func (l *logSink) rotate() {
	l.f.Close()
	_ = os.Rename(l.path, l.path+".1")
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		l.closed = true
		return
	}
	l.f, l.size = f, 0
}

func (l *logSink) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.f.Close()
	}
}

// Logs returns what a deployment's instances printed (init(), run(), the
// harness) and amlid's notes about them, oldest first: the last tail lines,
// or all with tail 0. The log of a stopped deployment, also one run by an
// earlier amlid process with the same LogDir, stays readable.
func (s *Supervisor) Logs(id string, tail int) (string, error) {
	path := s.logPath(id)
	var data []byte
	found := false
	for _, p := range []string{path + ".1", path} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("runtime: reading the log of %s: %w", id, err)
		}
		found = true
		data = append(data, b...)
	}
	if !found {
		if s.get(id) == nil {
			return "", fmt.Errorf("runtime: %s has no logs: %w", id, ErrNotFound)
		}
		return "", nil
	}
	if tail <= 0 {
		return string(data), nil
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return "", nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > tail {
		lines = lines[len(lines)-tail:]
	}
	return strings.Join(lines, "\n") + "\n", nil
}
