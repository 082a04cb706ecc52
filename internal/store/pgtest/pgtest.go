// Package pgtest gives tests a real PostgreSQL database.
//
// Start returns the URL of a new, empty database; every call gets its own,
// dropped when the test ends. The databases live on one throwaway server per
// test binary, started on first use: initdb into a temporary directory, then
// postgres on a free loopback port (plus a unix socket in that directory),
// with fsync off since nothing in it outlives the run. As root (PostgreSQL
// refuses to run as root) the server runs as the "postgres" OS user.
//
// A package using Start must call Main from its TestMain, which stops the
// server and removes its directory after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Start(t) // postgres://postgres@127.0.0.1:PORT/amlid_test_…?sslmode=disable
//		…
//	}
//
// If AMLID_TEST_POSTGRES_URL is set, no server is started: the databases are
// created on that server instead (the URL's user needs CREATEDB). Otherwise
// the server binaries are looked up in /usr/lib/postgresql/*/bin (Debian's
// layout, newest version first) and then $PATH; if none is found Start fails
// the test, asking for Debian's `postgresql` package.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver
)

// EnvURL names the environment variable with an existing server to use.
const EnvURL = "AMLID_TEST_POSTGRES_URL"

var (
	mainCalled atomic.Bool

	mu      sync.Mutex
	srv     *server
	srvErr  error // sticky: a server that failed to start fails every test
	counter atomic.Int64
)

// Main runs the tests and then stops the server Start started, if any. Call
// it from TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit, for a TestMain with cleanup of its own.
func Run(m *testing.M) int {
	mainCalled.Store(true)
	code := m.Run()
	mu.Lock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
	mu.Unlock()
	return code
}

// Start returns the URL of a new empty database, dropped at the end of the
// test. It fails the test if no server can be had.
func Start(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// Unique across test binaries sharing an external server, too.
	name := fmt.Sprintf("amlid_test_%d_%d_%04x", os.Getpid(), counter.Add(1), rand.IntN(1<<16))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *s.base
	u.Path = "/" + name
	return u.String()
}

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil || srvErr != nil {
		return srv, srvErr
	}
	if env := os.Getenv(EnvURL); env != "" {
		srv, srvErr = external(env)
	} else if !mainCalled.Load() {
		return nil, errors.New("the package's TestMain must call pgtest.Main(m), which stops the server after the tests")
	} else {
		srv, srvErr = startLocal()
	}
	return srv, srvErr
}

type server struct {
	base  *url.URL // a database URL; Start swaps the path
	admin *sql.DB  // connected to the maintenance database
	// Local servers only.
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when postgres exits
}

func external(raw string) (*server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	admin, err := connect(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return &server{base: u, admin: admin}, nil
}

func connect(raw string) (*sql.DB, error) {
	db, err := sql.Open("pgx", raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// binDir finds PostgreSQL's server programs.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server programs (initdb, postgres) not found in /usr/lib/postgresql/*/bin or $PATH: "+
		"install Debian's `postgresql` package (apt-get install postgresql), or set %s to a server's URL", EnvURL)
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func startLocal() (s *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "amlid-pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	sock := filepath.Join(dir, "sock")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return nil, err
	}
	attr := &syscall.SysProcAttr{}
	if os.Geteuid() == 0 {
		// PostgreSQL will not run as root: become the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as (%v); "+
				"install Debian's `postgresql` package or set %s", err, EnvURL)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	env := cleanEnv()

	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir, initdb.Env, initdb.SysProcAttr = dir, env, attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data, "-k", sock, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logFile, logFile
	runAttr := *attr
	// Own process group (a ^C to `go test` is handled by us, not passed
	// on mid-test), and SIGQUIT (immediate shutdown) if this process dies
	// without calling stop.
	runAttr.Setpgid = true
	runAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr = &runAttr

	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits,
		// so start and wait on one locked thread that lives as long as
		// the server does.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s = &server{
		base: &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			RawQuery: "sslmode=disable"},
		dir: dir, cmd: cmd, exited: exited,
	}
	adminURL := *s.base
	adminURL.Path = "/postgres"
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.admin, err = connect(adminURL.String())
		if err == nil {
			return s, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited during start-up: %s\n%s", cmd.ProcessState, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres not accepting connections after 60s: %v\n%s", err, log)
		}
	}
}

// stop shuts a local server down (fast shutdown, then SIGKILL) and removes
// its directory; for an external server it only disconnects.
func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGINT) // fast shutdown: disconnect clients, checkpoint, exit
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL) // the whole process group
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

// freePort asks the kernel for a loopback port nobody is listening on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the environment without PG* variables, which would redirect
// initdb and postgres (PGDATA, PGPORT, PGHOST…), and with a C locale.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}
