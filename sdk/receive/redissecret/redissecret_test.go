package redissecret_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/receive/redissecret"
	"github.com/hookgate/hookgate/verify"
)

func newClient(t *testing.T, srv *testredis.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestKeep: nothing kept reads as ""; of racing Keeps one secret wins and
// every caller is told which; a stopped server is an error, not "".
func TestKeep(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	s := redissecret.New(newClient(t, srv), "hookgate:handshake-secret:"+t.Name())
	if v, err := s.Secret(ctx); v != "" || err != nil {
		t.Fatalf("Secret before any Keep: %q, %v", v, err)
	}
	var wg sync.WaitGroup
	kept := make([]string, 8)
	for i := range kept {
		wg.Go(func() {
			var err error
			if kept[i], err = s.Keep(ctx, "secret-"+string(rune('a'+i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	winner, err := s.Secret(ctx)
	if err != nil || !strings.HasPrefix(winner, "secret-") {
		t.Fatalf("Secret after Keep: %q, %v", winner, err)
	}
	for i, k := range kept {
		if k != winner {
			t.Errorf("Keep %d was told %q, Redis holds %q", i, k, winner)
		}
	}
	srv.Stop()
	if _, err := s.Secret(ctx); err == nil {
		t.Error("Secret with the server down: no error")
	}
	if _, err := s.Keep(ctx, "x"); err == nil {
		t.Error("Keep with the server down: no error")
	}
}

// TestAsanaInstancesShareTheSecret: the handshake reaches one Receiver;
// the event signed with its secret is verified by another sharing Redis.
func TestAsanaInstancesShareTheSecret(t *testing.T) {
	srv := testredis.Start(t)
	const secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
	key := "hookgate:handshake-secret:" + t.Name()
	scheme, _ := verify.Preset("asana")
	instance := func() http.Handler {
		v, err := verify.New(verify.Config{Scheme: scheme, AwaitKeys: true})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := receive.New(receive.Config{Source: "asana", Verifier: v,
			Handshake: receive.HandshakeConfig{Secrets: redissecret.New(newClient(t, srv), key)}})
		if err != nil {
			t.Fatal(err)
		}
		return rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	}
	a, b := instance(), instance()

	hs := httptest.NewRequest(http.MethodPost, "/asana", nil)
	hs.Header.Set("X-Hook-Secret", secret)
	w := httptest.NewRecorder()
	a.ServeHTTP(w, hs)
	if w.Code != http.StatusOK || w.Header().Get("X-Hook-Secret") != secret {
		t.Fatalf("handshake: %d %v", w.Code, w.Header())
	}

	sg, err := verify.NewSigner(scheme, verify.Key{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"events":[]}`
	h, err := sg.Sign(verify.Message{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	ev := httptest.NewRequest(http.MethodPost, "/asana", strings.NewReader(body))
	for k, v := range h {
		ev.Header[k] = v
	}
	w = httptest.NewRecorder()
	b.ServeHTTP(w, ev)
	if w.Code != http.StatusNoContent {
		t.Fatalf("event on the other instance: %d %s", w.Code, w.Body)
	}
}

// TestServerDown: a Receiver is made without touching the store, so a
// Redis outage does not stop a gateway from loading; the handshake then
// gets 503 store_unavailable, so that Asana's webhook creation fails
// visibly and can be tried again.
func TestServerDown(t *testing.T) {
	srv := testredis.Start(t)
	c := newClient(t, srv)
	srv.Stop()
	scheme, _ := verify.Preset("asana")
	v, err := verify.New(verify.Config{Scheme: scheme, AwaitKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := receive.New(receive.Config{Source: "asana", Verifier: v,
		Handshake: receive.HandshakeConfig{Secrets: redissecret.New(c, "k")}})
	if err != nil {
		t.Fatalf("New with Redis down: %v", err)
	}
	hs := httptest.NewRequest(http.MethodPost, "/asana", nil)
	hs.Header.Set("X-Hook-Secret", "s3cret")
	w := httptest.NewRecorder()
	rc.Middleware(http.NotFoundHandler()).ServeHTTP(w, hs)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get(sdk.HeaderReason) != string(sdk.ReasonStoreUnavailable) {
		t.Fatalf("handshake with Redis down: %d %v", w.Code, w.Header())
	}
}
