package verify

import (
	"crypto/hmac"
	"crypto/sha1"
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

// TestTwilioAlgorithms: Twilio signs with HMAC-SHA1 under the Auth Token,
// and with the hash that X-Twilio-Webhooks-Signature-Settings names under
// a SharedKey. Each request is verified with the hash it names, and only
// with it.
func TestTwilioAlgorithms(t *testing.T) {
	s, _ := Preset("twilio")
	const (
		token    = "twilio-token"
		url      = "https://hooks.example.com/sms?x=1"
		settings = "X-Twilio-Webhooks-Signature-Settings"
	)
	body := []byte("To=%2B15550001111&Body=hello&From=%2B15552223333")
	content := url + "Bodyhello" + "From+15552223333" + "To+15550001111"
	sha1Sig, sha256Sig := macB64(sha1.New, token, content), macB64(sha256.New, token, content)
	cases := []struct {
		name     string
		sig      string
		settings string // "" sends none
		body     []byte
		want     error
	}{
		{"SHA-1, no settings", sha1Sig, "", body, nil},
		{"SHA-256 SharedKey", sha256Sig, "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256", body, nil},
		{"SHA-256, algorithm first, spaces", sha256Sig, " algorithm = HMAC_SHA256 , key=k", body, nil},
		{"SHA-256, lower case", sha256Sig, "algorithm=hmac_sha256", body, nil},
		{"SHA-1 named", sha1Sig, "key=k,algorithm=HMAC_SHA1", body, nil},
		{"SHA-1, settings without algorithm", sha1Sig, "key=k", body, nil},
		{"SHA-256 without settings", sha256Sig, "", body, ErrSignatureMismatch},
		{"SHA-1 named SHA-256", sha1Sig, "algorithm=HMAC_SHA256", body, ErrSignatureMismatch},
		{"SHA-256 named SHA-1", sha256Sig, "algorithm=HMAC_SHA1", body, ErrSignatureMismatch},
		{"SHA-256, tampered body", sha256Sig, "algorithm=HMAC_SHA256", []byte("To=%2B15550001111&Body=hellp&From=%2B15552223333"), ErrSignatureMismatch},
		{"unknown algorithm", sha256Sig, "algorithm=HMAC_MD5", body, ErrMalformedHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("X-Twilio-Signature", tc.sig)
			if tc.settings != "" {
				h.Set(settings, tc.settings)
			}
			v := newVerifier(t, s, Key{Name: "auth-token", Secret: "another-token"}, Key{Name: "shared-key", Secret: token})
			ev, err := v.Verify(&Request{Header: h, Body: tc.body, URL: url, Method: "POST"})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && ev.Key != "shared-key" {
				t.Fatalf("key %q, want shared-key", ev.Key)
			}
		})
	}

	// The Signer names SHA-256 in the settings header and SHA-1 nowhere,
	// as Twilio does; what it signs verifies.
	for _, tc := range []struct {
		alg          Algorithm
		sig, setting string
	}{
		{SHA1, sha1Sig, ""},
		{SHA256, sha256Sig, "algorithm=HMAC_SHA256"},
	} {
		sch := s
		sch.Algorithm = tc.alg
		sg, err := NewSigner(sch, Key{Secret: token})
		if err != nil {
			t.Fatal(err)
		}
		h, err := sg.Sign(Message{Body: body, URL: url, Method: "POST"})
		if err != nil {
			t.Fatal(err)
		}
		if h.Get("X-Twilio-Signature") != tc.sig || h.Get(settings) != tc.setting {
			t.Errorf("%s: signed %q with settings %q, want %q and %q", tc.alg, h.Get("X-Twilio-Signature"), h.Get(settings), tc.sig, tc.setting)
		}
		if _, err := newVerifier(t, s, Key{Secret: token}).Verify(&Request{Header: h, Body: body, URL: url}); err != nil {
			t.Errorf("%s: the preset refuses what the Signer signed: %v", tc.alg, err)
		}
	}

	// A public-key scheme has no HMAC for the header to choose.
	bad, _ := Preset("discord")
	bad.AlgorithmHeader = settings
	if _, err := New(Config{Scheme: bad, Keys: []Key{{PublicKey: "00"}}}); !errors.Is(err, ErrConfig) {
		t.Errorf("AlgorithmHeader on a public-key scheme: err = %v, want ErrConfig", err)
	}
}

func macB64(h func() hash.Hash, key, msg string) string {
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
