// Package sandbox is the one launcher of workload code: online
// deployments' scoring processes (package runtime), `amlid run --as`, and
// jobs when they come. Workload code is written by whoever may create a
// deployment or a job; it must not read amlid's data dir (signing keys,
// the database, bootstrap.json, keys/vault.key), other workloads' files,
// amlid's environment or /proc/<amlid pid>.
//
// With bubblewrap (Debian's `bubblewrap`, /usr/bin/bwrap) a workload runs in
// new user, mount, PID, IPC, UTS and cgroup namespaces, with every
// capability dropped and no_new_privs set, as uid/gid 65534 in its user
// namespace, and sees:
//
//   - a read-only runtime: /usr (hence the Python and its packages), the
//     /bin /lib* /sbin links, /etc with its secrets masked (shadow files,
//     SSH host keys, /etc/ssl/private, sudoers);
//   - the interpreter's own tree when it is not under /usr (a virtualenv),
//     and the Jail's Runtime folders, read-only;
//   - the paths its Jail names: its working folder and HOME read-write, its
//     code, model, CA bundle read-only;
//   - a private /tmp, a minimal /dev, and /proc of its own PID namespace
//     (no other process of the machine, amlid included, is visible);
//   - the machine's network (amlid's managed-identity endpoint and data
//     planes are on loopback).
//
// Whatever the binds, the Hide paths (amlid's data dir) are masked by an
// empty folder wherever a bind would expose them; only the Jail's own
// paths inside them (a deployment's code and model, the CA bundle) are
// bound back on top.
//
// When bwrap is missing or cannot run (no user namespaces), Mode Auto
// falls back to running the code directly, as amlid's own OS user, and
// Warning says so (amlid logs it at startup); Mode Require refuses to
// start instead, and Mode Off never sandboxes.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode selects how workloads are launched.
type Mode string

const (
	// Auto sandboxes with bwrap when it can run, else runs workloads
	// directly with a warning.
	Auto Mode = "auto"
	// Require sandboxes with bwrap or refuses to start.
	Require Mode = "bwrap"
	// Off runs workloads directly, as amlid's OS user.
	Off Mode = "off"
)

// ParseMode reads a --workload-sandbox value ("" = Auto).
func ParseMode(s string) (Mode, error) {
	switch Mode(strings.ToLower(strings.TrimSpace(s))) {
	case "", Auto:
		return Auto, nil
	case Require:
		return Require, nil
	case Off, "none":
		return Off, nil
	}
	return "", fmt.Errorf("workload sandbox %q is not one of auto, bwrap, off", s)
}

// DefaultBwrap is Debian's bubblewrap.
const DefaultBwrap = "/usr/bin/bwrap"

// SandboxUID is the uid and gid workload code has inside its user namespace.
const SandboxUID = "65534"

// Options configures a Launcher.
type Options struct {
	Mode Mode
	// Bwrap is the bubblewrap binary (default DefaultBwrap, else bwrap on
	// PATH).
	Bwrap string
	// Hide are paths no workload may see (amlid's data dir), except the
	// paths a Jail names inside them.
	Hide []string
}

// Launcher starts workload processes. The zero value and nil run them
// directly.
type Launcher struct {
	mode   Mode
	bwrap  string
	hide   []string
	active bool
	reason string
}

// ErrUnavailable is New's error in Require mode when bwrap cannot run.
var ErrUnavailable = errors.New("the workload sandbox (bubblewrap) cannot run")

// New probes bubblewrap once (unless Mode is Off).
func New(o Options) (*Launcher, error) {
	if o.Mode == "" {
		o.Mode = Auto
	}
	l := &Launcher{mode: o.Mode}
	for _, h := range o.Hide {
		if h == "" {
			continue
		}
		if abs, err := filepath.Abs(h); err == nil {
			l.hide = append(l.hide, abs)
		}
	}
	if o.Mode == Off {
		l.reason = "the workload sandbox is turned off (--workload-sandbox off)"
		return l, nil
	}
	path := o.Bwrap
	if path == "" {
		path = DefaultBwrap
		if _, err := os.Stat(path); err != nil {
			if p, err := exec.LookPath("bwrap"); err == nil {
				path = p
			}
		}
	}
	l.bwrap = path
	if err := probe(path); err != nil {
		l.reason = fmt.Sprintf("bubblewrap (%s) cannot run: %v", path, err)
		if o.Mode == Require {
			return nil, fmt.Errorf("%w: %s; install Debian's bubblewrap and allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0), or start with --workload-sandbox auto|off", ErrUnavailable, l.reason)
		}
		return l, nil
	}
	l.active = true
	return l, nil
}

var probeCache sync.Map // bwrap path → error

func probe(path string) error {
	if v, ok := probeCache.Load(path); ok {
		if v == nil {
			return nil
		}
		return v.(error)
	}
	err := runProbe(path)
	if err == nil {
		probeCache.Store(path, nil)
	} else {
		probeCache.Store(path, err)
	}
	return err
}

func runProbe(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("not installed (apt-get install bubblewrap)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := &Launcher{bwrap: path, active: true}
	truePath := "/usr/bin/true"
	if _, err := os.Stat(truePath); err != nil {
		truePath = "/bin/true"
	}
	args := append(l.args(Jail{}, truePath), "--", truePath)
	cmd := exec.CommandContext(ctx, path, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return err
		}
		return fmt.Errorf("%v: %s", err, msg)
	}
	return nil
}

// Active reports whether workloads run inside bubblewrap.
func (l *Launcher) Active() bool { return l != nil && l.active }

// Warning is the startup warning when workloads are not sandboxed ("" when
// they are).
func (l *Launcher) Warning() string {
	if l.Active() {
		return ""
	}
	reason := "no workload sandbox is configured"
	if l != nil && l.reason != "" {
		reason = l.reason
	}
	return reason + ": workload code (online deployments' scoring scripts, amlid run --as) runs as amlid's own OS user and can read amlid's data dir, including its signing keys; install bubblewrap (apt-get install bubblewrap) or run amlid as a user whose files are not secret"
}

// Jail is what one workload sees besides the read-only runtime.
type Jail struct {
	// Dir is the working directory (bound read-write unless it is also
	// in ReadOnly). "" keeps the caller's.
	Dir string
	// Home is HOME: bound read-write when it exists, else a private empty
	// folder.
	Home string
	// PrivateHome gives HOME an empty private folder even when Home
	// exists on the machine (`amlid run` keeps the user's ~/.azure away
	// from the workload, as a container would).
	PrivateHome bool
	// ReadWrite and ReadOnly are further paths visible at the same place,
	// even inside a Hide path (amlid's CA bundle is in its data dir). They
	// must come from amlid, never from what a user wrote in a deployment
	// (its environment variables included).
	ReadWrite []string
	ReadOnly  []string
	// Runtime are further read-only folders of the runtime (PYTHONPATH
	// entries of amlid's own environment); never shown inside a Hide path.
	Runtime []string
}

// Command returns the command that runs name with args in jail j, with
// environment env. The caller may set ExtraFiles (they reach the workload
// as fd 3, 4…), SysProcAttr, Stdin/Stdout/Stderr. Without an active
// sandbox it is exec.Command(name, args...) with Dir and Env set.
func (l *Launcher) Command(j Jail, env []string, name string, args ...string) *exec.Cmd {
	if !l.Active() {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = j.Dir, env
		return cmd
	}
	env = slices.Clone(env)
	env = setEnv(env, "TMPDIR", "/tmp")
	if j.Home != "" {
		env = setEnv(env, "HOME", j.Home)
	}
	a := l.args(j, name)
	if j.Dir != "" {
		a = append(a, "--chdir", j.Dir)
	}
	a = append(a, "--", name)
	a = append(a, args...)
	cmd := exec.Command(l.bwrap, a...)
	cmd.Env = env
	return cmd
}

func setEnv(env []string, k, v string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, k+"=") {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}

// Root entries of the read-only runtime.
var runtimeRoots = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// etcSecrets are masked inside the sandbox's /etc.
var etcSecrets = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd",
	"/etc/sudoers", "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private", "/etc/krb5.keytab",
	"/etc/machine-id", "/etc/.pwd.lock",
}

type bind struct {
	path string
	rw   bool
}

// args builds bwrap's arguments (without the command).
func (l *Launcher) args(j Jail, interp string) []string {
	a := []string{
		"--unshare-all", "--share-net", "--unshare-user", "--disable-userns",
		"--uid", SandboxUID, "--gid", SandboxUID, "--cap-drop", "ALL",
		"--die-with-parent", "--hostname", "amlid-workload",
	}
	var broad []bind
	for _, r := range runtimeRoots {
		fi, err := os.Lstat(r)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if target, err := os.Readlink(r); err == nil {
				a = append(a, "--symlink", target, r)
			}
			continue
		}
		if fi.IsDir() {
			broad = append(broad, bind{path: r})
		}
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")

	var explicit []bind
	// The interpreter's tree (a virtualenv: <root>/bin/python) when it is
	// not in the runtime.
	if filepath.IsAbs(interp) && !inRuntime(interp) {
		if root := filepath.Dir(filepath.Dir(interp)); root != "/" && !l.hidden(root) {
			broad = append(broad, bind{path: root})
		}
	}
	for _, p := range j.Runtime {
		if filepath.IsAbs(p) && !l.hidden(p) {
			broad = append(broad, bind{path: p})
		}
	}
	if j.Dir != "" && !slices.Contains(j.ReadOnly, j.Dir) {
		explicit = append(explicit, bind{path: j.Dir, rw: true})
	}
	for _, p := range j.ReadWrite {
		explicit = append(explicit, bind{path: p, rw: true})
	}
	for _, p := range j.ReadOnly {
		explicit = append(explicit, bind{path: p})
	}
	home := ""
	if j.Home != "" {
		if fi, err := os.Stat(j.Home); err == nil && fi.IsDir() && !j.PrivateHome {
			explicit = append(explicit, bind{path: j.Home, rw: true})
		} else {
			home = j.Home
		}
	}

	// Order: binds outside hidden paths, then the masks over hidden paths
	// they would expose, then the binds inside hidden paths.
	pre, post := broad, []bind(nil)
	for _, b := range explicit {
		if l.hidden(b.path) {
			post = append(post, b)
		} else {
			pre = append(pre, b)
		}
	}
	emit := func(b bind) {
		if resolve(b.path) == "/" {
			return // never the whole machine (a command run from /)
		}
		if _, err := os.Stat(b.path); err != nil {
			return // bwrap refuses a missing source; the workload sees nothing there
		}
		if b.rw {
			a = append(a, "--bind", b.path, b.path)
		} else {
			a = append(a, "--ro-bind", b.path, b.path)
		}
		if b.path == "/etc" {
			for _, s := range etcSecrets {
				a = appendMask(a, s)
				if fi, err := os.Stat(s); err == nil && fi.IsDir() {
					a = append(a, "--remount-ro", s)
				}
			}
		}
	}
	for _, b := range pre {
		emit(b)
	}
	var masked []string
	for _, h := range l.hide {
		for _, b := range pre {
			if within(h, b.path) {
				a = appendMask(a, h)
				if fi, err := os.Stat(h); err == nil && fi.IsDir() {
					masked = append(masked, h)
				}
				break
			}
		}
	}
	for _, b := range post {
		emit(b)
	}
	if home != "" {
		a = append(a, "--tmpfs", home)
	}
	// Masks become read-only once the binds inside them are in place.
	for _, h := range masked {
		a = append(a, "--remount-ro", h)
	}
	return a
}

// Tracker sends signals to a workload started by Command: with bwrap, to
// the workload's own process rather than to bwrap (which does not forward
// signals) or to bwrap's init in the workload's PID namespace (which
// ignores them).
type Tracker struct {
	cmd  *exec.Cmd
	r, w *os.File

	once sync.Once
	init int // bwrap's "child-pid": the PID namespace's init
	err  error
}

// Track arranges for cmd (made by Command, ExtraFiles already set) to be
// signalled through the returned Tracker. Call it before cmd.Start, and
// Started after a successful Start.
func (l *Launcher) Track(cmd *exec.Cmd) (*Tracker, error) {
	t := &Tracker{cmd: cmd}
	if !l.Active() {
		return t, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	t.r, t.w = r, w
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	cmd.Args = append([]string{cmd.Args[0], "--info-fd", fmt.Sprint(fd)}, cmd.Args[1:]...)
	return t, nil
}

// Started closes amlid's copy of the info pipe's write end.
func (t *Tracker) Started() {
	if t.w != nil {
		t.w.Close()
	}
}

// Signal sends sig to the workload.
func (t *Tracker) Signal(sig os.Signal) error {
	if t.r == nil {
		return t.cmd.Process.Signal(sig)
	}
	t.once.Do(func() {
		defer t.r.Close()
		var info struct {
			ChildPID int `json:"child-pid"`
		}
		if err := json.NewDecoder(t.r).Decode(&info); err != nil || info.ChildPID <= 0 {
			t.err = fmt.Errorf("bwrap did not report the workload's PID: %v", err)
			return
		}
		t.init = info.ChildPID
	})
	if t.err != nil {
		return t.cmd.Process.Signal(sig)
	}
	kids := childrenOf(t.init)
	if len(kids) == 0 {
		return t.cmd.Process.Signal(sig)
	}
	var first error
	for _, pid := range kids {
		if p, err := os.FindProcess(pid); err == nil {
			if err := p.Signal(sig); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 2 {
			if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

func inRuntime(p string) bool {
	for _, r := range runtimeRoots {
		if within(p, r) {
			return true
		}
	}
	return false
}

// appendMask hides path p (a folder: an empty folder; a file: /dev/null).
func appendMask(a []string, p string) []string {
	fi, err := os.Stat(p)
	if err != nil {
		return a
	}
	if fi.IsDir() {
		return append(a, "--tmpfs", p)
	}
	return append(a, "--ro-bind", "/dev/null", p)
}

// hidden reports whether p is a Hide path or inside one.
func (l *Launcher) hidden(p string) bool {
	for _, h := range l.hide {
		if within(p, h) {
			return true
		}
	}
	return false
}

// within reports whether p is dir or inside it, comparing the paths with
// symbolic links resolved.
func within(p, dir string) bool {
	p, dir = resolve(p), resolve(dir)
	if p == dir {
		return true
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func resolve(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
