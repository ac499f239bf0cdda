// Regression tests for bugs this suite found in the gateway (fixed in
// sdk/receiver.go, schemas/schemas.go and caddymodule/handler.go). Each
// comment below says what the bug was and what fixed it.

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// TestRegressionOversizedBodyNotRefusedBeforeReading: the documented "a
// Content-Length over the limit is refused before reading" does not hold
// on the wire. The pipeline returns 413 without reading, but Caddy wraps
// every request body (read_idle_timeout, 1 min by default since 2.10), so
// net/http no longer sees its own body type and, before writing the
// answer, drains up to 256 KiB of the body to keep the connection. A
// client that waits for the answer before sending (Expect: 100-continue,
// or a cautious sender) gets nothing until Caddy's read idle timeout.
//
// Fix (sdk/receiver.go, Receiver.reject): set "Connection: close" on 413
// body_too_large and 400 body_unreadable rejections. net/http then sets
// closeAfterReply and skips the drain; the answer goes out at once (2 ms
// here, measured with the change) and the connection, whose unread body
// makes it useless, is closed.
func TestRegressionOversizedBodyNotRefusedBeforeReading(t *testing.T) {
	needGateway(t)
	rec := newRecorder(t, nil)
	secret := newSecret()
	g := startGateway(t, fmt.Sprintf(`	webhook_verify standard {
		secret %s
		max_body 64KiB
	}
	reverse_proxy %s`, secret, rec.Addr()))
	for _, extra := range []string{"", "Expect: 100-continue\r\n"} {
		c, err := net.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		fmt.Fprintf(c, "POST /hooks HTTP/1.1\r\nHost: %s\r\nWebhook-Id: evt_big\r\nWebhook-Timestamp: %s\r\nWebhook-Signature: v1,AAAA\r\nContent-Length: %d\r\n%s\r\n",
			g.Addr, ts, 10<<20, extra)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("10 MiB declared, %q: no answer within 3 s: %v", extra, err)
		} else if resp.StatusCode != 413 {
			t.Errorf("10 MiB declared, %q: got %d, want 413 at once", extra, resp.StatusCode)
		}
		c.Close()
	}
}

// TestRegressionInvalidUTF8InJSONStringForwarded: a body with invalid UTF-8
// inside a JSON string passes schema validation and is forwarded. JSON
// text must be UTF-8 (RFC 8259 §8.1); encoding/json replaces the bad
// bytes with U+FFFD while decoding, so the validator checks a document
// that differs from the bytes the upstream receives.
//
// Fix (schemas/schemas.go, Registry.Validate, before decode): reject
// !utf8.Valid(body) with ErrNotJSON ("body is not valid UTF-8"), so the
// gateway answers 415 payload_not_json. utf8.Valid runs at several GB/s,
// well under a microsecond for 1 KiB.
func TestRegressionInvalidUTF8InJSONStringForwarded(t *testing.T) {
	needGateway(t)
	rec := newRecorder(t, nil)
	secret := newSecret()
	dir, err := filepath.Abs("testdata/schemas")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, fmt.Sprintf(`	webhook_verify standard {
		secret %s
		schemas %s
	}
	reverse_proxy %s`, secret, dir, rec.Addr()))
	body := []byte("{\"type\":\"chaos.event\",\"timestamp\":\"2026-11-22T10:00:00Z\",\"data\":{\"n\":1,\"note\":\"caf\xe9\"}}")
	r, _ := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader(body))
	r.Header = signedHeader(t, secret, "evt_utf8", body)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 || resp.Header.Get(sdk.HeaderReason) != string(sdk.ReasonPayloadNotJSON) {
		t.Errorf("got %d %q, want 415 payload_not_json", resp.StatusCode, resp.Header.Get(sdk.HeaderReason))
	}
}

// TestRegressionSlowUpstreamDeliveredTwice: an upstream that processes an event
// and answers 200 after the sender's timeout receives the event twice.
// When the sender gives up on an attempt, Caddy cancels the proxied
// request (its context is the client's), the pipeline sees a non-2xx and
// releases the claim, and the sender's retry is forwarded again, although
// the upstream did process the first one. Providers time out fast (GitHub
// after 10 s), so a slow upstream gets duplicates exactly when it is
// under load.
//
// Fix (caddymodule/handler.go, ServeHTTP, in the callback passed to
// Serve): forward with r.WithContext(context.WithoutCancel(ctx)) so the
// upstream request outlives the client; the claim stays held (a retry
// gets 409 in_flight with Retry-After) and is completed when the upstream
// answers 2xx. The upstream call stays bounded by the proxy's transport
// timeouts, which must stay under dedup lock_ttl (already documented).
func TestRegressionSlowUpstreamDeliveredTwice(t *testing.T) {
	needGateway(t)
	var processed atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		// The application commits, and the first time answers late.
		if processed.Add(1) == 1 {
			time.Sleep(1500 * time.Millisecond)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer upstream.Close()
	secret := newSecret()
	g := startGateway(t, fmt.Sprintf(`	webhook_verify standard {
		secret %s
		retry_after 1s
	}
	reverse_proxy %s`, secret, upstream.Listener.Addr()))
	s, err := send.New(send.Config{
		Keys:           []verify.Key{{Secret: secret}},
		AttemptTimeout: time.Second,
		Schedule:       send.Backoff(50*time.Millisecond, time.Second, 10),
		MaxRetryAfter:  2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Send(context.Background(), send.Delivery{URL: g.URL, ID: "evt_slow", Body: eventBody("chaos.event", 1)})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	time.Sleep(2 * time.Second) // let a late forward finish
	if n := processed.Load(); n != 1 {
		t.Errorf("the upstream processed the event %d times after %d attempts, want once", n, len(rep.Attempts))
	}
}
