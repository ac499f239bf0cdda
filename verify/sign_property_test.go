package verify_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// propertyCase is one random message and the secrets to sign it with.
type propertyCase struct {
	id, secret, other string
	at                time.Time
	body              []byte
	url               string
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

func randString(r *rand.Rand, alphabet string, minLen, maxLen int) string {
	b := make([]byte, minLen+r.IntN(maxLen-minLen+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func randSecret(r *rand.Rand, enc verify.SecretEncoding) string {
	raw := make([]byte, 1+r.IntN(64))
	for i := range raw {
		raw[i] = byte(r.UintN(256))
	}
	if enc == verify.SecretBase64 {
		return "whsec_" + base64.StdEncoding.EncodeToString(raw)
	}
	return base64.RawURLEncoding.EncodeToString(raw) // printable, as providers show secrets
}

// bodyKind is what a scheme can sign.
type bodyKind int

const (
	rawBody  bodyKind = iota // any bytes
	formBody                 // a form, as Twilio signs its parameters
	jsonBody                 // a JSON object, for schemes whose fields live in the body
)

func newPropertyCase(r *rand.Rand, s verify.Scheme, kind bodyKind) propertyCase {
	c := propertyCase{
		id:     randString(r, idChars, 1, 40),
		secret: randSecret(r, s.SecretEncoding),
		at:     time.Unix(r.Int64N(1<<33), 0),
		url:    "https://" + randString(r, "abcdefghij", 1, 12) + ".example.com/" + url.PathEscape(randString(r, idChars+"/ ~", 0, 20)),
	}
	for c.other = randSecret(r, s.SecretEncoding); c.other == c.secret; c.other = randSecret(r, s.SecretEncoding) {
	}
	if r.IntN(2) == 0 {
		c.url += "?q=" + strconv.Itoa(r.IntN(1000)) + "&r=" + url.QueryEscape(randString(r, idChars+":@!$()*,;", 0, 8))
	}
	switch kind {
	case formBody:
		v := url.Values{}
		for range r.IntN(6) {
			k := randString(r, idChars+" &=+%", 1, 8)
			v.Add(k, randString(r, idChars+" &=+%\u00e9", 0, 16))
		}
		c.body = []byte(v.Encode())
	case jsonBody:
		obj := map[string]any{}
		for range r.IntN(6) {
			obj[randString(r, idChars, 1, 8)] = randString(r, idChars+" \"\\\u00e9", 0, 16)
		}
		c.body, _ = json.Marshal(obj)
	default:
		c.body = make([]byte, r.IntN(512))
		for i := range c.body {
			c.body[i] = byte(r.UintN(256))
		}
	}
	return c
}

// signsBody reports whether the scheme's MAC covers the whole body, so
// that changing any byte of it must fail verification (Mailgun signs a
// token and timestamp only; a token scheme signs nothing).
func signsBody(s verify.Scheme) bool {
	if len(s.SignatureHeaders) == 0 && s.SignatureField == "" {
		return false
	}
	return s.Content == "" || strings.Contains(s.Content, "{body}") || strings.Contains(s.Content, "{form}")
}

// Sign then Verify holds for every built-in scheme that hookgate can
// sign, over random ids, timestamps, secrets, URLs and bodies; another
// secret, or a changed body where the scheme signs the body, does not
// verify.
func TestSignVerifyProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const rounds = 100
	for _, name := range verify.Presets() {
		t.Run(name, func(t *testing.T) {
			scheme, err := verify.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			if scheme.PublicKey() {
				if _, err := verify.NewSigner(scheme, verify.Key{Secret: "x"}); !errors.Is(err, verify.ErrConfig) {
					t.Fatalf("NewSigner for a public-key scheme: %v", err)
				}
				t.Skip("signed with the provider's private key; hookgate only verifies it")
			}
			kind := rawBody
			switch {
			case strings.Contains(scheme.Content, "{form}"):
				kind = formBody
			case scheme.SignsBody():
				kind = jsonBody
			}
			r := rand.New(rand.NewPCG(seed, uint64(len(name))))
			for i := range rounds {
				c := newPropertyCase(r, scheme, kind)
				signer, err := verify.NewSigner(scheme, verify.Key{Name: "k", Secret: c.secret})
				if err != nil {
					t.Fatalf("round %d: NewSigner: %v", i, err)
				}
				body, h, err := signer.SignBody(verify.Message{ID: c.id, Type: "t", Timestamp: c.at, Body: c.body, URL: c.url, Method: "POST"})
				if err != nil {
					t.Fatalf("round %d: SignBody: %v", i, err)
				}
				check := func(secret string, body []byte) error {
					v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Name: "k", Secret: secret}},
						Now: func() time.Time { return c.at }})
					if err != nil {
						t.Fatalf("round %d: New: %v", i, err)
					}
					ev, err := v.Verify(&verify.Request{Header: h, Body: body, URL: c.url, Method: "POST"})
					if err == nil && ev.Key != "k" {
						t.Fatalf("round %d: matched key %q", i, ev.Key)
					}
					return err
				}
				if err := check(c.secret, body); err != nil {
					t.Fatalf("round %d (id %q, at %d, url %q, body %q): %v", i, c.id, c.at.Unix(), c.url, body, err)
				}
				if err := check(c.other, body); err == nil {
					t.Fatalf("round %d: another secret verifies", i)
				}
				if !signsBody(scheme) {
					continue
				}
				tampered := append([]byte(nil), body...)
				switch {
				case kind == formBody:
					tampered = append(tampered, "&zz=1"...)
				case len(tampered) == 0:
					tampered = []byte{'x'}
				default:
					tampered[r.IntN(len(tampered))] ^= byte(1 + r.IntN(255))
				}
				if err := check(c.secret, tampered); err == nil {
					t.Fatalf("round %d: changed body %q verifies", i, tampered)
				} else if kind == rawBody && !errors.Is(err, verify.ErrSignatureMismatch) {
					t.Fatalf("round %d: changed body: %v, want ErrSignatureMismatch", i, err)
				}
			}
		})
	}
}
