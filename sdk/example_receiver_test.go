package sdk_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookgate/hookgate/sdk"
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
	rc, err := sdk.New(sdk.Config{Source: "billing", Verifier: v})
	if err != nil {
		panic(err)
	}
	handler := rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := sdk.EventFrom(r.Context())
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
