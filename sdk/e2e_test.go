package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

const e2eSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// e2e is a Receiver behind a real HTTP server and a Sender pointed at it.
type e2e struct {
	srv     *httptest.Server
	sender  *send.Sender
	handled atomic.Int64
	ids     sync.Map // event id -> times handled
	keys    sync.Map // dedup key -> times handled
}

func newE2E(t *testing.T, scheme verify.Scheme, cfg receive.Config, status func(n int64) int) *e2e {
	t.Helper()
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: e2eSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Verifier = v
	if cfg.Source == "" {
		cfg.Source = scheme.Name
	}
	rc, err := receive.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{}
	if status == nil {
		status = func(int64) int { return 200 }
	}
	e.srv = httptest.NewServer(rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receive.EventFrom(r.Context())
		n := e.handled.Add(1)
		code := status(n)
		if code/100 == 2 {
			c, _ := e.ids.LoadOrStore(ev.ID, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
			k, _ := e.keys.LoadOrStore(ev.DedupKey, new(atomic.Int64))
			k.(*atomic.Int64).Add(1)
		}
		w.WriteHeader(code)
	})))
	t.Cleanup(e.srv.Close)
	e.sender, err = send.New(send.Config{
		Scheme:   scheme,
		Keys:     []verify.Key{{Secret: e2eSecret}},
		Schedule: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *e2e) succeeded(id string) int64 {
	c, ok := e.ids.Load(id)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

// TestSenderToReceiverEveryScheme delivers through every HMAC preset the
// sender can sign, then replays the same event: handled exactly once.
func TestSenderToReceiverEveryScheme(t *testing.T) {
	for _, name := range verify.Presets() {
		scheme, _ := verify.Preset(name)
		t.Run(name, func(t *testing.T) {
			if _, err := verify.NewSigner(scheme, verify.Key{Secret: e2eSecret}); err != nil {
				t.Skipf("%s is signed with the provider's private key: %v", name, err)
			}
			e := newE2E(t, scheme, receive.Config{}, nil)
			// One signing time for both sends: a replay of the very same
			// signed content, whatever second the test runs in.
			at := time.Now()
			e.sender, _ = send.New(send.Config{Scheme: scheme, Keys: []verify.Key{{Secret: e2eSecret}}, Now: func() time.Time { return at }})
			body := []byte(`{"type":"order.created","id":"evt_e2e","event_id":"evt_e2e","data":{"n":1}}`)
			d := send.Delivery{URL: e.srv.URL + "/hook", ID: "evt_e2e", Type: "order.created", Body: body}
			if scheme.Content == "{url}{form}" {
				d.Body = []byte("a=1&b=2")
				d.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			}
			rep, err := e.sender.Send(context.Background(), d)
			if errors.Is(err, send.ErrInvalidDelivery) {
				t.Skipf("%s cannot be sent by hookgate: %v", name, err)
			}
			if err != nil || !rep.Delivered {
				t.Fatalf("send: %v (%+v)", err, rep)
			}
			// The replay is answered 2xx (duplicate) and not handled again,
			// where the scheme carries an id to deduplicate on.
			rep, err = e.sender.Send(context.Background(), d)
			if err != nil || !rep.Delivered {
				t.Fatalf("replay: %v", err)
			}
			want := int64(1)
			distinct := 0
			e.keys.Range(func(any, any) bool { distinct++; return true })
			if _, noKey := e.keys.Load(""); noKey || distinct > 1 {
				// Nothing to deduplicate on (no id and no signed
				// timestamp), or a key that is per delivery (Mailgun's
				// signed token, fresh on each Send): the replay is a new
				// delivery.
				want = 2
			}
			if e.handled.Load() != want {
				t.Fatalf("handled %d times, want %d", e.handled.Load(), want)
			}
		})
	}
}

func TestE2EFailsOnceThenSucceeds(t *testing.T) {
	scheme, _ := verify.Preset("standard")
	e := newE2E(t, scheme, receive.Config{}, func(n int64) int {
		if n == 1 {
			return 503
		}
		return 200
	})
	rep, err := e.sender.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_once", Body: []byte(`{"type":"a"}`)})
	if err != nil || len(rep.Attempts) != 2 {
		t.Fatalf("report %+v err %v", rep, err)
	}
	if e.handled.Load() != 2 || e.succeeded("evt_once") != 1 {
		t.Fatalf("handled %d, succeeded %d: want the retry forwarded and exactly one success", e.handled.Load(), e.succeeded("evt_once"))
	}
}

func TestE2EConcurrentDuplicateDeliveries(t *testing.T) {
	scheme, _ := verify.Preset("standard")
	e := newE2E(t, scheme, receive.Config{}, nil)
	var wg sync.WaitGroup
	var delivered atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := e.sender.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_conc", Body: []byte(`{"type":"a"}`)})
			if err == nil && rep.Delivered {
				delivered.Add(1)
			}
		}()
	}
	wg.Wait()
	if e.succeeded("evt_conc") != 1 {
		t.Fatalf("handler saw the event %d times, want once", e.succeeded("evt_conc"))
	}
	if delivered.Load() != 20 {
		t.Fatalf("%d of 20 senders saw success (in-flight 409s carry Retry-After and are retried)", delivered.Load())
	}
}

func TestE2ERejectionsAreNotRetried(t *testing.T) {
	scheme, _ := verify.Preset("standard")
	reg, err := schemas.New(schemas.Config{Schemas: map[string][]byte{"a": []byte(`{"required":["data"]}`)}})
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, scheme, receive.Config{Schemas: reg}, nil)
	rep, err := e.sender.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_bad", Body: []byte(`{"type":"a"}`)})
	if !errors.Is(err, send.ErrRejected) || len(rep.Attempts) != 1 || rep.Attempts[0].Reason != sdk.ReasonSchemaViolation {
		t.Fatalf("schema failure: %+v %v", rep, err)
	}
	// Signed with another secret: 401, not retried.
	other, _ := send.New(send.Config{Keys: []verify.Key{{Secret: "whsec_b3RoZXI="}}})
	rep, err = other.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_forged", Body: []byte(`{"type":"a","data":{}}`)})
	if !errors.Is(err, send.ErrRejected) || rep.Attempts[0].Reason != sdk.ReasonSignatureMismatch {
		t.Fatalf("wrong secret: %+v %v", rep, err)
	}
	if e.handled.Load() != 0 {
		t.Fatal("a rejected delivery reached the handler")
	}
}

func TestE2EStaleReplayRejected(t *testing.T) {
	scheme, _ := verify.Preset("standard")
	e := newE2E(t, scheme, receive.Config{}, nil)
	old := time.Now().Add(-time.Hour)
	stale, _ := send.New(send.Config{Keys: []verify.Key{{Secret: e2eSecret}}, Now: func() time.Time { return old }, MaxAttempts: 1})
	rep, err := stale.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_stale", Body: []byte(`{}`)})
	if err == nil || rep.Attempts[0].Reason != sdk.ReasonTimestamp {
		t.Fatalf("stale: %+v %v", rep, err)
	}
}

func TestE2ERateLimited(t *testing.T) {
	scheme, _ := verify.Preset("standard")
	lim, _ := ratelimit.NewLocal(ratelimit.Config{Rate: 0.001, Burst: 3})
	e := newE2E(t, scheme, receive.Config{RateLimit: lim}, nil)
	s, _ := send.New(send.Config{Keys: []verify.Key{{Secret: e2eSecret}}, MaxAttempts: 1})
	var codes []int
	for i := range 5 {
		rep, _ := s.Send(context.Background(), send.Delivery{URL: e.srv.URL, ID: "evt_rl" + strconv.Itoa(i), Body: []byte(`{}`)})
		codes = append(codes, rep.Status)
	}
	if codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("statuses %v, want 3 accepted then 429", codes)
	}
}
