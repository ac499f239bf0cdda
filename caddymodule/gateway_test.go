package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/verify"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_c2Vjb25kLXNlY3JldC1mb3ItdGhlLWdhdGV3YXk="
)

// upstream records what the gateway forwarded.
type upstream struct {
	*httptest.Server
	mu     sync.Mutex
	got    []recorded
	status func(n int) int // status for the n-th request (1-based)
	delay  time.Duration
	n      atomic.Int64
}

type recorded struct {
	header http.Header
	body   []byte
	cl     int64
	te     []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{status: func(int) int { return 200 }}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := int(u.n.Add(1))
		u.mu.Lock()
		u.got = append(u.got, recorded{header: r.Header.Clone(), body: b, cl: r.ContentLength, te: r.TransferEncoding})
		u.mu.Unlock()
		if u.delay > 0 {
			time.Sleep(u.delay)
		}
		w.WriteHeader(u.status(n))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.got...)
}

func (u *upstream) hostPort() string { return strings.TrimPrefix(u.URL, "http://") }

func freePort(t *testing.T) int { t.Helper(); return testredis.FreePort(t) }

// gateway is a real Caddy server, run in this process, loaded from a
// Caddyfile. Tests that use it must not run in parallel: Caddy's running
// config is process-wide.
type gateway struct {
	t         *testing.T
	adminPort int
	port      int
}

const globals = `{
	admin localhost:%d
	auto_https off
	grace_period 2s
	servers {
		protocols h1
	}
}
`

// startGateway loads site (a Caddyfile without the global block; %PORT%
// stands for the gateway's port) and waits until it answers.
func startGateway(t *testing.T, site string) *gateway {
	t.Helper()
	g := &gateway{t: t, adminPort: freePort(t), port: freePort(t)}
	cfg := g.adapt(site)
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("caddy did not start: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(g.port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never listened on %d: %v", g.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return g
}

func (g *gateway) adapt(site string) []byte {
	g.t.Helper()
	src := fmt.Sprintf(globals, g.adminPort) + strings.ReplaceAll(site, "%PORT%", strconv.Itoa(g.port))
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warnings, err := adapter.Adapt([]byte(src), nil)
	if err != nil {
		g.t.Fatalf("adapt: %v\n%s", err, src)
	}
	for _, w := range warnings {
		g.t.Logf("adapt warning: %s", w.String())
	}
	return cfg
}

// reload posts a new config to the admin API, as `caddy reload` does.
func (g *gateway) reload(site string) {
	g.t.Helper()
	cfg := g.adapt(site)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", g.adminPort), bytes.NewReader(cfg))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("reload: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		g.t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
}

func (g *gateway) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(g.port) + path
}

// signed builds a Standard Webhooks request signed with every secret given.
func signed(t *testing.T, url, id string, body []byte, at time.Time, secrets ...string) *http.Request {
	t.Helper()
	s, _ := verify.Preset("standard")
	var keys []verify.Key
	for _, sec := range secrets {
		keys = append(keys, verify.Key{Secret: sec})
	}
	sg, err := verify.NewSigner(s, keys...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sg.Sign(verify.Message{ID: id, Timestamp: at, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Custom-Trace", "abc123")
	// Webhooks are idempotent by id; saying so lets net/http resend a
	// request whose reused keep-alive connection the server closed at the
	// same moment (as a reload's graceful shutdown does), as senders should.
	r.Header.Set("Idempotency-Key", id)
	return r
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func do(t *testing.T, r *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const invoice = `{"type":"invoice.paid","timestamp":"2026-11-22T10:00:00Z","data":{"id":"in_1","customer":"cus_1","amount_paid":{"value":1200,"currency":"EUR"},"status":"paid"}}`

func basicSite(u *upstream, extra string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source demo
		secret primary %s
		%s
	}
	reverse_proxy %s {
		header_up Hookgate-Event-Id {http.webhook.id}
		header_up Hookgate-Event-Type {http.webhook.type}
	}
}
`, secretA, extra, u.hostPort())
}

func TestGatewayForwardsBodyAndHeadersIntact(t *testing.T) {
	u := newUpstream(t)
	g := startGateway(t, basicSite(u, "schemas ../schemas/examples"))

	// A body with every byte value a JSON string can carry raw, and
	// non-canonical spacing that re-serializing would lose.
	body := []byte(`{"type":"invoice.paid" ,  "timestamp":"2026-11-22T10:00:00Z","data":{"id":"in_1","customer":"cüs \u00e9 ✓","amount_paid":{"value":1200,"currency":"EUR"},"status":"paid"}}`)
	r := signed(t, g.url("/hooks?x=1"), "evt_intact", body, time.Now(), secretA)
	resp, _ := do(t, r)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d (%s)", resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
	}
	got := u.requests()
	if len(got) != 1 {
		t.Fatalf("upstream saw %d requests", len(got))
	}
	if !bytes.Equal(got[0].body, body) || got[0].cl != int64(len(body)) {
		t.Fatalf("upstream body %q (CL %d), sent %q", got[0].body, got[0].cl, body)
	}
	for _, h := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature", "Content-Type", "X-Custom-Trace"} {
		if got[0].header.Get(h) != r.Header.Get(h) {
			t.Errorf("header %s: upstream %q, sent %q", h, got[0].header.Get(h), r.Header.Get(h))
		}
	}
	if got[0].header.Get("Hookgate-Event-Id") != "evt_intact" || got[0].header.Get("Hookgate-Event-Type") != "invoice.paid" {
		t.Errorf("placeholders: id %q type %q", got[0].header.Get("Hookgate-Event-Id"), got[0].header.Get("Hookgate-Event-Type"))
	}

	// A chunked request reaches the upstream with a Content-Length.
	r = signed(t, g.url("/hooks"), "evt_chunked", []byte(invoice), time.Now(), secretA)
	r.Body = io.NopCloser(strings.NewReader(invoice)) // unknown length: sent chunked
	r.ContentLength = -1
	if resp, _ := do(t, r); resp.StatusCode != 200 {
		t.Fatalf("chunked: %d %s", resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
	}
	got = u.requests()
	last := got[len(got)-1]
	if string(last.body) != invoice || last.cl != int64(len(invoice)) || len(last.te) != 0 {
		t.Fatalf("chunked request arrived as CL %d TE %v body %q", last.cl, last.te, last.body)
	}
}

func TestGatewayRejections(t *testing.T) {
	u := newUpstream(t)
	g := startGateway(t, basicSite(u, "schemas ../schemas/examples\n\t\trate_limit 1000/s burst 1000"))
	now := time.Now()
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
	}{
		{"tampered body", func() *http.Request {
			r := signed(t, g.url("/"), "evt_t1", []byte(invoice), now, secretA)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(invoice, "1200", "9200", 1)))
			return r
		}, 401, "signature_mismatch"},
		{"wrong secret", func() *http.Request { return signed(t, g.url("/"), "evt_t2", []byte(invoice), now, secretB) }, 401, "signature_mismatch"},
		{"stale timestamp", func() *http.Request {
			return signed(t, g.url("/"), "evt_t3", []byte(invoice), now.Add(-time.Hour), secretA)
		}, 401, "timestamp_out_of_tolerance"},
		{"missing headers", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, g.url("/"), strings.NewReader(invoice))
			return r
		}, 400, "missing_header"},
		{"schema violation", func() *http.Request {
			return signed(t, g.url("/"), "evt_t5", []byte(strings.Replace(invoice, `"currency":"EUR"`, `"currency":"euro"`, 1)), now, secretA)
		}, 422, "schema_violation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := do(t, tc.req())
			if resp.StatusCode != tc.status || resp.Header.Get("Hookgate-Reason") != tc.reason {
				t.Fatalf("got %d %q (%s), want %d %s", resp.StatusCode, resp.Header.Get("Hookgate-Reason"),
					resp.Header.Get("Hookgate-Message"), tc.status, tc.reason)
			}
			if tc.reason == "schema_violation" && !strings.Contains(resp.Header.Get("Hookgate-Message"), "/data/amount_paid/currency") {
				t.Errorf("schema message lacks the JSON pointer: %q", resp.Header.Get("Hookgate-Message"))
			}
		})
	}
	if n := len(u.requests()); n != 0 {
		t.Fatalf("upstream saw %d rejected requests", n)
	}
	// The metrics count rejections by reason.
	resp, body := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
	if resp.StatusCode != 200 || !strings.Contains(body, `caddy_webhook_requests_total{outcome="rejected",reason="signature_mismatch",source="demo"} 2`) {
		t.Fatalf("metrics:\n%s", grepLines(body, "caddy_webhook_requests_total"))
	}
}

func TestGatewayRateLimit(t *testing.T) {
	u := newUpstream(t)
	g := startGateway(t, basicSite(u, "rate_limit 1/m burst 2"))
	for i := range 2 {
		if resp, _ := do(t, signed(t, g.url("/"), "evt_rl"+strconv.Itoa(i), []byte(invoice), time.Now(), secretA)); resp.StatusCode != 200 {
			t.Fatalf("within burst: %d", resp.StatusCode)
		}
	}
	resp, _ := do(t, signed(t, g.url("/"), "evt_rl3", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Hookgate-Reason") != "rate_limited" {
		t.Fatalf("over the limit: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestGatewayConcurrentDuplicates(t *testing.T) {
	u := newUpstream(t)
	u.delay = 300 * time.Millisecond
	g := startGateway(t, basicSite(u, ""))
	const n = 50
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := do(t, signed(t, g.url("/"), "evt_same", []byte(invoice), time.Now(), secretA))
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	if got := len(u.requests()); got != 1 {
		t.Fatalf("upstream saw the event %d times, want once; answers %v", got, codes)
	}
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[200]+count[409] != n || count[200] < 1 {
		t.Fatalf("answers %v: want only 200 (forwarded or duplicate) and 409 (in flight)", count)
	}
}

func TestGatewayRetryAfterUpstreamFailure(t *testing.T) {
	u := newUpstream(t)
	u.status = func(n int) int {
		if n == 1 {
			return 500
		}
		return 200
	}
	g := startGateway(t, basicSite(u, ""))
	send := func() *http.Response {
		resp, _ := do(t, signed(t, g.url("/"), "evt_retry", []byte(invoice), time.Now(), secretA))
		return resp
	}
	if resp := send(); resp.StatusCode != 500 {
		t.Fatalf("first attempt: %d", resp.StatusCode)
	}
	if resp := send(); resp.StatusCode != 200 || resp.Header.Get("Hookgate-Duplicate") != "" {
		t.Fatalf("provider retry: %d dup=%q", resp.StatusCode, resp.Header.Get("Hookgate-Duplicate"))
	}
	if resp := send(); resp.StatusCode != 200 || resp.Header.Get("Hookgate-Duplicate") != "true" {
		t.Fatalf("after success: %d dup=%q", resp.StatusCode, resp.Header.Get("Hookgate-Duplicate"))
	}
	if got := len(u.requests()); got != 2 {
		t.Fatalf("upstream saw %d attempts, want 2 (failed, retried)", got)
	}
}

func TestGatewayUpstreamDownReleases(t *testing.T) {
	// reverse_proxy to a closed port returns an error (502): the claim is
	// released, and the retry is forwarded once the upstream is back.
	u := newUpstream(t)
	deadPort := freePort(t)
	site := strings.Replace(basicSite(u, ""), u.hostPort(), "127.0.0.1:"+strconv.Itoa(deadPort), 1)
	g := startGateway(t, site)
	resp, _ := do(t, signed(t, g.url("/"), "evt_down", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 502 {
		t.Fatalf("upstream down: %d", resp.StatusCode)
	}
	g.reload(basicSite(u, ""))
	resp, _ = do(t, signed(t, g.url("/"), "evt_down", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 200 || len(u.requests()) != 1 {
		t.Fatalf("retry after upstream recovered: %d, upstream saw %d", resp.StatusCode, len(u.requests()))
	}
}

// startPair runs two gateway instances from one Caddyfile, each from
// block(port); it returns the first and the base URL of the second.
func startPair(t *testing.T, block func(port string) string) (*gateway, string) {
	t.Helper()
	second := strconv.Itoa(freePort(t))
	return startGateway(t, block("%PORT%")+block(second)), "http://127.0.0.1:" + second
}

func TestGatewayTwoInstancesShareRedis(t *testing.T) {
	srv := testredis.Start(t)
	u := newUpstream(t)
	block := func(port string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%s {
	webhook_verify standard {
		source demo
		secret %s
		dedup redis
		redis %s
	}
	reverse_proxy %s
}
`, port, secretA, srv.URL, u.hostPort())
	}
	g, second := startPair(t, block)
	urls := []string{g.url("/"), second + "/"}
	for i := range 20 {
		id := "evt_shared_" + strconv.Itoa(i)
		for _, url := range urls {
			if resp, _ := do(t, signed(t, url, id, []byte(invoice), time.Now(), secretA)); resp.StatusCode != 200 {
				t.Fatalf("%s %s: %d %s", url, id, resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
			}
		}
	}
	if got := len(u.requests()); got != 20 {
		t.Fatalf("upstream saw %d requests for 20 events each sent to both instances", got)
	}
	// Redis down: fail closed with 503 and Retry-After.
	srv.Stop()
	resp, _ := do(t, signed(t, urls[0], "evt_shared_down", []byte(invoice), time.Now(), secretA))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Hookgate-Reason") != "store_unavailable" {
		t.Fatalf("redis down: %d %v", resp.StatusCode, resp.Header)
	}
	if msg := resp.Header.Get("Hookgate-Message"); strings.Contains(msg, srv.Addr) {
		t.Errorf("redis down: the message shows the server's address: %q", msg)
	}
	if got := len(u.requests()); got != 20 {
		t.Fatal("forwarded while the store was down")
	}
}

func TestGatewayReloadWithNewSecret(t *testing.T) {
	u := newUpstream(t)
	site := func(secret string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source demo
		secret %s
	}
	reverse_proxy %s
}
`, secret, u.hostPort())
	}
	g := startGateway(t, site(secretA))
	ctx, cancel := context.WithCancel(context.Background())
	var sent, failed, resent atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				// Signed with both the old and the new secret, as a
				// provider does during a rotation: valid before and after.
				r := signed(t, g.url("/"), fmt.Sprintf("evt_rl_%d_%d", w, i), []byte(invoice), time.Now(), secretA, secretB)
				resp, err := client.Do(r)
				sent.Add(1)
				if err != nil {
					// A keep-alive connection the old server closed under
					// the request (HTTP/1.1's graceful-shutdown race, which
					// net/http retries only once): a sender resends, as
					// providers and sdk.Sender do. The gateway must then
					// accept it; what may never happen is a rejection.
					resent.Add(1)
					r = signed(t, g.url("/"), fmt.Sprintf("evt_rl_%d_%d", w, i), []byte(invoice), time.Now(), secretA, secretB)
					resp, err = client.Do(r)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d %s", resp.StatusCode, resp.Header.Get("Hookgate-Reason")))
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	g.reload(site(secretB))
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the reload; first: %v", failed.Load(), sent.Load(), firstErr.Load())
	}
	if resp, _ := do(t, signed(t, g.url("/"), "evt_old", []byte(invoice), time.Now(), secretA)); resp.StatusCode != 401 {
		t.Fatalf("old secret after reload: %d", resp.StatusCode)
	}
	if resp, _ := do(t, signed(t, g.url("/"), "evt_new", []byte(invoice), time.Now(), secretB)); resp.StatusCode != 200 {
		t.Fatalf("new secret after reload: %d", resp.StatusCode)
	}
	t.Logf("%d requests during the reload, none failed (%d resent after a connection closed under them)", sent.Load(), resent.Load())
}

func TestGatewayEventMatcherRoutes(t *testing.T) {
	pushes, others := newUpstream(t), newUpstream(t)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify github {
		secret s3cret
	}
	@push webhook_event push
	handle @push {
		reverse_proxy %s
	}
	handle {
		reverse_proxy %s
	}
}
`, pushes.hostPort(), others.hostPort()))
	s, _ := verify.Preset("github")
	sg, _ := verify.NewSigner(s, verify.Key{Secret: "s3cret"})
	for i, typ := range []string{"push", "issues", "push"} {
		// Distinct bodies: GitHub signs the body only, so one body is one
		// event whatever the delivery id (issue 13 item 1).
		body := `{"n":` + strconv.Itoa(i) + `}`
		h, _ := sg.Sign(verify.Message{ID: "d" + strconv.Itoa(i), Type: typ, Body: []byte(body)})
		r, _ := http.NewRequest(http.MethodPost, g.url("/"), strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		if resp, _ := do(t, r); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", typ, resp.StatusCode)
		}
	}
	if len(pushes.requests()) != 2 || len(others.requests()) != 1 {
		t.Fatalf("push upstream %d, other %d", len(pushes.requests()), len(others.requests()))
	}
}

func TestGatewayProvisionErrors(t *testing.T) {
	cases := map[string]string{
		"unknown scheme":            "webhook_verify nope {\n secret x\n}",
		"bad secret":                "webhook_verify standard {\n secret whsec_%%%\n}",
		"no secret":                 "webhook_verify standard",
		"bad schemas dir":           "webhook_verify standard {\n secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n schemas /does/not/exist\n}",
		"bad redis url":             "webhook_verify standard {\n secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n dedup redis\n redis ftp://x\n}",
		"redis without url":         "webhook_verify standard {\n secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n dedup redis\n}",
		"secret file, no handshake": "webhook_verify github {\n handshake_secret_file /tmp/x\n}",
		"two secret stores":         "webhook_verify asana {\n handshake_secret_file /tmp/x\n handshake_secret_redis\n redis redis://127.0.0.1:1\n}",
		"secret redis without url":  "webhook_verify asana {\n handshake_secret_redis\n}",
	}
	want := map[string]string{
		"unknown scheme": "scheme", "bad secret": "secret", "no secret": "secrets",
		"bad schemas dir": "schemas", "bad redis url": "redis", "redis without url": "redis",
		"secret file, no handshake": "handshake_secret_file",
		"two secret stores":         "choose one",
		"secret redis without url":  "handshake_secret_redis",
	}
	for name, directive := range cases {
		t.Run(name, func(t *testing.T) {
			src := fmt.Sprintf(globals, freePort(t)) + "http://127.0.0.1:" + strconv.Itoa(freePort(t)) + " {\n" + directive + "\n}\n"
			cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
			if err == nil {
				err = caddy.Validate(mustConfig(t, cfg))
			}
			if err == nil || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("err = %v, want an error naming %q", err, want[name])
			}
			if _, _, adaptErr := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil); adaptErr == nil && !strings.Contains(err.Error(), "webhook_verify (source ") {
				t.Fatalf("err = %v, want it to name the source", err)
			}
			if strings.Contains(err.Error(), "%%%") {
				t.Fatalf("error repeats the secret: %v", err)
			}
		})
	}
}

func mustGet(url string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, url, nil)
	return r
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestGatewayPlaceholdersAndAccessLog checks every {http.webhook.*}
// placeholder of a forwarded webhook, and the webhook fields in the access
// log (set only when the site logs), with the signature header filtered
// out as Caddyfile.example does.
func TestGatewayPlaceholdersAndAccessLog(t *testing.T) {
	u := newUpstream(t)
	logFile := t.TempDir() + "/access.log"
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	log {
		output file %s
		format filter {
			wrap json
			request>headers>Webhook-Signature delete
		}
	}
	webhook_verify standard {
		source demo
		secret primary %s
	}
	reverse_proxy %s {
		header_up X-Id {http.webhook.id}
		header_up X-Type {http.webhook.type}
		header_up X-Source {http.webhook.source}
		header_up X-Key {http.webhook.key}
		header_up X-Ts {http.webhook.timestamp}
	}
}
`, logFile, secretA, u.hostPort()))
	at := time.Unix(time.Now().Unix(), 0)
	if resp, _ := do(t, signed(t, g.url("/hooks"), "evt_placeholders", []byte(invoice), at, secretA)); resp.StatusCode != 200 {
		t.Fatalf("status %d (%s)", resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
	}
	got := u.requests()[0].header
	want := map[string]string{
		"X-Id": "evt_placeholders", "X-Type": "invoice.paid", "X-Source": "demo",
		"X-Key": "primary", "X-Ts": strconv.FormatInt(at.Unix(), 10),
	}
	for h, v := range want {
		if got.Get(h) != v {
			t.Errorf("%s: got %q, want %q", h, got.Get(h), v)
		}
	}

	// A rejection is logged with its reason.
	if resp, _ := do(t, signed(t, g.url("/hooks"), "evt_bad", []byte(invoice), at, secretB)); resp.StatusCode != 401 {
		t.Fatalf("wrong secret: status %d", resp.StatusCode)
	}
	var log []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		log, _ = os.ReadFile(logFile)
		if bytes.Count(log, []byte("\n")) >= 2 {
			break
		}
	}
	for _, s := range []string{`"webhook_id":"evt_placeholders"`, `"webhook_type":"invoice.paid"`, `"webhook_source":"demo"`, `"webhook_reason":"signature_mismatch"`} {
		if !bytes.Contains(log, []byte(s)) {
			t.Errorf("access log lacks %s:\n%s", s, log)
		}
	}
	for _, secret := range []string{"v1,", secretA} {
		if bytes.Contains(log, []byte(secret)) {
			t.Errorf("access log contains a signature or secret (%q):\n%s", secret, log)
		}
	}

}

// TestGatewayAsanaKeepsHandshakeSecret: an Asana source configured with no
// secret, only handshake_secret_file, answers Asana's handshake, keeps its
// secret, and then verifies the events signed with it; the secret survives
// a reload, and a second handshake with another secret is refused.
func TestGatewayAsanaKeepsHandshakeSecret(t *testing.T) {
	const hookSecret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
	u := newUpstream(t)
	file := filepath.Join(t.TempDir(), "asana.secret")
	site := fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify asana {
		handshake_secret_file %s
	}
	reverse_proxy %s
}
`, file, u.hostPort())
	g := startGateway(t, site)
	handshake := func(secret string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, g.url("/asana"), nil)
		r.Header.Set("X-Hook-Secret", secret)
		return r
	}
	event := func() *http.Request {
		s, _ := verify.Preset("asana")
		sg, err := verify.NewSigner(s, verify.Key{Secret: hookSecret})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"events":[{"action":"changed","resource":{"gid":"1"}}]}`)
		h, err := sg.Sign(verify.Message{Body: body})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodPost, g.url("/asana"), bytes.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		return r
	}

	if resp, body := do(t, event()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("event before the handshake: %d %s", resp.StatusCode, body)
	}
	resp, body := do(t, handshake(hookSecret))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hook-Secret") != hookSecret {
		t.Fatalf("handshake: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if len(u.requests()) != 0 {
		t.Fatal("the handshake was forwarded")
	}
	if resp, body := do(t, event()); resp.StatusCode != http.StatusOK || len(u.requests()) != 1 {
		t.Fatalf("event after the handshake: %d %s, upstream got %d", resp.StatusCode, body, len(u.requests()))
	}
	g.reload(site)
	if resp, body := do(t, event()); resp.StatusCode != http.StatusOK || len(u.requests()) != 2 {
		t.Fatalf("event after a reload: %d %s, upstream got %d", resp.StatusCode, body, len(u.requests()))
	}
	resp, body = do(t, handshake("another-secret"))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Hookgate-Reason") != "handshake_refused" || resp.Header.Get("X-Hook-Secret") != "" {
		t.Fatalf("handshake with another secret: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}

// TestGatewayAsanaSecretInRedis: with handshake_secret_redis, the
// handshake answered by one gateway instance keeps the secret in Redis,
// and the other instance verifies the next event with it.
func TestGatewayAsanaSecretInRedis(t *testing.T) {
	const hookSecret = "0d6e2f1c9a8b7c6d5e4f3a2b1c0d9e8f"
	srv := testredis.Start(t)
	u := newUpstream(t)
	g, second := startPair(t, func(port string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%s {
	webhook_verify asana {
		handshake_secret_redis
		redis %s {
			prefix %s:
		}
	}
	reverse_proxy %s
}
`, port, srv.URL, t.Name(), u.hostPort())
	})
	hs, _ := http.NewRequest(http.MethodPost, g.url("/asana"), nil)
	hs.Header.Set("X-Hook-Secret", hookSecret)
	if resp, body := do(t, hs); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Hook-Secret") != hookSecret {
		t.Fatalf("handshake: %d %s", resp.StatusCode, body)
	}
	// Kept under <prefix>handshake-secret:<source>.
	if got, err := srv.Do("STRLEN", t.Name()+":handshake-secret:asana"); err != nil || got != ":"+strconv.Itoa(len(hookSecret)) {
		t.Fatalf("Redis holds a secret of length %q, %v", got, err)
	}
	s, _ := verify.Preset("asana")
	sg, err := verify.NewSigner(s, verify.Key{Secret: hookSecret})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"events":[]}`)
	h, err := sg.Sign(verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := http.NewRequest(http.MethodPost, second+"/asana", bytes.NewReader(body))
	for k, v := range h {
		ev.Header[k] = v
	}
	if resp, b := do(t, ev); resp.StatusCode != http.StatusOK || len(u.requests()) != 1 {
		t.Fatalf("event on the other instance: %d %s, upstream got %d", resp.StatusCode, b, len(u.requests()))
	}
}

// TestGatewayDedupEvictionVisible: a full memory store that forgets a
// completed id before its TTL counts it in
// caddy_webhook_dedup_evicted_total (issue 13: it forgot silently); with
// when_full refuse it forgets nothing and answers new events 503.
func TestGatewayDedupEvictionVisible(t *testing.T) {
	u := newUpstream(t)
	site := func(source, whenFull string) string {
		return strings.Replace(basicSite(u, "dedup memory {\n\t\t\tmax_entries 4\n\t\t\t"+whenFull+"\n\t\t}"), "source demo", "source "+source, 1)
	}
	g := startGateway(t, site("evicting", ""))
	send := func(id string) *http.Response {
		resp, _ := do(t, signed(t, g.url("/"), id, []byte(invoice), time.Now(), secretA))
		return resp
	}
	for i := range 8 {
		if resp := send("evt_ev" + strconv.Itoa(i)); resp.StatusCode != 200 {
			t.Fatalf("event %d: %d", i, resp.StatusCode)
		}
	}
	_, body := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
	if !strings.Contains(body, `caddy_webhook_dedup_evicted_total{source="evicting"} 4`) {
		t.Fatalf("want 4 evictions counted; metrics:\n%s", grepLines(body, "caddy_webhook_dedup_evicted_total"))
	}

	g.reload(site("refusing", "when_full refuse"))
	for i := range 4 {
		if resp := send("evt_rf" + strconv.Itoa(i)); resp.StatusCode != 200 {
			t.Fatalf("event %d: %d", i, resp.StatusCode)
		}
	}
	if resp := send("evt_rf4"); resp.StatusCode != 503 || resp.Header.Get("Hookgate-Reason") != "store_unavailable" {
		t.Fatalf("full store with when_full refuse: %d %s, want 503 store_unavailable", resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
	}
	if resp := send("evt_rf0"); resp.StatusCode != 200 || resp.Header.Get("Hookgate-Duplicate") != "true" {
		t.Fatalf("a completed id in a full refusing store: %d, want a duplicate", resp.StatusCode)
	}
}

// TestCaddyfileExample runs the repository's Caddyfile.example (on free
// ports) and checks that it verifies whatever host a request names: it
// once served http://localhost:8080, so a webhook sent to 127.0.0.1, by a
// tunnel or by HTTP/1.0 without Host got Caddy's empty 200, even with a
// wrong secret (issue 13 item 4).
func TestCaddyfileExample(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // the embedded delivery store
	g := &gateway{t: t, adminPort: freePort(t), port: freePort(t)}
	up := freePort(t)
	conf := strings.NewReplacer(
		"admin localhost:2019", fmt.Sprintf("admin localhost:%d", g.adminPort),
		":8080 {", fmt.Sprintf(":%d {", g.port),
		":8081 {", fmt.Sprintf(":%d {", up),
		"deliver http://127.0.0.1:8081", fmt.Sprintf("deliver http://127.0.0.1:%d", up),
		"schemas schemas/examples", "schemas ../schemas/examples",
	).Replace(string(src))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(conf), nil)
	if err != nil {
		t.Fatalf("adapt Caddyfile.example: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("load Caddyfile.example: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })

	const demo = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(invoice)
	for _, host := range []string{"127.0.0.1", "localhost", "hooks.example.net"} {
		r := signed(t, g.url("/"), "evt_ex_"+host, body, time.Now(), secretB)
		r.Host = host
		if resp, _ := do(t, r); resp.StatusCode != 401 || resp.Header.Get("Hookgate-Reason") != "signature_mismatch" {
			t.Fatalf("wrong secret, Host %s: %d %q, want 401 signature_mismatch", host, resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
		}
		r = signed(t, g.url("/"), "evt_ex_"+host, body, time.Now(), demo)
		r.Host = host
		if resp, got := do(t, r); resp.StatusCode != 200 || !strings.Contains(got, "received") {
			t.Fatalf("valid, Host %s: %d %q, want the demo upstream's 200", host, resp.StatusCode, got)
		}
	}
	// HTTP/1.0 without a Host header.
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(g.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.0\r\nContent-Type: application/json\r\nWebhook-Id: evt_h10\r\nWebhook-Timestamp: %d\r\nWebhook-Signature: v1,AAAA\r\nContent-Length: %d\r\n\r\n%s",
		time.Now().Unix(), len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("HTTP/1.0 without Host, bad signature: %d, want 401", resp.StatusCode)
	}
}

// TestGatewaySlowBodyTimesOut: through Caddy too, a body that stalls is
// refused once body_timeout passes (the read deadline reaches net/http
// through Caddy's response writer wrappers).
func TestGatewaySlowBodyTimesOut(t *testing.T) {
	u := newUpstream(t)
	g := startGateway(t, basicSite(u, "body_timeout 300ms"))
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(g.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"type\":")
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // bounds the test only
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Hookgate-Reason") != "body_unreadable" {
		t.Fatalf("stalled body: %d %q, want 400 body_unreadable", resp.StatusCode, resp.Header.Get("Hookgate-Reason"))
	}
	if n := len(u.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// TestEventMatcherPlacement: a webhook_event matcher that can run before
// webhook_verify is refused at load (it used to answer every request
// 500); one that runs after it loads.
func TestEventMatcherPlacement(t *testing.T) {
	up := newUpstream(t)
	cases := []struct {
		name, site string
		ok         bool
	}{
		{"after, at the site", `
	webhook_verify github {
		secret s3cret
	}
	@push webhook_event push
	handle @push {
		reverse_proxy %s
	}`, true},
		{"inside the same handle", `
	handle /gh {
		webhook_verify github {
			secret s3cret
		}
		@push webhook_event push
		reverse_proxy @push %s
	}`, true},
		{"on a directive ordered before webhook_verify", `
	@push webhook_event push
	header @push X-Seen push
	webhook_verify github {
		secret s3cret
	}
	reverse_proxy %s`, false},
		{"webhook_verify in another handle", `
	handle /gh {
		webhook_verify github {
			secret s3cret
		}
	}
	@push webhook_event push
	handle @push {
		reverse_proxy %s
	}`, false},
		{"no webhook_verify at all", `
	@push webhook_event push
	reverse_proxy @push %s`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &gateway{t: t, adminPort: freePort(t), port: freePort(t)}
			cfg := g.adapt("http://127.0.0.1:%PORT% {" + fmt.Sprintf(tc.site, up.hostPort()) + "\n}\n")
			err := caddy.Load(cfg, true)
			t.Cleanup(func() { _ = caddy.Stop() })
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "can run before webhook_verify")) {
				t.Fatalf("err = %v, want the placement refused", err)
			}
		})
	}
}

// TestGatewayReplayThroughUnsignedIDs is the attack of issue 13 item 1:
// GitHub signs the body only, so anyone who saw one delivery can resend it
// with a fresh X-GitHub-Delivery, none, or another X-GitHub-Event. It is
// forwarded once, and the replays neither reach the upstream nor flush
// the real event's id out of a small memory store.
func TestGatewayReplayThroughUnsignedIDs(t *testing.T) {
	u := newUpstream(t)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify github {
		source ghreplay
		secret s3cret
		dedup memory {
			max_entries 50
		}
	}
	reverse_proxy %s
}
`, u.hostPort()))
	body := []byte(`{"action":"opened","number":1}`)
	s, _ := verify.Preset("github")
	sg, _ := verify.NewSigner(s, verify.Key{Secret: "s3cret"})
	sig, err := sg.Sign(verify.Message{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	send := func(delivery, event string) int {
		r, _ := http.NewRequest(http.MethodPost, g.url("/"), bytes.NewReader(body))
		for k, v := range sig {
			r.Header[k] = v
		}
		if delivery != "" {
			r.Header.Set("X-GitHub-Delivery", delivery)
		}
		r.Header.Set("X-GitHub-Event", event)
		resp, _ := do(t, r)
		return resp.StatusCode
	}
	if st := send("d-original", "issues"); st != 200 {
		t.Fatalf("original delivery: %d", st)
	}
	for i := range 100 {
		send(fmt.Sprintf("d-forged-%d", i), "issues")
	}
	send("", "issues")
	send("d-forged-x", "push")
	send("d-original", "issues") // the provider's own retry
	if n := len(u.requests()); n != 1 {
		t.Fatalf("the upstream got %d requests, want the original only", n)
	}
	_, metrics := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
	if line := grepLines(metrics, `caddy_webhook_dedup_evicted_total{source="ghreplay"}`); line != "" && !strings.HasSuffix(line, " 0") {
		t.Fatalf("replays evicted ids from the store:\n%s", grepLines(metrics, "evicted"))
	}
}
