package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// vector is one entry of the signature vectors: the providers' official
// ones (testdata/official.json) and ours computed from their documented
// algorithms (testdata/presets.json, marked "computed").
type vector struct {
	ID         string            `json:"id"`
	Provider   string            `json:"provider"`
	Secret     string            `json:"secret"`
	SecretKind string            `json:"secret_kind"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
	URL        string            `json:"url"`
	Now        int64             `json:"now"`
	Tolerance  int64             `json:"tolerance_s"`
	Expect     string            `json:"expect"`
	Official   bool              `json:"official"`
	Computed   bool              `json:"computed"`
	Source     string            `json:"source"`
}

// schemeFor maps a vector's provider to our scheme name where they differ;
// otherwise the provider's name is the scheme's.
var schemeFor = map[string]string{
	"standard-webhooks": "standard",
}

func (vc vector) scheme() string {
	if s, ok := schemeFor[vc.Provider]; ok {
		return s
	}
	return vc.Provider
}

// loadVectors reads testdata/official.json (a copy of the shared vectors),
// testdata/presets.json and, when present beside the repository,
// ../shared/vectors/official.json so that vectors added there are picked
// up too. Every vector must name a built-in scheme.
func loadVectors(t testing.TB) []vector {
	t.Helper()
	seen := map[string]bool{}
	var all []vector
	for _, path := range []string{"testdata/official.json", "testdata/presets.json", "../../shared/vectors/official.json"} {
		b, err := os.ReadFile(path)
		if err != nil {
			if strings.HasPrefix(path, "testdata/") {
				t.Fatal(err)
			}
			continue
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, v := range vs {
			if _, err := Preset(v.scheme()); err != nil {
				t.Fatalf("%s: vector %s: %v", path, v.ID, err)
			}
			if !v.Official && !v.Computed {
				t.Fatalf("%s: vector %s is neither official nor marked computed", path, v.ID)
			}
			if v.Computed && v.Source == "" {
				t.Fatalf("%s: computed vector %s names no source", path, v.ID)
			}
			if !seen[v.ID] {
				seen[v.ID] = true
				all = append(all, v)
			}
		}
	}
	return all
}

func (vc vector) request() *Request {
	h := http.Header{}
	for k, v := range vc.Headers {
		h.Set(k, v)
	}
	return &Request{Header: h, Body: []byte(vc.Body), URL: vc.URL, Method: http.MethodPost}
}

// otherKey is a key that did not sign the vector: another token, secret
// or public key of the same kind.
func (vc vector) otherKey(t testing.TB, s Scheme) Key {
	t.Helper()
	switch {
	case s.isToken(vc.Secret):
		return Key{Secret: "another-token"}
	case s.Algorithm == Ed25519:
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return Key{PublicKey: hex.EncodeToString(pub)}
	case s.Algorithm == ECDSAP256:
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		return Key{PublicKey: base64.StdEncoding.EncodeToString(der)}
	case s.SecretEncoding == SecretBase64:
		return Key{Secret: "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldA=="}
	}
	return Key{Secret: "d2hzZWNfb3RoZXJfc2VjcmV0X2tleV8xMjM0NQ=="}
}

// key is the vector's key, as a secret or a public key by scheme.
func (vc vector) key(s Scheme) Key {
	if s.PublicKey() {
		return Key{PublicKey: vc.Secret}
	}
	return Key{Secret: vc.Secret}
}

func (vc vector) verifier(t testing.TB, keys ...Key) *Verifier {
	t.Helper()
	s, err := Preset(vc.scheme())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		keys = []Key{vc.key(s)}
	}
	v, err := New(Config{Scheme: s, Keys: keys, Now: func() time.Time { return time.Unix(vc.Now, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tampered returns the vector's request with one byte changed of what
// authenticates it: the body; for a scheme that signs body fields only
// (Mailgun), the first such field; for a token, the token.
func (vc vector) tampered(s Scheme) *Request {
	r := vc.request()
	if s.isToken(vc.Secret) {
		for _, h := range s.TokenHeaders {
			if tok := r.Header.Get(h); tok != "" {
				b := []byte(tok)
				b[len(b)/2] ^= 0x01
				r.Header.Set(h, string(b))
			}
		}
		return r
	}
	if len(r.Body) == 0 {
		r.Body = []byte{'x'}
		return r
	}
	at := len(r.Body) / 2
	if s.SignatureField != "" {
		tmpl, _ := parseTemplate(s.withDefaults().Content)
		start, end, _ := jsonLookup(r.Body, tmpl.paths()[0])
		at = (start + end) / 2
	}
	r.Body[at] ^= 0x01
	return r
}

// TestOfficialVectors is the table test over every preset's vectors: each
// valid one verifies; a byte of the body, another key, and a missing
// signature do not; a rotation finds the right key.
func TestOfficialVectors(t *testing.T) {
	for _, vc := range loadVectors(t) {
		t.Run(vc.ID, func(t *testing.T) {
			v := vc.verifier(t)
			s := v.Scheme()
			ev, err := v.Verify(vc.request())
			if vc.Expect == "valid" && err != nil {
				t.Fatalf("valid vector rejected: %v", err)
			}
			if ev.Key != "key1" {
				t.Errorf("Key = %q, want key1", ev.Key)
			}
			if vc.Tolerance > 0 && v.Tolerance() != time.Duration(vc.Tolerance)*time.Second {
				t.Errorf("default tolerance %v, provider documents %ds", v.Tolerance(), vc.Tolerance)
			}

			// Tampered: one byte of what is signed.
			if _, err := v.Verify(vc.tampered(s)); !errors.Is(err, ErrSignatureMismatch) {
				t.Errorf("tampered body: err = %v, want ErrSignatureMismatch", err)
			}
			// Another key.
			other := vc.verifier(t, vc.otherKey(t, s))
			if _, err := other.Verify(vc.request()); !errors.Is(err, ErrSignatureMismatch) {
				t.Errorf("other key: err = %v, want ErrSignatureMismatch", err)
			}
			// Rotation: the right key among others still matches, and
			// the result names it.
			rot := vc.verifier(t, vc.otherKey(t, s), vc.key(s))
			if ev, err := rot.Verify(vc.request()); err != nil || ev.Key != "key2" {
				t.Errorf("rotation: key %q, err %v; want key2", ev.Key, err)
			}
			// No signature (or token).
			r := vc.request()
			for _, h := range append(s.SignatureHeaders, s.TokenHeaders...) {
				r.Header.Del(h)
			}
			if s.SignatureField != "" {
				r.Body = []byte(strings.Replace(string(r.Body), `"signature":"`, `"signatur_":"`, 1))
			}
			if _, err := v.Verify(r); !errors.Is(err, ErrMissingHeader) {
				t.Errorf("no signature: err = %v, want ErrMissingHeader", err)
			}
		})
	}
}

// TestVectorsCoverPresets holds the rule: every preset has at
// least one valid vector (the generic hmac excepted).
func TestVectorsCoverPresets(t *testing.T) {
	have := map[string]int{}
	for _, vc := range loadVectors(t) {
		have[vc.scheme()]++
	}
	for _, name := range Presets() {
		if name == "hmac" {
			continue
		}
		if have[name] == 0 {
			t.Errorf("preset %q has no test vector", name)
		}
	}
}

// TestOfficialVectorsStale moves the clock outside the provider's window
// in both directions for every vector whose scheme signs a timestamp.
func TestOfficialVectorsStale(t *testing.T) {
	for _, vc := range loadVectors(t) {
		ok := vc.verifier(t)
		if len(ok.tokens) > 0 || !ok.scheme.hasTimestamp() {
			continue
		}
		t.Run(vc.ID, func(t *testing.T) {
			ev, err := ok.Verify(vc.request())
			if err != nil {
				t.Fatal(err)
			}
			tol := ok.Tolerance()
			for _, shift := range []time.Duration{tol + time.Second, -(tol + time.Second)} {
				v := vc.verifier(t)
				v.now = func() time.Time { return ev.Timestamp.Add(shift) }
				if _, err := v.Verify(vc.request()); !errors.Is(err, ErrTimestamp) {
					t.Errorf("clock shifted %v: err = %v, want ErrTimestamp", shift, err)
				}
			}
		})
	}
}

func TestVectorsSecretsNeverInErrors(t *testing.T) {
	for _, vc := range loadVectors(t) {
		v := vc.verifier(t)
		_, err := v.Verify(vc.tampered(v.Scheme()))
		if err == nil {
			t.Fatalf("%s: tampered body accepted", vc.ID)
		}
		for _, secret := range []string{vc.Secret, strings.TrimPrefix(vc.Secret, "whsec_")} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains the secret", vc.ID, err)
			}
		}
		for _, hv := range vc.Headers {
			if len(hv) > 16 && strings.Contains(err.Error(), hv) {
				t.Errorf("%s: error %q contains a signature header", vc.ID, err)
			}
		}
	}
}
