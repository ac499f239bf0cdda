package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hookgate/hookgate/internal/testredis"
)

// admin makes a request to the gateway's admin API, as a local client
// (no Origin header), and returns the status and body.
func (g *gateway) admin(method, path, body string) (int, string) {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", g.adminPort, path), rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminJSON makes an admin request that must answer want, and decodes its
// JSON answer into v.
func (g *gateway) adminJSON(method, path, body string, want int, v any) {
	g.t.Helper()
	st, got := g.admin(method, path, body)
	if st != want {
		g.t.Fatalf("%s %s: %d %s, want %d", method, path, st, got, want)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(got), v); err != nil {
			g.t.Fatalf("%s %s: %v in %s", method, path, err, got)
		}
	}
}

type listed struct {
	Events []listedEvent `json:"events"`
}

func (l listed) ids() []string {
	var ids []string
	for _, e := range l.Events {
		ids = append(ids, e.ID)
	}
	return ids
}

// sendEvent sends a signed invoice event with id to the gateway and
// returns the status.
func sendEvent(t *testing.T, g *gateway, id string, extra http.Header) int {
	t.Helper()
	req := signed(t, g.url("/"), id, []byte(invoice), time.Now(), secretA)
	for k, v := range extra {
		req.Header[k] = v
	}
	resp, _ := do(t, req)
	return resp.StatusCode
}

type listedEvent = struct {
	Source     string `json:"source"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	ReceivedAt string `json:"received_at"`
	LastError  string `json:"last_error"`
}

// waitEvent waits until the events API lists source/id as ok says.
func waitEvent(t *testing.T, g *gateway, source, id string, ok func(listedEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l listed
		g.adminJSON("GET", "/hookgate/events?source="+source+"&limit=1000", "", 200, &l)
		for _, e := range l.Events {
			if e.ID == id && ok(e) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s never as wanted: %+v", source, id, l.Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitEventStatus waits until the events API shows source/id with status.
func waitEventStatus(t *testing.T, g *gateway, source, id, status string) {
	t.Helper()
	waitEvent(t, g, source, id, func(e listedEvent) bool { return e.Status == status })
}

// TestAdminEventsListAndDetail: the events API lists recorded events
// newest first with the contract's fields, filters them, and shows one
// with its attempts, headers (no secret) and body.
func TestAdminEventsListAndDetail(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), "backoff 1h 2h"))
	secretish := http.Header{
		"Authorization": {"Bearer do-not-show"},
		"X-Api-Key":     {"do-not-show"},
		"X-Request-Id":  {"req-1"},
	}
	for _, id := range []string{"evt_1", "evt_2", "evt/3"} {
		if st := sendEvent(t, g, id, secretish); st != 200 {
			t.Fatalf("%s: %d", id, st)
		}
	}
	a.status.Store(500)
	if st := sendEvent(t, g, "evt_4", nil); st != 202 {
		t.Fatalf("evt_4: %d, want 202 queued", st)
	}

	// The live attempt's report is committed lazily.
	waitEvent(t, g, "deliverdemo", "evt_4", func(e listedEvent) bool { return e.Attempts == 1 })
	var l listed
	g.adminJSON("GET", "/hookgate/events", "", 200, &l)
	if got := strings.Join(l.ids(), " "); got != "evt_4 evt/3 evt_2 evt_1" {
		t.Fatalf("listed %q, want newest first", got)
	}
	e := l.Events[1]
	if e.Source != "deliverdemo" || e.Type != "invoice.paid" || e.Status != "delivered" || e.Attempts != 1 {
		t.Fatalf("listed %+v", e)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.ReceivedAt); err != nil {
		t.Fatalf("received_at %q: %v", e.ReceivedAt, err)
	}
	if l.Events[0].Status != "pending" || l.Events[0].LastError != "HTTP 500" {
		t.Fatalf("queued event listed %+v, want pending after HTTP 500", l.Events[0])
	}

	for _, c := range []struct {
		query string
		want  string
	}{
		{"?status=delivered", "evt/3 evt_2 evt_1"},
		{"?status=pending", "evt_4"},
		{"?source=deliverdemo&limit=2", "evt_4 evt/3"},
		{"?source=nosuchsource", ""},
		{"?type=invoice.paid&limit=1", "evt_4"},
		{"?type=other", ""},
		{"?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z", ""},
	} {
		var l listed
		g.adminJSON("GET", "/hookgate/events"+c.query, "", 200, &l)
		if got := strings.Join(l.ids(), " "); got != c.want {
			t.Errorf("%s: listed %q, want %q", c.query, got, c.want)
		}
	}

	var d struct {
		ID       string              `json:"id"`
		Status   string              `json:"status"`
		Headers  map[string][]string `json:"headers"`
		Body     string              `json:"body"`
		Attempts []struct {
			Status    int     `json:"status"`
			LatencyMS float64 `json:"latency_ms"`
			Latency   string  `json:"latency"`
			Error     string  `json:"error"`
			Number    int     `json:"number"`
		} `json:"attempts"`
	}
	g.adminJSON("GET", "/hookgate/events/deliverdemo/"+url.PathEscape("evt/3"), "", 200, &d)
	if d.ID != "evt/3" || d.Status != "delivered" || d.Body != invoice {
		t.Fatalf("detail: %+v", d)
	}
	if len(d.Attempts) != 1 || d.Attempts[0].Status != 200 || d.Attempts[0].Number != 1 || d.Attempts[0].Latency == "" {
		t.Fatalf("attempts: %+v", d.Attempts)
	}
	if d.Headers["X-Request-Id"] == nil || d.Headers["Content-Type"] == nil {
		t.Fatalf("headers %v: the provider's plain headers are missing", d.Headers)
	}
	_, raw := g.admin("GET", "/hookgate/events/deliverdemo/evt_1", "")
	for _, secret := range []string{"do-not-show", "v1,", "Webhook-Signature", secretA} {
		if strings.Contains(raw, secret) {
			t.Fatalf("the event's detail shows %q:\n%s", secret, raw)
		}
	}
}

// TestAdminEventsErrors: bad parameters, unknown events and methods get
// Caddy's JSON errors with the right status.
func TestAdminEventsErrors(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), ""))
	sendEvent(t, g, "evt_1", nil)
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/hookgate/events?status=bogus", "", 400},
		{"GET", "/hookgate/events?limit=0", "", 400},
		{"GET", "/hookgate/events?limit=1001", "", 400},
		{"GET", "/hookgate/events?since=yesterday", "", 400},
		{"GET", "/hookgate/events?before=x", "", 400},
		{"GET", "/hookgate/events?before=5", "", 400},
		{"POST", "/hookgate/events", "", 405},
		{"GET", "/hookgate/events/deliverdemo/nope", "", 404},
		{"GET", "/hookgate/events/nosource/evt_1", "", 404},
		{"PUT", "/hookgate/events/deliverdemo/evt_1", "", 405},
		{"DELETE", "/hookgate/events/deliverdemo/nope", "", 404},
		{"DELETE", "/hookgate/events/nosource/evt_1", "", 404},
		{"POST", "/hookgate/events/deliverdemo/nope/replay", "", 404},
		{"POST", "/hookgate/events/deliverdemo/evt_1/replay?destination=nope", "", 404},
		{"GET", "/hookgate/events/deliverdemo/evt_1/replay", "", 405},
		{"POST", "/hookgate/replay", `{}`, 400},
		{"POST", "/hookgate/replay", `{"status":"dead","rate":5000}`, 400},
		{"POST", "/hookgate/replay", `{"status":"dead","limit":-1}`, 400},
		{"POST", "/hookgate/replay", `{"status":"dead","bogus":1}`, 400},
		{"GET", "/hookgate/replay/rpl_nope", "", 404},
		{"POST", "/hookgate/purge", `{"status":"dead"}`, 400},
		{"POST", "/hookgate/purge", `not json`, 400},
		{"GET", "/hookgate/purge", "", 405},
	} {
		st, body := g.admin(c.method, c.path, c.body)
		if st != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, st, body, c.want)
			continue
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: error body %q, want Caddy's {\"error\":...}", c.method, c.path, body)
		}
	}
}

// TestAdminNoApp: a config without webhook_verify answers 503.
func TestAdminNoApp(t *testing.T) {
	g := startGateway(t, "http://127.0.0.1:%PORT% {\n\trespond ok\n}\n")
	if st, body := g.admin("GET", "/hookgate/events", ""); st != 503 || !strings.Contains(body, "no hookgate app") {
		t.Fatalf("%d %s, want 503", st, body)
	}
}

// TestAdminReplayOne: replaying an event delivers it again to the app,
// as a new attempt.
func TestAdminReplayOne(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), ""))
	sendEvent(t, g, "evt_again", nil)
	a.waitDelivered(t, 1)
	var ans map[string]string
	g.adminJSON("POST", "/hookgate/events/deliverdemo/evt_again/replay", "", 202, &ans)
	if ans["status"] != "replaying" || ans["id"] != "evt_again" {
		t.Fatalf("replay answered %v", ans)
	}
	hs := a.waitDelivered(t, 2)
	if h := hs[1]; h.Get("Hookgate-Event-Id") != "evt_again" || h.Get("Hookgate-Attempt") != "2" {
		t.Fatalf("replayed delivery: %v, want attempt 2 of evt_again", h)
	}
	if a.bodies[1] != invoice {
		t.Fatalf("replayed body %q", a.bodies[1])
	}
}

// TestAdminPurgeOne: DELETE /hookgate/events/{source}/{id} purges that
// event, whatever its status, and only it: 204, then 404.
func TestAdminPurgeOne(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), "backoff 1h 2h"))
	for _, id := range []string{"evt_1", "evt/2"} {
		if st := sendEvent(t, g, id, nil); st != 200 {
			t.Fatalf("%s: %d", id, st)
		}
	}
	a.status.Store(500)
	if st := sendEvent(t, g, "evt_pending", nil); st != 202 {
		t.Fatalf("evt_pending: %d, want 202 queued", st)
	}
	waitEvent(t, g, "deliverdemo", "evt_pending", func(e listedEvent) bool { return e.Attempts == 1 })

	for _, id := range []string{"evt_pending", "evt/2"} {
		path := "/hookgate/events/deliverdemo/" + url.PathEscape(id)
		if st, body := g.admin("DELETE", path, ""); st != 204 || body != "" {
			t.Fatalf("DELETE %s: %d %q, want 204 and no body", id, st, body)
		}
		if st, body := g.admin("GET", path, ""); st != 404 {
			t.Fatalf("GET %s after DELETE: %d %s, want 404", id, st, body)
		}
		if st, body := g.admin("DELETE", path, ""); st != 404 || !strings.Contains(body, "event not found") {
			t.Fatalf("DELETE %s again: %d %s, want 404 event not found", id, st, body)
		}
	}
	var l listed
	g.adminJSON("GET", "/hookgate/events", "", 200, &l)
	if got := strings.Join(l.ids(), " "); got != "evt_1" {
		t.Fatalf("after purging two: listed %q, want evt_1", got)
	}
}

// TestAdminRecordMetadataOnly: with the hookgate app's record
// metadata_only, a delivered event (live, or by a replay of a dead one)
// keeps its metadata and attempts but not its headers and body, says so,
// and cannot be replayed; a dead event keeps its payload until a replay
// delivers it.
func TestAdminRecordMetadataOnly(t *testing.T) {
	a := newApp(t)
	g := startGatewayWith(t, deliverSite(a, t.TempDir(), "max_attempts 1"), func(cfg map[string]any) {
		cfg["apps"].(map[string]any)["hookgate"] = map[string]any{"record": "metadata_only"}
	})
	detail := func(id string) (map[string]any, string) {
		t.Helper()
		_, raw := g.admin("GET", "/hookgate/events/deliverdemo/"+id, "")
		var d map[string]any
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatalf("%s: %v in %s", id, err, raw)
		}
		return d, raw
	}
	dropped := func(id string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			d, raw := detail(id)
			if d["payload_dropped"] == true {
				if d["body"] != nil || d["body_base64"] != nil || len(d["headers"].(map[string]any)) != 0 || strings.Contains(raw, "amount_paid") {
					t.Fatalf("%s: dropped, yet the detail shows a payload: %s", id, raw)
				}
				if d["type"] != "invoice.paid" || d["status"] != "delivered" || len(d["attempts"].([]any)) == 0 {
					t.Fatalf("%s: the detail lost its metadata: %s", id, raw)
				}
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: payload never dropped: %s", id, raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if st := sendEvent(t, g, "evt_live", nil); st != 200 {
		t.Fatalf("evt_live: %d", st)
	}
	dropped("evt_live")
	if st, body := g.admin("POST", "/hookgate/events/deliverdemo/evt_live/replay", ""); st != 409 || !strings.Contains(body, "record metadata_only") {
		t.Fatalf("replay of a dropped event: %d %s, want 409 saying why", st, body)
	}

	a.status.Store(500)
	if st := sendEvent(t, g, "evt_dead", nil); st != 202 {
		t.Fatalf("evt_dead: %d, want 202 queued", st)
	}
	waitEventStatus(t, g, "deliverdemo", "evt_dead", "dead")
	if d, raw := detail("evt_dead"); d["payload_dropped"] != nil || d["body"] != invoice {
		t.Fatalf("a dead event lost its payload: %s", raw)
	}
	a.status.Store(200)
	g.adminJSON("POST", "/hookgate/events/deliverdemo/evt_dead/replay", "", 202, nil)
	if a.waitDelivered(t, 2); a.bodies[1] != invoice {
		t.Fatalf("the dead event was replayed with body %q", a.bodies[1])
	}
	dropped("evt_dead")

	var l struct {
		Events []struct {
			ID             string `json:"id"`
			PayloadDropped bool   `json:"payload_dropped"`
		} `json:"events"`
	}
	g.adminJSON("GET", "/hookgate/events", "", 200, &l)
	if len(l.Events) != 2 || !l.Events[0].PayloadDropped || !l.Events[1].PayloadDropped {
		t.Fatalf("listed %+v, want both with payload_dropped", l.Events)
	}
	// A bulk replay passes over them.
	var job struct {
		ID       string `json:"id"`
		Matched  int    `json:"matched"`
		Replayed int    `json:"replayed"`
		Skipped  int    `json:"skipped"`
		State    string `json:"state"`
	}
	g.adminJSON("POST", "/hookgate/replay", `{"source":"deliverdemo","status":"delivered","rate":1000}`, 202, &job)
	deadline := time.Now().Add(20 * time.Second)
	for job.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("job never done: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
		g.adminJSON("GET", "/hookgate/replay/"+job.ID, "", 200, &job)
	}
	if job.Matched != 2 || job.Replayed != 0 || job.Skipped != 2 {
		t.Fatalf("bulk replay of dropped events: %+v, want 2 matched, 2 skipped", job)
	}
}

// TestAdminBulkReplayAndPurge: dead events are replayed in bulk at a
// rate, with a job to follow; purge deletes a source's events.
func TestAdminBulkReplayAndPurge(t *testing.T) {
	a := newApp(t)
	a.status.Store(500)
	g := startGateway(t, deliverSite(a, t.TempDir(), "max_attempts 1"))
	for i := range 3 {
		sendEvent(t, g, fmt.Sprintf("evt_dead_%d", i), nil)
	}
	for i := range 3 {
		waitEventStatus(t, g, "deliverdemo", fmt.Sprintf("evt_dead_%d", i), "dead")
	}
	a.status.Store(200)

	var job struct {
		ID       string  `json:"id"`
		Matched  int     `json:"matched"`
		Replayed int     `json:"replayed"`
		State    string  `json:"state"`
		Rate     float64 `json:"rate"`
	}
	g.adminJSON("POST", "/hookgate/replay", `{"source":"deliverdemo","status":"dead","rate":1000}`, 202, &job)
	if job.Matched != 3 || job.Rate != 1000 || !strings.HasPrefix(job.ID, "rpl_") {
		t.Fatalf("bulk replay answered %+v", job)
	}
	a.waitDelivered(t, 3)
	deadline := time.Now().Add(20 * time.Second)
	for job.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("job never done: %+v", job)
		}
		time.Sleep(20 * time.Millisecond)
		g.adminJSON("GET", "/hookgate/replay/"+job.ID, "", 200, &job)
	}
	if job.Replayed != 3 {
		t.Fatalf("job %+v, want 3 replayed", job)
	}
	for i := range 3 {
		waitEventStatus(t, g, "deliverdemo", fmt.Sprintf("evt_dead_%d", i), "delivered")
	}

	var purged map[string]int
	g.adminJSON("POST", "/hookgate/purge", `{"source":"deliverdemo","status":"delivered"}`, 200, &purged)
	if purged["purged"] != 3 {
		t.Fatalf("purge answered %v, want 3", purged)
	}
	var l listed
	g.adminJSON("GET", "/hookgate/events", "", 200, &l)
	if len(l.Events) != 0 {
		t.Fatalf("after purge: %v", l.ids())
	}
}

// TestPublicHeaders: the events API shows no header that may carry a
// secret, whatever the scheme.
func TestPublicHeaders(t *testing.T) {
	for _, c := range []struct {
		name string
		show bool
	}{
		{"Content-Type", true},
		{"User-Agent", true},
		{"X-Github-Event", true},
		{"X-Github-Delivery", true},
		{"Webhook-Id", true},
		{"Idempotency-Key", true},
		{"Webhook-Signature", false},
		{"Stripe-Signature", false},
		{"X-Hub-Signature-256", false},
		{"X-Gitlab-Token", false},
		{"X-Hook-Secret", false},
		{"Authorization", false},
		{"Proxy-Authorization", false},
		{"Cookie", false},
		{"X-Api-Key", false},
		{"X-Shopify-Hmac-Sha256", false},
		{"X-Twilio-Signature", false},
		{"X-Custom-Auth", false},
	} {
		got := publicHeaders(http.Header{c.name: {"v"}})
		if _, shown := got[c.name]; shown != c.show {
			t.Errorf("%s: shown %v, want %v", c.name, shown, c.show)
		}
	}
}

// TestAdminHealth: GET /hookgate/health shows each configured source,
// with or without a deliver block, its counts, its keys' expiries and a
// verdict; each key's expiry is a metric.
func TestAdminHealth(t *testing.T) {
	a := newApp(t)
	u := newUpstream(t)
	soon := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	handle /plain {
		webhook_verify standard {
			source plain
			secret rotating %s %s
		}
		reverse_proxy %s
	}
	handle {
		webhook_verify standard {
			source recorded
			secret primary %s
			deliver %s {
				store embedded %s
			}
		}
	}
}
`, secretA, soon.Format(time.RFC3339), u.hostPort(), secretA, a.URL, t.TempDir()))
	do(t, signed(t, g.url("/"), "evt_h1", []byte(invoice), time.Now(), secretA))
	do(t, signed(t, g.url("/plain"), "evt_h2", []byte(invoice), time.Now(), secretA))
	do(t, signed(t, g.url("/plain"), "evt_h3", []byte(invoice), time.Now(), secretB))
	a.waitDelivered(t, 1)

	type health struct {
		Sources []struct {
			Source, Status, Reason       string
			Records                      bool
			Requests, Verified, Rejected int
			Delivered                    int
			LastEventAt                  string `json:"last_event_at"`
			Keys                         []struct{ Name, Expires, State string }
			LatencyP50                   *float64 `json:"latency_p50_ms"`
			SuccessRate                  *float64 `json:"success_rate"`
		}
	}
	var h health
	deadline := time.Now().Add(20 * time.Second)
	for {
		g.adminJSON("GET", "/hookgate/health", "", 200, &h)
		if len(h.Sources) == 2 && h.Sources[1].Delivered == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	plain, rec := h.Sources[0], h.Sources[1]
	if plain.Source != "plain" || plain.Records || plain.Requests != 2 || plain.Verified != 1 || plain.Rejected != 1 || plain.LastEventAt == "" {
		t.Errorf("plain: %+v", plain)
	}
	if plain.Status != "degraded" || !strings.Contains(plain.Reason, "every key expires within 7 days") ||
		len(plain.Keys) != 1 || plain.Keys[0].State != "expiring" || plain.Keys[0].Expires != soon.Format(time.RFC3339Nano) {
		t.Errorf("plain's verdict: %+v", plain)
	}
	if rec.Source != "recorded" || !rec.Records || rec.Status != "healthy" || rec.LatencyP50 == nil || rec.SuccessRate == nil || *rec.SuccessRate != 1 {
		t.Errorf("recorded: %+v", rec)
	}
	_, metrics := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
	expiries := grepLines(metrics, "caddy_webhook_key_expiry_timestamp_seconds{")
	var got float64
	if _, err := fmt.Sscanf(grepLines(expiries, `key="rotating"`), `caddy_webhook_key_expiry_timestamp_seconds{key="rotating",source="plain"} %g`, &got); err != nil || int64(got) != soon.Unix() {
		t.Errorf("expiry metric %q, want the key's expiry %d", expiries, soon.Unix())
	}
	if !strings.Contains(expiries, `caddy_webhook_key_expiry_timestamp_seconds{key="primary",source="recorded"} +Inf`) {
		t.Errorf("a key without expiry is not +Inf:\n%s", expiries)
	}
}

// TestAdminRedisStore: the events API, bulk replay and the stream's
// store resume work over the Redis store, which numbers events per
// source.
func TestAdminRedisStore(t *testing.T) {
	srv := testredis.Start(t)
	a := newApp(t)
	a.status.Store(500)
	site := fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source redisevents
		secret primary %s
		redis %s
		deliver %s {
			store redis
			max_attempts 1
		}
	}
}
`, secretA, srv.URL, a.URL)
	g := startGateway(t, site)
	for i := range 3 {
		sendEvent(t, g, fmt.Sprintf("evt_rs%d", i), nil)
	}
	for i := range 3 {
		waitEventStatus(t, g, "redisevents", fmt.Sprintf("evt_rs%d", i), "dead")
	}
	var l listed
	g.adminJSON("GET", "/hookgate/events?limit=2", "", 200, &l)
	if got := strings.Join(l.ids(), " "); got != "evt_rs2 evt_rs1" {
		t.Fatalf("listed %q", got)
	}
	var d struct{ Body string }
	g.adminJSON("GET", "/hookgate/events/redisevents/evt_rs0", "", 200, &d)
	if d.Body != invoice {
		t.Fatalf("body %q", d.Body)
	}
	a.status.Store(200)
	var job struct {
		ID      string
		Matched int
	}
	g.adminJSON("POST", "/hookgate/replay", `{"status":"dead","rate":1000}`, 202, &job)
	if job.Matched != 3 {
		t.Fatalf("bulk replay matched %d, want 3", job.Matched)
	}
	a.waitDelivered(t, 3)

	// A restarted gateway resumes the stream from the Redis store.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, site)
	s := openStream(t, g.adminPort, "", fmt.Sprintf("gone-1-%d", time.Now().Add(-time.Hour).UnixMilli()))
	var ids []string
	for len(ids) < 3 {
		ev := s.next()
		if ev.data["resumed"] != true {
			t.Fatalf("resumed with %+v", ev)
		}
		ids = append(ids, ev.data["id"].(string))
	}
	if strings.Join(ids, " ") != "evt_rs0 evt_rs1 evt_rs2" {
		t.Fatalf("resumed %v", ids)
	}
}
