package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPublicKeySchemes signs with freshly generated keys, as the providers
// do with theirs, and checks valid, tampered, stale and wrong-key cases
// for every preset verified with public keys only.
func TestPublicKeySchemes(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecPriv.PublicKey)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	otherEd, _, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherECDER, _ := x509.MarshalPKIXPublicKey(&otherEC.PublicKey)

	type keyed struct {
		pub, other string
		sign       func(msg []byte) []byte
	}
	keys := map[Algorithm]keyed{
		Ed25519: {hex.EncodeToString(edPub), hex.EncodeToString(otherEd), func(m []byte) []byte { return ed25519.Sign(edPriv, m) }},
		ECDSAP256: {base64.StdEncoding.EncodeToString(ecDER), base64.StdEncoding.EncodeToString(otherECDER), func(m []byte) []byte {
			d := sha256.Sum256(m)
			sig, err := ecdsa.SignASN1(rand.Reader, ecPriv, d[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}},
	}
	for _, name := range Presets() {
		s, _ := Preset(name)
		if !s.PublicKey() {
			continue
		}
		sd := s.withDefaults()
		k := keys[s.Algorithm]
		body := []byte(`{"id":"evt_1","event":{"type":"invoice.paid"},"type":1}`)
		req := func(at time.Time, b []byte) *Request {
			ts := strconv.FormatInt(at.Unix(), 10)
			sig := k.sign([]byte(ts + string(body))) // Content is {timestamp}{body} for both
			enc := hex.EncodeToString(sig)
			if sd.Encoding == Base64 {
				enc = base64.StdEncoding.EncodeToString(sig)
			}
			h := http.Header{}
			h.Set(s.SignatureHeaders[0], enc)
			h.Set(s.TimestampHeaders[0], ts)
			return &Request{Header: h, Body: b}
		}
		tampered := append([]byte(nil), body...)
		tampered[5] ^= 1
		cases := []struct {
			name string
			key  string
			r    *Request
			want error
		}{
			{"valid", k.pub, req(t0, body), nil},
			{"tampered body", k.pub, req(t0, tampered), ErrSignatureMismatch},
			{"another key", k.other, req(t0, body), ErrSignatureMismatch},
			{"stale", k.pub, req(t0.Add(-DefaultTolerance-time.Second), body), ErrTimestamp},
			{"future", k.pub, req(t0.Add(DefaultTolerance+time.Second), body), ErrTimestamp},
		}
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				v := newVerifier(t, s, Key{Name: "provider", PublicKey: tc.key})
				ev, err := v.Verify(tc.r)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if err == nil && (ev.Key != "provider" || !ev.Timestamp.Equal(t0)) {
					t.Fatalf("event %+v", ev)
				}
			})
		}
		t.Run(name+"/config", func(t *testing.T) {
			if _, err := New(Config{Scheme: s, Keys: []Key{{Secret: "x"}}}); !errors.Is(err, ErrConfig) {
				t.Errorf("a secret on a public-key scheme: %v", err)
			}
			if _, err := NewSigner(s, Key{Secret: "x"}); !errors.Is(err, ErrConfig) {
				t.Errorf("signing a public-key scheme: %v", err)
			}
			for _, bad := range []string{"zz", base64.StdEncoding.EncodeToString([]byte("not a key")), hex.EncodeToString(edPub[:16]),
				base64.StdEncoding.EncodeToString(edDER), base64.StdEncoding.EncodeToString(ecDER)} {
				if bad == k.pub {
					continue
				}
				if _, err := New(Config{Scheme: s, Keys: []Key{{PublicKey: bad}}}); !errors.Is(err, ErrMalformedSecret) {
					t.Errorf("public key %.20q: err %v, want ErrMalformedSecret", bad, err)
				}
			}
		})
	}
	// SendGrid's key may also be pasted as PEM.
	s, _ := Preset("sendgrid")
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	if _, err := New(Config{Scheme: s, Keys: []Key{{PublicKey: pemKey}}}); err != nil {
		t.Errorf("PEM key: %v", err)
	}
	// A DER-encoded Ed25519 key works where a scheme reads DER keys.
	std, _ := Preset("standard")
	std.PublicKeyEncoding = KeyDER
	if _, err := New(Config{Scheme: std, Keys: []Key{{PublicKey: base64.StdEncoding.EncodeToString(edDER)}}}); err != nil {
		t.Errorf("DER Ed25519 key: %v", err)
	}
}

// TestTokenSchemes checks shared-token schemes: Okta's Authorization
// header, and GitLab's X-Gitlab-Token beside its signing keys.
func TestTokenSchemes(t *testing.T) {
	okta, _ := Preset("okta")
	gitlab, _ := Preset("gitlab")
	body := []byte(`{"eventId":"e1"}`)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	signedGitlab := signed(t, gitlab, testSecret, t0, body)
	cases := []struct {
		name   string
		scheme Scheme
		keys   []Key
		h      http.Header
		want   error
		key    string
	}{
		{"okta valid", okta, []Key{{Name: "t", Secret: "Bearer s3cret"}}, hdr("Authorization", "Bearer s3cret"), nil, "t"},
		{"okta wrong", okta, []Key{{Secret: "Bearer s3cret"}}, hdr("Authorization", "Bearer s3cres"), ErrSignatureMismatch, ""},
		{"okta prefix only", okta, []Key{{Secret: "Bearer s3cret"}}, hdr("Authorization", "Bearer"), ErrSignatureMismatch, ""},
		{"okta missing", okta, []Key{{Secret: "Bearer s3cret"}}, hdr(), ErrMissingHeader, ""},
		{"okta rotated", okta, []Key{{Secret: "old", Expires: t0}, {Name: "new", Secret: "new"}}, hdr("Authorization", "new"), nil, "new"},
		{"okta expired", okta, []Key{{Secret: "old", Expires: t0}}, hdr("Authorization", "old"), ErrSignatureMismatch, ""},
		{"gitlab token", gitlab, []Key{{Name: "t", Secret: "tok"}}, hdr("X-Gitlab-Token", "tok"), nil, "t"},
		{"gitlab wrong token", gitlab, []Key{{Secret: "tok"}}, hdr("X-Gitlab-Token", "tik"), ErrSignatureMismatch, ""},
		{"gitlab token, signature sent too", gitlab, []Key{{Name: "t", Secret: "tok"}},
			hdr("X-Gitlab-Token", "tok", "Webhook-Signature", "v1,AAAA", "Webhook-Id", "x", "Webhook-Timestamp", "1"), nil, "t"},
		{"gitlab signed", gitlab, []Key{{Name: "sk", Secret: testSecret}}, signedGitlab.Header, nil, "sk"},
		// With a signing key configured, a token alone no longer passes,
		// even one equal to the signing key.
		{"gitlab signing key, token only", gitlab, []Key{{Secret: testSecret}}, hdr("X-Gitlab-Token", testSecret), ErrMissingHeader, ""},
		{"gitlab both kinds, token request", gitlab, []Key{{Secret: testSecret}, {Name: "t", Secret: "tok"}}, hdr("X-Gitlab-Token", "tok"), nil, "t"},
		{"gitlab both kinds, signed request", gitlab, []Key{{Name: "t", Secret: "tok"}, {Name: "sk", Secret: testSecret}}, signedGitlab.Header, nil, "sk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.scheme, tc.keys...)
			ev, err := v.Verify(&Request{Header: tc.h, Body: body})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && ev.Key != tc.key {
				t.Fatalf("key %q, want %q", ev.Key, tc.key)
			}
			if err != nil && strings.Contains(err.Error(), "s3cre") {
				t.Fatalf("error repeats the token: %v", err)
			}
		})
	}
	// The signer sends the token as it is.
	sg, err := NewSigner(okta, Key{Secret: "Bearer s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := sg.Sign(Message{Body: body})
	if err != nil || h.Get("Authorization") != "Bearer s3cret" {
		t.Fatalf("token signer: %v %v", h, err)
	}
}

// TestTimestampFormats checks milliseconds (HubSpot, Linear) and RFC 3339
// (Twitch) timestamps against their windows.
func TestTimestampFormats(t *testing.T) {
	cases := []struct {
		scheme, raw string
		want        error
	}{
		{"hubspot", strconv.FormatInt(t0.UnixMilli(), 10), nil},
		{"hubspot", strconv.FormatInt(t0.Add(-5*time.Minute).UnixMilli(), 10), nil},
		{"hubspot", strconv.FormatInt(t0.Add(-5*time.Minute).UnixMilli()-1, 10), ErrTimestamp},
		{"hubspot", strconv.FormatInt(t0.Unix(), 10), ErrTimestamp}, // seconds where ms are due
		{"hubspot", "9223372036854775807", ErrTimestamp},
		{"hubspot", "-1", ErrMalformedHeader},
		{"twitch", t0.UTC().Format(time.RFC3339Nano), nil},
		{"twitch", t0.Add(-10 * time.Minute).Format(time.RFC3339), nil},
		{"twitch", t0.Add(-11 * time.Minute).Format(time.RFC3339), ErrTimestamp},
		{"twitch", t0.Add(11 * time.Minute).In(time.FixedZone("x", 3600)).Format(time.RFC3339), ErrTimestamp},
		{"twitch", strconv.FormatInt(t0.Unix(), 10), ErrMalformedHeader},
		{"twitch", "2025-13-01T00:00:00Z", ErrMalformedHeader},
	}
	for _, tc := range cases {
		s, _ := Preset(tc.scheme)
		v := newVerifier(t, s)
		_, err := v.checkTimestamp(tc.raw, t0)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s %q: err = %v, want %v", tc.scheme, tc.raw, err, tc.want)
		}
	}
}

// TestBodyFieldSchemes checks Mailgun (signature, timestamp and token in
// the body) and Linear (timestamp in the signed body) beyond the vectors.
func TestBodyFieldSchemes(t *testing.T) {
	mg, _ := Preset("mailgun")
	sg, _ := NewSigner(mg, Key{Secret: "k"})
	in := []byte(`{"event-data":{"event":"delivered","id":"ev1"}}`)
	if _, err := sg.Sign(Message{Body: in}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Sign on a body-signed scheme: %v", err)
	}
	out, h, err := sg.SignBody(Message{Body: in, Timestamp: t0})
	if err != nil || len(h) != 0 {
		t.Fatalf("SignBody: %v, headers %v", err, h)
	}
	tok := jsonString(out, "signature.token")
	if len(tok) != 50 || jsonString(out, "signature.timestamp") != strconv.FormatInt(t0.Unix(), 10) || jsonString(out, "event-data.id") != "ev1" {
		t.Fatalf("signed body %s", out)
	}
	v := newVerifier(t, mg, Key{Secret: "k"})
	ev, err := v.Verify(&Request{Header: http.Header{}, Body: out})
	if err != nil || ev.ID != tok || ev.Type != "delivered" {
		t.Fatalf("verify: %+v %v", ev, err)
	}
	if _, _, err := sg.SignBody(Message{Body: out}); !errors.Is(err, ErrConfig) {
		t.Fatalf("signing a signed body again: %v", err)
	}
	for _, bad := range []string{`[1]`, `{"signature":"flat"}`, `nope`} {
		if _, _, err := sg.SignBody(Message{Body: []byte(bad)}); !errors.Is(err, ErrConfig) {
			t.Errorf("SignBody(%s): %v", bad, err)
		}
	}
	for _, body := range []string{`{}`, `{"signature":{"timestamp":"1700000000","token":"t"}}`, `{"signature":{"signature":"00","token":"t"}}`, `not json`} {
		if _, err := v.Verify(&Request{Header: http.Header{}, Body: []byte(body)}); !errors.Is(err, ErrMissingHeader) {
			t.Errorf("Verify(%s): %v, want ErrMissingHeader", body, err)
		}
	}

	lin, _ := Preset("linear")
	ls, _ := NewSigner(lin, Key{Secret: "k"})
	body := []byte(`{"type":"Issue","webhookTimestamp":` + strconv.FormatInt(t0.UnixMilli(), 10) + `}`)
	h, err = ls.Sign(Message{Body: body, ID: "d1", Type: "Issue"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err = newVerifier(t, lin, Key{Secret: "k"}).Verify(&Request{Header: h, Body: body})
	if err != nil || ev.ID != "d1" || ev.Type != "Issue" || !ev.Timestamp.Equal(t0) {
		t.Fatalf("linear: %+v %v", ev, err)
	}
	// Sign reads the timestamp from the body; without one it cannot, and
	// SignBody adds it.
	if _, err := ls.Sign(Message{Body: []byte(`{"type":"Issue"}`)}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Sign without webhookTimestamp: %v", err)
	}
	out, h, err = ls.SignBody(Message{Body: []byte(`{"type":"Issue"}`), Timestamp: t0})
	if err != nil || jsonString(out, "webhookTimestamp") != strconv.FormatInt(t0.UnixMilli(), 10) {
		t.Fatalf("SignBody: %s %v", out, err)
	}
	if _, err := newVerifier(t, lin, Key{Secret: "k"}).Verify(&Request{Header: h, Body: out}); err != nil {
		t.Fatalf("linear SignBody: %v", err)
	}
}

func TestDecodeReserved(t *testing.T) {
	for in, want := range map[string]string{
		"https://x.example/p?a=%3A%2f%3F%40%21%24%27%28%29%2A%2C%3B": "https://x.example/p?a=:/?@!$'()*,;",
		"https://x.example/p?a=%20%25%2B%zz%3":                       "https://x.example/p?a=%20%25%2B%zz%3",
		"plain":                                                      "plain",
	} {
		if got := decodeReserved(in); got != want {
			t.Errorf("decodeReserved(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMAC(t *testing.T) {
	s, _ := Preset("zoom")
	v := newVerifier(t, s, Key{Name: "zoom", Secret: "secret-token"})
	got := v.MAC("zoom", []byte("qgg8vlvZRS6UYooatFL8Aw"))
	if hex.EncodeToString(got) != hmacHex(t, "secret-token", "qgg8vlvZRS6UYooatFL8Aw") {
		t.Fatalf("MAC = %x", got)
	}
	if v.MAC("nope", []byte("x")) != nil {
		t.Fatal("MAC of an unknown key")
	}
}

func hmacHex(t *testing.T, key, msg string) string {
	t.Helper()
	s, _ := Preset("hmac")
	h, err := func() (http.Header, error) {
		sg, _ := NewSigner(s, Key{Secret: key})
		return sg.Sign(Message{Body: []byte(msg)})
	}()
	if err != nil {
		t.Fatal(err)
	}
	return h.Get("X-Signature")
}

func TestJSONPaths(t *testing.T) {
	cases := []struct{ body, path, want string }{
		{`{"event":{"id":"e1","event_type":"x"}}`, "event.id", "e1"},
		{` { "event" : { "id" : 12 } } `, "event.id", "12"},
		{`{"a":{"b":{"c":"deep"}}}`, "a.b.c", "deep"},
		{`{"event":{"data":{"id":"inner"},"id":"outer"}}`, "event.id", "outer"},
		{`{"event":"flat"}`, "event.id", ""},
		{`{"event":[{"id":"x"}]}`, "event.id", ""},
		{`{"ev\u0065nt":{"id":"esc"}}`, "event.id", "esc"},
		{`{"event":{"id":"first"},"event":{"id":"second"}}`, "event.id", "first"},
		{`{"event":{"id":`, "event.id", ""},
	}
	for _, tc := range cases {
		if got := jsonString([]byte(tc.body), tc.path); got != tc.want {
			t.Errorf("jsonString(%s, %s) = %q, want %q", tc.body, tc.path, got, tc.want)
		}
	}
	if a, b := jsonFields([]byte(`{"event":{"id":"e","event_type":"t"}}`), "event.id", "event.event_type"); a != "e" || b != "t" {
		t.Errorf("jsonFields with paths: %q %q", a, b)
	}
}

func TestNewSchemeFieldErrors(t *testing.T) {
	gen, _ := Preset("hmac")
	mg, _ := Preset("mailgun")
	with := func(s Scheme, f func(*Scheme)) Scheme { f(&s); return s }
	cases := []struct {
		name  string
		s     Scheme
		field string
	}{
		{"signature field signing the body", with(mg, func(s *Scheme) { s.Content = "{timestamp}{body}" }), "Content"},
		{"bad path", with(mg, func(s *Scheme) { s.SignatureField = "signature..x" }), "SignatureField"},
		{"bad json placeholder", with(gen, func(s *Scheme) { s.Content = "{json:}" }), "Content"},
		{"unknown handshake", with(gen, func(s *Scheme) { s.Handshake = "carrier-pigeon" }), "Handshake"},
		{"unknown timestamp format", with(gen, func(s *Scheme) { s.TimestampFormat = "julian" }), "TimestampFormat"},
		{"unknown key encoding", with(gen, func(s *Scheme) { s.PublicKeyEncoding = "jwk" }), "PublicKeyEncoding"},
		{"ecdsa key as hex", with(gen, func(s *Scheme) { s.Algorithm = ECDSAP256; s.PublicKeyEncoding = KeyHex }), "PublicKeyEncoding"},
		{"nothing to check", with(gen, func(s *Scheme) { s.SignatureHeaders = nil }), "SignatureHeaders"},
	}
	for _, tc := range cases {
		_, err := New(Config{Scheme: tc.s, Keys: []Key{{Secret: "x"}}})
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: err = %v, want ErrConfig naming %s", tc.name, err, tc.field)
		}
	}
}
