package chaos

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testredis"
)

// hookgateBin is the gateway binary TestMain built; buildErr says why
// there is none.
var (
	hookgateBin string
	buildErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookgate-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		// Build only when a test here will run: not for -list or -short.
		if !shortFlag() {
			hookgateBin, buildErr = buildGateway(dir)
		}
		return m.Run()
	}()
	os.Exit(code)
}

// shortFlag reports whether -test.short was given, before flag.Parse has
// run in m.Run.
func shortFlag() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.short" || a == "-test.short=true" || a == "--test.short" {
			return true
		}
		if strings.HasPrefix(a, "-test.list") {
			return true
		}
	}
	return false
}

// buildGateway builds ../cmd/hookgate into dir. The test binary may run
// with -race; the gateway is built without it, as it ships.
func buildGateway(dir string) (string, error) {
	// go test puts its own GOROOT/bin first on PATH (Go 1.19 and later),
	// so the go found there is the one running the tests.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command on PATH to build the gateway: %v", err)
	}
	bin := filepath.Join(dir, "hookgate")
	cmd := exec.Command(goTool, "build", "-o", bin, "../cmd/hookgate")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ../cmd/hookgate: %v\n%s", err, out)
	}
	return bin, nil
}

// needGateway skips in -short mode and fails when the binary could not be
// built: a gateway that cannot be built or started is a failure, never a
// skip.
func needGateway(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos tests start gateway processes; skipped with -short")
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if hookgateBin == "" {
		t.Fatal("hookgate binary not built")
	}
}

// gateway is one hookgate process serving one site.
type gateway struct {
	t      testing.TB
	Addr   string // host:port of the site
	Admin  string // host:port of the admin API
	URL    string // http://Addr/hooks
	config string
	logs   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// siteConfig renders a Caddyfile: global options with the admin API on
// admin, and one site on addr whose body is site.
func siteConfig(admin, addr, logPath, site string) string {
	return fmt.Sprintf(`{
	admin %s
	auto_https off
	persist_config off
	grace_period 10s
	log {
		output file %s
		level INFO
	}
}

http://%s {
	bind 127.0.0.1
%s
}
`, admin, logPath, addr, site)
}

// startGateway runs hookgate with a site whose directives are site. It
// fails the test when the gateway does not come up.
func startGateway(t testing.TB, site string) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, config: filepath.Join(dir, "Caddyfile"), logs: filepath.Join(dir, "caddy.log")}
	var lastErr error
	// A free port can be taken before the gateway binds it: try others.
	for range 3 {
		g.Addr, g.Admin = freeAddr(t), freeAddr(t)
		g.URL = "http://" + g.Addr + "/hooks"
		if err := os.WriteFile(g.config, []byte(siteConfig(g.Admin, g.Addr, g.logs, site)), 0o600); err != nil {
			t.Fatal(err)
		}
		if lastErr = g.start(dir); lastErr == nil {
			t.Cleanup(g.stop)
			return g
		}
	}
	t.Fatalf("gateway did not start: %v", lastErr)
	return nil
}

func (g *gateway) start(dir string) error {
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(hookgateBin, "run", "--config", g.config, "--adapter", "caddyfile")
	// Caddy keeps its data (instance id, certificates) and config under
	// these: keep them in the test's directory.
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
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
			return fmt.Errorf("hookgate exited: %s\n%s", cmd.ProcessState, g.tail(filepath.Join(dir, "stdout.log")))
		default:
		}
		if c, err := net.DialTimeout("tcp", g.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	g.kill()
	return fmt.Errorf("hookgate did not listen on %s within 20s:\n%s", g.Addr, g.tail(filepath.Join(dir, "stdout.log")))
}

// Alive reports whether the process is still running.
func (g *gateway) Alive() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// Reload runs `hookgate reload` with the unchanged config. --force makes
// Caddy apply it anyway: without it an identical config is a no-op.
func (g *gateway) Reload(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, hookgateBin, "reload", "--config", g.config, "--adapter", "caddyfile",
		"--address", g.Admin, "--force")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Dir(g.config), "XDG_CONFIG_HOME="+filepath.Dir(g.config), "HOME="+filepath.Dir(g.config))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hookgate reload: %v: %s", err, out)
	}
	return nil
}

func (g *gateway) kill() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// stop kills the gateway and shows its log when the test failed.
func (g *gateway) stop() {
	alive := g.Alive()
	g.kill()
	if g.t.Failed() {
		g.t.Logf("gateway %s (alive at the end: %v), log tail:\n%s", g.Addr, alive, g.tail(g.logs))
	}
}

// logCount returns how many lines of the gateway's log contain s.
func (g *gateway) logCount(s string) int {
	b, err := os.ReadFile(g.logs)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

func (g *gateway) tail(path string) string {
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

// newSecret returns a random Standard Webhooks secret.
func newSecret() string {
	var k [24]byte
	_, _ = rand.Read(k[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(k[:])
}

// signStandard returns the Standard Webhooks v1 signature of id, ts and
// body under secret, computed here from the specification so that the
// tests can sign values the SDK refuses to produce (odd timestamps).
func signStandard(t testing.TB, secret, id, ts string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signedHeader returns the three Standard Webhooks headers for body, now.
func signedHeader(t testing.TB, secret, id string, body []byte) http.Header {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := http.Header{}
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", ts)
	h.Set("Webhook-Signature", signStandard(t, secret, id, ts, body))
	h.Set("Content-Type", "application/json")
	return h
}

// eventBody is a small valid event of type typ.
func eventBody(typ string, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":%q,"timestamp":"2026-11-22T10:00:00Z","data":{"n":%d,"note":"chaos test event"}}`, typ, n)
	return b.Bytes()
}
