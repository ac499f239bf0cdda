package send_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

const (
	testSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testNewSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// fakeClock is a clock whose Sleep records the delay and moves time on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// reply is one scripted response; hangUp closes the connection instead.
type reply struct {
	status int
	header map[string]string
	hangUp bool
}

// scriptServer answers the replies in turn (the last one repeats) and
// records every request it gets.
type scriptServer struct {
	*httptest.Server
	mu      sync.Mutex
	replies []reply
	reqs    []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func newScriptServer(t *testing.T, replies ...reply) *scriptServer {
	t.Helper()
	s := &scriptServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, recorded{r.Header.Clone(), body})
		rp := s.replies[min(n, len(s.replies)-1)]
		s.mu.Unlock()
		if rp.hangUp {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rp.status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// hookLog records the Sender's hooks.
type hookLog struct {
	mu       sync.Mutex
	attempts []send.Attempt
	gaveUp   []*send.Report
	given    []send.Delivery
}

func (h *hookLog) onAttempt(_ send.Delivery, a send.Attempt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts = append(h.attempts, a)
}

func (h *hookLog) onGiveUp(d send.Delivery, r *send.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gaveUp = append(h.gaveUp, r)
	h.given = append(h.given, d)
}

func (h *hookLog) counts() (attempts, gaveUp int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.attempts), len(h.gaveUp)
}

// testSender returns a Sender on a fake clock, with the schedule
// 10s, 20s, 40s jittered by one half, and hooks recorded in the log.
func testSender(t *testing.T, clock *fakeClock, log *hookLog, edit func(*send.Config)) *send.Sender {
	t.Helper()
	cfg := send.Config{
		Keys:      []verify.Key{{Name: "k1", Secret: testSecret}},
		Schedule:  []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second},
		Now:       clock.Now,
		Sleep:     clock.Sleep,
		Rand:      func() float64 { return 0.5 },
		OnAttempt: log.onAttempt,
		OnGiveUp:  log.onGiveUp,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := send.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func statuses(r *send.Report) []int {
	var out []int
	for _, a := range r.Attempts {
		out = append(out, a.Status)
	}
	return out
}

func TestSenderRetries(t *testing.T) {
	start := newFakeClock().Now()
	tests := []struct {
		name       string
		replies    []reply
		edit       func(*send.Config)
		wantStatus []int
		wantSleeps []time.Duration
		wantErr    error
		gone       bool
	}{
		{name: "200", replies: []reply{{status: 200}}, wantStatus: []int{200}},
		{name: "204", replies: []reply{{status: 204}}, wantStatus: []int{204}},
		{name: "500 then 200", replies: []reply{{status: 500}, {status: 200}},
			wantStatus: []int{500, 200}, wantSleeps: []time.Duration{5 * time.Second}},
		{name: "503 408 429 then 200", replies: []reply{{status: 503}, {status: 408}, {status: 429}, {status: 200}},
			wantStatus: []int{503, 408, 429, 200}, wantSleeps: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second}},
		{name: "network error then 200", replies: []reply{{hangUp: true}, {status: 200}},
			wantStatus: []int{0, 200}, wantSleeps: []time.Duration{5 * time.Second}},
		{name: "schedule's last entry repeats", replies: []reply{{status: 502}},
			edit:       func(c *send.Config) { c.MaxAttempts = 5 },
			wantStatus: []int{502, 502, 502, 502, 502},
			wantSleeps: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 20 * time.Second},
			wantErr:    send.ErrGaveUp},
		{name: "gives up after the schedule", replies: []reply{{status: 500}},
			wantStatus: []int{500, 500, 500, 500},
			wantSleeps: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second},
			wantErr:    send.ErrGaveUp},
		{name: "MaxAttempts 1 disables retries", replies: []reply{{status: 500}},
			edit:       func(c *send.Config) { c.MaxAttempts = 1 },
			wantStatus: []int{500}, wantErr: send.ErrGaveUp},
		{name: "no jitter", replies: []reply{{status: 500}, {status: 200}},
			edit:       func(c *send.Config) { c.Rand = func() float64 { return 1 } },
			wantStatus: []int{500, 200}, wantSleeps: []time.Duration{10 * time.Second}},
		{name: "Retry-After seconds", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "7"}}, {status: 200}},
			wantStatus: []int{429, 200}, wantSleeps: []time.Duration{7 * time.Second}},
		{name: "Retry-After HTTP date", replies: []reply{
			{status: 503, header: map[string]string{"Retry-After": start.Add(30 * time.Second).UTC().Format(http.TimeFormat)}},
			{status: 200}},
			wantStatus: []int{503, 200}, wantSleeps: []time.Duration{30 * time.Second}},
		{name: "Retry-After in the past", replies: []reply{
			{status: 503, header: map[string]string{"Retry-After": start.Add(-time.Hour).UTC().Format(http.TimeFormat)}},
			{status: 200}},
			wantStatus: []int{503, 200}, wantSleeps: []time.Duration{0}},
		{name: "Retry-After capped", replies: []reply{{status: 503, header: map[string]string{"Retry-After": "99999999999999999999"}}, {status: 200}},
			edit:       func(c *send.Config) { c.MaxRetryAfter = time.Minute },
			wantStatus: []int{503, 200}, wantSleeps: []time.Duration{time.Minute}},
		{name: "Retry-After unreadable", replies: []reply{{status: 503, header: map[string]string{"Retry-After": "soon"}}, {status: 200}},
			wantStatus: []int{503, 200}, wantSleeps: []time.Duration{5 * time.Second}},
		{name: "409 with Retry-After retried", replies: []reply{{status: 409, header: map[string]string{"Retry-After": "2", sdk.HeaderReason: "in_flight"}}, {status: 200}},
			wantStatus: []int{409, 200}, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "409 not retried", replies: []reply{{status: 409}, {status: 200}},
			wantStatus: []int{409}, wantErr: send.ErrRejected},
		{name: "400 not retried", replies: []reply{{status: 400}, {status: 200}},
			wantStatus: []int{400}, wantErr: send.ErrRejected},
		{name: "401 not retried", replies: []reply{{status: 401}, {status: 200}},
			wantStatus: []int{401}, wantErr: send.ErrRejected},
		{name: "redirect not followed", replies: []reply{{status: 307, header: map[string]string{"Location": "/elsewhere"}}, {status: 200}},
			wantStatus: []int{307}, wantErr: send.ErrRejected},
		{name: "410 stops at once", replies: []reply{{status: 503}, {status: 410}, {status: 200}},
			wantStatus: []int{503, 410}, wantSleeps: []time.Duration{5 * time.Second},
			wantErr: send.ErrEndpointGone, gone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScriptServer(t, tt.replies...)
			clock, log := newFakeClock(), &hookLog{}
			s := testSender(t, clock, log, tt.edit)
			rep, err := s.Send(context.Background(), send.Delivery{URL: srv.URL, JSON: map[string]string{"type": "ping"}})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if rep.Err != err {
				t.Errorf("Report.Err = %v, returned %v", rep.Err, err)
			}
			if got := statuses(rep); !slices.Equal(got, tt.wantStatus) {
				t.Errorf("statuses = %v, want %v", got, tt.wantStatus)
			}
			if got := clock.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
			for i, a := range rep.Attempts {
				wantDelay := time.Duration(0)
				if i < len(tt.wantSleeps) {
					wantDelay = tt.wantSleeps[i]
				}
				if a.N != i+1 || a.Delay != wantDelay || a.Retry != (i < len(tt.wantSleeps)) {
					t.Errorf("attempt %d: N %d Retry %v Delay %v, want Delay %v", i+1, a.N, a.Retry, a.Delay, wantDelay)
				}
				if last := i == len(rep.Attempts)-1; (a.Err == nil) != (last && tt.wantErr == nil) {
					t.Errorf("attempt %d: Err = %v", i+1, a.Err)
				}
			}
			if got := len(srv.requests()); got != len(tt.wantStatus) {
				t.Errorf("server got %d requests, want %d", got, len(tt.wantStatus))
			}
			if rep.Delivered != (tt.wantErr == nil) || rep.Gone != tt.gone || rep.Status != tt.wantStatus[len(tt.wantStatus)-1] {
				t.Errorf("report Delivered %v Gone %v Status %d", rep.Delivered, rep.Gone, rep.Status)
			}
			attempts, gaveUp := log.counts()
			if attempts != len(tt.wantStatus) {
				t.Errorf("OnAttempt called %d times, want %d", attempts, len(tt.wantStatus))
			}
			if wantGiveUp := tt.wantErr != nil; (gaveUp == 1) != wantGiveUp || gaveUp > 1 {
				t.Errorf("OnGiveUp called %d times, want it %v", gaveUp, wantGiveUp)
			}
			if gaveUp == 1 && (log.gaveUp[0] != rep || log.given[0].ID != rep.ID || len(log.given[0].Body) == 0) {
				t.Errorf("OnGiveUp got report %p and delivery %+v, want %p and the resolved delivery", log.gaveUp[0], log.given[0], rep)
			}
		})
	}
}

func TestSenderReportsGatewayReason(t *testing.T) {
	srv := newScriptServer(t, reply{status: 401, header: map[string]string{sdk.HeaderReason: "signature_mismatch"}})
	s := testSender(t, newFakeClock(), &hookLog{}, nil)
	rep, err := s.Send(context.Background(), send.Delivery{URL: srv.URL, Body: []byte(`{}`)})
	if !errors.Is(err, send.ErrRejected) || rep.Attempts[0].Reason != sdk.ReasonSignatureMismatch {
		t.Fatalf("err %v, reason %q", err, rep.Attempts[0].Reason)
	}
}

// Every attempt carries the same id, a fresh timestamp and signature, and
// its number.
func TestSenderAttemptsAreSignedAfresh(t *testing.T) {
	srv := newScriptServer(t, reply{status: 500}, reply{status: 503}, reply{status: 200})
	clock := newFakeClock()
	s := testSender(t, clock, &hookLog{}, nil)
	body := []byte(`{"type":"order.created","n":1}`)
	rep, err := s.Send(context.Background(), send.Delivery{URL: srv.URL, ID: "msg_stable", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	scheme, _ := verify.Preset("standard")
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	seenTS, seenSig := map[string]bool{}, map[string]bool{}
	for i, r := range reqs {
		if id := r.header.Get("Webhook-Id"); id != "msg_stable" {
			t.Errorf("attempt %d: webhook-id %q", i+1, id)
		}
		if n := r.header.Get("Webhook-Attempt"); n != strconv.Itoa(i+1) {
			t.Errorf("attempt %d: Webhook-Attempt %q", i+1, n)
		}
		ts := r.header.Get("Webhook-Timestamp")
		if want := strconv.FormatInt(rep.Attempts[i].At.Unix(), 10); ts != want {
			t.Errorf("attempt %d: timestamp %s, want %s", i+1, ts, want)
		}
		seenTS[ts], seenSig[r.header.Get("Webhook-Signature")] = true, true
		if string(r.body) != string(body) {
			t.Errorf("attempt %d: body %q", i+1, r.body)
		}
		at := rep.Attempts[i].At
		v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: testSecret}}, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := v.Verify(&verify.Request{Header: r.header, Body: r.body})
		if err != nil || ev.ID != "msg_stable" || ev.Type != "order.created" {
			t.Errorf("attempt %d: verify: %+v %v", i+1, ev, err)
		}
	}
	if len(seenTS) != 3 || len(seenSig) != 3 {
		t.Errorf("timestamps %v and signatures %d not all distinct", seenTS, len(seenSig))
	}
}

func TestSenderSignsWithEveryActiveKey(t *testing.T) {
	srv := newScriptServer(t, reply{status: 200})
	clock := newFakeClock()
	s := testSender(t, clock, &hookLog{}, func(c *send.Config) {
		c.Keys = []verify.Key{{Name: "old", Secret: testSecret}, {Name: "new", Secret: testNewSecret}}
	})
	if _, err := s.Send(context.Background(), send.Delivery{URL: srv.URL, ID: "msg_1", Body: []byte(`{"type":"a"}`)}); err != nil {
		t.Fatal(err)
	}
	r := srv.requests()[0]
	sig := r.header.Get("Webhook-Signature")
	if got := strings.Count(sig, "v1,"); got != 2 || len(strings.Fields(sig)) != 2 {
		t.Fatalf("signature header has %d v1 signatures, want 2", got)
	}
	scheme, _ := verify.Preset("standard")
	for _, secret := range []string{testNewSecret, testSecret} {
		v, _ := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Name: "only", Secret: secret}}, Now: clock.Now})
		if ev, err := v.Verify(&verify.Request{Header: r.header, Body: r.body}); err != nil || ev.Key != "only" {
			t.Errorf("receiver with one key: %+v %v", ev, err)
		}
	}
}

func TestSenderRequest(t *testing.T) {
	srv := newScriptServer(t, reply{status: 200})
	s := testSender(t, newFakeClock(), &hookLog{}, nil)
	rep, err := s.Send(context.Background(), send.Delivery{
		URL:    srv.URL,
		Type:   "order.created",
		JSON:   map[string]any{"type": "order.created", "n": 1},
		Header: http.Header{"X-Tenant": {"acme"}, "Webhook-Id": {"forged"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := srv.requests()[0]
	if !strings.HasPrefix(rep.ID, "msg_") || r.header.Get("Webhook-Id") != rep.ID {
		t.Errorf("id %q, header %q", rep.ID, r.header.Get("Webhook-Id"))
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": send.DefaultUserAgent, "X-Tenant": "acme",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var payload map[string]any
	if err := json.Unmarshal(r.body, &payload); err != nil || payload["type"] != "order.created" {
		t.Errorf("body %q: %v", r.body, err)
	}

	// A raw body with its own content type; no attempt header.
	srv2 := newScriptServer(t, reply{status: 200})
	s2 := testSender(t, newFakeClock(), &hookLog{}, func(c *send.Config) { c.AttemptHeader = "-"; c.UserAgent = "acme/1" })
	if _, err := s2.Send(context.Background(), send.Delivery{URL: srv2.URL, Body: []byte("a=1"), Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}); err != nil {
		t.Fatal(err)
	}
	r = srv2.requests()[0]
	if r.header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.header.Get("User-Agent") != "acme/1" || r.header.Get("Webhook-Attempt") != "" || string(r.body) != "a=1" {
		t.Errorf("raw delivery: headers %v body %q", r.header, r.body)
	}
}

func TestSenderInvalidDelivery(t *testing.T) {
	twilio, _ := verify.Preset("twilio")
	tests := []struct {
		name   string
		scheme verify.Scheme
		d      send.Delivery
	}{
		{name: "no URL", d: send.Delivery{Body: []byte("{}")}},
		{name: "relative URL", d: send.Delivery{URL: "/hooks", Body: []byte("{}")}},
		{name: "ftp URL", d: send.Delivery{URL: "ftp://example.com/x", Body: []byte("{}")}},
		{name: "Body and JSON", d: send.Delivery{URL: "http://127.0.0.1:1/", Body: []byte("{}"), JSON: 1}},
		{name: "JSON does not marshal", d: send.Delivery{URL: "http://127.0.0.1:1/", JSON: make(chan int)}},
		{name: "body the scheme cannot sign", scheme: twilio,
			d: send.Delivery{URL: "http://127.0.0.1:1/?bodySHA256=00", Body: []byte("{}")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &hookLog{}
			s := testSender(t, newFakeClock(), log, func(c *send.Config) { c.Scheme = tt.scheme })
			rep, err := s.Send(context.Background(), tt.d)
			if !errors.Is(err, send.ErrInvalidDelivery) || rep == nil || len(rep.Attempts) != 0 {
				t.Fatalf("err = %v, report %+v", err, rep)
			}
			if a, g := log.counts(); a+g != 0 {
				t.Errorf("hooks called: %d attempts, %d give-ups", a, g)
			}
		})
	}
}

func TestSenderAttemptTimeout(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leaving
			<-r.Context().Done()               // hang until the sender gives up on the attempt
			return
		}
	}))
	defer srv.Close()
	s := testSender(t, newFakeClock(), &hookLog{}, func(c *send.Config) { c.AttemptTimeout = 50 * time.Millisecond })
	rep, err := s.Send(context.Background(), send.Delivery{URL: srv.URL, Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(rep); !slices.Equal(got, []int{0, 200}) || !errors.Is(rep.Attempts[0].Err, context.DeadlineExceeded) {
		t.Fatalf("statuses %v, first error %v", got, rep.Attempts[0].Err)
	}
}

// sendAsync runs Send on its own goroutine.
func sendAsync(s *send.Sender, ctx context.Context, d send.Delivery) <-chan *send.Report {
	ch := make(chan *send.Report, 1)
	go func() {
		r, _ := s.Send(ctx, d)
		ch <- r
	}()
	return ch
}

func awaitReport(t *testing.T, ch <-chan *send.Report) *send.Report {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context was canceled")
		return nil
	}
}

func TestSenderContextCancel(t *testing.T) {
	t.Run("during a request", func(t *testing.T) {
		got := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			close(got)
			<-r.Context().Done()
		}))
		defer srv.Close()
		log := &hookLog{}
		s := testSender(t, newFakeClock(), log, nil)
		ctx, cancel := context.WithCancel(context.Background())
		ch := sendAsync(s, ctx, send.Delivery{URL: srv.URL, Body: []byte("{}")})
		<-got
		cancel()
		rep := awaitReport(t, ch)
		if !errors.Is(rep.Err, context.Canceled) || len(rep.Attempts) != 1 || rep.Delivered {
			t.Fatalf("report %+v", rep)
		}
		if _, g := log.counts(); g != 1 {
			t.Errorf("OnGiveUp called %d times, want 1", g)
		}
	})
	t.Run("while waiting to retry", func(t *testing.T) {
		srv := newScriptServer(t, reply{status: 503})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := send.New(send.Config{
			Keys:      []verify.Key{{Secret: testSecret}},
			Schedule:  []time.Duration{time.Hour}, // the real timer
			Rand:      func() float64 { return 1 },
			OnAttempt: func(send.Delivery, send.Attempt) { cancel() },
		})
		if err != nil {
			t.Fatal(err)
		}
		rep := awaitReport(t, sendAsync(s, ctx, send.Delivery{URL: srv.URL, Body: []byte("{}")}))
		if !errors.Is(rep.Err, context.Canceled) || len(rep.Attempts) != 1 || rep.Attempts[0].Delay != time.Hour {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("before the first attempt", func(t *testing.T) {
		srv := newScriptServer(t, reply{status: 200})
		log := &hookLog{}
		s := testSender(t, newFakeClock(), log, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rep, err := s.Send(ctx, send.Delivery{URL: srv.URL, Body: []byte("{}")})
		if !errors.Is(err, context.Canceled) || len(rep.Attempts) != 0 || len(srv.requests()) != 0 {
			t.Fatalf("err %v, report %+v", err, rep)
		}
		if _, g := log.counts(); g != 1 {
			t.Errorf("OnGiveUp called %d times, want 1", g)
		}
	})
}

// The sender's output verifies, over real HTTP, for every built-in scheme
// that hookgate can sign.
func TestSenderEveryScheme(t *testing.T) {
	for _, name := range verify.Presets() {
		t.Run(name, func(t *testing.T) {
			scheme, _ := verify.Preset(name)
			if scheme.PublicKey() {
				if _, err := send.New(send.Config{Scheme: scheme, Keys: []verify.Key{{Secret: testSecret}}}); !errors.Is(err, verify.ErrConfig) {
					t.Fatalf("New for a public-key scheme: %v", err)
				}
				t.Skip("signed with the provider's private key; hookgate only verifies it")
			}
			clock := newFakeClock()
			v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: testSecret}}, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				_, err := v.Verify(&verify.Request{Header: r.Header, Body: body, URL: "http://" + r.Host + r.URL.RequestURI(), Method: r.Method})
				if err != nil {
					w.Header().Set(sdk.HeaderReason, err.Error())
					w.WriteHeader(http.StatusUnauthorized)
				}
			}))
			defer srv.Close()
			s := testSender(t, clock, &hookLog{}, func(c *send.Config) { c.Scheme = scheme })
			d := send.Delivery{URL: srv.URL + "/hooks/in?tenant=acme", ID: "evt_1", Type: "order.created",
				Body: []byte(`{"id":"evt_1","event_id":"evt_1","type":"order.created"}`)}
			if name == "twilio" {
				d.Body = []byte(url.Values{"CallSid": {"CA1"}, "From": {"+15551234"}}.Encode())
				d.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			}
			rep, err := s.Send(context.Background(), d)
			if err != nil {
				t.Fatalf("%v (receiver said %q)", err, rep.Attempts[len(rep.Attempts)-1].Reason)
			}
		})
	}
}

func TestNewSenderConfig(t *testing.T) {
	keys := []verify.Key{{Secret: testSecret}}
	tests := []struct {
		name  string
		cfg   send.Config
		field string
	}{
		{"no keys", send.Config{}, "Keys"},
		{"public key only", send.Config{Keys: []verify.Key{{PublicKey: "whpk_x"}}}, "Keys[0]"},
		{"bad scheme", send.Config{Scheme: verify.Scheme{Name: "x"}, Keys: keys}, "SignatureHeaders"},
		{"negative timeout", send.Config{Keys: keys, AttemptTimeout: -1}, "AttemptTimeout"},
		{"negative attempts", send.Config{Keys: keys, MaxAttempts: -1}, "MaxAttempts"},
		{"negative Retry-After cap", send.Config{Keys: keys, MaxRetryAfter: -1}, "MaxRetryAfter"},
		{"negative delay", send.Config{Keys: keys, Schedule: []time.Duration{time.Second, -1}}, "Schedule[1]"},
		{"bad attempt header", send.Config{Keys: keys, AttemptHeader: "Webhook Attempt"}, "AttemptHeader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := send.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error repeats the secret")
			}
		})
	}
	if _, err := send.New(send.Config{Keys: keys}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	s := time.Second
	tests := []struct {
		base, max time.Duration
		retries   int
		want      []time.Duration
	}{
		{s, 5 * s, 4, []time.Duration{s, 2 * s, 4 * s, 5 * s}},
		{s, 0, 3, []time.Duration{s, 2 * s, 4 * s}},
		{s, time.Minute, 0, nil},
		{time.Duration(1) << 62, 0, 3, []time.Duration{1 << 62, 1 << 62, 1 << 62}},
	}
	for _, tt := range tests {
		if got := send.Backoff(tt.base, tt.max, tt.retries); !slices.Equal(got, tt.want) {
			t.Errorf("Backoff(%v, %v, %d) = %v, want %v", tt.base, tt.max, tt.retries, got, tt.want)
		}
	}
}
