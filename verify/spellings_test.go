package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
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

// TestShopifyHeaderSpellings: Shopify's newer deliveries drop the X-
// prefix; both spellings verify and give the id and topic, and the
// Signer keeps the X- names that every version of Shopify's libraries reads.
func TestShopifyHeaderSpellings(t *testing.T) {
	s, _ := Preset("shopify")
	secret := "shpss_test"
	body := []byte(`{"id":820982911946154508,"email":"jon@example.com"}`)
	sig := macB64(sha256.New, secret, string(body))
	cases := []struct {
		name    string
		headers map[string]string
		wantID  string
		want    error
	}{
		{"X- prefix", map[string]string{"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": "w1", "X-Shopify-Topic": "orders/create"}, "w1", nil},
		{"no prefix", map[string]string{"Shopify-Hmac-Sha256": sig, "Shopify-Webhook-Id": "w2", "Shopify-Topic": "orders/create"}, "w2", nil},
		{"no prefix, event id only", map[string]string{"Shopify-Hmac-Sha256": sig, "Shopify-Event-Id": "e3", "Shopify-Topic": "orders/create"}, "e3", nil},
		{"mixed", map[string]string{"Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": "w4", "Shopify-Topic": "orders/create"}, "w4", nil},
		{"no prefix, wrong signature", map[string]string{"Shopify-Hmac-Sha256": macB64(sha256.New, "other", string(body)), "Shopify-Topic": "orders/create"}, "", ErrSignatureMismatch},
		{"neither", map[string]string{"Shopify-Topic": "orders/create"}, "", ErrMissingHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			ev, err := newVerifier(t, s, Key{Secret: secret}).Verify(&Request{Header: h, Body: body})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (ev.ID != tc.wantID || ev.Type != "orders/create") {
				t.Fatalf("event %+v, want id %s, type orders/create", ev, tc.wantID)
			}
		})
	}
	r := signed(t, s, secret, t0, body)
	if r.Header.Get("X-Shopify-Hmac-Sha256") != sig || r.Header.Get("X-Shopify-Webhook-Id") != "evt_1" || r.Header.Get("X-Shopify-Topic") != "invoice.paid" {
		t.Errorf("signer headers: %v", r.Header)
	}
}

func macB64(h func() hash.Hash, key, msg string) string {
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
