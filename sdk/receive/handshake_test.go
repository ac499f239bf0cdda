package receive

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

// handshakeSecret is the secret of every handshake test's source.
const handshakeSecret = "handshake-secret"

// handshakeReceiver returns a handler running the pipeline for scheme in
// front of an app that counts what reaches it.
func handshakeReceiver(t *testing.T, scheme string, hc HandshakeConfig) (http.Handler, *atomic.Int64) {
	t.Helper()
	s, err := verify.Preset(scheme)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Name: "k", Secret: handshakeSecret}}, Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := New(Config{Source: scheme, Verifier: v, Handshake: hc, Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	var forwarded atomic.Int64
	return rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})), &forwarded
}

// signedRequest signs body for scheme as its provider would, with extra
// headers (Twitch's message type).
func signedRequest(t *testing.T, scheme, secret, body string, extra map[string]string) *http.Request {
	t.Helper()
	s, _ := verify.Preset(scheme)
	sg, err := verify.NewSigner(s, verify.Key{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	h, err := sg.Sign(verify.Message{ID: "msg_1", Timestamp: now0, Body: []byte(body), Method: http.MethodPost})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	for k, vs := range h {
		r.Header[k] = vs
	}
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

// postHeaders is an empty POST with headers hdr, as unsigned handshakes
// come.
func postHeaders(hdr map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(""))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// answered checks that the handshake was answered here with status 200
// and body want (or a JSON body equal to wantJSON), and not forwarded.
func answered(t *testing.T, w *httptest.ResponseRecorder, forwarded *atomic.Int64, want string, wantJSON map[string]string) {
	t.Helper()
	if w.Code != http.StatusOK || forwarded.Load() != 0 {
		t.Fatalf("status %d, forwarded %d; body %q", w.Code, forwarded.Load(), w.Body)
	}
	if wantJSON != nil {
		var got map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got) != len(wantJSON) {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		for k, v := range wantJSON {
			if got[k] != v {
				t.Fatalf("%s = %q, want %q", k, got[k], v)
			}
		}
		return
	}
	if w.Body.String() != want {
		t.Fatalf("body %q, want %q", w.Body, want)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("echo without nosniff")
	}
}

// Signed handshakes: verified first, then answered; a bad signature is
// rejected like any webhook, and ordinary events are still forwarded.
func TestSignedHandshakes(t *testing.T) {
	zoomMAC := func(token string) string {
		m := hmac.New(sha256.New, []byte(handshakeSecret))
		m.Write([]byte(token))
		return hex.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		scheme   string
		body     string
		extra    map[string]string
		want     string
		wantJSON map[string]string
		event    string // an ordinary event of the same provider
	}{
		{scheme: "slack", body: `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`,
			want: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", event: `{"type":"event_callback","event_id":"Ev1"}`},
		{scheme: "zoom", body: `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`,
			wantJSON: map[string]string{"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": zoomMAC("qgg8vlvZRS6UYooatFL8Aw")},
			event:    `{"event":"meeting.started","payload":{}}`},
		{scheme: "twitch", body: `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387","type":"channel.follow"}}`,
			extra: map[string]string{"Twitch-Eventsub-Message-Type": "webhook_callback_verification"},
			want:  "pogchamp-kappa-360noscope-vohiyo", event: `{"subscription":{"type":"channel.follow"},"event":{}}`},
	}
	for _, tc := range cases {
		t.Run(tc.scheme, func(t *testing.T) {
			h, forwarded := handshakeReceiver(t, tc.scheme, HandshakeConfig{})
			answered(t, serve(h, signedRequest(t, tc.scheme, handshakeSecret, tc.body, tc.extra)), forwarded, tc.want, tc.wantJSON)

			// The same handshake signed with another secret.
			w := serve(h, signedRequest(t, tc.scheme, "not-the-secret", tc.body, tc.extra))
			assertRejected(t, w, http.StatusUnauthorized, sdk.ReasonSignatureMismatch)
			// Unsigned.
			r := signedRequest(t, tc.scheme, handshakeSecret, tc.body, tc.extra)
			s, _ := verify.Preset(tc.scheme)
			r.Header.Del(s.SignatureHeaders[0])
			assertRejected(t, serve(h, r), http.StatusBadRequest, sdk.ReasonMissingHeader)
			if forwarded.Load() != 0 {
				t.Fatal("a rejected handshake was forwarded")
			}

			// Not a handshake: forwarded as usual.
			extra := map[string]string{"Twitch-Eventsub-Message-Type": "notification"}
			if w := serve(h, signedRequest(t, tc.scheme, handshakeSecret, tc.event, extra)); w.Code != http.StatusNoContent || forwarded.Load() != 1 {
				t.Fatalf("ordinary event: status %d, forwarded %d", w.Code, forwarded.Load())
			}
		})
	}
}

// Unsigned handshakes: answered before anything is verified, only in
// their exact shape; anything else is verified, and rejected, as usual.
func TestUnsignedHandshakes(t *testing.T) {
	get := func(target string, hdr map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	post := postHeaders
	long := strings.Repeat("c", maxChallenge+1)
	cases := []struct {
		name     string
		scheme   string
		hc       HandshakeConfig
		r        *http.Request
		want     string
		wantJSON map[string]string
		header   [2]string  // a response header that must be set
		reject   sdk.Reason // when not answered: the rejection
	}{
		{name: "meta", scheme: "meta", hc: HandshakeConfig{VerifyToken: "meatball"},
			r: get("/hook?hub.mode=subscribe&hub.verify_token=meatball&hub.challenge=1158201444", nil), want: "1158201444"},
		{name: "meta wrong token", scheme: "meta", hc: HandshakeConfig{VerifyToken: "meatball"},
			r: get("/hook?hub.mode=subscribe&hub.verify_token=meatbal&hub.challenge=1158201444", nil), reject: sdk.ReasonMissingHeader},
		{name: "meta no token configured", scheme: "meta",
			r: get("/hook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1158201444", nil), reject: sdk.ReasonMissingHeader},
		{name: "meta other mode", scheme: "meta", hc: HandshakeConfig{VerifyToken: "meatball"},
			r: get("/hook?hub.mode=unsubscribe&hub.verify_token=meatball&hub.challenge=1", nil), reject: sdk.ReasonMissingHeader},
		{name: "dropbox", scheme: "dropbox", r: get("/hook?challenge=abc123XYZ", nil), want: "abc123XYZ"},
		{name: "dropbox POST", scheme: "dropbox", r: httptest.NewRequest(http.MethodPost, "/hook?challenge=abc", strings.NewReader("{}")), reject: sdk.ReasonMissingHeader},
		{name: "dropbox long challenge", scheme: "dropbox", r: get("/hook?challenge="+long, nil), reject: sdk.ReasonMissingHeader},
		{name: "okta", scheme: "okta", r: get("/hook", map[string]string{"X-Okta-Verification-Challenge": "X0Y6rwT1Xu3QtoC1nFYL"}),
			wantJSON: map[string]string{"verification": "X0Y6rwT1Xu3QtoC1nFYL"}},
		{name: "okta no challenge", scheme: "okta", r: get("/hook", nil), reject: sdk.ReasonMissingHeader},
		{name: "asana", scheme: "asana", r: post(map[string]string{"X-Hook-Secret": "b537207f20cbfa02357cf448134da559"}),
			want: "", header: [2]string{"X-Hook-Secret", "b537207f20cbfa02357cf448134da559"}},
		{name: "asana with a signature", scheme: "asana", r: post(map[string]string{"X-Hook-Secret": "s", "X-Hook-Signature": "00"}), reject: sdk.ReasonSignatureMismatch},
		{name: "no handshake for github", scheme: "github", r: get("/hook?challenge=abc&hub.challenge=abc", map[string]string{"X-Okta-Verification-Challenge": "abc", "X-Hook-Secret": "abc"}),
			reject: sdk.ReasonMissingHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, forwarded := handshakeReceiver(t, tc.scheme, tc.hc)
			w := serve(h, tc.r)
			if tc.reject != "" {
				status := http.StatusBadRequest
				if tc.reject == sdk.ReasonSignatureMismatch {
					status = http.StatusUnauthorized
				}
				assertRejected(t, w, status, tc.reject)
				if forwarded.Load() != 0 {
					t.Fatal("forwarded")
				}
				return
			}
			if tc.want == "" && tc.wantJSON == nil {
				if w.Code != http.StatusOK || forwarded.Load() != 0 || w.Header().Get(tc.header[0]) != tc.header[1] {
					t.Fatalf("status %d forwarded %d headers %v", w.Code, forwarded.Load(), w.Header())
				}
				return
			}
			answered(t, w, forwarded, tc.want, tc.wantJSON)
		})
	}
}

// After its handshake, an Asana source verifies events with the secret it
// echoed, once configured.
func TestAsanaAfterHandshake(t *testing.T) {
	h, forwarded := handshakeReceiver(t, "asana", HandshakeConfig{})
	w := serve(h, signedRequest(t, "asana", handshakeSecret, `{"events":[]}`, nil))
	if w.Code != http.StatusNoContent || forwarded.Load() != 1 {
		t.Fatalf("signed event: status %d forwarded %d", w.Code, forwarded.Load())
	}
}

// asanaLearner returns a handler for an Asana source that has no secret
// configured and keeps the handshake's secret in store.
func asanaLearner(t *testing.T, store SecretStore) (http.Handler, *atomic.Int64) {
	t.Helper()
	s, _ := verify.Preset("asana")
	v, err := verify.New(verify.Config{Scheme: s, AwaitKeys: true, Now: func() time.Time { return now0 }})
	if err != nil {
		t.Fatal(err)
	}
	// A clock that moves: a kept secret is looked for again at most once
	// a second by it.
	started := time.Now()
	clock := func() time.Time { return now0.Add(time.Since(started)) }
	rc, err := New(Config{Source: "asana", Verifier: v, Handshake: HandshakeConfig{Secrets: store}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var forwarded atomic.Int64
	return rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		if ev, _ := EventMeta(r.Context()); ev.Key != "handshake" {
			t.Errorf("event verified with key %q, want handshake", ev.Key)
		}
		w.WriteHeader(http.StatusNoContent)
	})), &forwarded
}

// TestAsanaKeepsHandshakeSecret: Asana shows its signing secret only in
// the handshake. With a SecretStore the first handshake's secret is kept
// and verifies later events, on this instance, on another sharing the
// store, and after a restart; a handshake with another secret is refused.
func TestAsanaKeepsHandshakeSecret(t *testing.T) {
	const secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
	path := filepath.Join(t.TempDir(), "asana.secret")
	a, fwdA := asanaLearner(t, SecretFile(path))
	b, fwdB := asanaLearner(t, SecretFile(path)) // a second instance

	event := func() *http.Request {
		return signedRequest(t, "asana", secret, `{"events":[{"action":"changed"}]}`, nil)
	}
	assertRejected(t, serve(a, event()), http.StatusUnauthorized, sdk.ReasonSignatureMismatch)

	w := serve(a, postHeaders(map[string]string{"X-Hook-Secret": secret}))
	if w.Code != http.StatusOK || w.Header().Get("X-Hook-Secret") != secret {
		t.Fatalf("handshake: %d %v", w.Code, w.Header())
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("kept secret file: %v, %v; want mode 0600", info, err)
	}
	if w := serve(a, event()); w.Code != http.StatusNoContent || fwdA.Load() != 1 {
		t.Fatalf("event after the handshake: %d, forwarded %d", w.Code, fwdA.Load())
	}
	if w := serve(b, event()); w.Code != http.StatusNoContent || fwdB.Load() != 1 {
		t.Fatalf("event on the other instance: %d %s, forwarded %d", w.Code, w.Body, fwdB.Load())
	}
	restarted, fwdR := asanaLearner(t, SecretFile(path))
	if w := serve(restarted, event()); w.Code != http.StatusNoContent || fwdR.Load() != 1 {
		t.Fatalf("event after a restart: %d, forwarded %d", w.Code, fwdR.Load())
	}

	// The same handshake again is answered; another secret is refused, and
	// its events stay unverified.
	if w := serve(b, postHeaders(map[string]string{"X-Hook-Secret": secret})); w.Code != http.StatusOK {
		t.Fatalf("repeated handshake: %d %s", w.Code, w.Body)
	}
	w = serve(a, postHeaders(map[string]string{"X-Hook-Secret": "attacker-chosen"}))
	assertRejected(t, w, http.StatusForbidden, sdk.ReasonHandshakeRefused)
	if w.Header().Get("X-Hook-Secret") != "" {
		t.Fatal("a refused handshake echoed its secret")
	}
	forged := signedRequest(t, "asana", "attacker-chosen", `{"events":[]}`, nil)
	assertRejected(t, serve(a, forged), http.StatusUnauthorized, sdk.ReasonSignatureMismatch)

	// Removing the kept secret accepts a new webhook's handshake.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if w := serve(a, postHeaders(map[string]string{"X-Hook-Secret": "second-webhook"})); w.Code != http.StatusOK {
		t.Fatalf("handshake after removing the kept secret: %d %s", w.Code, w.Body)
	}
	next := func() *http.Request { return signedRequest(t, "asana", "second-webhook", `{"events":[]}`, nil) }
	if w := serve(a, next()); w.Code != http.StatusNoContent {
		t.Fatalf("event of the new webhook: %d %s", w.Code, w.Body)
	}
	// The other instance learned the first secret already; it looks
	// again after a mismatch (at most once a second).
	deadline := time.Now().Add(5 * time.Second)
	for w := serve(b, next()); w.Code != http.StatusNoContent; w = serve(b, next()) {
		if time.Now().After(deadline) {
			t.Fatalf("the other instance never took the new secret: %d %s", w.Code, w.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSecretStoreErrors: a store that fails answers the handshake 503 so
// that Asana's webhook creation fails visibly; a scheme without a secret
// handshake refuses a store at New.
func TestSecretStoreErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing-dir")
	h, _ := asanaLearner(t, SecretFile(filepath.Join(dir, "asana.secret")))
	assertRejected(t, serve(h, postHeaders(map[string]string{"X-Hook-Secret": "s3cret"})), http.StatusServiceUnavailable, sdk.ReasonStoreUnavailable)

	s, _ := verify.Preset("github")
	v, _ := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: "x"}}})
	if _, err := New(Config{Source: "gh", Verifier: v, Handshake: HandshakeConfig{Secrets: SecretFile(filepath.Join(t.TempDir(), "f"))}}); err == nil || !strings.Contains(err.Error(), "Config.Handshake.Secrets") {
		t.Fatalf("New with a store for github: %v, want an error naming Config.Handshake.Secrets", err)
	}
}
