package receive_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/verify"
)

// A service verifies Standard Webhooks in front of its handler; the
// handler reads the verified event from the request context.
func ExampleReceiver_Middleware() {
	scheme, _ := verify.Preset("standard")
	secret := verify.Key{Name: "2026-11", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{secret}})
	if err != nil {
		panic(err)
	}
	rc, err := receive.New(receive.Config{Source: "billing", Verifier: v})
	if err != nil {
		panic(err)
	}
	handler := rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receive.EventFrom(r.Context())
		body, _ := io.ReadAll(r.Body) // the raw bytes, restored
		fmt.Printf("handled %s %s (%d bytes, key %s)\n", ev.ID, ev.Type, len(body), ev.Key)
		w.WriteHeader(http.StatusNoContent)
	}))

	// What a provider sends: signed headers over the raw body.
	body := `{"type":"invoice.paid","data":{"id":"in_1"}}`
	signer, _ := verify.NewSigner(scheme, secret)
	send := func(b string) *httptest.ResponseRecorder {
		h, _ := signer.Sign(verify.Message{ID: "evt_1", Timestamp: time.Now(), Body: []byte(body)})
		r := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(b))
		for k, vs := range h {
			r.Header[k] = vs
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w
	}

	fmt.Println(send(body).Code)
	dup := send(body) // the provider's retry of a delivered event
	fmt.Println(dup.Code, dup.Header().Get(sdk.HeaderDuplicate))
	bad := send(strings.Replace(body, "in_1", "in_2", 1))
	fmt.Println(bad.Code, strings.TrimSpace(bad.Body.String()))
	// Output:
	// handled evt_1 invoice.paid (44 bytes, key 2026-11)
	// 204
	// 200 true
	// 401 {"error":"signature_mismatch","message":"verify: no matching signature"}
}

// Asana hands over a webhook's signing secret only in its handshake: keep
// it, and the events that follow are verified with it.
func ExampleSecretFile() {
	dir, _ := os.MkdirTemp("", "hookgate")
	defer os.RemoveAll(dir)
	scheme, _ := verify.Preset("asana")
	v, _ := verify.New(verify.Config{Scheme: scheme, AwaitKeys: true}) // no secret yet
	rc, err := receive.New(receive.Config{Source: "asana", Verifier: v,
		Handshake: receive.HandshakeConfig{Secrets: receive.SecretFile(filepath.Join(dir, "asana.secret"))}})
	if err != nil {
		panic(err)
	}
	handler := rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := receive.EventMeta(r.Context())
		fmt.Println("event verified with the", ev.Key, "secret")
	}))

	// Asana's handshake: an unsigned POST carrying the secret, echoed.
	hs := httptest.NewRequest(http.MethodPost, "/asana", nil)
	hs.Header.Set("X-Hook-Secret", "8c4f2b7d9e1a3c5b")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, hs)
	fmt.Println(w.Code, w.Header().Get("X-Hook-Secret"))

	// Then events, signed with that secret.
	body := `{"events":[]}`
	signer, _ := verify.NewSigner(scheme, verify.Key{Secret: "8c4f2b7d9e1a3c5b"})
	h, _ := signer.Sign(verify.Message{Body: []byte(body)})
	r := httptest.NewRequest(http.MethodPost, "/asana", strings.NewReader(body))
	for k, vs := range h {
		r.Header[k] = vs
	}
	handler.ServeHTTP(httptest.NewRecorder(), r)
	// Output:
	// 200 8c4f2b7d9e1a3c5b
	// event verified with the handshake secret
}
