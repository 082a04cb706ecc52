package runtime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amlid/amlid/internal/sandbox"
)

// deployment is one run of a deployment: Start creates it, Stop (or the
// next Start) ends it. Its record stays for Status after it ended.
type deployment struct {
	s       *Supervisor
	spec    Spec
	harness string
	home    string
	env     []string
	sink    *logSink

	ctx    context.Context // canceled by halt
	cancel context.CancelFunc
	wg     sync.WaitGroup // instance loops
	done   chan struct{}  // closed once the loops exited and the log is closed
	first  chan initResult

	rr atomic.Uint64 // round-robin cursor

	mu       sync.Mutex
	state    string
	message  string
	restarts int
	insts    []*instance
}

// initResult is an instance's first init(): reason "" means ready.
type initResult struct {
	idx    int
	reason string
}

// instance is one of a deployment's processes, relaunched after crashes on
// the same listening socket.
type instance struct {
	d    *deployment
	idx  int
	ln   *os.File // listening socket, fd 3 of every launch
	port int

	// Guarded by d.mu.
	ready  bool
	client *http.Client
	note   string // why it is not ready (restarting…)
}

func (s *Supervisor) newDeployment(spec Spec, harness string) (*deployment, error) {
	logPath := s.logPath(spec.ID)
	home := filepath.Join(filepath.Dir(logPath), "homes", strings.TrimSuffix(filepath.Base(logPath), ".log"))
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("runtime: creating the deployment's home folder: %w", err)
	}
	sink, err := openSink(logPath, s.cfg.MaxLogBytes, secretsOf(spec.Env))
	if err != nil {
		return nil, fmt.Errorf("runtime: opening the deployment log: %w", err)
	}
	if spec.Prelude != "" {
		sink.write([]byte(spec.Prelude))
	}
	d := &deployment{s: s, spec: spec, harness: harness, home: home, env: buildEnv(s.environ(), home, spec), sink: sink,
		done: make(chan struct{}), first: make(chan initResult, spec.Instances), state: StateStarting}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for i := range spec.Instances {
		ln, port, err := listen()
		if err != nil {
			for _, in := range d.insts {
				in.ln.Close()
			}
			d.cancel()
			sink.close()
			return nil, fmt.Errorf("runtime: opening a loopback port for instance %d: %w", i, err)
		}
		d.insts = append(d.insts, &instance{d: d, idx: i, ln: ln, port: port})
	}
	return d, nil
}

// jail is what the deployment's processes see besides the read-only
// runtime (package sandbox): the code folder (working directory) and the
// model folder read-only, the harness, and a HOME of its own read-write.
func (d *deployment) jail() sandbox.Jail {
	ro := []string{d.spec.CodeDir, d.harness}
	if d.spec.ModelDir != "" {
		ro = append(ro, d.spec.ModelDir)
	}
	ro = append(ro, d.spec.ReadOnly...)
	// Python folders of amlid's own environment (not the deployment's).
	var rt []string
	for _, kv := range d.s.environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PYTHONPATH" || k == "VIRTUAL_ENV" || k == "PYTHONUSERBASE" {
			rt = append(rt, filepath.SplitList(v)...)
		}
	}
	return sandbox.Jail{Dir: d.spec.CodeDir, Home: d.home, ReadOnly: ro, Runtime: rt}
}

// listen opens a loopback listening socket and returns it as a file for a
// child process (Go's own copy is closed).
func listen() (*os.File, int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		return nil, 0, err
	}
	return f, l.Addr().(*net.TCPAddr).Port, nil
}

// begin writes the log header and launches the instance loops.
func (d *deployment) begin() {
	sp := d.spec
	d.sink.notef("starting %d instance(s) of %s", sp.Instances, sp.ID)
	d.sink.notef("scoring script %s in %s, run with %s; the environment's image and conda_file are not installed (amlid runs the code with this interpreter)",
		sp.ScoringScript, sp.CodeDir, d.s.cfg.Python)
	if !d.s.cfg.Sandbox.Active() {
		d.sink.notef("WARNING: no workload sandbox: the scoring code runs as amlid's OS user and can read amlid's data dir (install bubblewrap; see amlid up --workload-sandbox)")
	}
	for _, in := range d.insts {
		d.wg.Add(1)
		go in.loop()
	}
	go func() {
		d.wg.Wait()
		<-d.ctx.Done() // a loop that ended on its own (init() failed) leaves the log to Start
		for _, in := range d.insts {
			in.ln.Close()
		}
		d.sink.close()
		close(d.done)
	}()
}

// halt stops the processes and waits (bounded by ctx) until they are gone.
func (d *deployment) halt(ctx context.Context) error {
	d.cancel()
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *deployment) finished() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *deployment) setState(state, message string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state, d.message = state, message
}

func (d *deployment) status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{State: d.state, Message: d.message, Restarts: d.restarts, Instances: len(d.insts)}
	var notes []string
	for _, in := range d.insts {
		if in.ready {
			st.Ready++
		} else if in.note != "" {
			notes = append(notes, in.note)
		}
	}
	switch d.state {
	case StateStarting:
		st.Message = fmt.Sprintf("%d of %d instances finished init()", st.Ready, st.Instances)
	case StateRunning:
		st.Message = fmt.Sprintf("%d of %d instances ready", st.Ready, st.Instances)
		if len(notes) > 0 {
			st.Message += "; " + strings.Join(notes, "; ")
		}
	}
	return st
}

// pick returns the next ready instance, round-robin.
func (d *deployment) pick() (*instance, *http.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != StateRunning {
		msg := d.message
		if d.state == StateStarting {
			msg = "init() has not finished"
		}
		return nil, nil, fmt.Errorf("runtime: %s is %s (%s): %w", d.spec.ID, d.state, msg, ErrNotReady)
	}
	n := uint64(len(d.insts))
	start := d.rr.Add(1)
	for i := range n {
		in := d.insts[(start+i)%n]
		if in.ready {
			return in, in.client, nil
		}
	}
	return nil, nil, fmt.Errorf("runtime: every instance of %s is restarting: %w", d.spec.ID, ErrNotReady)
}

func (in *instance) prefix() string {
	if len(in.d.insts) > 1 {
		return fmt.Sprintf("[instance %d] ", in.idx)
	}
	return ""
}

func (in *instance) setReady(p *proc) {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	in.ready, in.client, in.note = true, p.client, ""
}

func (in *instance) setDown(note string) {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	in.ready, in.client, in.note = false, nil, note
}

// backoff is the delay before the n-th consecutive relaunch (n ≥ 1).
func backoff(n int) time.Duration {
	d := firstBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// loop runs one instance until the deployment halts: launch, wait for
// init(), serve, and relaunch with backoff after a crash. A failure before
// the first ready is reported to Start and ends the loop.
func (in *instance) loop() {
	d := in.d
	defer d.wg.Done()
	grace := d.s.cfg.StopGrace
	initial := true
	crashes := 0
	for {
		var reason string
		if !initial {
			d.mu.Lock()
			in.note = fmt.Sprintf("instance %d is restarting: waiting for init()", in.idx)
			d.mu.Unlock()
		}
		p, err := in.launch()
		if err != nil {
			reason = fmt.Sprintf("cannot start the scoring process with %s: %v (set the Python interpreter amlid uses)", d.s.cfg.Python, err)
			d.sink.notef("instance %d: %s", in.idx, reason)
		} else {
			ev, stopped := p.awaitInit(d.ctx)
			if stopped {
				p.terminate(grace)
				in.setDown("")
				return
			}
			if ev.Event == "ready" {
				p.awaitLogged()
				in.setReady(p)
				if initial {
					d.first <- initResult{idx: in.idx}
					initial = false
				}
				readyAt := time.Now()
				select {
				case <-p.exited:
				case <-d.ctx.Done():
				}
				in.setDown("")
				if d.ctx.Err() != nil {
					p.terminate(grace)
					d.sink.notef("instance %d stopped", in.idx)
					return
				}
				p.drainOutput()
				reason = p.exitDesc() + " after init() had returned"
				if time.Since(readyAt) >= backoffReset {
					crashes = 0
				}
			} else {
				// The harness exits after reporting a failure.
				select {
				case <-p.exited:
				case <-time.After(grace):
					p.terminate(grace)
				case <-d.ctx.Done():
					p.terminate(grace)
					in.setDown("")
					return
				}
				p.drainOutput()
				if ev.Event == "failed" {
					reason = "init() failed: " + ev.Error
				} else {
					reason = "the scoring process " + p.exitDesc() + " before init() returned"
				}
			}
		}
		reason = string(d.sink.redact([]byte(reason))) // it travels to Status, the caller and amlid's log
		if initial {
			d.first <- initResult{idx: in.idx, reason: reason}
			in.setDown("")
			return
		}
		crashes++
		delay := backoff(crashes)
		d.mu.Lock()
		d.restarts++
		n := d.restarts
		in.note = fmt.Sprintf("instance %d %s; restart %d in %s", in.idx, reason, n, delay)
		d.mu.Unlock()
		d.sink.notef("instance %d %s; restart %d in %s", in.idx, reason, n, delay)
		d.s.log.Warn("deployment instance restarting", "deployment", d.spec.ID, "instance", in.idx, "reason", reason, "restart", n, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			in.setDown("")
			return
		}
	}
}
