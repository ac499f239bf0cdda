package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is what a [Signer] signs: the same values a [Verifier] reads.
type Message struct {
	// ID is the event id, sent in the scheme's id header (required by
	// schemes that sign it).
	ID string
	// Type is the event type, sent in the scheme's type header if it has one.
	Type string
	// Timestamp is the signing time, for schemes that sign one.
	Timestamp time.Time
	// Body is the exact body that will be sent.
	Body []byte
	// URL and Method are the request's, for schemes that sign them.
	URL    string
	Method string
}

// Signer produces the headers that a [Verifier] with the same scheme and
// keys accepts: the sending half of the pair. It is safe for concurrent use.
type Signer struct {
	scheme  Scheme
	tmpl    template
	newHash func() hash.Hash
	keys    []macKey
}

// NewSigner returns a Signer for scheme that signs with every key given
// (expired keys are skipped at signing time). Schemes whose header holds a
// single signature use the first active key. Only HMAC secrets sign.
func NewSigner(scheme Scheme, keys ...Key) (*Signer, error) {
	s := scheme.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	tmpl, _ := parseTemplate(s.Content)
	sg := &Signer{scheme: s, tmpl: tmpl, newHash: hashes[s.Algorithm]}
	for i, k := range keys {
		name := k.Name
		if name == "" {
			name = "key" + strconv.Itoa(i+1)
		}
		if k.Secret == "" {
			return nil, fmt.Errorf("%w: Keys[%d] (%s): signing needs a secret", ErrConfig, i, name)
		}
		raw, err := decodeSecret(k.Secret, s.SecretEncoding)
		if err != nil {
			return nil, fmt.Errorf("%w: Keys[%d] (%s): %v", ErrMalformedSecret, i, name, err)
		}
		sg.keys = append(sg.keys, macKey{name: name, key: raw, expires: k.Expires})
	}
	if len(sg.keys) == 0 {
		return nil, fmt.Errorf("%w: Keys: at least one secret is required", ErrConfig)
	}
	return sg, nil
}

// Sign returns the headers to send with m.Body.
func (sg *Signer) Sign(m Message) (http.Header, error) {
	s := &sg.scheme
	c := content{id: m.ID, body: m.Body, url: m.URL, method: m.Method}
	if sg.tmpl.uses(partID) && m.ID == "" {
		return nil, fmt.Errorf("%w: scheme %q signs the event id: Message.ID is empty", ErrConfig, s.Name)
	}
	if (sg.tmpl.uses(partURL) || sg.tmpl.uses(partForm)) && m.URL == "" {
		return nil, fmt.Errorf("%w: scheme %q signs the URL: Message.URL is empty", ErrConfig, s.Name)
	}
	if s.hasTimestamp() {
		if m.Timestamp.IsZero() {
			m.Timestamp = time.Now()
		}
		c.timestamp = strconv.FormatInt(m.Timestamp.Unix(), 10)
	}
	if sg.tmpl.uses(partForm) {
		form, err := formContent(s.BodyHashParam, m.URL, m.Body)
		if err != nil {
			return nil, err
		}
		c.form = form
	}
	var sigs []string
	for _, k := range sg.keys {
		if !k.expires.IsZero() && !time.Now().Before(k.expires) {
			continue
		}
		h := hmac.New(sg.newHash, k.key)
		sg.tmpl.write(h, nil, &c)
		sum := h.Sum(nil)
		if s.Encoding == Hex {
			sigs = append(sigs, hex.EncodeToString(sum))
		} else {
			sigs = append(sigs, base64.StdEncoding.EncodeToString(sum))
		}
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: every signing key has expired", ErrConfig)
	}
	hdr := make(http.Header)
	var value string
	switch s.Format {
	case FormatList:
		for i := range sigs {
			sigs[i] = s.SignatureKey + "," + sigs[i]
		}
		value = strings.Join(sigs, " ")
	case FormatPairs:
		parts := []string{s.TimestampKey + "=" + c.timestamp}
		for _, sig := range sigs {
			parts = append(parts, s.SignatureKey+"="+sig)
		}
		value = strings.Join(parts, s.PairSeparator)
	default:
		value = s.Prefix + sigs[0]
	}
	hdr.Set(s.SignatureHeaders[0], value)
	if len(s.TimestampHeaders) > 0 {
		hdr.Set(s.TimestampHeaders[0], c.timestamp)
	}
	if len(s.IDHeaders) > 0 && m.ID != "" {
		hdr.Set(s.IDHeaders[0], m.ID)
	}
	if len(s.TypeHeaders) > 0 && m.Type != "" {
		hdr.Set(s.TypeHeaders[0], m.Type)
	}
	return hdr, nil
}

// formContent returns the {form} part of the signed content: empty when
// the URL carries the body's SHA-256 under hashParam (which must then
// match the body), else the body's form parameters in Twilio's order.
func formContent(hashParam, rawURL string, body []byte) (string, error) {
	if hashParam != "" {
		if u, err := url.Parse(rawURL); err == nil {
			if want := u.Query().Get(hashParam); want != "" {
				sum := sha256.Sum256(body)
				got := hex.AppendEncode(nil, sum[:])
				if !hmac.Equal(got, []byte(strings.ToLower(want))) {
					return "", fmt.Errorf("%w: body does not match the URL's %s", ErrSignatureMismatch, hashParam)
				}
				return "", nil
			}
		}
	}
	form, err := sortedForm(body)
	if err != nil {
		return "", fmt.Errorf("%w: form body cannot be parsed for signing", ErrSignatureMismatch)
	}
	return form, nil
}
