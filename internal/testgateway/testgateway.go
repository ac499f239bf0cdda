// Package testgateway builds the hookgate binary and runs it as a real
// gateway process for tests.
//
// A test package builds the binary once ([Build], usually from TestMain),
// then starts one process per test with a Caddyfile site body ([Start]).
// The process keeps its data, config and logs in the test's temporary
// directory, listens on free loopback ports, and is killed when the test
// ends; its log is shown when the test failed. A gateway that cannot be
// built or started fails the test: it is never a skip.
//
// Fault tests kill a gateway with SIGKILL ([Gateway.Kill]) and start it
// again on the same ports, data directory and stores ([Gateway.Restart]),
// and read its Prometheus metrics from the admin API ([Gateway.Metrics]).
package testgateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testgateway/promtext"
	"github.com/hookgate/hookgate/internal/testredis"
)

// Build builds ./cmd/hookgate of the module that holds the working
// directory into dir and returns the binary's path. The test binary may
// run with -race; the gateway is built without it, as it ships.
func Build(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			return "", errors.New("testgateway: no go tool on PATH and GOROOT unset")
		}
		goTool = filepath.Join(root, "bin", "go")
	}
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("testgateway: no module here (go env GOMOD: %q, %v)", mod, err)
	}
	bin := filepath.Join(dir, "hookgate")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/hookgate")
	cmd.Dir = filepath.Dir(mod)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hookgate: %v\n%s", err, out)
	}
	return bin, nil
}

// Gateway is one hookgate process serving one site.
type Gateway struct {
	Addr  string // host:port of the site
	Admin string // host:port of the admin API
	URL   string // http://Addr/hooks

	t      testing.TB
	bin    string
	dir    string
	config string
	logs   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// siteConfig renders a Caddyfile: global options with the admin API on
// admin, and one site on addr whose body is site. The request headers
// named in redact are deleted from the log.
func siteConfig(admin, addr, logPath, site string, redact []string) string {
	filter := ""
	if len(redact) > 0 {
		filter = "\n\t\tformat filter {"
		for _, h := range redact {
			filter += "\n\t\t\trequest>headers>" + h + " delete"
		}
		filter += "\n\t\t}"
	}
	return fmt.Sprintf(`{
	admin %s
	auto_https off
	persist_config off
	grace_period 10s
	log {
		output file %s
		level INFO%s
	}
}

http://%s {
	bind 127.0.0.1
%s
}
`, admin, logPath, filter, addr, site)
}

// Start runs the binary bin with one site on a free loopback port whose
// directives are site, and stops it when t ends. It fails t when the
// gateway does not come up. Caddy's log (shown when t fails) records the
// headers of a request that failed with a 5xx: name signature headers in
// redact to keep them out of it.
func Start(t testing.TB, bin, site string, redact ...string) *Gateway {
	t.Helper()
	if bin == "" {
		t.Fatal("testgateway: no hookgate binary (Build failed or was not run)")
	}
	dir := t.TempDir()
	g := &Gateway{t: t, bin: bin, dir: dir, config: filepath.Join(dir, "Caddyfile"), logs: filepath.Join(dir, "caddy.log")}
	var lastErr error
	// A free port can be taken before the gateway binds it: try others.
	for range 3 {
		g.Addr, g.Admin = freeAddr(t), freeAddr(t)
		g.URL = "http://" + g.Addr + "/hooks"
		if err := os.WriteFile(g.config, []byte(siteConfig(g.Admin, g.Addr, g.logs, site, redact)), 0o600); err != nil {
			t.Fatal(err)
		}
		if lastErr = g.start(); lastErr == nil {
			t.Cleanup(g.stop)
			return g
		}
	}
	t.Fatalf("gateway did not start: %v", lastErr)
	return nil
}

// env keeps Caddy's data (instance id, certificates) and config in dir.
func env(dir string) []string {
	return append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
}

func (g *Gateway) start() error {
	dir := g.dir
	// Appended to: a restarted gateway's output follows the killed one's.
	out, err := os.OpenFile(filepath.Join(dir, "stdout.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(g.bin, "run", "--config", g.config, "--adapter", "caddyfile")
	cmd.Env = env(dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(g.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			return fmt.Errorf("hookgate exited: %s\n%s", cmd.ProcessState, tail(filepath.Join(dir, "stdout.log")))
		default:
		}
		if c, err := net.DialTimeout("tcp", g.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	g.kill()
	return fmt.Errorf("hookgate did not listen on %s within 20s:\n%s", g.Addr, tail(filepath.Join(dir, "stdout.log")))
}

// Alive reports whether the process is still running.
func (g *Gateway) Alive() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Kill kills the gateway with SIGKILL, as a crash or the OOM killer
// would: no drain, no store closed, no write flushed. It waits until the
// process has exited. Killing a gateway that is not running does nothing.
func (g *Gateway) Kill() {
	g.t.Helper()
	g.kill()
}

// Restart starts the killed (or exited) gateway again with the same
// config, ports and data directory, so that an embedded store in that
// directory is the one it had. It fails the test when the gateway is
// still running or does not come up.
func (g *Gateway) Restart() {
	g.t.Helper()
	if g.Alive() {
		g.t.Fatal("testgateway: Restart of a gateway that is still running (Kill it first)")
	}
	// The ports were the killed process's: nothing else should hold
	// them, but a listener socket can take a moment to go.
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err = g.start(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	g.t.Fatalf("gateway did not restart on %s: %v", g.Addr, err)
}

// Metrics returns the gateway's metrics in the Prometheus text format,
// from the admin API's /metrics.
func (g *Gateway) Metrics(ctx context.Context) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.Admin+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("testgateway: metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("testgateway: metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("testgateway: metrics: %s", resp.Status)
	}
	return Metrics(b), nil
}

// WaitMetric waits until the gateway's metrics have a series of name with
// labels (name, value pairs), for a gateway whose readiness shows in its
// metrics. It returns ctx's error if none appears before ctx ends.
func (g *Gateway) WaitMetric(ctx context.Context, name string, labels ...string) error {
	for {
		m, err := g.Metrics(ctx)
		if err == nil && m.Has(name, labels...) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testgateway: no %s%q in the metrics: %w (last error: %v)", name, labels, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Metrics is a scrape in the Prometheus text format.
type Metrics = promtext.Text

// Reload runs `hookgate reload` with the unchanged config. --force makes
// Caddy apply it anyway: without it an identical config is a no-op.
func (g *Gateway) Reload(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, g.bin, "reload", "--config", g.config, "--adapter", "caddyfile",
		"--address", g.Admin, "--force")
	cmd.Env = env(filepath.Dir(g.config))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hookgate reload: %v: %s", err, out)
	}
	return nil
}

// LogCount returns how many lines of the gateway's log contain s.
func (g *Gateway) LogCount(s string) int {
	b, err := os.ReadFile(g.logs)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

func (g *Gateway) kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// stop kills the gateway and shows its log when the test failed.
func (g *Gateway) stop() {
	alive := g.Alive()
	g.kill()
	if g.t.Failed() {
		g.t.Logf("gateway %s (alive at the end: %v), log tail:\n%s", g.Addr, alive, tail(g.logs))
	}
}

// tail returns the end of the file at path.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 6 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func freeAddr(t testing.TB) string {
	return "127.0.0.1:" + strconv.Itoa(testredis.FreePort(t))
}
