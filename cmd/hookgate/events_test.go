package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testredis"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/verify"
)

// liveGateway is a real hookgate gateway, run in this process: Caddy with
// the module, a site verifying Standard Webhooks with testCLISecret and
// delivering to an app, and its admin API. Tests using it must not run in
// parallel: Caddy's running config is process-wide.
type liveGateway struct {
	t     *testing.T
	admin string // host:port
	url   string // the site
	app   *recordingApp
	cfg   []byte
}

// reload loads the gateway's config again, as a config change does: the
// admin server is replaced.
func (g *liveGateway) reload() {
	g.t.Helper()
	if err := caddy.Load(g.cfg, true); err != nil {
		g.t.Fatalf("reload: %v", err)
	}
}

// recordingApp is the app behind the gateway: it answers status and
// records what it accepted.
type recordingApp struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	got    []*http.Request
	bodies []string
}

func (a *recordingApp) setStatus(st int) {
	a.mu.Lock()
	a.status = st
	a.mu.Unlock()
}

// waitFor waits until the app accepted n requests, and returns them.
func (a *recordingApp) waitFor(t *testing.T, n int) ([]*http.Request, []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.Lock()
		got, bodies := append([]*http.Request(nil), a.got...), append([]string(nil), a.bodies...)
		a.mu.Unlock()
		if len(got) >= n {
			return got, bodies
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app accepted %d requests, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newRecordingApp(t *testing.T) *recordingApp {
	a := &recordingApp{status: 200}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		st := a.status
		if st/100 == 2 {
			a.got = append(a.got, r)
			a.bodies = append(a.bodies, string(b))
		}
		a.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(a.Close)
	return a
}

func freeLocalPort(t *testing.T) int { t.Helper(); return testredis.FreePort(t) }

// startLiveGateway runs a gateway whose source "cli" delivers to a new
// app; extra goes in the deliver block.
func startLiveGateway(t *testing.T, extra string, global ...string) *liveGateway {
	t.Helper()
	app := newRecordingApp(t)
	adminPort, port := freeLocalPort(t), freeLocalPort(t)
	src := fmt.Sprintf(`{
	admin localhost:%d
	auto_https off
	grace_period 1s
	`+strings.Join(global, "\n")+`
}
http://127.0.0.1:%d {
	handle /plain {
		webhook_verify standard {
			source plain
			secret primary %s
		}
		reverse_proxy %s
	}
	handle {
		webhook_verify standard {
			source cli
			secret primary %s
			deliver %s {
				store embedded %s
				backoff 20ms 100ms
				%s
			}
		}
	}
}
`, adminPort, port, testCLISecret, strings.TrimPrefix(app.URL, "http://"), testCLISecret, app.URL, t.TempDir(), extra)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, src)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("caddy did not start: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	g := &liveGateway{t: t, admin: "localhost:" + strconv.Itoa(adminPort), url: "http://127.0.0.1:" + strconv.Itoa(port) + "/", app: app, cfg: cfg}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never listened: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send sends a signed event to the gateway and returns its status.
func (g *liveGateway) send(id, typ string, secret string) int {
	g.t.Helper()
	return g.sendTo(g.url, id, typ, secret)
}

// sendTo sends a signed event to url and returns its status.
func (g *liveGateway) sendTo(url, id, typ string, secret string) int {
	g.t.Helper()
	body := fmt.Sprintf(`{"type":%q,"data":{"id":"in_1"}}`, typ)
	s, _ := verify.Preset("standard")
	sg, err := verify.NewSigner(s, verify.Key{Secret: secret})
	if err != nil {
		g.t.Fatal(err)
	}
	h, err := sg.Sign(verify.Message{ID: id, Timestamp: time.Now(), Body: []byte(body)})
	if err != nil {
		g.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus waits until the events API shows id with status.
func (g *liveGateway) waitStatus(id, status string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := eventsCLI(g.t, "list", "--admin", g.admin, "--json")
		var l struct {
			Events []listedEvent `json:"events"`
		}
		_ = json.Unmarshal([]byte(res.out), &l)
		for _, e := range l.Events {
			if e.ID == id && e.Status == status {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s never %s: %s", id, status, res.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventsCLI runs `events <args>`.
func eventsCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &webhookCLI{in: strings.NewReader(""), out: &out, errOut: &errOut}
	root := &cobra.Command{Use: "events"}
	for _, sub := range c.eventsCommands() {
		root.AddCommand(sub)
	}
	code := runCommand(root, c, args)
	return cliResult{code, out.String(), errOut.String()}
}

// TestEventsListAndReplay: `events list` shows what a real gateway
// recorded, as a table or as the API's JSON; `events replay` delivers an
// event again.
func TestEventsListAndReplay(t *testing.T) {
	g := startLiveGateway(t, "max_attempts 1")
	if st := g.send("evt_cli_1", "invoice.paid", testCLISecret); st != 200 {
		t.Fatalf("send: %d", st)
	}
	g.app.setStatus(500)
	if st := g.send("evt_cli_2", "invoice.voided", testCLISecret); st != 202 {
		t.Fatalf("send: %d, want 202 queued", st)
	}
	g.waitStatus("evt_cli_2", "dead")

	res := eventsCLI(t, "list", "--admin", g.admin)
	if res.code != 0 {
		t.Fatalf("list: %+v", res)
	}
	lines := strings.Split(strings.TrimSpace(res.out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RECEIVED") {
		t.Fatalf("list printed:\n%s", res.out)
	}
	for i, want := range [][]string{
		{"cli", "evt_cli_2", "invoice.voided", "dead", "1", "status 500"},
		{"cli", "evt_cli_1", "invoice.paid", "delivered", "1", "-"},
	} {
		fields := strings.Fields(lines[i+1])
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(fields, " ")+" ", " "+w) {
				t.Errorf("line %q lacks %q", lines[i+1], w)
			}
		}
	}

	for _, c := range []struct {
		args []string
		ids  string
	}{
		{[]string{"--status", "dead"}, "evt_cli_2"},
		{[]string{"--status", "delivered", "--source", "cli"}, "evt_cli_1"},
		{[]string{"--source", "other"}, ""},
		{[]string{"--type", "invoice.paid"}, "evt_cli_1"},
	} {
		res := eventsCLI(t, append([]string{"list", "--admin", g.admin, "--json"}, c.args...)...)
		var l struct {
			Events []listedEvent `json:"events"`
		}
		if err := json.Unmarshal([]byte(res.out), &l); err != nil || res.code != 0 {
			t.Fatalf("%v: %+v %v", c.args, res, err)
		}
		var got []string
		for _, e := range l.Events {
			got = append(got, e.ID)
		}
		if strings.Join(got, " ") != c.ids {
			t.Errorf("%v: listed %v, want %s", c.args, got, c.ids)
		}
	}

	g.app.setStatus(200)
	res = eventsCLI(t, "replay", "--admin", g.admin, "cli", "evt_cli_2")
	if res.code != 0 || res.out != "replaying cli/evt_cli_2\n" {
		t.Fatalf("replay: %+v", res)
	}
	reqs, bodies := g.app.waitFor(t, 2)
	if reqs[1].Header.Get("Hookgate-Event-Id") != "evt_cli_2" || !strings.Contains(bodies[1], "invoice.voided") {
		t.Fatalf("replayed: %v %q", reqs[1].Header, bodies[1])
	}
	g.waitStatus("evt_cli_2", "delivered")
}

// TestEventsErrors: usage errors exit 2; an unknown event, a bad filter
// or no gateway exit 1 with one line saying why.
func TestEventsErrors(t *testing.T) {
	g := startLiveGateway(t, "")
	dead := "127.0.0.1:" + strconv.Itoa(freeLocalPort(t))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"replay", "--admin", g.admin, "cli"}, 2, "want SOURCE ID"},
		{[]string{"list", "--admin", g.admin, "extra"}, 2, "unknown command"},
		{[]string{"list", "--admin", g.admin, "--limit", "5000"}, 2, "--limit"},
		{[]string{"list", "--bogus"}, 2, "unknown flag"},
		{[]string{"replay", "--admin", g.admin, "cli", "nope"}, 1, "event not found (HTTP 404)"},
		{[]string{"replay", "--admin", g.admin, "nosource", "x"}, 1, "records no events"},
		{[]string{"list", "--admin", g.admin, "--status", "bogus"}, 1, "status: want pending"},
		{[]string{"list", "--admin", dead}, 1, "no gateway admin API at " + dead},
	} {
		res := eventsCLI(t, c.args...)
		all := res.out + res.errOut
		if res.code != c.code || !strings.Contains(all, c.msg) || strings.Count(strings.TrimSpace(all), "\n") > 0 {
			t.Errorf("%v: exit %d %q, want %d and one line with %q", c.args, res.code, all, c.code, c.msg)
		}
	}
}
