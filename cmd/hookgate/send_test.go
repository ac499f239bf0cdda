package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

// sendCLI runs `webhook send <args>` as runWebhook does, on a command tree
// of its own holding only the send command.
func sendCLI(t *testing.T, stdin string, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &webhookCLI{in: strings.NewReader(stdin), out: &out, errOut: &errOut, getenv: func(k string) string { return env[k] }}
	root := &cobra.Command{Use: "webhook", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.SetArgs(append([]string{"send"}, args...))
	root.SetIn(c.in)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.AddCommand(c.sendCommand())
	cmd, err := root.ExecuteC()
	if err != nil && cmd != nil && !errors.As(err, new(*exitError)) {
		err = usageErrorf("%v", err)
	}
	code := c.finish(err)
	return cliResult{code, out.String(), errOut.String()}
}

// gateway is a test endpoint that verifies Standard Webhooks with
// testCLISecret and answers the scripted statuses in turn (the last one
// repeats), as a hookgate gateway would.
type gateway struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	reqs     []*http.Request
	bodies   [][]byte
}

const testCLISecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newGateway(t *testing.T, statuses ...int) *gateway {
	t.Helper()
	scheme, _ := verify.Preset("standard")
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: testCLISecret}}})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{statuses: statuses}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		n := len(g.reqs)
		g.reqs = append(g.reqs, r)
		g.bodies = append(g.bodies, body)
		g.mu.Unlock()
		if _, err := v.Verify(&verify.Request{Header: r.Header, Body: body}); err != nil {
			w.Header().Set(sdk.HeaderReason, string(sdk.ReasonSignatureMismatch))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(g.statuses[min(n, len(g.statuses)-1)])
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reqs)
}

// request returns the i-th request's headers and body.
func (g *gateway) request(i int) (http.Header, []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reqs[i].Header, g.bodies[i]
}

func TestSendDelivers(t *testing.T) {
	g := newGateway(t, 200)
	r := sendCLI(t, "", nil, "--secret", testCLISecret, "--url", g.URL, "--data", `{"type":"ping"}`, "--id", "msg_1",
		"--header", "X-Tenant: acme")
	if r.code != exitOK || r.out != "delivered status=200 attempts=1 id=msg_1\n" {
		t.Fatalf("code %d out %q err %q", r.code, r.out, r.errOut)
	}
	if !strings.HasPrefix(r.errOut, "attempt 1/4 status=200 ") {
		t.Errorf("attempt log %q", r.errOut)
	}
	h, b := g.request(0)
	if h.Get("X-Tenant") != "acme" || h.Get("Webhook-Id") != "msg_1" || string(b) != `{"type":"ping"}` {
		t.Errorf("request headers %v body %q", h, b)
	}
	if strings.Contains(r.out+r.errOut, testCLISecret) {
		t.Error("output repeats the secret")
	}
}

func TestSendBodySources(t *testing.T) {
	g := newGateway(t, 200)
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOKGATE_SECRET": testCLISecret}
	if r := sendCLI(t, "", env, "--url", g.URL, path); r.code != exitOK {
		t.Fatalf("file: %d %q %q", r.code, r.out, r.errOut)
	}
	if r := sendCLI(t, `{"from":"stdin"}`, env, "--url", g.URL); r.code != exitOK || !strings.Contains(r.out, "id=msg_") {
		t.Fatalf("stdin: %d %q %q", r.code, r.out, r.errOut)
	}
	_, b0 := g.request(0)
	_, b1 := g.request(1)
	if got := string(b0) + string(b1); got != `{"from":"file"}{"from":"stdin"}` {
		t.Errorf("bodies %s", got)
	}
}

func TestSendRetries(t *testing.T) {
	g := newGateway(t, 503, 500, 200)
	r := sendCLI(t, "", nil, "--secret", testCLISecret, "--url", g.URL, "--data", `{}`, "--id", "msg_r", "--backoff", "1ms")
	if r.code != exitOK || r.out != "delivered status=200 attempts=3 id=msg_r\n" {
		t.Fatalf("code %d out %q err %q", r.code, r.out, r.errOut)
	}
	lines := strings.Split(strings.TrimSpace(r.errOut), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "attempt 1/4 status=503") || !strings.Contains(lines[0], "retry_in=") ||
		strings.Contains(lines[2], "retry_in=") {
		t.Errorf("attempt log %q", r.errOut)
	}
}

func TestSendFails(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		args     []string
		want     string
		requests int
	}{
		{"gives up", []int{500}, []string{"--retries", "2"},
			"failed status=500 attempts=3 id=msg_f: send: delivery attempts exhausted after 3 attempts: send: attempt 3: status 500\n", 3},
		{"no retries", []int{503}, []string{"--retries", "0"},
			"failed status=503 attempts=1 id=msg_f: send: delivery attempts exhausted after 1 attempts: send: attempt 1: status 503\n", 1},
		{"rejected", []int{200}, []string{"--secret", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"},
			"failed status=401 attempts=1 id=msg_f reason=signature_mismatch: send: endpoint rejected the delivery: status 401\n", 1},
		{"gone", []int{410}, nil,
			"failed status=410 attempts=1 id=msg_f: send: endpoint gone: status 410\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t, tt.statuses...)
			args := append([]string{"--url", g.URL, "--data", `{}`, "--id", "msg_f", "--backoff", "1ms"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--secret") {
				args = append(args, "--secret", testCLISecret)
			}
			r := sendCLI(t, "", nil, args...)
			if r.code != exitInvalid || r.out != tt.want {
				t.Fatalf("code %d out %q err %q\nwant out %q", r.code, r.out, r.errOut, tt.want)
			}
			if g.count() != tt.requests {
				t.Errorf("%d requests, want %d", g.count(), tt.requests)
			}
		})
	}
}

func TestSendNetworkError(t *testing.T) {
	g := newGateway(t, 200)
	url := g.URL
	g.Close() // nothing listens there any more
	r := sendCLI(t, "", nil, "--secret", testCLISecret, "--url", url, "--data", `{}`, "--retries", "1", "--backoff", "1ms", "--timeout", "5s")
	if r.code != exitInvalid || !strings.HasPrefix(r.out, "failed status=0 attempts=2 ") || !strings.Contains(r.errOut, "error=") {
		t.Fatalf("code %d out %q err %q", r.code, r.out, r.errOut)
	}
}

func TestSendHeaderTypedSchemes(t *testing.T) {
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	r := sendCLI(t, "", nil, "--scheme", "github", "--secret", "s3cret", "--url", srv.URL, "--data", `{"action":"opened"}`, "--type", "issues")
	if r.code != exitOK {
		t.Fatalf("github: %d %q %q", r.code, r.out, r.errOut)
	}
	if h := <-got; h.Get("X-Github-Event") != "issues" || !strings.HasPrefix(h.Get("X-Hub-Signature-256"), "sha256=") {
		t.Errorf("github headers %v", h)
	}
	r = sendCLI(t, "From=%2B15551234&CallSid=CA1", nil, "--scheme", "twilio", "--secret", "s3cret", "--url", srv.URL+"/sms")
	if r.code != exitOK {
		t.Fatalf("twilio: %d %q %q", r.code, r.out, r.errOut)
	}
	if h := <-got; h.Get("Content-Type") != "application/x-www-form-urlencoded" || h.Get("X-Twilio-Signature") == "" {
		t.Errorf("twilio headers %v", h)
	}
}

func TestSendUsageErrors(t *testing.T) {
	dir := t.TempDir()
	body := filepath.Join(dir, "b.json")
	if err := os.WriteFile(body, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := []string{"--secret", testCLISecret}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no url", append(s, "--data", "{}"), "--url"},
		{"not JSON", append(s, "--url", "http://127.0.0.1:1", "--data", "{nope"), "--data"},
		{"data and file", append(s, "--url", "http://127.0.0.1:1", "--data", "{}", body), "not both"},
		{"negative retries", append(s, "--url", "http://127.0.0.1:1", "--data", "{}", "--retries", "-1"), "--retries"},
		{"zero timeout", append(s, "--url", "http://127.0.0.1:1", "--data", "{}", "--timeout", "0s"), "--timeout"},
		{"bad header", append(s, "--url", "http://127.0.0.1:1", "--data", "{}", "--header", "NoColon"), "--header"},
		{"relative url", append(s, "--url", "/hooks", "--data", "{}"), "invalid delivery"},
		{"unknown flag", append(s, "--url", "http://127.0.0.1:1", "--bogus"), "bogus"},
		{"unknown scheme", []string{"--scheme", "nope", "--secret", "x", "--url", "http://127.0.0.1:1", "--data", "{}"}, "--scheme"},
		{"no secret", []string{"--url", "http://127.0.0.1:1", "--data", "{}"}, "no secret"},
		{"public key only", []string{"--public-key", "whpk_" + strings.Repeat("A", 43) + "=", "--url", "http://127.0.0.1:1", "--data", "{}"}, "secret"},
		{"missing file", append(s, "--url", "http://127.0.0.1:1", filepath.Join(dir, "missing")), "read body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendCLI(t, "", nil, tt.args...)
			if r.code != exitUsage || r.out != "" || !strings.Contains(r.errOut, tt.want) {
				t.Fatalf("code %d out %q err %q, want usage error mentioning %q", r.code, r.out, r.errOut, tt.want)
			}
			if strings.Contains(r.errOut, testCLISecret) {
				t.Error("output repeats the secret")
			}
		})
	}
}

// The per-attempt timeout ends a hanging attempt and the send fails.
func TestSendTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	r := sendCLI(t, "", nil, "--secret", testCLISecret, "--url", srv.URL, "--data", "{}", "--retries", "0", "--timeout", "50ms")
	if r.code != exitInvalid || !strings.Contains(r.out, "deadline exceeded") {
		t.Fatalf("code %d out %q err %q", r.code, r.out, r.errOut)
	}
}

// eventGateway verifies scheme with secret, as a gateway would, records
// every verified event and answers the scripted statuses in turn.
type eventGateway struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests int
	events   []verify.Event
	bodies   [][]byte
}

func newEventGateway(t *testing.T, scheme, secret string, statuses ...int) *eventGateway {
	t.Helper()
	s, err := verify.Preset(scheme)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	g := &eventGateway{statuses: append(statuses, 200)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.requests++
		g.mu.Unlock()
		ev, err := v.Verify(&verify.Request{Header: r.Header, Body: body, URL: "http://" + r.Host + r.URL.String(), Method: r.Method})
		if err != nil {
			w.Header().Set(sdk.HeaderReason, string(sdk.ReasonSignatureMismatch))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		n := len(g.events)
		g.events = append(g.events, ev)
		g.bodies = append(g.bodies, body)
		g.mu.Unlock()
		w.WriteHeader(g.statuses[min(n, len(g.statuses)-1)])
	}))
	t.Cleanup(g.Close)
	return g
}

// TestSendReportsTheIDTheGatewaySees is issue 13 item 5: send puts the
// event id where the scheme reads it (a header, or the payload for
// Stripe and Mailgun), prints the id the gateway verified, keeps it on
// every attempt, and refuses an --id the gateway would not see.
func TestSendReportsTheIDTheGatewaySees(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name, scheme, data, id string
		statuses               []int
		wantID                 string // "" : the printed id is random, and must be the gateway's; "-": no id at all
		wantBody               string // the body the gateway got, when it matters
	}{
		{name: "stripe: --id into a body without one", scheme: "stripe", data: `{"type":"invoice.paid"}`, id: "evt_cli",
			wantID: "evt_cli", wantBody: `{"id":"evt_cli","type":"invoice.paid"}`},
		{name: "stripe: the body's own id", scheme: "stripe", data: `{"id":"evt_body","type":"invoice.paid"}`,
			wantID: "evt_body", wantBody: `{"id":"evt_body","type":"invoice.paid"}`},
		{name: "stripe: --id agreeing with the body", scheme: "stripe", data: `{"id":"evt_body"}`, id: "evt_body", wantID: "evt_body"},
		{name: "stripe: a random id, the same on every attempt", scheme: "stripe", data: `{"type":"invoice.paid"}`, statuses: []int{503}},
		{name: "pagerduty: a nested id field", scheme: "pagerduty", data: `{"event":{"event_type":"incident.triggered"}}`, id: "E1",
			wantID: "E1", wantBody: `{"event":{"id":"E1","event_type":"incident.triggered"}}`},
		{name: "mailgun: the signed token, the same on every attempt", scheme: "mailgun", data: `{"event-data":{"event":"delivered"}}`,
			statuses: []int{503}},
		{name: "github: the delivery header", scheme: "github", data: `{"zen":"x"}`, id: "d-1", wantID: "d-1"},
		{name: "zoom: no id", scheme: "zoom", data: `{"event":"meeting.started"}`, wantID: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newEventGateway(t, tt.scheme, secret, tt.statuses...)
			args := []string{"--scheme", tt.scheme, "--secret", secret, "--url", g.URL + "/hooks", "--data", tt.data, "--backoff", "1ms"}
			if tt.id != "" {
				args = append(args, "--id", tt.id)
			}
			r := sendCLI(t, "", nil, args...)
			if r.code != exitOK {
				t.Fatalf("code %d out %q err %q", r.code, r.out, r.errOut)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if len(g.events) != len(tt.statuses)+1 {
				t.Fatalf("%d verified attempts, want %d", len(g.events), len(tt.statuses)+1)
			}
			seen := g.events[0].ID
			for i, ev := range g.events {
				if ev.ID != seen {
					t.Errorf("attempt %d: the gateway saw id %q, the first attempt %q", i+1, ev.ID, seen)
				}
			}
			printed, hasID := strings.CutPrefix(r.out[strings.LastIndex(r.out, " ")+1:], "id=")
			printed = strings.TrimSpace(printed)
			switch tt.wantID {
			case "-":
				if hasID || strings.Contains(r.out, "id=") || seen != "" {
					t.Errorf("out %q, gateway id %q: want no id", r.out, seen)
				}
				return
			case "":
				if !hasID || printed == "" {
					t.Fatalf("out %q: no id=", r.out)
				}
			default:
				if printed != tt.wantID {
					t.Errorf("printed id %q, want %q (out %q)", printed, tt.wantID, r.out)
				}
			}
			if printed != seen {
				t.Errorf("printed id=%s, the gateway saw %q", printed, seen)
			}
			if tt.wantBody != "" && string(g.bodies[0]) != tt.wantBody {
				t.Errorf("body %s, want %s", g.bodies[0], tt.wantBody)
			}
		})
	}
}

// TestSendRefusesAnIDTheGatewayWouldNotSee: --id is refused, before
// anything is sent, where the gateway would read another id or none.
func TestSendRefusesAnIDTheGatewayWouldNotSee(t *testing.T) {
	tests := []struct {
		name, scheme, data, id, want string
	}{
		{"the body has another id", "stripe", `{"id":"evt_body"}`, "evt_cli", `reads the event id from the body's id, which is evt_body`},
		{"a nested id", "pagerduty", `{"event":{"id":"E0"}}`, "E1", "event.id, which is E0"},
		{"no id in the scheme", "zoom", `{"event":"x"}`, "x", `scheme "zoom" carries no event id`},
		{"no room for an id", "stripe", `[1]`, "evt_cli", "--id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newEventGateway(t, tt.scheme, "s3cret")
			r := sendCLI(t, "", nil, "--scheme", tt.scheme, "--secret", "s3cret", "--url", g.URL, "--data", tt.data, "--id", tt.id)
			if r.code != exitUsage || r.out != "" || !strings.Contains(r.errOut, tt.want) {
				t.Fatalf("code %d out %q err %q, want a usage error mentioning %q", r.code, r.out, r.errOut, tt.want)
			}
			if g.count() != 0 {
				t.Errorf("%d requests sent", g.count())
			}
		})
	}
}

func (g *eventGateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}
