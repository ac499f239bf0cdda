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
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dedupKind is what a preset's DedupKey is made of.
type dedupKind int

const (
	dedupID     dedupKind = iota // the signed event id
	dedupDigest                  // the SHA-256 of the signed content
	dedupNone                    // no key: no id and no signed timestamp
)

// sourceDecisions is, for every preset, what its provider signs: whether
// the event id and the event type are covered by the signature, what
// DedupKey is made of, and what verifying needs of the request. Adding a
// preset means deciding its row here.
var sourceDecisions = map[string]struct {
	idSigned, typeSigned bool
	dedup                dedupKind
	url, method, form    bool
}{
	"standard":     {idSigned: true, typeSigned: true, dedup: dedupID},
	"svix":         {idSigned: true, typeSigned: true, dedup: dedupID},
	"clerk":        {idSigned: true, typeSigned: true, dedup: dedupID},
	"resend":       {idSigned: true, typeSigned: true, dedup: dedupID},
	"stripe":       {idSigned: true, typeSigned: true, dedup: dedupID},
	"github":       {dedup: dedupDigest},
	"slack":        {idSigned: true, typeSigned: true, dedup: dedupID},
	"shopify":      {dedup: dedupDigest},
	"paddle":       {idSigned: true, typeSigned: true, dedup: dedupID},
	"twilio":       {dedup: dedupDigest, url: true, form: true},
	"square":       {idSigned: true, typeSigned: true, dedup: dedupID, url: true},
	"linear":       {typeSigned: true, dedup: dedupDigest},
	"zoom":         {typeSigned: true, dedup: dedupDigest},
	"intercom":     {idSigned: true, typeSigned: true, dedup: dedupID},
	"typeform":     {idSigned: true, typeSigned: true, dedup: dedupID},
	"twitch":       {idSigned: true, typeSigned: true, dedup: dedupID},
	"meta":         {typeSigned: true, dedup: dedupNone},
	"mailgun":      {idSigned: true, dedup: dedupID},
	"hubspot":      {dedup: dedupDigest, url: true, method: true},
	"pagerduty":    {idSigned: true, typeSigned: true, dedup: dedupID},
	"sentry":       {dedup: dedupDigest},
	"vercel":       {idSigned: true, typeSigned: true, dedup: dedupID},
	"lemonsqueezy": {typeSigned: true, dedup: dedupNone},
	"calendly":     {typeSigned: true, dedup: dedupDigest},
	"mux":          {idSigned: true, typeSigned: true, dedup: dedupID},
	"gitea":        {dedup: dedupDigest},
	"forgejo":      {dedup: dedupDigest},
	"bitbucket":    {dedup: dedupDigest},
	"gitlab":       {idSigned: true, dedup: dedupID}, // with a signing key; a token signs nothing
	"asana":        {dedup: dedupNone},
	"dropbox":      {dedup: dedupNone},
	"okta":         {dedup: dedupDigest}, // a token: the key is the body's digest
	"paystack":     {typeSigned: true, dedup: dedupNone},
	"razorpay":     {typeSigned: true, dedup: dedupDigest},
	"woocommerce":  {dedup: dedupDigest},
	"sendgrid":     {dedup: dedupDigest},
	"discord":      {idSigned: true, typeSigned: true, dedup: dedupID},
	"hmac":         {dedup: dedupNone},
}

// TestSchemeSources holds every preset to its decided row: what its
// signature covers and what verifying it needs.
func TestSchemeSources(t *testing.T) {
	for _, name := range Presets() {
		t.Run(name, func(t *testing.T) {
			want, ok := sourceDecisions[name]
			if !ok {
				t.Fatalf("no decision for preset %q: add its row to sourceDecisions", name)
			}
			s, _ := Preset(name)
			if got := s.IDSigned(); got != want.idSigned {
				t.Errorf("IDSigned() = %v, want %v", got, want.idSigned)
			}
			if got := s.TypeSigned(); got != want.typeSigned {
				t.Errorf("TypeSigned() = %v, want %v", got, want.typeSigned)
			}
			if s.IDSource().Signed != s.IDSigned() || s.TypeSource().Signed != s.TypeSigned() {
				t.Error("Source.Signed disagrees with IDSigned/TypeSigned")
			}
			if got := s.NeedsURL(); got != want.url {
				t.Errorf("NeedsURL() = %v, want %v", got, want.url)
			}
			if got := s.NeedsMethod(); got != want.method {
				t.Errorf("NeedsMethod() = %v, want %v", got, want.method)
			}
			if got := s.NeedsForm(); got != want.form {
				t.Errorf("NeedsForm() = %v, want %v", got, want.form)
			}
			sd := s.withDefaults()
			if want.dedup == dedupNone && !(s.IDSource().None() && !sd.hasTimestamp()) {
				t.Error("dedupNone, but the scheme names an id or signs a timestamp")
			}
			// A signed id is read from where it is signed: never from a
			// header the signature does not cover.
			src := s.IDSource()
			if src.Signed && !src.FieldFirst && !strings.Contains(sd.Content, "{id}") {
				t.Errorf("IDSource %+v: signed, read from headers the Content does not sign", src)
			}
		})
	}
	for name := range sourceDecisions {
		if _, err := Preset(name); err != nil {
			t.Errorf("decision for %q, which is no preset", name)
		}
	}
}

// reencode writes every signature of r's signature header (or field) the
// other way the scheme's decoder accepts: hex in upper case, base64
// without its padding. The signature still matches.
func reencode(t *testing.T, s Scheme, r *Request) {
	t.Helper()
	sd := s.withDefaults()
	enc := func(sig string) string {
		if sd.Encoding == Hex {
			return strings.ToUpper(sig)
		}
		return strings.TrimRight(sig, "=")
	}
	value := func(v string) string {
		switch sd.Format {
		case FormatPairs:
			parts := strings.Split(v, sd.PairSeparator)
			for i, p := range parts {
				if k, sig, ok := strings.Cut(p, "="); ok && strings.TrimSpace(k) == sd.SignatureKey {
					parts[i] = k + "=" + enc(sig)
				}
			}
			return strings.Join(parts, sd.PairSeparator)
		case FormatList:
			fs := strings.Fields(v)
			for i, f := range fs {
				if tag, sig, ok := strings.Cut(f, ","); ok {
					fs[i] = tag + "," + enc(sig)
				}
			}
			return strings.Join(fs, " ")
		}
		sig, _ := strings.CutPrefix(v, sd.Prefix)
		return sd.Prefix + enc(sig)
	}
	if sd.SignatureField != "" {
		old := jsonString(r.Body, sd.SignatureField)
		r.Body = []byte(strings.Replace(string(r.Body), old, value(old), 1))
		return
	}
	for _, hn := range sd.SignatureHeaders {
		if v := r.Header.Get(hn); v != "" {
			r.Header.Set(hn, value(v))
		}
	}
}

// unsignedHeaders returns the headers of s that carry an id or a type
// and that its signature does not cover: what anyone who resends a
// delivery may change.
func unsignedHeaders(s Scheme) []string {
	sd := s.withDefaults()
	hs := slices.Clone(sd.TypeHeaders)
	if !strings.Contains(sd.Content, "{id}") {
		hs = append(hs, sd.IDHeaders...)
	}
	return append(hs, "Idempotency-Key")
}

func cloneRequest(r *Request) *Request {
	c := *r
	c.Header = r.Header.Clone()
	c.Body = slices.Clone(r.Body)
	return &c
}

// TestDedupKey verifies a signed request of every preset that hookgate
// can sign, then resends it as an attacker could: other or no unsigned
// id and type headers, the signature written another way, the URL in
// another accepted form. Every resend verifies with the same DedupKey;
// another body, or the same body signed again at another time, does not.
func TestDedupKey(t *testing.T) {
	for _, name := range Presets() {
		s, _ := Preset(name)
		sd := s.withDefaults()
		if s.PublicKey() {
			continue // TestDedupKeyPublicKey
		}
		want := sourceDecisions[name]
		body := sampleBody(t, s, 0)
		other := []byte(strings.Replace(string(body), `"data":{"n":1}`, `"data":{"n":2}`, 1))
		if name == "twilio" {
			body, other = []byte("b=2&a=1&a=0"), []byte("b=2&a=1&a=9")
		}
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, s)
			orig := signed(t, s, testSecret, t0, body)
			ev, err := v.Verify(cloneRequest(orig))
			if err != nil {
				t.Fatal(err)
			}
			switch want.dedup {
			case dedupID:
				if !ev.IDSigned || ev.DedupKey != ev.ID || ev.ID == "" {
					t.Fatalf("event %+v: want the signed id as DedupKey", ev)
				}
			case dedupDigest:
				if ev.IDSigned || !strings.HasPrefix(ev.DedupKey, digestPrefix) || len(ev.DedupKey) != len(digestPrefix)+64 {
					t.Fatalf("event %+v: want a digest as DedupKey", ev)
				}
			case dedupNone:
				if ev.DedupKey != "" || ev.IDSigned {
					t.Fatalf("event %+v: want no DedupKey", ev)
				}
			}
			if ev.TypeSigned != (want.typeSigned && ev.Type != "") {
				t.Errorf("TypeSigned = %v for type %q", ev.TypeSigned, ev.Type)
			}

			same := map[string]func(r *Request){
				"signature re-encoded": func(r *Request) { reencode(t, s, r) },
				"unrelated header":     func(r *Request) { r.Header.Set("X-Anything", "1") },
			}
			for _, hn := range unsignedHeaders(s) {
				same["other "+hn] = func(r *Request) { r.Header.Set(hn, "attacker-chosen") }
				same["no "+hn] = func(r *Request) { r.Header.Del(hn) }
			}
			if sd.URLPortVariants {
				same["URL with its port"] = func(r *Request) {
					r.URL = strings.Replace(r.URL, "hooks.example.com/", "hooks.example.com:443/", 1)
				}
			}
			if sd.DecodeURL {
				same["URL with an escaped slash"] = func(r *Request) { r.URL = strings.Replace(r.URL, "/in?", "%2Fin?", 1) }
			}
			if sd.NeedsForm() {
				same["form reordered"] = func(r *Request) { r.Body = []byte("a=0&b=2&a=1") }
			}
			for what, mutate := range same {
				r := cloneRequest(orig)
				mutate(r)
				got, err := v.Verify(r)
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				if got.DedupKey != ev.DedupKey {
					t.Errorf("%s: DedupKey %q, want %q as before", what, got.DedupKey, ev.DedupKey)
				}
			}

			// Another body, with the same id where the id is signed: the
			// same event for an id, another delivery for a digest.
			got, err := v.Verify(signed(t, s, testSecret, t0, other))
			if err != nil {
				t.Fatal(err)
			}
			switch want.dedup {
			case dedupDigest:
				if got.DedupKey == ev.DedupKey {
					t.Errorf("another body: the same DedupKey %q", got.DedupKey)
				}
			case dedupID:
				if name != "mailgun" && got.DedupKey != ev.DedupKey { // Mailgun's signed token is new per signing
					t.Errorf("another body, same signed id: DedupKey %q, want %q", got.DedupKey, ev.DedupKey)
				}
			}
			// Signed again a second later: a digest covers the timestamp.
			if sd.hasTimestamp() && want.dedup == dedupDigest && name != "okta" {
				got, err := v.Verify(signed(t, s, testSecret, t0.Add(-time.Second), body))
				if err != nil {
					t.Fatal(err)
				}
				if got.DedupKey == ev.DedupKey {
					t.Error("signed at another time: the same DedupKey")
				}
			}
		})
	}
}

// TestDedupKeyGitHubReplay is the attack of issue 13: a GitHub delivery
// resent with the same body and signature under a fresh
// X-GitHub-Delivery, under none, and under another X-GitHub-Event. Every
// resend has the one DedupKey, the SHA-256 of the body, and none has a
// signed id or type.
func TestDedupKeyGitHubReplay(t *testing.T) {
	var vc vector
	for _, x := range loadVectors(t) {
		if x.Provider == "github" && x.Expect == "valid" {
			vc = x
			break
		}
	}
	if vc.ID == "" {
		t.Fatal("no valid GitHub vector")
	}
	v := vc.verifier(t)
	sum := sha256.Sum256([]byte(vc.Body))
	want := "sha256:" + hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name   string
		mutate func(h http.Header)
	}{
		{"as delivered", func(http.Header) {}},
		{"fresh delivery id", func(h http.Header) { h.Set("X-GitHub-Delivery", "00000000-0000-4000-8000-000000000001") }},
		{"another fresh delivery id", func(h http.Header) { h.Set("X-GitHub-Delivery", "00000000-0000-4000-8000-000000000002") }},
		{"no delivery id", func(h http.Header) { h.Del("X-GitHub-Delivery") }},
		{"other event header", func(h http.Header) { h.Set("X-GitHub-Event", "push") }},
		{"no event header", func(h http.Header) { h.Del("X-GitHub-Event") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := vc.request()
			tc.mutate(r.Header)
			ev, err := v.Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			if ev.DedupKey != want {
				t.Errorf("DedupKey = %q, want %q", ev.DedupKey, want)
			}
			if ev.IDSigned || ev.TypeSigned {
				t.Errorf("IDSigned %v, TypeSigned %v: GitHub signs neither", ev.IDSigned, ev.TypeSigned)
			}
		})
	}
}

// TestDedupKeyVectors checks every valid vector, official or computed:
// DedupKey is there where the scheme's row says, is the id exactly when
// the id is signed, and does not change when the signature is written
// another way.
func TestDedupKeyVectors(t *testing.T) {
	for _, vc := range loadVectors(t) {
		if vc.Expect != "valid" {
			continue
		}
		t.Run(vc.ID, func(t *testing.T) {
			v := vc.verifier(t)
			s := v.Scheme()
			want := sourceDecisions[s.Name]
			ev, err := v.Verify(vc.request())
			if err != nil {
				t.Fatal(err)
			}
			token := len(v.tokens) > 0
			switch {
			case ev.IDSigned:
				if token || !want.idSigned || ev.DedupKey != ev.ID {
					t.Errorf("event %+v: signed id, token %v", ev, token)
				}
			case want.dedup == dedupNone:
				if ev.DedupKey != "" {
					t.Errorf("DedupKey %q, want none", ev.DedupKey)
				}
			default:
				if !strings.HasPrefix(ev.DedupKey, digestPrefix) {
					t.Errorf("DedupKey %q, want a digest", ev.DedupKey)
				}
				if want.idSigned && ev.ID != "" && !token {
					t.Errorf("event %+v: id %q found but not signed", ev, ev.ID)
				}
			}
			if ev.TypeSigned && (token || !want.typeSigned) {
				t.Errorf("TypeSigned for scheme %s (token %v)", s.Name, token)
			}
			if token {
				return
			}
			r := vc.request()
			reencode(t, s, r)
			got, err := v.Verify(r)
			if err != nil {
				t.Fatalf("signature re-encoded: %v", err)
			}
			if got.DedupKey != ev.DedupKey {
				t.Errorf("signature re-encoded: DedupKey %q, want %q", got.DedupKey, ev.DedupKey)
			}
		})
	}
}

// TestDedupKeyToken: a request verified by a token has nothing signed, so
// its key is the body's digest whatever its id headers say, and
// Verifier.IDSigned says so for a verifier that accepts tokens.
func TestDedupKeyToken(t *testing.T) {
	s, _ := Preset("gitlab")
	v := newVerifier(t, s, Key{Secret: "glpat-token"})
	if v.IDSigned() || !s.IDSigned() {
		t.Errorf("Verifier.IDSigned %v, Scheme.IDSigned %v: want false, true", v.IDSigned(), s.IDSigned())
	}
	if signing := newVerifier(t, s); !signing.IDSigned() {
		t.Error("Verifier.IDSigned false with a signing key alone")
	}
	body := []byte(`{"object_kind":"push"}`)
	sum := sha256.Sum256(body)
	want := digestPrefix + hex.EncodeToString(sum[:])
	for _, id := range []string{"", "a", "b"} {
		h := http.Header{}
		h.Set("X-Gitlab-Token", "glpat-token")
		h.Set("X-Gitlab-Event", "Push Hook")
		if id != "" {
			h.Set("X-Gitlab-Event-UUID", id)
		}
		ev, err := v.Verify(&Request{Header: h, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if ev.DedupKey != want || ev.IDSigned || ev.TypeSigned || ev.ID != id {
			t.Errorf("id %q: event %+v, want DedupKey %s", id, ev, want)
		}
	}
}

// TestDedupKeyPublicKey: an ECDSA signature is randomized (and its s can
// be negated), so the same content has many valid signatures; DedupKey
// comes from the content, not from them.
func TestDedupKeyPublicKey(t *testing.T) {
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ecPriv.PublicKey)
	s, _ := Preset("sendgrid")
	v := newVerifier(t, s, Key{PublicKey: base64.StdEncoding.EncodeToString(der)})
	body := []byte(`[{"event":"delivered"}]`)
	ts := strconv.FormatInt(t0.Unix(), 10)
	digest := sha256.Sum256([]byte(ts + string(body)))
	req := func(sig []byte) *Request {
		h := http.Header{}
		h.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
		h.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
		return &Request{Header: h, Body: body}
	}
	var keys []string
	for range 2 {
		sig, err := ecdsa.SignASN1(rand.Reader, ecPriv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		ev, err := v.Verify(req(sig))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ev.DedupKey)
		// The same signature with s negated verifies too.
		ev, err = v.Verify(req(negateS(t, sig)))
		if err != nil {
			t.Fatalf("s negated: %v", err)
		}
		keys = append(keys, ev.DedupKey)
	}
	for _, k := range keys {
		if k != keys[0] || !strings.HasPrefix(k, digestPrefix) {
			t.Fatalf("keys %q: want one digest", keys)
		}
	}

	// Discord: Ed25519, the id in the signed body.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d, _ := Preset("discord")
	dv := newVerifier(t, d, Key{PublicKey: hex.EncodeToString(pub)})
	dbody := []byte(`{"id":"123","type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}`)
	h := http.Header{}
	h.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, []byte(ts+string(dbody)))))
	h.Set("X-Signature-Timestamp", ts)
	ev, err := dv.Verify(&Request{Header: h, Body: dbody})
	if err != nil {
		t.Fatal(err)
	}
	if ev.DedupKey != "123" || !ev.IDSigned || ev.Type != "APPLICATION_AUTHORIZED" || !ev.TypeSigned {
		t.Errorf("discord event %+v", ev)
	}
}

// negateS returns the ASN.1 ECDSA signature (r, n-s), as valid as (r, s).
func negateS(t *testing.T, sig []byte) []byte {
	t.Helper()
	// SEQUENCE { INTEGER r, INTEGER s }, each short enough for one length byte.
	if sig[0] != 0x30 || sig[2] != 0x02 {
		t.Fatal("unexpected signature encoding")
	}
	rLen := int(sig[3])
	r := sig[4 : 4+rLen]
	sLen := int(sig[5+rLen])
	sv := new(big.Int).SetBytes(sig[6+rLen : 6+rLen+sLen])
	sv.Sub(elliptic.P256().Params().N, sv)
	integer := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		for len(b) > 1 && b[0] == 0 && b[1]&0x80 == 0 {
			b = b[1:]
		}
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	seq := append(integer(r), integer(sv.Bytes())...)
	return append([]byte{0x30, byte(len(seq))}, seq...)
}

// TestTypeSignedFieldFirst: where a signed body field and an unsigned
// header both carry the type (Linear, Lemon Squeezy, Twitch), the field
// wins, so a resent delivery cannot be routed elsewhere by its header;
// a body without the field falls back to the header, reported unsigned.
func TestTypeSignedFieldFirst(t *testing.T) {
	s, _ := Preset("linear")
	v := newVerifier(t, s)
	r := signed(t, s, testSecret, t0, []byte(`{"type":"Issue","action":"create"}`))
	r.Header.Set("Linear-Event", "Project")
	ev, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != "Issue" || !ev.TypeSigned {
		t.Errorf("type %q signed %v, want the body's Issue, signed", ev.Type, ev.TypeSigned)
	}
	r = signed(t, s, testSecret, t0, []byte(`{"action":"create"}`))
	r.Header.Set("Linear-Event", "Project")
	if ev, err = v.Verify(r); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "Project" || ev.TypeSigned {
		t.Errorf("no type field: type %q signed %v, want the header's Project, unsigned", ev.Type, ev.TypeSigned)
	}
}

// TestSignedIDFromSignedContent: Mailgun signs its token as a JSON field
// of an otherwise unsigned body. A second "token" key added to the body
// does not change the id: the id is the value that was signed.
func TestSignedIDFromSignedContent(t *testing.T) {
	s, _ := Preset("mailgun")
	v := newVerifier(t, s)
	r := signed(t, s, testSecret, t0, []byte(`{"event-data":{"event":"delivered"}}`))
	ev, err := v.Verify(cloneRequest(r))
	if err != nil {
		t.Fatal(err)
	}
	b := string(r.Body)
	start := strings.Index(b, `"signature":{`)
	end := start + strings.IndexByte(b[start:], '}')
	r.Body = []byte(b[:end] + `,"token":"forged"` + b[end:])
	got, err := v.Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ev.ID || got.DedupKey != ev.DedupKey || !got.IDSigned {
		t.Errorf("a second token key: event %+v, want id %q as before", got, ev.ID)
	}
}

// TestPlaceID puts an id where each kind of scheme reads it, and the id
// returned is the one a Verifier reports.
func TestPlaceID(t *testing.T) {
	for _, tc := range []struct {
		scheme, body, id string
		wantID           string
		wantBody         string // "" when unchanged
		wantErr          error
	}{
		{scheme: "standard", body: `{}`, id: "msg_1", wantID: "msg_1"},
		{scheme: "github", body: `{}`, id: "d1", wantID: "d1"},
		{scheme: "stripe", body: `{"type":"a"}`, id: "evt_1", wantID: "evt_1", wantBody: `{"id":"evt_1","type":"a"}`},
		{scheme: "stripe", body: `{"id":"evt_body"}`, id: "evt_1", wantID: "evt_body"},
		{scheme: "stripe", body: `{"id":"evt_body"}`, wantID: "evt_body"},
		{scheme: "stripe", body: `{}`, wantID: ""},
		{scheme: "stripe", body: `{"id":{"x":1}}`, id: "evt_1", wantErr: ErrConfig},
		{scheme: "stripe", body: `[1]`, id: "evt_1", wantErr: ErrConfig},
		{scheme: "pagerduty", body: `{"event":{"event_type":"x"}}`, id: "E1", wantID: "E1", wantBody: `{"event":{"id":"E1","event_type":"x"}}`},
		{scheme: "mailgun", body: `{"event-data":{}}`, id: "tok", wantID: "tok", wantBody: `{"signature":{"token":"tok"},"event-data":{}}`},
		{scheme: "okta", body: `{}`, id: "e1", wantID: "e1", wantBody: `{"eventId":"e1"}`},
		{scheme: "zoom", body: `{}`, id: "x", wantID: ""},
	} {
		t.Run(tc.scheme+"/"+tc.body+"/"+tc.id, func(t *testing.T) {
			s, _ := Preset(tc.scheme)
			body, id, err := s.PlaceID([]byte(tc.body), tc.id)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			wantBody := tc.wantBody
			if wantBody == "" {
				wantBody = tc.body
			}
			if id != tc.wantID || string(body) != wantBody {
				t.Errorf("got %s, %q; want %s, %q", body, id, wantBody, tc.wantID)
			}
		})
	}
}

// TestPlaceIDVerifies signs, for every preset a Signer can sign, a body
// whose id was placed by PlaceID, and checks that the Verifier reports that
// id.
func TestPlaceIDVerifies(t *testing.T) {
	for _, name := range Presets() {
		s, _ := Preset(name)
		if s.PublicKey() || s.IDSource().None() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"type":"invoice.paid"}`)
			if s.NeedsForm() {
				body = []byte("a=1")
			}
			body, id, err := s.PlaceID(body, "evt_placed")
			if err != nil || id != "evt_placed" {
				t.Fatalf("PlaceID: %q, %v", id, err)
			}
			sg, err := NewSigner(s, Key{Secret: testSecret})
			if err != nil {
				t.Fatal(err)
			}
			url := "https://hooks.example.com/in"
			body, h, err := sg.SignBody(Message{ID: id, Timestamp: t0, Body: body, URL: url, Method: "POST"})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := newVerifier(t, s).Verify(&Request{Header: h, Body: body, URL: url, Method: "POST"})
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != id {
				t.Errorf("verified id %q, placed %q", ev.ID, id)
			}
		})
	}
}

func TestConfigIDTemplateNeedsHeader(t *testing.T) {
	s, _ := Preset("hmac")
	s.Content = "{id}.{body}"
	if _, err := New(Config{Scheme: s, Keys: []Key{{Secret: "x"}}}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "IDHeaders") {
		t.Errorf("template signing {id} with no id header: err %v, want ErrConfig naming IDHeaders", err)
	}
}
