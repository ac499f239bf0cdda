package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/delivery/boltstore"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/relay"
	"github.com/hookgate/hookgate/verify"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fixture is a receiving pipeline in front of a relay whose engine
// delivers to app through an embedded store.
type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	app    *httptest.Server
	status atomic.Int64
	mu     sync.Mutex
	got    []http.Header
	engine atomic.Pointer[delivery.Engine]
	signer *verify.Signer
	dials  atomic.Int64 // connections the app accepted
}

func newFixture(t *testing.T, mode relay.Mode) *fixture {
	t.Helper()
	f := &fixture{t: t}
	f.status.Store(200)
	f.app = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := int(f.status.Load())
		if st/100 == 2 {
			f.mu.Lock()
			f.got = append(f.got, r.Header.Clone())
			f.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	f.app.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.dials.Add(1)
		}
	}
	f.app.Start()
	t.Cleanup(f.app.Close)

	s, _ := verify.Preset("standard")
	v, err := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	f.signer, _ = verify.NewSigner(s, verify.Key{Secret: secret})
	rc, err := receive.New(receive.Config{Source: "demo", Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{
		Source:  "demo",
		Targets: []relay.Target{{URL: f.app.URL, Destination: delivery.Destination{Backoff: delivery.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}}}},
		Mode:    mode,
		Engine:  f.engine.Load,
		Strip:   s.SecretHeaders(),
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "d.db"), boltstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := delivery.New(delivery.Config{Store: store, Attempt: rl.Attempt, Destinations: rl.Destinations()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = store.Close() })
	f.engine.Store(eng)
	f.srv = httptest.NewServer(rc.Middleware(rl))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) send(id string) (*http.Response, string) {
	f.t.Helper()
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	h, err := f.signer.Sign(verify.Message{ID: id, Body: body})
	if err != nil {
		f.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(string(body)))
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "keep-alive")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) waitDelivered(n int) []http.Header {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := append([]http.Header(nil), f.got...)
		f.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d delivered, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelayModes(t *testing.T) {
	t.Run("live answer", func(t *testing.T) {
		f := newFixture(t, relay.OnFailure)
		resp, body := f.send("evt_1")
		if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %q, want the app's answer", resp.StatusCode, body)
		}
		h := f.waitDelivered(1)[0]
		if h.Get(relay.HeaderEventID) != "evt_1" || h.Get(relay.HeaderAttempt) != "1" || h.Get(receive.HeaderSource) != "demo" {
			t.Fatalf("delivery headers %v", h)
		}
		for _, k := range []string{"Webhook-Signature", "Connection"} {
			if h.Get(k) != "" && !(k == "Connection" && h.Get(k) == "close") {
				t.Errorf("%s delivered: %q", k, h.Get(k))
			}
		}
	})
	t.Run("queued on failure", func(t *testing.T) {
		f := newFixture(t, relay.OnFailure)
		f.status.Store(500)
		resp, _ := f.send("evt_2")
		if resp.StatusCode != 202 || resp.Header.Get(relay.HeaderQueued) != "true" {
			t.Fatalf("%d, want 202 queued", resp.StatusCode)
		}
		f.status.Store(200)
		if h := f.waitDelivered(1)[0]; h.Get(relay.HeaderAttempt) == "1" {
			t.Fatalf("attempt %s, want a retry", h.Get(relay.HeaderAttempt))
		}
	})
	t.Run("async", func(t *testing.T) {
		f := newFixture(t, relay.Async)
		resp, _ := f.send("evt_3")
		if resp.StatusCode != 202 {
			t.Fatalf("%d, want 202", resp.StatusCode)
		}
		f.waitDelivered(1)
	})
	t.Run("no engine", func(t *testing.T) {
		f := newFixture(t, relay.OnFailure)
		f.engine.Store(nil)
		resp, _ := f.send("evt_4")
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Hookgate-Reason") != "store_unavailable" {
			t.Fatalf("%d %v, want 503 store_unavailable with Retry-After", resp.StatusCode, resp.Header)
		}
	})
}

func TestRelayConfigErrors(t *testing.T) {
	eng := func() *delivery.Engine { return nil }
	for name, cfg := range map[string]relay.Config{
		"Source":      {Targets: []relay.Target{{URL: "http://a"}}, Engine: eng},
		"Targets":     {Source: "s", Engine: eng},
		"Engine":      {Source: "s", Targets: []relay.Target{{URL: "http://a"}}},
		"Mode":        {Source: "s", Targets: []relay.Target{{URL: "http://a"}}, Engine: eng, Mode: "later"},
		"URL":         {Source: "s", Targets: []relay.Target{{}}, Engine: eng},
		"named twice": {Source: "s", Targets: []relay.Target{{URL: "http://a"}, {URL: "http://b", Destination: delivery.Destination{Name: "app"}}}, Engine: eng},
	} {
		if _, err := relay.New(cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v, want one naming it", name, err)
		}
	}
}

// The relay's default client keeps its connections to the app: waves of
// concurrent live deliveries reuse them instead of dialling one per
// attempt (Go's default transport keeps 2 idle per host).
func TestRelayKeepsConnections(t *testing.T) {
	f := newFixture(t, relay.OnFailure)
	const waves, width = 4, 16
	for w := range waves {
		var wg sync.WaitGroup
		for i := range width {
			wg.Go(func() {
				if resp, _ := f.send(fmt.Sprintf("msg_%d_%d", w, i)); resp.StatusCode != 200 {
					t.Errorf("status %d, want the app's 200", resp.StatusCode)
				}
			})
		}
		wg.Wait()
	}
	// At most one connection per attempt under way at once (width), and a
	// few more when a dial races a connection coming back; with 2 idle
	// connections kept, each wave after the first would dial ~width-2.
	if n := f.dials.Load(); n > width+width/2 {
		t.Errorf("the app accepted %d connections for %d deliveries in waves of %d: connections are not reused", n, waves*width, width)
	}
}
