package runtime

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Child file descriptors (ExtraFiles start at 3).
const (
	fdListen   = "3"
	fdStatus   = "4"
	fdLifeline = "5"
)

// statusMsg is the harness's one report on the status pipe.
type statusMsg struct {
	Event string `json:"event"` // "ready" | "failed"; "" = pipe closed without a report
	Error string `json:"error,omitempty"`
	PID   int    `json:"pid,omitempty"`
}

// HarnessTokenHeader carries the per-launch token the harness requires.
const HarnessTokenHeader = "X-Amlid-Harness-Token"

type tokenTransport struct {
	tr    *http.Transport
	token string
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(HarnessTokenHeader, t.token)
	return t.tr.RoundTrip(r)
}

// readyMarker ends the harness's "Worker with pid N ready for serving
// traffic" log line.
const readyMarker = " ready for serving traffic"

// proc is one launch of an instance: a process group led by the harness.
type proc struct {
	cmd      *exec.Cmd
	pid      int
	tr       *http.Transport
	client   *http.Client   // tr, with the harness token on every request
	status   chan statusMsg // at most one message, then closed
	exited   chan struct{}  // closed once the leader was reaped
	outDone  chan struct{}  // closed once the output pipe hit EOF
	marker   []byte         // the harness's "ready" log line
	logged   chan struct{}  // closed once marker went through the log
	lifeline *os.File       // write end: closing it (or amlid dying) stops the harness

	mu      sync.Mutex
	reaped  bool
	waitErr error // valid after exited is closed
}

// launch starts the harness for this instance.
func (in *instance) launch() (*proc, error) {
	d := in.d
	var opened []*os.File
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			opened = append(opened, r, w)
		}
		return
	}
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	stR, stW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	lifeR, lifeW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	if d.s.cfg.Sandbox.Active() {
		// Inside the sandbox a missing interpreter would be bwrap's exit
		// status 1; say what is wrong instead.
		if _, err := exec.LookPath(d.s.cfg.Python); err != nil {
			closeAll()
			return nil, err
		}
	}
	cmd := d.s.cfg.Sandbox.Command(d.jail(), d.env, d.s.cfg.Python, "-u", d.harness, fdListen, fdStatus, fdLifeline, d.spec.CodeDir, d.spec.ScoringScript)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = []*os.File{in.ln, stW, lifeR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	// The child holds its ends now.
	outW.Close()
	stW.Close()
	lifeR.Close()
	// The harness serves only requests carrying this launch's token: its
	// port is on the machine's loopback, where other workloads run too.
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	tok := hex.EncodeToString(token)
	if _, err := lifeW.Write([]byte(tok + "\n")); err != nil {
		d.sink.notef("instance %d: handing the harness its token: %v", in.idx, err)
	}
	tr := &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second,
		ResponseHeaderTimeout: 0}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, tr: tr, client: &http.Client{Transport: tokenTransport{tr, tok}},
		status: make(chan statusMsg, 1), exited: make(chan struct{}), outDone: make(chan struct{}), lifeline: lifeW,
		logged: make(chan struct{})}
	// The harness prints its PID as it sees it (in a sandbox, its PID
	// namespace's), so the marker is the line's fixed part.
	p.marker = []byte(readyMarker)
	go p.copyOutput(outR, d.sink, in.prefix())
	go p.readStatus(stR)
	go p.wait()
	return p, nil
}

// copyOutput appends the process's stdout and stderr to the log, line by
// line (redacted by the sink).
func (p *proc) copyOutput(r *os.File, sink *logSink, prefix string) {
	defer close(p.outDone)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	seen := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			sink.writeLine(prefix, line)
			if !seen && bytes.Contains(line, p.marker) {
				seen = true
				close(p.logged)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
	}
}

// readStatus forwards the harness's report, then waits for end of file.
func (p *proc) readStatus(r *os.File) {
	defer close(p.status)
	defer r.Close()
	br := bufio.NewReaderSize(r, 16<<10)
	line, err := br.ReadSlice('\n')
	if err == nil {
		var m statusMsg
		if json.Unmarshal(line, &m) == nil && (m.Event == "ready" || m.Event == "failed") {
			p.status <- m
		}
	}
	_, _ = io.Copy(io.Discard, br)
}

// wait reaps the leader. Before reaping it kills what is left of its
// process group: while the leader is an unreaped zombie its PID, hence the
// group ID, cannot be reused, so the signal cannot reach a stranger.
func (p *proc) wait() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	p.reaped = true
	p.mu.Unlock()
	p.waitErr = p.cmd.Wait()
	p.lifeline.Close()
	p.tr.CloseIdleConnections()
	close(p.exited)
}

// signal sends sig to the process group while its leader is not reaped.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.pid, sig)
	}
}

// awaitInit waits for the harness's report. stopped is true when ctx ended
// first. A pipe closed without a report yields Event "" once the process
// has exited.
func (p *proc) awaitInit(ctx context.Context) (m statusMsg, stopped bool) {
	select {
	case m, ok := <-p.status:
		if ok {
			return m, false
		}
	case <-ctx.Done():
		return statusMsg{}, true
	}
	select {
	case <-p.exited:
		return statusMsg{}, false
	case <-ctx.Done():
		return statusMsg{}, true
	}
}

// terminate stops the group: SIGTERM, then SIGKILL after grace.
func (p *proc) terminate(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	select {
	case <-p.exited:
	case <-t.C:
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
	t.Stop()
	p.drainOutput()
}

// awaitLogged waits (briefly) until the harness's ready line, hence all
// init() printed before it, is in the log.
func (p *proc) awaitLogged() {
	t := time.NewTimer(outputDrain)
	defer t.Stop()
	select {
	case <-p.logged:
	case <-p.outDone:
	case <-t.C:
	}
}

// drainOutput waits (briefly: a process that left the group may still hold
// the pipe) until the output is in the log.
func (p *proc) drainOutput() {
	t := time.NewTimer(outputDrain)
	defer t.Stop()
	select {
	case <-p.outDone:
	case <-t.C:
	}
}

// exitDesc says how the leader ended ("exited with exit status 3", "was
// killed by signal: killed"); valid after exited is closed.
func (p *proc) exitDesc() string {
	<-p.exited
	var ee *exec.ExitError
	switch {
	case p.waitErr == nil:
		return "exited with exit status 0"
	case errors.As(p.waitErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "was killed by signal " + ws.Signal().String()
		}
		return "exited with " + ee.Error()
	default:
		return "ended: " + p.waitErr.Error()
	}
}
