package receive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var now0 = time.Unix(1_700_000_000, 0)

type harness struct {
	t        *testing.T
	rc       *Receiver
	signer   *verify.Signer
	calls    atomic.Int64
	status   func(n int64) int // status the handler answers on call n (1-based)
	got      chan Event
	mu       sync.Mutex
	decision []Decision
	handler  http.Handler
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	s, _ := verify.Preset("standard")
	v, err := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Name: "primary", Secret: secret}}, Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	sg, _ := verify.NewSigner(s, verify.Key{Secret: secret})
	h := &harness{t: t, signer: sg, got: make(chan Event, 100), status: func(int64) int { return 200 }}
	cfg := Config{
		Source:   "test",
		Verifier: v,
		Now:      func() time.Time { return now0 },
		Observer: ObserverFunc(func(_ context.Context, d Decision) {
			h.mu.Lock()
			h.decision = append(h.decision, d)
			h.mu.Unlock()
		}),
	}
	if mod != nil {
		mod(&cfg)
	}
	h.rc, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.calls.Add(1)
		ev, ok := EventFrom(r.Context())
		if !ok {
			t.Error("no event in context")
		}
		b, _ := io.ReadAll(r.Body)
		if !bytes.Equal(b, ev.Body) || int64(len(b)) != r.ContentLength {
			t.Errorf("body restored as %q (len %d), event body %q", b, r.ContentLength, ev.Body)
		}
		select {
		case h.got <- ev:
		default:
		}
		w.WriteHeader(h.status(n))
	}))
	return h
}

func (h *harness) request(id string, body string, at time.Time) *http.Request {
	h.t.Helper()
	hdr, err := h.signer.Sign(verify.Message{ID: id, Timestamp: at, Body: []byte(body)})
	if err != nil {
		h.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	for k, v := range hdr {
		r.Header[k] = v
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

func (h *harness) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func (h *harness) lastDecision() Decision {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.decision) == 0 {
		h.t.Fatal("no decision observed")
	}
	return h.decision[len(h.decision)-1]
}

func assertRejected(t *testing.T, w *httptest.ResponseRecorder, status int, reason sdk.Reason) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	var got struct{ Error, Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if got.Error != string(reason) || got.Message == "" || strings.Contains(got.Message, "\n") {
		t.Fatalf("body %+v, want reason %s and a one-line message", got, reason)
	}
	if w.Header().Get(sdk.HeaderReason) != string(reason) {
		t.Fatalf("%s header %q, want %s", sdk.HeaderReason, w.Header().Get(sdk.HeaderReason), reason)
	}
}

const payload = `{"type":"invoice.paid","data":{"amount":100}}`

func TestForwardsVerifiedWebhook(t *testing.T) {
	h := newHarness(t, nil)
	w := h.do(h.request("evt_1", payload, now0))
	if w.Code != 200 || h.calls.Load() != 1 {
		t.Fatalf("status %d calls %d", w.Code, h.calls.Load())
	}
	ev := <-h.got
	if ev.ID != "evt_1" || ev.Type != "invoice.paid" || ev.Source != "test" || ev.Key != "primary" || !ev.Timestamp.Equal(now0) || string(ev.Body) != payload {
		t.Fatalf("event %+v", ev)
	}
	d := h.lastDecision()
	if d.Outcome != OutcomeForwarded || d.UpstreamStatus != 200 || d.EventID != "evt_1" || d.Key != "primary" {
		t.Fatalf("decision %+v", d)
	}
}

func TestRejections(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*Config)
		req    func(h *harness) *http.Request
		status int
		reason sdk.Reason
	}{
		{"tampered body", nil, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(payload, "100", "900", 1)))
			return r
		}, 401, sdk.ReasonSignatureMismatch},
		{"wrong secret", nil, func(h *harness) *http.Request {
			s, _ := verify.Preset("standard")
			h.signer, _ = verify.NewSigner(s, verify.Key{Secret: "whsec_b3RoZXI="})
			return h.request("evt_1", payload, now0)
		}, 401, sdk.ReasonSignatureMismatch},
		{"stale", nil, func(h *harness) *http.Request { return h.request("evt_1", payload, now0.Add(-time.Hour)) }, 401, sdk.ReasonTimestamp},
		{"future", nil, func(h *harness) *http.Request { return h.request("evt_1", payload, now0.Add(time.Hour)) }, 401, sdk.ReasonTimestamp},
		{"missing signature", nil, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.Header.Del("Webhook-Signature")
			return r
		}, 400, sdk.ReasonMissingHeader},
		{"bad timestamp", nil, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.Header.Set("Webhook-Timestamp", "soon")
			return r
		}, 400, sdk.ReasonMalformedHeader},
		{"declared too large", func(c *Config) { c.MaxBodyBytes = 10 }, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.Body = io.NopCloser(failReader{h.t})
			return r
		}, 413, sdk.ReasonBodyTooLarge},
		{"chunked too large", func(c *Config) { c.MaxBodyBytes = 10 }, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.ContentLength = -1
			r.TransferEncoding = []string{"chunked"}
			return r
		}, 413, sdk.ReasonBodyTooLarge},
		{"truncated", nil, func(h *harness) *http.Request {
			r := h.request("evt_1", payload, now0)
			r.Body = io.NopCloser(strings.NewReader(payload[:10]))
			return r
		}, 400, sdk.ReasonBodyUnreadable},
		{"schema violation", func(c *Config) {
			reg, err := schemas.New(schemas.Config{Schemas: map[string][]byte{
				"invoice.paid": []byte(`{"type":"object","required":["data"],"properties":{"data":{"type":"object","required":["currency"]}}}`),
			}})
			if err != nil {
				panic(err)
			}
			c.Schemas = reg
		}, func(h *harness) *http.Request { return h.request("evt_1", payload, now0) }, 422, sdk.ReasonSchemaViolation},
		{"not json with schemas", func(c *Config) {
			reg, _ := schemas.New(schemas.Config{})
			c.Schemas = reg
		}, func(h *harness) *http.Request { return h.request("evt_1", "plain text", now0) }, 415, sdk.ReasonPayloadNotJSON},
		{"store down", func(c *Config) {
			c.Dedup, _ = idempotency.New(idempotency.Config{Store: downStore{}})
		}, func(h *harness) *http.Request { return h.request("evt_1", payload, now0) }, 503, sdk.ReasonStoreUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.mod)
			w := h.do(tc.req(h))
			assertRejected(t, w, tc.status, tc.reason)
			if h.calls.Load() != 0 {
				t.Fatal("rejected webhook reached the handler")
			}
			if d := h.lastDecision(); d.Outcome != OutcomeRejected || d.Reason != tc.reason || d.Status != tc.status {
				t.Fatalf("decision %+v", d)
			}
			if tc.status == 503 && w.Header().Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if (tc.status == 413 || tc.reason == sdk.ReasonBodyUnreadable) && w.Header().Get("Connection") != "close" {
				t.Fatal("body refused without Connection: close: net/http would drain it before answering")
			}
		})
	}
}

type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("body read although Content-Length was over the limit")
	return 0, io.EOF
}

// downStore is a Store whose backend is unreachable.
type downStore struct{}

func (downStore) Claim(context.Context, idempotency.Key, idempotency.Token, time.Duration) error {
	return idempotency.ErrUnavailable
}
func (downStore) Complete(context.Context, idempotency.Key, idempotency.Token, time.Duration) error {
	return idempotency.ErrUnavailable
}
func (downStore) Release(context.Context, idempotency.Key, idempotency.Token) error {
	return idempotency.ErrUnavailable
}

// addrStore fails as a real client does, naming the server it could not
// reach.
type addrStore struct{ downStore }

func (addrStore) Claim(context.Context, idempotency.Key, idempotency.Token, time.Duration) error {
	return fmt.Errorf("%w: dial tcp 10.9.8.7:6379: connect: connection refused", idempotency.ErrUnavailable)
}

// TestMessagesKeepInternalsInside: a rejection the sender caused says what
// is wrong; a failure on this side (a store down) says only that, and
// leaves its details (the store's address) to Error, for logs.
func TestMessagesKeepInternalsInside(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Dedup, _ = idempotency.New(idempotency.Config{Store: addrStore{}})
	})
	w := h.do(h.request("evt_1", payload, now0))
	assertRejected(t, w, http.StatusServiceUnavailable, sdk.ReasonStoreUnavailable)
	if strings.Contains(w.Body.String(), "10.9.8.7") {
		t.Errorf("503 body shows the store's address: %s", w.Body)
	}
	rej := h.rc.reject(fmt.Errorf("%w: dial tcp 10.9.8.7:6379", idempotency.ErrUnavailable), nil)
	if !strings.Contains(rej.Error(), "10.9.8.7") || strings.Contains(rej.Message(), "10.9.8.7") {
		t.Errorf("Error %q should name the address, Message %q should not", rej.Error(), rej.Message())
	}
	w = h.do(h.request("evt_2", payload, now0.Add(-time.Hour)))
	assertRejected(t, w, http.StatusUnauthorized, sdk.ReasonTimestamp)
	if !strings.Contains(w.Body.String(), "verify:") {
		t.Errorf("401 body does not say what is wrong: %s", w.Body)
	}
}

func TestFailOpenForwardsAndCounts(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Dedup, _ = idempotency.New(idempotency.Config{Store: downStore{}, FailOpen: true})
	})
	if w := h.do(h.request("evt_1", payload, now0)); w.Code != 200 || h.calls.Load() != 1 {
		t.Fatalf("status %d calls %d", w.Code, h.calls.Load())
	}
	if d := h.lastDecision(); !d.StoreError || !d.DedupSkipped {
		t.Fatalf("decision %+v", d)
	}
}

func TestDuplicatesAndRetries(t *testing.T) {
	h := newHarness(t, nil)
	h.status = func(n int64) int {
		if n == 1 {
			return 500 // the upstream fails the first attempt
		}
		return 200
	}
	if w := h.do(h.request("evt_1", payload, now0)); w.Code != 500 {
		t.Fatalf("first attempt %d", w.Code)
	}
	if w := h.do(h.request("evt_1", payload, now0)); w.Code != 200 {
		t.Fatalf("retry %d", w.Code)
	}
	w := h.do(h.request("evt_1", payload, now0))
	if w.Code != 200 || w.Header().Get(sdk.HeaderDuplicate) != "true" || w.Header().Get(sdk.HeaderReason) != "duplicate" {
		t.Fatalf("duplicate: %d %v", w.Code, w.Header())
	}
	if h.calls.Load() != 2 {
		t.Fatalf("handler called %d times, want 2 (failed, then retried)", h.calls.Load())
	}
	if d := h.lastDecision(); d.Outcome != OutcomeDuplicate || !d.Duplicate {
		t.Fatalf("decision %+v", d)
	}
	// Another source's id space is separate.
	h2 := newHarness(t, func(c *Config) { c.Dedup = h.rc.cfg.Dedup; c.Source = "other" })
	if w := h2.do(h2.request("evt_1", payload, now0)); w.Code != 200 || h2.calls.Load() != 1 {
		t.Fatal("same id under another source was treated as a duplicate")
	}
}

func TestPanicReleases(t *testing.T) {
	h := newHarness(t, nil)
	first := true
	mw := h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			panic("boom")
		}
		w.WriteHeader(204)
	}))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		mw.ServeHTTP(httptest.NewRecorder(), h.request("evt_p", payload, now0))
	}()
	w := httptest.NewRecorder()
	mw.ServeHTTP(w, h.request("evt_p", payload, now0))
	if w.Code != 204 {
		t.Fatalf("retry after panic: %d (claim not released?)", w.Code)
	}
}

func TestConcurrentDuplicatesForwardOnce(t *testing.T) {
	h := newHarness(t, nil)
	release := make(chan struct{})
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		<-release
		w.WriteHeader(200)
	}))
	const n = 50
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- h.do(h.request("evt_c", payload, now0)).Code
		}()
	}
	// All but the winner are answered while the winner is still in the
	// handler.
	counts := map[int]int{}
	for range n - 1 {
		counts[<-codes]++
	}
	close(release)
	wg.Wait()
	counts[<-codes]++
	if h.calls.Load() != 1 || counts[200] != 1 || counts[409] != n-1 {
		t.Fatalf("calls %d, answers %v", h.calls.Load(), counts)
	}
}

func TestRateLimitBeforeBody(t *testing.T) {
	clock := now0
	lim, err := ratelimit.NewLocal(ratelimit.Config{Rate: 1, Burst: 2, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.RateLimit = lim })
	for i := range 2 {
		if w := h.do(h.request("evt_r"+strconv.Itoa(i), payload, now0)); w.Code != 200 {
			t.Fatalf("request %d within burst: %d", i, w.Code)
		}
	}
	r := h.request("evt_r3", payload, now0)
	r.Body = io.NopCloser(failReader{t})
	w := h.do(r)
	assertRejected(t, w, 429, sdk.ReasonRateLimited)
	if w.Header().Get("Retry-After") == "" || w.Header().Get("RateLimit") == "" || w.Header().Get("RateLimit-Policy") == "" {
		t.Fatalf("429 headers %v", w.Header())
	}
}

func TestShadowForwardsEverything(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Shadow = true })
	r := h.request("evt_s", payload, now0)
	r.Body = io.NopCloser(strings.NewReader(strings.Replace(payload, "100", "900", 1)))
	if w := h.do(r); w.Code != 200 || h.calls.Load() != 1 {
		t.Fatalf("shadow: %d calls %d", w.Code, h.calls.Load())
	}
	d := h.lastDecision()
	if d.Outcome != OutcomeShadowForwarded || d.Reason != sdk.ReasonSignatureMismatch {
		t.Fatalf("decision %+v", d)
	}
	if ev := <-h.got; ev.Verified {
		t.Fatal("unverified event marked verified")
	}
}

func TestChunkedBodyGetsContentLength(t *testing.T) {
	h := newHarness(t, nil)
	var seen *http.Request
	mw := h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	r := h.request("evt_ch", payload, now0)
	r.ContentLength = -1
	r.TransferEncoding = []string{"chunked"}
	mw.ServeHTTP(httptest.NewRecorder(), r)
	if seen == nil || seen.ContentLength != int64(len(payload)) || seen.TransferEncoding != nil || seen.Header.Get("Content-Length") != strconv.Itoa(len(payload)) {
		t.Fatalf("restored request: %+v", seen)
	}
	b, _ := seen.GetBody()
	if got, _ := io.ReadAll(b); string(got) != payload {
		t.Fatalf("GetBody gave %q", got)
	}
}

func TestAttestation(t *testing.T) {
	gatewayKey := verify.Key{Name: "gw", Secret: "whsec_Z2F0ZXdheS1rZXktZm9yLXRlc3Rz"}
	att, err := NewAttester(gatewayKey)
	if err != nil {
		t.Fatal(err)
	}
	av, err := NewAttestationVerifier(gatewayKey)
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(Config{Source: "gateway", Verifier: av, Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	var appEvent Event
	appHandler := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appEvent, _ = EventFrom(r.Context())
	}))
	h := newHarness(t, func(c *Config) { c.Attest = att })
	// The gateway forwards to the app in-process.
	gw := h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fwd := httptest.NewRequest(http.MethodPost, "/app", r.Body)
		fwd.Header = r.Header.Clone()
		appHandler.ServeHTTP(w, fwd)
	}))
	w := httptest.NewRecorder()
	gw.ServeHTTP(w, h.request("evt_a", payload, now0))
	if w.Code != 200 || appEvent.ID != "evt_a" || appEvent.Key != "gw" || string(appEvent.Body) != payload {
		t.Fatalf("app saw %+v (status %d, body %s)", appEvent, w.Code, w.Body)
	}
	// A request that did not pass the gateway is refused by the app.
	direct := h.request("evt_b", payload, time.Now())
	w = httptest.NewRecorder()
	appHandler.ServeHTTP(w, direct)
	assertRejected(t, w, 400, sdk.ReasonMissingHeader)
}

func TestConfigErrors(t *testing.T) {
	s, _ := verify.Preset("standard")
	v, _ := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: secret}}})
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{Verifier: v}, "Source"},
		{Config{Source: "x"}, "Verifier"},
		{Config{Source: "x", Verifier: v, MaxBodyBytes: -1}, "MaxBodyBytes"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("New(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}
}

func TestClassifyIsOneTable(t *testing.T) {
	for _, c := range classes {
		status, reason := Classify(c.err)
		if status != c.status || reason != c.reason {
			t.Errorf("Classify(%v) = %d %s", c.err, status, reason)
		}
	}
	if s, r := Classify(errors.New("other")); s != 500 || r != sdk.ReasonInternal {
		t.Errorf("unknown error: %d %s", s, r)
	}
}

// TestAcceptedThenErrorCompletes: a next handler that wrote a 2xx (the
// upstream accepted) and then failed to pass the answer on still
// completes the claim, so the provider's retry is a duplicate, not a
// second delivery. An error before any 2xx releases it.
func TestAcceptedThenErrorCompletes(t *testing.T) {
	h := newHarness(t, nil)
	serve := func(id string, next Next) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		_ = h.rc.Serve(w, h.request(id, payload, now0), next)
		return w
	}
	serve("evt_ae", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return errors.New("client connection reset while copying the answer")
	})
	if w := serve("evt_ae", func(w http.ResponseWriter, r *http.Request) error { return nil }); w.Header().Get(sdk.HeaderDuplicate) != "true" {
		t.Fatalf("retry after an accepted delivery: status %d, not a duplicate", w.Code)
	}
	serve("evt_fail", func(w http.ResponseWriter, r *http.Request) error { return errors.New("upstream unreachable") })
	called := false
	serve("evt_fail", func(w http.ResponseWriter, r *http.Request) error { called = true; w.WriteHeader(204); return nil })
	if !called {
		t.Fatal("retry after a failed delivery was not forwarded")
	}
}
