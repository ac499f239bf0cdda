package chaos

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// app is the application behind a deliver block, on a fixed loopback
// port that the test can take down (connections refused) and bring back.
// It records every 2xx it answered, per event id, and checks what it
// receives against what the sender sent: the body byte for byte and the
// delivery headers. An attempt it fails or hangs on is not recorded, as
// if its transaction had rolled back.
type app struct {
	addr string
	// fault decides each arrival: arrival counts the arrivals of id, 1 for
	// the first. nil: never fails.
	fault func(id string, arrival int) fault
	// hangLimit bounds a hang the gateway never gives up on; the hang
	// then ends with 503 (not recorded).
	hangLimit time.Duration
	// latency is how long the app works on an event it accepts before it
	// answers 2xx; a request given up meanwhile is not recorded.
	latency time.Duration

	mu       sync.Mutex
	srv      *http.Server
	up       bool
	expected map[string][sha256.Size]byte // body hash by event id
	events   map[string]*appEvent
	arrivals int
	last     time.Time // the last arrival
	problems []string  // the first few deliveries that were not what was sent
	nProblem int

	injected500, injectedHang, hangsCanceled atomic.Int64
}

// appEvent is what the app saw of one event.
type appEvent struct {
	arrivals  int
	delivered []time.Time // when the app answered each 2xx
}

func newApp(t testing.TB, fault func(string, int) fault, hangLimit time.Duration) *app {
	t.Helper()
	a := &app{fault: fault, hangLimit: hangLimit, expected: map[string][sha256.Size]byte{}, events: map[string]*appEvent{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	a.serve(ln)
	t.Cleanup(func() { a.setDown(context.Background()) })
	return a
}

// URL is where the gateway delivers.
func (a *app) URL() string { return "http://" + a.addr + "/hooks" }

// expect registers the body the sender sends as event id.
func (a *app) expect(id string, body []byte) {
	a.mu.Lock()
	a.expected[id] = sha256.Sum256(body)
	a.mu.Unlock()
}

func (a *app) serve(ln net.Listener) {
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	a.mu.Lock()
	a.srv, a.up = srv, true
	a.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// setDown stops the app: its port refuses connections from now on. The
// requests under way are answered first and kept-alive connections are
// closed, so that nothing the app recorded goes unanswered.
func (a *app) setDown(ctx context.Context) {
	a.mu.Lock()
	srv, up := a.srv, a.up
	a.up = false
	a.mu.Unlock()
	if !up {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// setUp serves again on the same port.
func (a *app) setUp(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("app: listen again on %s: %v", a.addr, err)
		}
	}
	a.serve(ln)
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the gateway went away mid-body: nothing was received
	}
	id := r.Header.Get("Hookgate-Event-Id")
	a.mu.Lock()
	a.arrivals++
	a.last = time.Now()
	ev := a.events[id]
	if ev == nil {
		ev = &appEvent{}
		a.events[id] = ev
	}
	ev.arrivals++
	arrival := ev.arrivals
	if problem := a.check(id, body, r.Header); problem != "" {
		a.nProblem++
		if len(a.problems) < 5 {
			a.problems = append(a.problems, problem)
		}
	}
	a.mu.Unlock()

	f := faultNone
	if a.fault != nil {
		f = a.fault(id, arrival)
	}
	switch f {
	case fault500:
		a.injected500.Add(1)
		http.Error(w, `{"error":"injected failure"}`, http.StatusInternalServerError)
		return
	case faultHang:
		a.injectedHang.Add(1)
		select {
		case <-r.Context().Done():
			a.hangsCanceled.Add(1)
		case <-time.After(a.hangLimit):
			http.Error(w, `{"error":"injected hang"}`, http.StatusServiceUnavailable)
		}
		return
	}
	if a.latency > 0 {
		select {
		case <-time.After(a.latency):
		case <-r.Context().Done():
			return // the gateway went away: rolled back
		}
	}
	a.mu.Lock()
	ev.delivered = append(ev.delivered, time.Now())
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}

// check says what is wrong with a delivery of id, or "". It names
// headers, never their values or the body.
func (a *app) check(id string, body []byte, h http.Header) string {
	want, ok := a.expected[id]
	switch {
	case !ok:
		return fmt.Sprintf("unknown event id %q", id)
	case sha256.Sum256(body) != want:
		return fmt.Sprintf("%s: body differs from what the sender sent (%d bytes)", id, len(body))
	case h.Get("Idempotency-Key") != id:
		return id + ": Idempotency-Key is not the event id"
	case h.Get("Webhook-Id") != id:
		return id + ": the provider's Webhook-Id header was not passed on"
	case h.Get("Webhook-Signature") != "":
		return id + ": the provider's signature header reached the app"
	}
	if n, err := strconv.Atoi(h.Get("Hookgate-Attempt")); err != nil || n < 1 {
		return id + ": Hookgate-Attempt is not a positive integer"
	}
	return ""
}

// snapshot returns a copy of what the app saw.
func (a *app) snapshot() (events map[string]appEvent, arrivals int, last time.Time, nProblem int, problems []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	events = make(map[string]appEvent, len(a.events))
	for id, ev := range a.events {
		events[id] = appEvent{arrivals: ev.arrivals, delivered: append([]time.Time(nil), ev.delivered...)}
	}
	return events, a.arrivals, a.last, a.nProblem, append([]string(nil), a.problems...)
}

// deliveredAmong returns how many of ids the app answered 2xx at least
// once.
func (a *app) deliveredAmong(ids []string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, id := range ids {
		if ev := a.events[id]; ev != nil && len(ev.delivered) > 0 {
			n++
		}
	}
	return n
}

// lastArrival returns when the last request arrived.
func (a *app) lastArrival() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// attemptFaults fails a share of all arrivals with 500 and hangs on
// another share, each arrival decided on its own (by a hash of the id
// and the arrival's number, so that a run is reproducible).
func attemptFaults(per500, perHang float64) func(string, int) fault {
	return func(id string, arrival int) fault {
		h := fnv.New64a()
		h.Write([]byte(id))
		h.Write([]byte{'#', byte(arrival), byte(arrival >> 8)})
		switch x := float64(h.Sum64()%1_000_000) / 1e6; {
		case x < per500:
			return fault500
		case x < per500+perHang:
			return faultHang
		}
		return faultNone
	}
}
