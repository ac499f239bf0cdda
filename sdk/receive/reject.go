package receive

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookgate/hookgate/sdk"
)

// Rejection is the error Serve returns when it turns a webhook away: the
// status and reason from the one table (Classify), the error (for logs),
// a one-line message safe to show the sender (Message), and headers to
// send (Retry-After, RateLimit).
type Rejection struct {
	Status int
	Reason sdk.Reason
	Err    error
	Header http.Header
}

// Error returns the one-line message.
func (r *Rejection) Error() string { return string(r.Reason) + ": " + r.Err.Error() }

// Unwrap returns the underlying error, so errors.Is sees the sentinel.
func (r *Rejection) Unwrap() error { return r.Err }

// Message returns the one-line message for the sender: the error itself
// when the request is at fault (4xx), so that the sender learns what to
// fix; a fixed line when this side failed (5xx), whose details (a store's
// address, a file's path) are for the logs, through Error.
func (r *Rejection) Message() string {
	if r.Status < 500 {
		return strings.Join(strings.Fields(r.Err.Error()), " ")
	}
	if r.Reason == sdk.ReasonStoreUnavailable {
		return "a store this endpoint depends on is unavailable; retry later"
	}
	return "internal error"
}

// WriteTo writes the rejection as a small JSON body,
// {"error":"<reason>","message":"<one line>"}, with its headers.
func (r *Rejection) WriteTo(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range r.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(r.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Error   sdk.Reason `json:"error"`
		Message string     `json:"message"`
	}{r.Reason, r.Message()})
}

func (rc *Receiver) reject(err error, hdr http.Header) *Rejection {
	return newRejection(err, hdr, rc.retry)
}

// Reject returns the rejection for err, as the pipeline makes it: status
// and reason from Classify, the Hookgate-Reason header, and Retry-After
// (whole seconds, rounded up) on a 409 or 503. Handlers that run after the
// pipeline (a relay whose store failed) answer with it.
func Reject(err error, retryAfter time.Duration) *Rejection {
	return newRejection(err, nil, strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
}

func newRejection(err error, hdr http.Header, retryAfter string) *Rejection {
	status, reason := Classify(err)
	if hdr == nil {
		hdr = http.Header{}
	}
	hdr.Set(sdk.HeaderReason, string(reason))
	if status == http.StatusConflict || status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", retryAfter)
	}
	if errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrBodyUnreadable) {
		// The unread rest of the body makes the connection useless; closing
		// it also stops net/http from draining the body before answering,
		// so the refusal goes out at once.
		hdr.Set("Connection", "close")
	}
	return &Rejection{Status: status, Reason: reason, Err: err, Header: hdr}
}

func writeDuplicate(w http.ResponseWriter) {
	h := w.Header()
	h.Set(sdk.HeaderDuplicate, "true")
	h.Set(sdk.HeaderReason, string(sdk.ReasonDuplicate))
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"duplicate","message":"already delivered; not forwarded again"}`+"\n")
}
