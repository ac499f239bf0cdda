// Package testredis starts real redis-server processes for tests.
//
// Tests that need Redis call [Start]. It runs redis-server from PATH on a
// free loopback port with persistence off, and stops it when the test ends.
// When HOOKGATE_TEST_REDIS_URL is set, that server is used instead and no
// process is started (fault tests that stop the server then fail or skip).
//
// Fault tests stop the server, with SIGKILL as in a crash ([Server.Stop])
// or cleanly ([Server.Shutdown]), and start it again ([Server.Restart]) on
// the same port, with the same arguments and data directory
// ([Server.Dir]): it comes back with what its persistence kept. With the
// default arguments that is nothing; a server started with
//
//	testredis.Start(t, "--appendonly", "yes", "--appendfsync", "always")
//
// comes back, even after SIGKILL, with every write it acknowledged.
//
// Without redis-server the test fails when the CI environment variable is
// "true" and is skipped with a clear message otherwise: a CI run never
// passes by silently skipping its Redis tests.
package testredis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process owned by a test.
type Server struct {
	// Addr is host:port of the server.
	Addr string
	// URL is a redis:// URL for Addr, database 0.
	URL string

	tb       testing.TB
	external bool
	extra    []string
	dir      string // --dir: the data directory, kept across restarts
	cmd      *exec.Cmd
	exited   chan struct{}
	logDir   string   // the server's output, shown when the test fails
	logs     []string // one file per start
}

// Unavailable fails tb under CI=true and skips it otherwise, explaining why.
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("redis unavailable under CI: %s (install redis-server or set HOOKGATE_TEST_REDIS_URL)", why)
	}
	tb.Skipf("redis unavailable: %s (install redis-server or set HOOKGATE_TEST_REDIS_URL)", why)
}

// Start starts a redis-server for tb and stops it in tb.Cleanup. Extra
// arguments are passed to redis-server after the defaults (persistence
// off, a data directory of its own), so that they override them: for
// example "--cluster-enabled", "yes", or "--appendonly", "yes" for a
// server whose data survives [Server.Restart]. An external server
// (HOOKGATE_TEST_REDIS_URL) is used only when there are no extra
// arguments.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	if u := os.Getenv("HOOKGATE_TEST_REDIS_URL"); u != "" && len(extra) == 0 {
		addr := strings.TrimPrefix(strings.TrimPrefix(u, "redis://"), "rediss://")
		if i := strings.IndexByte(addr, '/'); i >= 0 {
			addr = addr[:i]
		}
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			addr = addr[i+1:]
		}
		return &Server{Addr: addr, URL: u, tb: tb, external: true}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(tb, "redis-server not found on PATH")
	}
	s := &Server{tb: tb, extra: extra, logDir: tb.TempDir(), dir: lastArg(extra, "--dir")}
	if s.dir == "" {
		s.dir = tb.TempDir()
	}
	tb.Cleanup(s.dumpLogs)
	tb.Cleanup(s.Stop)
	// The free port may be taken before redis-server binds it: try others.
	var err error
	for range 3 {
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb)))
		s.URL = "redis://" + s.Addr + "/0"
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("%v", err)
	return nil
}

// External reports whether the server came from HOOKGATE_TEST_REDIS_URL
// and so cannot be stopped or restarted by the test.
func (s *Server) External() bool { return s.external }

// Dir returns the server's data directory (its --dir), where its AOF and
// RDB files go. Every start of the server uses it: see [Server.Restart].
// It is "" for an external server.
func (s *Server) Dir() string { return s.dir }

// lastArg returns the value after the last occurrence of flag in args, or
// "" when there is none.
func lastArg(args []string, flag string) string {
	v := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			v = args[i+1]
		}
	}
	return v
}

// Port returns the server's TCP port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *Server) start() error {
	s.tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "no", "--daemonize", "no",
		"--loglevel", "warning",
	}
	args = append(args, s.extra...)
	cmd := exec.Command("redis-server", args...)
	// Output goes to a file, not to the test's output, where it would
	// break benchmark result lines; dumpLogs shows it when the test fails.
	logPath := filepath.Join(s.logDir, fmt.Sprintf("redis-%d.log", len(s.logs)+1))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	s.logs = append(s.logs, logPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	err = cmd.Start()
	logFile.Close() // the child has its own descriptor
	if err != nil {
		Unavailable(s.tb, "start redis-server: "+err.Error())
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.exited)
	if err := waitPing(s.Addr, 10*time.Second, s.exited); err != nil {
		s.Stop()
		return fmt.Errorf("redis-server on %s did not answer PING: %v; its output:\n%s", s.Addr, err, logTail(logPath))
	}
	return nil
}

// dumpLogs shows the server's output when the test failed.
func (s *Server) dumpLogs() {
	if !s.tb.Failed() {
		return
	}
	for _, p := range s.logs {
		s.tb.Logf("redis-server on %s, %s:\n%s", s.Addr, filepath.Base(p), logTail(p))
	}
}

// logTail returns the end of the log file at path.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const maxTail = 4 << 10
	if len(b) > maxTail {
		b = b[len(b)-maxTail:]
	}
	return string(b)
}

// Stop kills the server (SIGKILL: no clean shutdown, as in a crash) and
// waits for it to exit. Its data directory stays, with what persistence
// wrote to it: with appendfsync always, every write it acknowledged.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	s.stop(os.Kill)
}

// Shutdown stops the server cleanly (SIGTERM: Redis writes and fsyncs its
// AOF, or saves a snapshot when save points are set, then exits) and
// waits for it to exit, killing it after 10 s. Shutting down a stopped
// server does nothing.
func (s *Server) Shutdown() {
	s.tb.Helper()
	s.stop(syscall.SIGTERM)
}

func (s *Server) stop(sig os.Signal) {
	s.tb.Helper()
	if s.external {
		s.tb.Fatalf("testredis: cannot stop an external server (HOOKGATE_TEST_REDIS_URL)")
	}
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart starts the server again on the same port, with the same
// arguments and data directory ([Server.Dir]), and waits until it answers
// PING, its data loaded: it has what its persistence kept (nothing with
// the default arguments; with AOF on, what the AOF holds). A server still
// running is killed first, as by [Server.Stop].
func (s *Server) Restart() {
	s.tb.Helper()
	if s.external {
		s.tb.Fatalf("testredis: cannot restart an external server (HOOKGATE_TEST_REDIS_URL)")
	}
	s.Stop()
	// The port may be held a moment longer (a socket closing, or, rarely,
	// another process that took it meanwhile): try again for a while.
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err = s.start(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	s.tb.Fatalf("testredis: restart on %s: %v", s.Addr, err)
}

// Do sends one command in the Redis protocol and returns the first reply
// line. It needs no client library, for test setup and assertions.
func (s *Server) Do(args ...string) (string, error) {
	return Do(s.Addr, args...)
}

// Do sends one command to the Redis server at addr and returns the first
// line of its reply.
func Do(addr string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}

func waitPing(addr string, limit time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return errors.New("redis-server exited")
		default:
		}
		r, err := Do(addr, "PING")
		if err == nil && r == "+PONG" {
			return nil
		}
		if err != nil && strings.HasPrefix(err.Error(), "redis: NOAUTH") {
			return nil // up, with --requirepass
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("reply %q", r)
			}
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int { tb.Helper(); return freePort(tb) }

func freePort(tb testing.TB) int {
	tb.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// The kernel may give a port just closed out again: two calls
		// in a row (a gateway's admin and site ports) once got the same.
		if !handed[port] {
			handed[port] = true
			return port
		}
	}
}

// handed holds the ports freePort has returned in this process.
var (
	handedMu sync.Mutex
	handed   = map[int]bool{}
)
