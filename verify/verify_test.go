package verify

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var t0 = time.Unix(1_700_000_000, 0)

func fixedNow() time.Time { return t0 }

// signed builds a request for scheme signed with secret at time at,
// adding to body whatever fields the scheme carries there.
func signed(t testing.TB, scheme Scheme, secret string, at time.Time, body []byte) *Request {
	t.Helper()
	sg, err := NewSigner(scheme, Key{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://hooks.example.com/in?x=1"
	body, h, err := sg.SignBody(Message{ID: "evt_1", Type: "invoice.paid", Timestamp: at, Body: body, URL: url, Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	return &Request{Header: h, Body: body, URL: url, Method: "POST"}
}

func newVerifier(t testing.TB, scheme Scheme, keys ...Key) *Verifier {
	t.Helper()
	if len(keys) == 0 {
		keys = []Key{{Secret: testSecret}}
	}
	v, err := New(Config{Scheme: scheme, Keys: keys, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sampleBody is a JSON payload with the event id and type where the
// scheme reads them ("evt_1", "invoice.paid"), padded to about n bytes.
func sampleBody(t testing.TB, s Scheme, n int) []byte {
	t.Helper()
	b := []byte(`{"type":"invoice.paid","id":"evt_1","event_id":"evt_1","event_type":"invoice.paid","data":{"n":1}}`)
	if pad := n - len(b); pad > 0 {
		b = []byte(`{"pad":"` + strings.Repeat("a", pad) + `",` + string(b[1:]))
	}
	var err error
	for path, val := range map[string]string{s.IDField: `"evt_1"`, s.TypeField: `"invoice.paid"`} {
		if path == "" || strings.HasPrefix(path, "signature.") {
			continue
		}
		if _, ok := jsonRaw(b, path); !ok {
			if b, err = insertField(b, path, val); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b
}

// TestSchemes runs valid and tampered cases for every preset that signs
// with an HMAC, signing with the package's own Signer. Public-key and
// token schemes have their own tests.
func TestSchemes(t *testing.T) {
	type tc struct {
		name   string
		mutate func(r *Request)
		at     time.Time
		secret string
		size   int
		want   error
	}
	for _, name := range Presets() {
		s, _ := Preset(name)
		sd := s.withDefaults()
		if s.PublicKey() || (len(s.TokenHeaders) > 0 && !sd.hasSignature()) {
			continue
		}
		body := sampleBody(t, s, 0)
		if name == "twilio" {
			body = []byte("b=2&a=1&a=0")
		}
		// flip changes one signed byte: of the body, or of the first
		// signed body field where the body itself is not signed.
		flip := func(r *Request) {
			r.Body = append([]byte(nil), r.Body...)
			at := len(r.Body) - 4
			if sd.SignatureField != "" {
				tmpl, _ := parseTemplate(sd.Content)
				start, _, _ := jsonLookup(r.Body, tmpl.paths()[0])
				at = start + 2
			}
			r.Body[at] ^= 1
		}
		cases := []tc{
			{name: "valid"},
			{name: "one signed byte", mutate: flip, want: ErrSignatureMismatch},
			{name: "another secret", secret: "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldA==", want: ErrSignatureMismatch},
			{name: "odd whitespace", mutate: func(r *Request) {
				for _, hn := range s.SignatureHeaders {
					if v := r.Header.Get(hn); v != "" {
						v = "  " + v + " \t"
						if s.Format == FormatPairs {
							v = strings.ReplaceAll(v, s.PairSeparator, " "+s.PairSeparator+"  ")
						}
						if s.Format == FormatList {
							v = strings.ReplaceAll(v, " ", "   ")
						}
						r.Header.Set(hn, v)
					}
				}
			}},
			{name: "1 MiB body", size: 1 << 20},
		}
		if sd.SignatureField == "" {
			cases = append(cases, tc{name: "body appended", mutate: func(r *Request) { r.Body = append(append([]byte(nil), r.Body...), ' ') }, want: ErrSignatureMismatch})
		}
		if !s.SignsBody() {
			cases = append(cases, tc{name: "empty body", size: -1})
		}
		if sd.hasTimestamp() {
			cases = append(cases,
				tc{name: "old timestamp", at: t0.Add(-time.Hour), want: ErrTimestamp},
				tc{name: "future timestamp", at: t0.Add(time.Hour), want: ErrTimestamp})
		}
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				b := body
				switch {
				case tc.size < 0:
					b = []byte{}
				case tc.size > 0 && name != "twilio":
					b = sampleBody(t, s, tc.size)
				}
				at := tc.at
				if at.IsZero() {
					at = t0
				}
				secret := testSecret
				if tc.secret != "" {
					secret = tc.secret
				}
				r := signed(t, s, secret, at, b)
				if tc.mutate != nil {
					tc.mutate(r)
				}
				ev, err := newVerifier(t, s).Verify(r)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if err == nil && tc.name == "valid" {
					if (s.IDField != "" || len(s.IDHeaders) > 0) && name != "twilio" && name != "mailgun" && ev.ID != "evt_1" {
						t.Errorf("ID = %q, want evt_1", ev.ID)
					}
					if (s.TypeField != "" || len(s.TypeHeaders) > 0) && ev.Type != "invoice.paid" {
						t.Errorf("Type = %q, want invoice.paid", ev.Type)
					}
					if sd.hasTimestamp() && !ev.Timestamp.Equal(t0) {
						t.Errorf("Timestamp = %v, want %v", ev.Timestamp, t0)
					}
				}
			})
		}
	}
}

func TestStandardHeaders(t *testing.T) {
	s, _ := Preset("standard")
	v := newVerifier(t, s)
	body := []byte(`{"type":"a.b"}`)
	ok := signed(t, s, testSecret, t0, body)
	sig := ok.Header.Get("Webhook-Signature")

	cases := []struct {
		name string
		set  map[string]string
		want error
	}{
		{"missing id", map[string]string{"Webhook-Id": ""}, ErrMissingHeader},
		{"missing timestamp", map[string]string{"Webhook-Timestamp": ""}, ErrMissingHeader},
		{"non-numeric timestamp", map[string]string{"Webhook-Timestamp": "12a"}, ErrMalformedHeader},
		{"negative timestamp", map[string]string{"Webhook-Timestamp": "-5"}, ErrMalformedHeader},
		{"plus timestamp", map[string]string{"Webhook-Timestamp": "+1700000000"}, ErrMalformedHeader},
		{"int64 max timestamp", map[string]string{"Webhook-Timestamp": "9223372036854775807"}, ErrTimestamp},
		{"overflow timestamp", map[string]string{"Webhook-Timestamp": "99999999999999999999"}, ErrMalformedHeader},
		{"zero timestamp", map[string]string{"Webhook-Timestamp": "0"}, ErrTimestamp},
		{"invalid base64", map[string]string{"Webhook-Signature": "v1,!!!notbase64!!!"}, ErrSignatureMismatch},
		{"no version", map[string]string{"Webhook-Signature": "justastring"}, ErrSignatureMismatch},
		{"only spaces", map[string]string{"Webhook-Signature": "   "}, ErrMissingHeader},
		{"v2 only", map[string]string{"Webhook-Signature": strings.Replace(sig, "v1,", "v2,", 1)}, ErrSignatureMismatch},
		{"several, one good", map[string]string{"Webhook-Signature": "v1,AAAA v2,zzz " + sig + " v1,bm9wZQ=="}, nil},
		{"too many", map[string]string{"Webhook-Signature": strings.Repeat("v1,AAAA ", 100) + sig}, ErrMalformedHeader},
		{"svix names", map[string]string{"Webhook-Signature": "", "Webhook-Id": "", "Webhook-Timestamp": "",
			"Svix-Signature": sig, "Svix-Id": "evt_1", "Svix-Timestamp": ok.Header.Get("Webhook-Timestamp")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Header: ok.Header.Clone(), Body: body}
			for k, val := range tc.set {
				if val == "" {
					r.Header.Del(k)
				} else {
					r.Header.Set(k, val)
				}
			}
			_, err := v.Verify(r)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeyExpiry(t *testing.T) {
	s, _ := Preset("github")
	r := signed(t, s, "old-secret", t0, []byte("{}"))
	v := newVerifier(t, s,
		Key{Name: "old", Secret: "old-secret", Expires: t0},
		Key{Name: "new", Secret: "new-secret"})
	if _, err := v.Verify(r); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("expired key verified: %v", err)
	}
	v = newVerifier(t, s,
		Key{Name: "old", Secret: "old-secret", Expires: t0.Add(time.Second)},
		Key{Name: "new", Secret: "new-secret"})
	ev, err := v.Verify(r)
	if err != nil || ev.Key != "old" {
		t.Fatalf("before expiry: key %q err %v", ev.Key, err)
	}
	v = newVerifier(t, s, Key{Name: "old", Secret: "old-secret", Expires: t0})
	if _, err := v.Verify(r); !errors.Is(err, ErrSignatureMismatch) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("all expired: %v", err)
	}
}

// TestAwaitKeysThenWithKey: a Verifier without keys yet refuses every
// signature; WithKey adds one to a copy and leaves the original as it was.
func TestAwaitKeysThenWithKey(t *testing.T) {
	s, _ := Preset("asana")
	r := signed(t, s, "handshake-secret", t0, []byte(`{"events":[]}`))
	if _, err := New(Config{Scheme: s}); !errors.Is(err, ErrConfig) {
		t.Fatalf("New without keys: %v, want ErrConfig", err)
	}
	v, err := New(Config{Scheme: s, AwaitKeys: true, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(r); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("no key yet: %v, want ErrSignatureMismatch", err)
	}
	if _, err := v.WithKey(Key{Name: "bad", Secret: "x", PublicKey: "y"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Keys[0] (bad)") {
		t.Fatalf("WithKey of a bad key: %v, want ErrConfig naming Keys[0] (bad)", err)
	}
	v2, err := v.WithKey(Key{Name: "handshake", Secret: "handshake-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := v2.Verify(r); err != nil || ev.Key != "handshake" {
		t.Fatalf("after WithKey: key %q, %v", ev.Key, err)
	}
	if _, err := v.Verify(r); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("the original changed: %v", err)
	}
	v3, err := newVerifier(t, s, Key{Name: "configured", Secret: "other"}).WithKey(Key{Name: "handshake", Secret: "handshake-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := v3.Verify(r); err != nil || ev.Key != "handshake" {
		t.Fatalf("configured key plus WithKey: key %q, %v", ev.Key, err)
	}
}

func TestEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := Preset("standard")
	body := []byte(`{"type":"user.created"}`)
	ts := "1700000000"
	msg := []byte("msg_1." + ts + "." + string(body))
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
	req := func(sigHeader string, b []byte) *Request {
		h := http.Header{}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sigHeader)
		return &Request{Header: h, Body: b}
	}
	pubB64 := "whpk_" + base64.StdEncoding.EncodeToString(pub)
	v := newVerifier(t, s,
		Key{Name: "other", PublicKey: base64.StdEncoding.EncodeToString(pub2)},
		Key{Name: "ed", PublicKey: pubB64},
		Key{Name: "hmac", Secret: testSecret})
	ev, err := v.Verify(req("v1,AAAA v1a,"+sig, body))
	if err != nil || ev.Key != "ed" || ev.Type != "user.created" || ev.ID != "msg_1" {
		t.Fatalf("v1a: ev %+v err %v", ev, err)
	}
	tampered := append([]byte(nil), body...)
	tampered[2] ^= 1
	if _, err := v.Verify(req("v1a,"+sig, tampered)); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("tampered v1a: %v", err)
	}
	if _, err := v.Verify(req("v1a,"+sig[:20], body)); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("short v1a: %v", err)
	}
	// A v1a signature is not accepted as v1 (HMAC) or without public keys.
	hmacOnly := newVerifier(t, s)
	if _, err := hmacOnly.Verify(req("v1a,"+sig, body)); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("v1a without public keys: %v", err)
	}
	for _, bad := range []string{"whpk_!!", "whpk_" + base64.StdEncoding.EncodeToString(pub[:16])} {
		if _, err := New(Config{Scheme: s, Keys: []Key{{PublicKey: bad}}}); !errors.Is(err, ErrMalformedSecret) {
			t.Errorf("public key %q: err %v, want ErrMalformedSecret", bad, err)
		}
	}
	gh, _ := Preset("github")
	if _, err := New(Config{Scheme: gh, Keys: []Key{{PublicKey: pubB64}}}); !errors.Is(err, ErrConfig) {
		t.Errorf("public key on github: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	std, _ := Preset("standard")
	gen, _ := Preset("hmac")
	cases := []struct {
		name  string
		cfg   Config
		want  error
		field string
	}{
		{"no keys", Config{Scheme: std}, ErrConfig, "Keys"},
		{"bad base64 secret", Config{Scheme: std, Keys: []Key{{Name: "prod", Secret: "whsec_%%%"}}}, ErrMalformedSecret, "Keys[0] (prod)"},
		{"empty secret", Config{Scheme: std, Keys: []Key{{}}}, ErrMalformedSecret, "Keys[0]"},
		{"both", Config{Scheme: std, Keys: []Key{{Secret: "a", PublicKey: "b"}}}, ErrConfig, "Keys[0]"},
		{"bad template", Config{Scheme: func() Scheme { s := gen; s.Content = "{boddy}"; return s }(), Keys: []Key{{Secret: "x"}}}, ErrConfig, "Content"},
		{"bad encoding", Config{Scheme: func() Scheme { s := gen; s.Encoding = "b32"; return s }(), Keys: []Key{{Secret: "x"}}}, ErrConfig, "Encoding"},
		{"bad algorithm", Config{Scheme: func() Scheme { s := gen; s.Algorithm = "md5"; return s }(), Keys: []Key{{Secret: "x"}}}, ErrConfig, "Algorithm"},
		{"no header", Config{Scheme: func() Scheme { s := gen; s.SignatureHeaders = nil; return s }(), Keys: []Key{{Secret: "x"}}}, ErrConfig, "SignatureHeaders"},
		{"bad format", Config{Scheme: func() Scheme { s := gen; s.Format = "xml"; return s }(), Keys: []Key{{Secret: "x"}}}, ErrConfig, "Format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want %v naming %q", err, tc.want, tc.field)
			}
			if strings.Contains(err.Error(), "%%%") {
				t.Errorf("error repeats the secret: %v", err)
			}
		})
	}
	if _, err := Preset("nope"); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("Preset(nope) = %v", err)
	}
}

func TestGenericHMAC(t *testing.T) {
	s, _ := Preset("hmac")
	s.SignatureHeaders = []string{"X-Sig"}
	s.Prefix = "sha512="
	s.Algorithm = SHA512
	s.Encoding = Base64
	s.Content = "{id}:{timestamp}:{method}:{url}:{body}"
	s.IDHeaders = []string{"X-Id"}
	s.TimestampHeaders = []string{"X-Ts"}
	body := []byte("hello")
	r := signed(t, s, "k", t0, body)
	if !strings.HasPrefix(r.Header.Get("X-Sig"), "sha512=") || r.Header.Get("X-Id") != "evt_1" {
		t.Fatalf("headers %v", r.Header)
	}
	v := newVerifier(t, s, Key{Secret: "k"})
	if ev, err := v.Verify(r); err != nil || ev.ID != "evt_1" {
		t.Fatalf("ev %+v err %v", ev, err)
	}
	r.Method = "PUT"
	if _, err := v.Verify(r); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("method changed: %v", err)
	}
	r.Method = "POST"
	r.Header.Set("X-Sig", strings.TrimPrefix(r.Header.Get("X-Sig"), "sha512="))
	if _, err := v.Verify(r); !errors.Is(err, ErrMalformedHeader) {
		t.Fatalf("prefix missing: %v", err)
	}
}

func TestTwilioBodyHash(t *testing.T) {
	s, _ := Preset("twilio")
	body := []byte(`{"a":1}`)
	sg, _ := NewSigner(s, Key{Secret: "tok"})
	u := "https://x.example/hook?bodySHA256=0000"
	if _, err := sg.Sign(Message{Body: body, URL: u}); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("sign with wrong body hash: %v", err)
	}
}

func TestJSONFields(t *testing.T) {
	cases := []struct {
		body, a, b string
		wantA      string
		wantB      string
	}{
		{`{"id":"evt_1","type":"x.y"}`, "id", "type", "evt_1", "x.y"},
		{`  {"data":{"id":"inner","type":"no"},"type":"top","id":42}`, "id", "type", "42", "top"},
		{`{"a":[1,{"b":[]},"]"],"id":"q\"uote","type":null}`, "id", "type", `q"uote`, ""},
		{`{"t\u0079pe":"esc"}`, "", "type", "", "esc"},
		{`{"type":"first","type":"second"}`, "", "type", "", "first"},
		{`not json`, "id", "type", "", ""},
		{`["id","type"]`, "id", "type", "", ""},
		{`{"id":"x"`, "id", "type", "x", ""},
		{`{"id":`, "id", "", "", ""},
		{`{}`, "id", "type", "", ""},
		{`{"x":{}, "y":[], "id":"z"}`, "id", "", "z", ""},
		{strings.Repeat("[", 2000), "id", "", "", ""},
		{`{"deep":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `,"id":"d"}`, "id", "", "", ""},
	}
	for _, tc := range cases {
		a, b := jsonFields([]byte(tc.body), tc.a, tc.b)
		if a != tc.wantA || b != tc.wantB {
			t.Errorf("jsonFields(%.40q) = %q, %q; want %q, %q", tc.body, a, b, tc.wantA, tc.wantB)
		}
	}
}

// TestSignatureCountLimit: a header with more than maxSignatures entries
// is refused whatever its order (the valid one first or last), one at the
// limit is checked, and padding between entries does not count.
func TestSignatureCountLimit(t *testing.T) {
	s, _ := Preset("standard")
	v := newVerifier(t, s)
	r := signed(t, s, testSecret, t0, []byte(`{"type":"a"}`))
	valid := r.Header.Get("Webhook-Signature")
	junk := "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	list := func(n int, validFirst bool) string {
		parts := make([]string, 0, n)
		for range n - 1 {
			parts = append(parts, junk)
		}
		if validFirst {
			return strings.Join(append([]string{valid}, parts...), " ")
		}
		return strings.Join(append(parts, valid), " ")
	}
	for _, tc := range []struct {
		name   string
		header string
		want   error
	}{
		{"at the limit, valid last", list(maxSignatures, false), nil},
		{"over the limit, valid first", list(maxSignatures+1, true), ErrMalformedHeader},
		{"over the limit, valid last", list(maxSignatures+1, false), ErrMalformedHeader},
		{"one entry, padded with spaces", "  " + valid + strings.Repeat(" ", 3*maxSignatures), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Header.Set("Webhook-Signature", tc.header)
			_, err := v.Verify(r)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
