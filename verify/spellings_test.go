package verify

import (
	"errors"
	"net/http"
	"testing"
)

// TestSvixSentHeaders: Svix, and Clerk and Resend, which deliver through
// it, send svix-* headers, and Clerk's and Resend's own verifiers read
// nothing else: their Signers write those, Standard Webhooks' writes
// webhook-*, and every one of them verifies either spelling.
func TestSvixSentHeaders(t *testing.T) {
	body := []byte(`{"type":"user.created","data":{"id":"user_1"}}`)
	svix := []string{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}
	standard := []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	for _, tc := range []struct {
		scheme      string
		write, skip []string
	}{
		{"svix", svix, standard},
		{"clerk", svix, standard},
		{"resend", svix, standard},
		{"standard", standard, svix},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			s, _ := Preset(tc.scheme)
			r := signed(t, s, testSecret, t0, body)
			for i, name := range tc.write {
				if r.Header.Get(name) == "" {
					t.Errorf("signer wrote no %s", name)
				}
				if r.Header.Get(tc.skip[i]) != "" {
					t.Errorf("signer wrote %s", tc.skip[i])
				}
			}
			// Renamed to the other spelling, the request still verifies,
			// and a changed byte still does not.
			other := &Request{Header: http.Header{}, Body: body}
			for i, name := range tc.write {
				other.Header.Set(tc.skip[i], r.Header.Get(name))
			}
			for _, req := range []*Request{r, other} {
				v := newVerifier(t, s)
				ev, err := v.Verify(req)
				if err != nil || ev.ID != "evt_1" || ev.Type != "user.created" {
					t.Fatalf("headers %v: event %+v, err %v", req.Header, ev, err)
				}
				bad := &Request{Header: req.Header, Body: append([]byte(nil), body...)}
				bad.Body[3] ^= 1
				if _, err := v.Verify(bad); !errors.Is(err, ErrSignatureMismatch) {
					t.Fatalf("tampered body: err = %v", err)
				}
			}
		})
	}
}
