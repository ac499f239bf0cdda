package send_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/memstore"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// inbox is a server that records which event ids reached which path.
type inbox struct {
	*httptest.Server
	mu  sync.Mutex
	ids map[string][]string
}

func newInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{ids: map[string][]string{}}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		in.mu.Lock()
		in.ids[r.URL.Path] = append(in.ids[r.URL.Path], r.Header.Get("Webhook-Id"))
		in.mu.Unlock()
	}))
	t.Cleanup(in.Close)
	return in
}

func (in *inbox) got(path string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	ids := slices.Clone(in.ids[path])
	slices.Sort(ids)
	return ids
}

func plainSender(t *testing.T, edit func(*send.Config)) *send.Sender {
	t.Helper()
	cfg := send.Config{Keys: []verify.Key{{Secret: testSecret}}, Schedule: []time.Duration{time.Millisecond}}
	if edit != nil {
		edit(&cfg)
	}
	s, err := send.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeDispatcher(t *testing.T, d *send.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDispatcherRouting(t *testing.T) {
	in := newInbox(t)
	s := plainSender(t, nil)
	sub := func(name string, types []string, filters ...send.FieldFilter) send.Subscription {
		return send.Subscription{Name: name, Endpoint: in.URL + "/" + name, Sender: s, Types: types, Filter: filters}
	}
	var mu sync.Mutex
	results := map[string]int{}
	d, err := send.NewDispatcher(send.DispatcherConfig{OnResult: func(sub string, r *send.Report) {
		mu.Lock()
		defer mu.Unlock()
		if r.Delivered {
			results[sub]++
		}
	}},
		sub("orders", []string{"order.*"}),
		sub("all", nil),
		sub("paid", []string{"*"}, send.FieldFilter{Path: "data.status", Equals: []string{"paid", "settled"}}),
		sub("invoices", []string{"invoice.created", "invoice.paid"}, send.FieldFilter{Path: "data.amount", Equals: []string{"42"}}),
		sub("live", nil, send.FieldFilter{Path: "data.live", Equals: []string{"true"}}, send.FieldFilter{Path: "data.note", Equals: []string{"null"}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	events := []struct {
		ev   send.Delivery
		want int
	}{
		{send.Delivery{ID: "e1", Type: "order.created", JSON: map[string]any{"data": map[string]any{"status": "paid"}}}, 3},
		{send.Delivery{ID: "e2", Body: []byte(`{"type":"invoice.created","data":{"amount":42,"live":true,"note":null}}`)}, 3},
		{send.Delivery{ID: "e3", Type: "orderly", Body: []byte(`{"data":{"status":"open","live":"true"}}`)}, 1},
		{send.Delivery{ID: "e4", Type: "order", Body: []byte(`not json`)}, 1},
		{send.Delivery{ID: "e5", Type: "order.item.added", Body: []byte(`{"data":{"status":"settled","amount":42.0}}`)}, 3},
		{send.Delivery{ID: "e6", Type: "invoice.paid", Body: []byte(`{"data":{"amount":"42","live":true}}`)}, 2},
	}
	for _, e := range events {
		n, err := d.Dispatch(e.ev)
		if err != nil || n != e.want {
			t.Errorf("Dispatch(%s) = %d, %v; want %d", e.ev.ID, n, err, e.want)
		}
	}
	closeDispatcher(t, d)
	want := map[string][]string{
		"/orders":   {"e1", "e5"},
		"/all":      {"e1", "e2", "e3", "e4", "e5", "e6"},
		"/paid":     {"e1", "e5"},
		"/invoices": {"e2", "e6"},
		"/live":     {"e2"},
	}
	for path, ids := range want {
		if got := in.got(path); !slices.Equal(got, ids) {
			t.Errorf("%s got %v, want %v", path, got, ids)
		}
		if results[path[1:]] != len(ids) {
			t.Errorf("OnResult reported %d deliveries to %s, want %d", results[path[1:]], path, len(ids))
		}
	}
	if _, err := d.Dispatch(send.Delivery{Type: "order.created", Body: []byte(`{}`)}); !errors.Is(err, send.ErrDispatcherClosed) {
		t.Errorf("Dispatch after Close: %v", err)
	}
}

// The event id is generated once and is the same at every endpoint.
func TestDispatcherSharesEventID(t *testing.T) {
	in := newInbox(t)
	s := plainSender(t, nil)
	d, err := send.NewDispatcher(send.DispatcherConfig{},
		send.Subscription{Name: "a", Endpoint: in.URL + "/a", Sender: s},
		send.Subscription{Name: "b", Endpoint: in.URL + "/b", Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Dispatch(send.Delivery{JSON: map[string]string{"type": "x"}}); n != 2 || err != nil {
		t.Fatalf("Dispatch = %d, %v", n, err)
	}
	closeDispatcher(t, d)
	a, b := in.got("/a"), in.got("/b")
	if len(a) != 1 || !slices.Equal(a, b) || !strings.HasPrefix(a[0], "msg_") {
		t.Fatalf("ids: a %v, b %v", a, b)
	}
}

// stallServer holds every request until release is closed (or the client
// leaves), reporting each arrival on arrived.
func stallServer(t *testing.T) (srv *httptest.Server, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan struct{}, 1024), make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv, arrived, release
}

func TestDispatcherSlowEndpointDoesNotBlockOthers(t *testing.T) {
	slow, slowArrived, release := stallServer(t)
	const n = 20
	fastGot := make(chan string, n)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fastGot <- r.Header.Get("Webhook-Id")
	}))
	defer fast.Close()
	s := plainSender(t, nil)
	// Two workers only: the stalled endpoint holds one, the other serves
	// the fast endpoint.
	d, err := send.NewDispatcher(send.DispatcherConfig{Workers: 2, QueueSize: n},
		send.Subscription{Name: "slow", Endpoint: slow.URL, Sender: s},
		send.Subscription{Name: "fast", Endpoint: fast.URL, Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for i := range n {
		if got, err := d.Dispatch(send.Delivery{ID: "e" + string(rune('a'+i)), Body: []byte(`{}`)}); got != 2 || err != nil {
			t.Fatalf("Dispatch %d = %d, %v", i, got, err)
		}
		if i == 0 { // from here on, the slow endpoint holds a worker and stalls
			select {
			case <-slowArrived:
			case <-timeout:
				t.Fatal("slow endpoint never got its first event")
			}
		}
	}
	for i := range n {
		select {
		case <-fastGot:
		case <-timeout:
			t.Fatalf("fast endpoint got %d of %d events while the slow one stalled", i, n)
		}
	}
	// The slow endpoint is still on its first event, all along.
	if len(slowArrived) != 0 {
		t.Fatalf("slow endpoint got more than one request while stalled")
	}
	close(release)
	closeDispatcher(t, d)
	if got := 1 + len(slowArrived); got != n {
		t.Errorf("slow endpoint got %d events after release, want %d", got, n)
	}
}

func TestDispatcherQueueFull(t *testing.T) {
	slow, slowArrived, release := stallServer(t)
	in := newInbox(t)
	s := plainSender(t, nil)
	d, err := send.NewDispatcher(send.DispatcherConfig{QueueSize: 1},
		send.Subscription{Name: "slow", Endpoint: slow.URL, Sender: s},
		send.Subscription{Name: "fast", Endpoint: in.URL + "/fast", Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	dispatch := func(id string) (int, error) { return d.Dispatch(send.Delivery{ID: id, Body: []byte(`{}`)}) }
	if n, err := dispatch("e1"); n != 2 || err != nil {
		t.Fatalf("e1: %d, %v", n, err)
	}
	// Each queue holds one event besides the one in flight: wait until
	// both endpoints took e1 off their queues (on a busy machine the fast
	// worker may not have started yet).
	fastGot := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); len(in.got("/fast")) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("fast endpoint got %v, want %d events", in.got("/fast"), n)
			}
		}
	}
	<-slowArrived // e1 is in flight at the slow endpoint; its queue is empty
	fastGot(1)
	if n, err := dispatch("e2"); n != 2 || err != nil {
		t.Fatalf("e2: %d, %v", n, err)
	}
	// The slow queue now holds e2; e3 finds it full. Wait until the fast
	// endpoint has drained its own queue, so that only the slow one is full.
	fastGot(2)
	n, err := dispatch("e3")
	if n != 1 || !errors.Is(err, send.ErrQueueFull) || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("e3: %d, %v; want 1 and ErrQueueFull naming slow", n, err)
	}
	close(release)
	closeDispatcher(t, d)
	if got := in.got("/fast"); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Errorf("fast got %v", got)
	}
}

// Close with a deadline cancels what is still running or queued, and
// every such event still reaches OnResult and the dead-letter hook.
func TestDispatcherCloseDeadline(t *testing.T) {
	slow, slowArrived, _ := stallServer(t)
	var mu sync.Mutex
	var results, deadLetters []*send.Report
	s := plainSender(t, func(c *send.Config) {
		c.OnGiveUp = func(_ send.Delivery, r *send.Report) {
			mu.Lock()
			defer mu.Unlock()
			deadLetters = append(deadLetters, r)
		}
	})
	d, err := send.NewDispatcher(send.DispatcherConfig{OnResult: func(_ string, r *send.Report) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}}, send.Subscription{Name: "slow", Endpoint: slow.URL, Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		if _, err := d.Dispatch(send.Delivery{ID: id, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	<-slowArrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	if len(results) != 3 || len(deadLetters) != 3 {
		t.Fatalf("%d results, %d dead letters; want 3 each", len(results), len(deadLetters))
	}
	for _, r := range results {
		if r.Delivered || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("report %s: %+v", r.ID, r)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewDispatcherConfig(t *testing.T) {
	s := plainSender(t, nil)
	ok := send.Subscription{Name: "a", Endpoint: "https://example.com/hook", Sender: s}
	with := func(edit func(*send.Subscription)) send.Subscription {
		sub := ok
		edit(&sub)
		return sub
	}
	tests := []struct {
		name  string
		cfg   send.DispatcherConfig
		subs  []send.Subscription
		field string
	}{
		{"negative workers", send.DispatcherConfig{Workers: -1}, nil, "Workers"},
		{"negative queue", send.DispatcherConfig{QueueSize: -1}, nil, "QueueSize"},
		{"no name", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Name = "" })}, "Subscription[0] ().Name"},
		{"duplicate name", send.DispatcherConfig{}, []send.Subscription{ok, ok}, "Subscription[1] (a).Name"},
		{"no sender", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Sender = nil })}, "Sender"},
		{"bad endpoint", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Endpoint = "example.com" })}, "Endpoint"},
		{"bad pattern", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Types = []string{"order.*", "or*der"} })}, "Types[1]"},
		{"bad suffix", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Types = []string{"order*"} })}, "Types[0]"},
		{"empty pattern", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Types = []string{""} })}, "Types[0]"},
		{"bad path", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) {
			s.Filter = []send.FieldFilter{{Path: "data..status", Equals: []string{"x"}}}
		})}, "Filter[0].Path"},
		{"no values", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) {
			s.Filter = []send.FieldFilter{{Path: "data.status"}}
		})}, "Filter[0].Equals"},
		{"negative concurrency", send.DispatcherConfig{}, []send.Subscription{with(func(s *send.Subscription) { s.Concurrency = -1 })}, "Concurrency"},
		{"concurrency above workers", send.DispatcherConfig{Workers: 2}, []send.Subscription{with(func(s *send.Subscription) { s.Concurrency = 3 })}, "Concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := send.NewDispatcher(tt.cfg, tt.subs...)
			if err == nil {
				closeDispatcher(t, d)
				t.Fatalf("no error, want one naming %s", tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
	d, err := send.NewDispatcher(send.DispatcherConfig{}, ok, with(func(s *send.Subscription) { s.Name = "b"; s.Concurrency = 8 }))
	if err != nil {
		t.Fatal(err)
	}
	closeDispatcher(t, d)
}

// dispatchOne dispatches one event to one subscription of endpoint and s,
// closes the Dispatcher, and returns the report OnResult got.
func dispatchOne(t *testing.T, endpoint string, s *send.Sender) *send.Report {
	t.Helper()
	reports := make(chan *send.Report, 1)
	d, err := send.NewDispatcher(send.DispatcherConfig{OnResult: func(_ string, r *send.Report) { reports <- r }},
		send.Subscription{Name: "sub", Endpoint: endpoint, Sender: s})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Dispatch(send.Delivery{ID: "evt_1", Body: []byte(`{}`)}); n != 1 || err != nil {
		t.Fatalf("Dispatch: %d, %v", n, err)
	}
	closeDispatcher(t, d)
	return <-reports
}

// TestDispatcherOutcomes: Send, a Dispatcher and an Outbox read an
// endpoint's answers alike: delivered; retried on the Sender's schedule
// (Dispatcher) or the Outbox's Policy; dead at once when retrying cannot
// help; given up after the most attempts.
func TestDispatcherOutcomes(t *testing.T) {
	steps := []time.Duration{time.Millisecond, 2 * time.Millisecond}
	tests := []struct {
		name       string
		replies    []reply
		wantStatus []int
		wantErr    error
		gone       bool
	}{
		{"200", []reply{{status: 200}}, []int{200}, nil, false},
		{"503 and 502, then 200", []reply{{status: 503}, {status: 502}, {status: 200}}, []int{503, 502, 200}, nil, false},
		{"429 with Retry-After, then 204", []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 204}}, []int{429, 204}, nil, false},
		{"409 with Retry-After retried", []reply{{status: 409, header: map[string]string{"Retry-After": "0"}}, {status: 200}}, []int{409, 200}, nil, false},
		{"409 rejected", []reply{{status: 409}, {status: 200}}, []int{409}, send.ErrRejected, false},
		{"400 rejected", []reply{{status: 503}, {status: 400}, {status: 200}}, []int{503, 400}, send.ErrRejected, false},
		{"redirect not followed", []reply{{status: 307, header: map[string]string{"Location": "/elsewhere"}}, {status: 200}}, []int{307}, send.ErrRejected, false},
		{"410 gone", []reply{{status: 410}, {status: 200}}, []int{410}, send.ErrEndpointGone, true},
		{"gives up after MaxAttempts", []reply{{status: 500}}, []int{500, 500, 500}, send.ErrGaveUp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Send, as the reference.
			srv := newScriptServer(t, tt.replies...)
			s := testSender(t, newFakeClock(), &hookLog{}, func(c *send.Config) { c.Schedule = steps })
			ref, _ := s.Send(context.Background(), send.Delivery{URL: srv.URL, ID: "evt_1", Body: []byte(`{}`)})
			if got := statuses(ref); !slices.Equal(got, tt.wantStatus) || !errors.Is(ref.Err, tt.wantErr) || (ref.Err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Send: statuses %v, err %v; want %v, %v", got, ref.Err, tt.wantStatus, tt.wantErr)
			}

			// The Dispatcher: the same report, but for the waits.
			srv = newScriptServer(t, tt.replies...)
			log := &hookLog{}
			s = plainSender(t, func(c *send.Config) {
				c.Schedule, c.OnAttempt, c.OnGiveUp = steps, log.onAttempt, log.onGiveUp
			})
			rep := dispatchOne(t, srv.URL, s)
			if got := statuses(rep); !slices.Equal(got, tt.wantStatus) || !errors.Is(rep.Err, tt.wantErr) || (rep.Err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Dispatcher: statuses %v, err %v; want %v, %v", got, rep.Err, tt.wantStatus, tt.wantErr)
			}
			if rep.ID != "evt_1" || rep.Delivered != ref.Delivered || rep.Gone != tt.gone || rep.Status != ref.Status {
				t.Errorf("Dispatcher: report %+v; Send's %+v", rep, ref)
			}
			for i, a := range rep.Attempts {
				retry := i < len(rep.Attempts)-1
				if a.N != i+1 || a.Retry != retry || a.Delay < 0 || a.Delay > steps[min(i, len(steps)-1)] || !retry && a.Delay != 0 {
					t.Errorf("Dispatcher: attempt %d: N %d Retry %v Delay %v; want Retry %v within the schedule", i+1, a.N, a.Retry, a.Delay, retry)
				}
				if (a.Err == nil) != (i == len(rep.Attempts)-1 && tt.wantErr == nil) || a.Reason != ref.Attempts[i].Reason {
					t.Errorf("Dispatcher: attempt %d: %+v; Send's %+v", i+1, a, ref.Attempts[i])
				}
			}
			if a, g := log.counts(); a != len(tt.wantStatus) || (g == 1) != (tt.wantErr != nil) || g > 1 {
				t.Errorf("Dispatcher: OnAttempt called %d times, OnGiveUp %d", a, g)
			}
			if got := len(srv.requests()); got != len(tt.wantStatus) {
				t.Errorf("Dispatcher: the endpoint got %d requests, want %d", got, len(tt.wantStatus))
			}

			// The Outbox, on the same engine with its own Policy.
			srv = newScriptServer(t, tt.replies...)
			store, err := memstore.New(memstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			o, err := send.NewOutbox(send.OutboxConfig{Store: store,
				Policy: delivery.Destination{MaxAttempts: len(steps) + 1, Backoff: delivery.Backoff{Steps: steps}}},
				send.Subscription{Name: "sub", Endpoint: srv.URL, Sender: s})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = o.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if n, err := o.Enqueue(ctx, send.Delivery{ID: "evt_1", Body: []byte(`{}`)}); n != 1 || err != nil {
				t.Fatalf("Enqueue: %d, %v", n, err)
			}
			want := delivery.StatusDelivered
			if tt.wantErr != nil {
				want = delivery.StatusDead
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				ev, err := store.Get(ctx, send.DefaultOutboxSource, "evt_1")
				if err != nil {
					t.Fatal(err)
				}
				if dl := ev.Deliveries[0]; dl.Status.Final() {
					if dl.Status != want || dl.AttemptCount != len(tt.wantStatus) {
						t.Fatalf("Outbox: %v after %d attempts; want %v after %d", dl.Status, dl.AttemptCount, want, len(tt.wantStatus))
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Outbox: not done: %+v", ev.Deliveries[0])
				}
			}
		})
	}
}

// TestDispatcherInvalidDelivery: a body the scheme cannot sign is
// reported as Send reports it: ErrInvalidDelivery, no attempt, no hook.
func TestDispatcherInvalidDelivery(t *testing.T) {
	twilio, _ := verify.Preset("twilio")
	log := &hookLog{}
	s := plainSender(t, func(c *send.Config) { c.Scheme, c.OnAttempt, c.OnGiveUp = twilio, log.onAttempt, log.onGiveUp })
	rep := dispatchOne(t, "http://127.0.0.1:1/?bodySHA256=00", s)
	if !errors.Is(rep.Err, send.ErrInvalidDelivery) || len(rep.Attempts) != 0 || rep.Delivered {
		t.Fatalf("report %+v", rep)
	}
	if a, g := log.counts(); a+g != 0 {
		t.Errorf("hooks called: %d attempts, %d give-ups", a, g)
	}
}

// TestDispatcherDuplicateID: an id still being delivered is refused; once
// its report is out, the id can be dispatched again.
func TestDispatcherDuplicateID(t *testing.T) {
	slow, slowArrived, release := stallServer(t)
	results := make(chan *send.Report, 2)
	d, err := send.NewDispatcher(send.DispatcherConfig{OnResult: func(_ string, r *send.Report) { results <- r }},
		send.Subscription{Name: "slow", Endpoint: slow.URL, Sender: plainSender(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ev := send.Delivery{ID: "evt_1", Body: []byte(`{}`)}
	if n, err := d.Dispatch(ev); n != 1 || err != nil {
		t.Fatalf("first Dispatch: %d, %v", n, err)
	}
	<-slowArrived
	if n, err := d.Dispatch(ev); n != 0 || !errors.Is(err, delivery.ErrExists) {
		t.Fatalf("Dispatch of an id under way: %d, %v; want 0, delivery.ErrExists", n, err)
	}
	close(release)
	if r := <-results; !r.Delivered {
		t.Fatalf("first delivery: %+v", r)
	}
	if n, err := d.Dispatch(ev); n != 1 || err != nil {
		t.Fatalf("Dispatch of a delivered id: %d, %v", n, err)
	}
	closeDispatcher(t, d)
	if r := <-results; !r.Delivered {
		t.Fatalf("second delivery: %+v", r)
	}
}
