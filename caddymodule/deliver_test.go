package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hookgate/hookgate/internal/testredis"
)

// app is the application behind a deliver block: it answers with what
// its status func says and records what it received.
type app struct {
	*httptest.Server
	status atomic.Int64 // the status it answers; 200 by default
	mu     sync.Mutex
	got    []http.Header
	bodies []string
}

func newApp(t *testing.T) *app {
	a := &app{}
	a.status.Store(200)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		st := int(a.status.Load())
		a.mu.Lock()
		if st/100 == 2 {
			a.got = append(a.got, r.Header.Clone())
			a.bodies = append(a.bodies, string(b))
		}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-App-Internal", "not for the provider")
		w.WriteHeader(st)
		fmt.Fprintf(w, "app says %d", st)
	}))
	t.Cleanup(a.Close)
	return a
}

// delivered returns the headers of the deliveries the app accepted.
func (a *app) delivered() []http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]http.Header(nil), a.got...)
}

// waitDelivered waits until the app accepted n deliveries.
func (a *app) waitDelivered(t *testing.T, n int) []http.Header {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := a.delivered()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app accepted %d deliveries, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deliverSite(a *app, dir, extra string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source deliverdemo
		secret primary %s
		deliver %s {
			store embedded %s
			backoff 20ms 100ms
			%s
		}
	}
}
`, secretA, a.URL, dir, extra)
}

// TestDeliverLiveFirst: with deliver (mode on_failure), a healthy app's
// answer goes back to the provider; a failing app's event is answered
// 202 queued and delivered in the background once the app is back, with
// the signature headers stripped and the attempt numbered; the
// provider's retry is a duplicate. The same holds whether the record is
// held through the live attempt (record_within: the default 100ms, or
// 1ms, which the attempt may outlast) or written first (before).
func TestDeliverLiveFirst(t *testing.T) {
	for name, extra := range map[string]string{
		"default": "",
		"1ms":     "record_within 1ms",
		"before":  "record_within before",
	} {
		t.Run(name, func(t *testing.T) { testDeliverLiveFirst(t, extra) })
	}
}

func testDeliverLiveFirst(t *testing.T, extra string) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), extra))
	body := []byte(invoice)

	resp, got := do(t, signed(t, g.url("/"), "evt_live", body, time.Now(), secretA))
	if resp.StatusCode != 200 || got != "app says 200" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("healthy app: %d %q %v, want the app's own answer", resp.StatusCode, got, resp.Header)
	}
	if resp.Header.Get("X-App-Internal") != "" {
		t.Fatal("the app's own headers reached the provider; only content headers should")
	}
	hs := a.waitDelivered(t, 1)
	if h := hs[0]; h.Get("Hookgate-Event-Id") != "evt_live" || h.Get("Hookgate-Attempt") != "1" || h.Get("Webhook-Signature") != "" || h.Get("X-Custom-Trace") != "abc123" {
		t.Fatalf("delivered headers: %v", h)
	}
	if resp, _ := do(t, signed(t, g.url("/"), "evt_live", body, time.Now(), secretA)); resp.Header.Get("Hookgate-Duplicate") != "true" {
		t.Fatalf("the provider's retry: %d, want a duplicate", resp.StatusCode)
	}

	a.status.Store(503)
	resp, _ = do(t, signed(t, g.url("/"), "evt_down", body, time.Now(), secretA))
	if resp.StatusCode != 202 || resp.Header.Get("Hookgate-Queued") != "true" {
		t.Fatalf("failing app: %d %v, want 202 queued", resp.StatusCode, resp.Header)
	}
	// The provider's retry of a queued event is a duplicate: it is on
	// its way.
	if resp, _ := do(t, signed(t, g.url("/"), "evt_down", body, time.Now(), secretA)); resp.Header.Get("Hookgate-Duplicate") != "true" {
		t.Fatalf("retry of a queued event: %d, want a duplicate", resp.StatusCode)
	}
	time.Sleep(100 * time.Millisecond)
	a.status.Store(200)
	hs = a.waitDelivered(t, 2)
	if h := hs[1]; h.Get("Hookgate-Event-Id") != "evt_down" || h.Get("Hookgate-Attempt") == "1" {
		t.Fatalf("background delivery: %v, want evt_down after the first attempt", h)
	}
	if a.bodies[1] != invoice {
		t.Fatalf("delivered body %q, want the raw body", a.bodies[1])
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(a.delivered()); n != 2 {
		t.Fatalf("the app accepted %d deliveries, want 2 (each event once)", n)
	}
}

// TestParseDeliverRecordWithin: the deliver block's record_within, as
// the Caddyfile adapter writes it into the JSON config, and the errors
// that name it.
func TestParseDeliverRecordWithin(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{"", `{"url":"http://app/"}`, ""},
		{"record_within 250ms", `{"url":"http://app/","record_within":250000000}`, ""},
		{"record_within 2s", `{"url":"http://app/","record_within":2000000000}`, ""},
		{"record_within before", `{"url":"http://app/","record_within":-1}`, ""},
		{"mode async\n record_within 50ms", `{"url":"http://app/","mode":"async","record_within":50000000}`, ""},
		{"record_within 0", "", `deliver record_within: want a positive duration (100ms, 1s) or before, got "0"`},
		{"record_within -5ms", "", `deliver record_within: want a positive duration (100ms, 1s) or before, got "-5ms"`},
		{"record_within soon", "", `deliver record_within: want a positive duration (100ms, 1s) or before, got "soon"`},
		{"record_within", "", "deliver record_within: want exactly one argument, got 0"},
		{"record_within 1s 2s", "", "deliver record_within: want exactly one argument, got 2"},
	} {
		in := "webhook_verify {\n deliver http://app/ {\n " + c.in + "\n }\n}"
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if !parsed(t, c.in, err, c.err) {
			continue
		}
		if got, _ := json.Marshal(h.Deliver[0]); string(got) != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
	}
}

// TestDeliverConfigRecordWithin: record_within in a JSON config reaches
// the engine's destination (zero: the engine's default; negative: the
// record is durable first) and reads back as written.
func TestDeliverConfigRecordWithin(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{`{"url":"http://app/"}`, 0, `{"url":"http://app/"}`},
		{`{"url":"http://app/","record_within":"250ms"}`, 250 * time.Millisecond, `{"url":"http://app/","record_within":250000000}`},
		{`{"url":"http://app/","record_within":250000000}`, 250 * time.Millisecond, `{"url":"http://app/","record_within":250000000}`},
		{`{"url":"http://app/","record_within":-1}`, -1, `{"url":"http://app/","record_within":-1}`},
		{`{"url":"http://app/","record_within":"-1s"}`, -time.Second, `{"url":"http://app/","record_within":-1000000000}`},
	} {
		var d DeliverConfig
		if err := json.Unmarshal([]byte(c.in), &d); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got := d.destination().RecordWithin; got != c.want {
			t.Errorf("%s: Destination.RecordWithin %v, want %v", c.in, got, c.want)
		}
		if out, _ := json.Marshal(&d); string(out) != c.out {
			t.Errorf("%s: reads back as %s, want %s", c.in, out, c.out)
		}
	}
	var d DeliverConfig
	if err := json.Unmarshal([]byte(`{"url":"http://app/","record_within":"before"}`), &d); err == nil {
		t.Error(`"record_within": "before" was accepted; JSON says -1`)
	}
}

// TestDeliverAsyncSurvivesRestart: mode async answers 202 at once; an
// event recorded while the app is down survives the gateway stopping and
// is delivered by the next gateway on the same store.
func TestDeliverAsyncSurvivesRestart(t *testing.T) {
	a := newApp(t)
	a.status.Store(500)
	dir := t.TempDir()
	g := startGateway(t, deliverSite(a, dir, "mode async"))
	for i := range 5 {
		resp, _ := do(t, signed(t, g.url("/"), fmt.Sprintf("evt_async_%d", i), []byte(invoice), time.Now(), secretA))
		if resp.StatusCode != 202 {
			t.Fatalf("async: %d, want 202", resp.StatusCode)
		}
	}
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	a.status.Store(200)
	time.Sleep(200 * time.Millisecond)
	if n := len(a.delivered()); n != 0 {
		t.Fatalf("%d delivered while no gateway ran", n)
	}
	startGateway(t, deliverSite(a, dir, "mode async"))
	hs := a.waitDelivered(t, 5)
	seen := map[string]bool{}
	for _, h := range hs {
		seen[h.Get("Hookgate-Event-Id")] = true
	}
	if len(seen) != 5 {
		t.Fatalf("delivered %v, want 5 distinct events", seen)
	}
}

// TestDeliverDeadAfterMaxAttempts: a delivery that keeps failing dies
// after max_attempts, counted in caddy_webhook_dead_total.
func TestDeliverDeadAfterMaxAttempts(t *testing.T) {
	a := newApp(t)
	a.status.Store(500)
	site := strings.Replace(deliverSite(a, t.TempDir(), "max_attempts 2"), "source deliverdemo", "source deadletter", 1)
	g := startGateway(t, site)
	resp, _ := do(t, signed(t, g.url("/"), "evt_dead", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 202 {
		t.Fatalf("%d, want 202", resp.StatusCode)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
		if strings.Contains(body, `caddy_webhook_dead_total{destination="app",source="deadletter"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead delivery counted:\n%s", grepLines(body, "caddy_webhook_dead"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeliverRedisStore: deliver with store redis records in the redis
// server of the handler's redis block: an event queued while the app is
// down is delivered once it is back, and is found in Redis.
func TestDeliverRedisStore(t *testing.T) {
	srv := testredis.Start(t)
	a := newApp(t)
	a.status.Store(503)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source redisdeliver
		secret primary %s
		dedup redis
		redis %s
		deliver %s {
			store redis
			backoff 20ms 100ms
		}
	}
}
`, secretA, srv.URL, a.URL))
	resp, _ := do(t, signed(t, g.url("/"), "evt_redis", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 202 {
		t.Fatalf("%d, want 202 queued", resp.StatusCode)
	}
	// KEYS answers an array: its first line is "*<count>".
	if keys, err := srv.Do("KEYS", "hookgate:dlv:*"); err != nil || keys == "*0" {
		t.Fatalf("no delivery keys in Redis: %q, %v", keys, err)
	}
	a.status.Store(200)
	if h := a.waitDelivered(t, 1)[0]; h.Get("Hookgate-Event-Id") != "evt_redis" {
		t.Fatalf("delivered %v", h)
	}
}

// TestDeliverFilterTransformAndExprMatcher is issue 17's two examples in a
// gateway: only HIGH priority events go to one destination, and every
// event is reshaped into a ticket for another, its numbers exact.
func TestDeliverFilterTransformAndExprMatcher(t *testing.T) {
	high, tickets := newApp(t), newApp(t)
	dir := t.TempDir()
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source exprdemo
		secret primary %s
		deliver %s {
			name slack
			mode async
			store embedded %s
			filter "payload.?data.?priority.orValue('') == 'HIGH'"
		}
		deliver %s {
			name tickets
			store embedded %s
			transform "{'title': payload.type + ' ' + payload.data.id, 'amount': payload.data.amount, 'priority': payload.?data.?priority.orValue('LOW')}"
		}
	}
}
`, secretA, high.URL, dir, tickets.URL, dir))
	send := func(id, priority string) {
		body := fmt.Sprintf(`{"type":"incident.opened","data":{"id":"%s","amount":9007199254740993,"priority":"%s"}}`, id, priority)
		resp, _ := do(t, signed(t, g.url("/"), id, []byte(body), time.Now(), secretA))
		if resp.StatusCode != 202 {
			t.Fatalf("%s: %d, want 202", id, resp.StatusCode)
		}
	}
	send("inc_1", "HIGH")
	send("inc_2", "LOW")
	got := tickets.waitDelivered(t, 2)
	high.waitDelivered(t, 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(high.delivered()); n != 1 {
		t.Fatalf("the HIGH-only destination got %d events, want 1", n)
	}
	if h := high.delivered()[0]; h.Get("Hookgate-Event-Id") != "inc_1" {
		t.Fatalf("the HIGH-only destination got %s", h.Get("Hookgate-Event-Id"))
	}
	tickets.mu.Lock()
	bodies := append([]string(nil), tickets.bodies...)
	tickets.mu.Unlock()
	want := map[string]bool{
		`{"amount":9007199254740993,"priority":"HIGH","title":"incident.opened inc_1"}`: true,
		`{"amount":9007199254740993,"priority":"LOW","title":"incident.opened inc_2"}`:  true,
	}
	for i, b := range bodies {
		if !want[b] || got[i].Get("Content-Type") != "application/json" {
			t.Fatalf("ticket body %s (%s), want one of %v", b, got[i].Get("Content-Type"), want)
		}
	}
}

// TestExprMatcherRoutes: webhook_expr routes a verified event by its
// payload; an expression that does not compile is refused at load.
func TestExprMatcherRoutes(t *testing.T) {
	highs, others := newUpstream(t), newUpstream(t)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source exprroute
		secret primary %s
	}
	@high webhook_expr "payload.data.amount_paid.value > 1000"
	handle @high {
		reverse_proxy %s
	}
	handle {
		reverse_proxy %s
	}
}
`, secretA, highs.hostPort(), others.hostPort()))
	for i, amount := range []string{"1200", "12"} {
		body := strings.Replace(invoice, "1200", amount, 1)
		if resp, _ := do(t, signed(t, g.url("/"), fmt.Sprintf("evt_x%d", i), []byte(body), time.Now(), secretA)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", amount, resp.StatusCode)
		}
	}
	if len(highs.requests()) != 1 || len(others.requests()) != 1 {
		t.Fatalf("high %d, other %d; want 1 and 1", len(highs.requests()), len(others.requests()))
	}
	bad := &gateway{t: t, adminPort: freePort(t), port: freePort(t)}
	cfg := bad.adapt("http://127.0.0.1:%PORT% {\n\twebhook_verify standard {\n\t\tsecret " + secretA + "\n\t}\n\t@x webhook_expr \"payload.data.amount >\"\n\trespond @x 200\n}\n")
	err := caddy.Load(cfg, true)
	t.Cleanup(func() { _ = caddy.Stop() })
	if err == nil || !strings.Contains(err.Error(), "webhook_expr") || !strings.Contains(err.Error(), "1:") {
		t.Fatalf("a broken expression: %v, want a load error naming webhook_expr and the position", err)
	}
}
