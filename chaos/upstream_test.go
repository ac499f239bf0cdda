package chaos

import (
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fault is what the recording upstream does with an event's first arrival.
type fault int

const (
	faultNone fault = iota
	fault500        // answer 500
	faultHang       // answer nothing until the gateway gives up on the request
)

// upstreamFaults fails a fixed 20% of first arrivals with 500 and hangs on
// another 1%, chosen by a hash of the event id so that a run is
// reproducible.
func upstreamFaults(id string) fault {
	h := fnv.New32a()
	h.Write([]byte(id))
	switch n := h.Sum32() % 1000; {
	case n < 200:
		return fault500
	case n < 210:
		return faultHang
	}
	return faultNone
}

// recorder is the application behind the gateway. It records every event
// id it accepted with a 2xx; an event it failed or hung on is not
// recorded, as if its transaction had rolled back.
type recorder struct {
	srv   *httptest.Server
	fault func(id string) fault // nil: never fails
	// hangLimit bounds a hang when the gateway never cancels the request.
	hangLimit time.Duration

	mu        sync.Mutex
	arrivals  map[string]int
	delivered map[string]int

	injected500, injectedHang, hangsCanceled atomic.Int64
}

func newRecorder(t testing.TB, f func(string) fault) *recorder {
	t.Helper()
	rec := &recorder{fault: f, hangLimit: 10 * time.Second, arrivals: map[string]int{}, delivered: map[string]int{}}
	rec.srv = httptest.NewServer(rec)
	t.Cleanup(rec.srv.Close)
	return rec
}

// Addr is the upstream's host:port.
func (rec *recorder) Addr() string { return rec.srv.Listener.Addr().String() }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return // the gateway went away mid-body: nothing was received
	}
	id := r.Header.Get("Webhook-Id")
	rec.mu.Lock()
	first := rec.arrivals[id] == 0
	rec.arrivals[id]++
	rec.mu.Unlock()
	f := faultNone
	if first && rec.fault != nil {
		f = rec.fault(id)
	}
	switch f {
	case fault500:
		rec.injected500.Add(1)
		http.Error(w, `{"error":"injected failure"}`, http.StatusInternalServerError)
		return
	case faultHang:
		rec.injectedHang.Add(1)
		select {
		case <-r.Context().Done():
			rec.hangsCanceled.Add(1)
		case <-time.After(rec.hangLimit):
			http.Error(w, `{"error":"injected hang"}`, http.StatusServiceUnavailable)
		}
		return
	}
	rec.mu.Lock()
	rec.delivered[id]++
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}

// counts returns the 2xx deliveries of each id and the arrivals in total.
func (rec *recorder) counts() (delivered map[string]int, arrivals int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	delivered = make(map[string]int, len(rec.delivered))
	for id, n := range rec.delivered {
		delivered[id] = n
	}
	for _, n := range rec.arrivals {
		arrivals += n
	}
	return delivered, arrivals
}
