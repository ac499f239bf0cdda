package verify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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
	// Timestamp is the signing time (zero: now). Only keys active at that
	// time sign; schemes that sign a timestamp carry it.
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
	tokens  []macKey // shared tokens, sent as they are
}

// NewSigner returns a Signer for scheme that signs with every key given
// (expired keys are skipped at signing time). Schemes whose header holds a
// single signature use the first active key. Only HMAC secrets sign (and,
// for schemes with TokenHeaders, tokens are sent): a public-key scheme's
// private key stays with its provider.
func NewSigner(scheme Scheme, keys ...Key) (*Signer, error) {
	s := scheme.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.Algorithm.publicKey() {
		return nil, fmt.Errorf("%w: scheme %q is signed with the provider's private key; hookgate only verifies it", ErrConfig, s.Name)
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
		if s.isToken(k.Secret) {
			sg.tokens = append(sg.tokens, macKey{name: name, key: []byte(k.Secret), expires: k.Expires})
			continue
		}
		raw, err := decodeSecret(k.Secret, s.SecretEncoding)
		if err != nil {
			return nil, fmt.Errorf("%w: Keys[%d] (%s): %v", ErrMalformedSecret, i, name, err)
		}
		sg.keys = append(sg.keys, macKey{name: name, key: raw, expires: k.Expires})
	}
	if len(sg.keys)+len(sg.tokens) == 0 {
		return nil, fmt.Errorf("%w: Keys: at least one secret is required", ErrConfig)
	}
	return sg, nil
}

// Sign returns the headers to send with m.Body. A scheme whose timestamp
// or {json:PATH} fields live in the body reads them from m.Body; one
// whose signature lives in the body (Mailgun) cannot be signed in headers
// alone: use [Signer.SignBody].
func (sg *Signer) Sign(m Message) (http.Header, error) {
	if sg.scheme.SignatureField != "" {
		return nil, fmt.Errorf("%w: scheme %q carries its signature in the body: use SignBody", ErrConfig, sg.scheme.Name)
	}
	_, h, err := sg.sign(m, false)
	return h, err
}

// SignBody returns the body to send and its headers. For most schemes the
// body is m.Body unchanged. For schemes that carry their signature,
// timestamp or other signed fields in a JSON body, the fields m.Body lacks
// are added to it: the timestamp from m.Timestamp, a random token for
// each {json:PATH} field (as Mailgun's), then the signature. m.Body must
// then be a JSON object.
func (sg *Signer) SignBody(m Message) ([]byte, http.Header, error) {
	return sg.sign(m, true)
}

// sign signs m; rewrite allows adding the fields m.Body lacks.
func (sg *Signer) sign(m Message, rewrite bool) ([]byte, http.Header, error) {
	s := &sg.scheme
	// The signing time: the message's timestamp, or now. Keys are picked
	// by whether they are active then, so a caller with its own clock sets
	// Timestamp and the Signer reads no other.
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	now := m.Timestamp
	if sg.tmpl.uses(partID) && m.ID == "" {
		return nil, nil, fmt.Errorf("%w: scheme %q signs the event id: Message.ID is empty", ErrConfig, s.Name)
	}
	if (sg.tmpl.uses(partURL) || sg.tmpl.uses(partForm)) && m.URL == "" {
		return nil, nil, fmt.Errorf("%w: scheme %q signs the URL: Message.URL is empty", ErrConfig, s.Name)
	}
	hdr := make(http.Header)
	if len(s.IDHeaders) > 0 && m.ID != "" {
		hdr.Set(s.IDHeaders[0], m.ID)
	}
	if len(s.TypeHeaders) > 0 && m.Type != "" {
		hdr.Set(s.TypeHeaders[0], m.Type)
	}
	if len(sg.keys) == 0 {
		// Only tokens: the token is the credential.
		for _, k := range sg.tokens {
			if live(k.expires, now) {
				hdr.Set(s.TokenHeaders[0], string(k.key))
				return m.Body, hdr, nil
			}
		}
		return nil, nil, fmt.Errorf("%w: every signing key has expired", ErrConfig)
	}

	body := m.Body
	c := content{id: m.ID, url: m.URL, method: m.Method}
	if s.DecodeURL {
		c.url = decodeReserved(c.url)
	}
	if s.hasTimestamp() {
		c.timestamp = formatTimestamp(m.Timestamp, s.TimestampFormat)
	}
	if s.TimestampField != "" {
		if _, ok := jsonRaw(body, s.TimestampField); ok {
			c.timestamp = jsonString(body, s.TimestampField)
		} else {
			if !rewrite {
				return nil, nil, fmt.Errorf("%w: scheme %q reads its timestamp from body field %s, which m.Body lacks: use SignBody", ErrConfig, s.Name, s.TimestampField)
			}
			lit := c.timestamp // a number, unless a date
			if s.TimestampFormat == RFC3339 {
				lit = jsonQuote(lit)
			}
			var err error
			if body, err = insertField(body, s.TimestampField, lit); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, p := range sg.tmpl.paths() {
		val := jsonString(body, p)
		if val == "" {
			if !rewrite {
				return nil, nil, fmt.Errorf("%w: scheme %q signs body field %s, which m.Body lacks: use SignBody", ErrConfig, s.Name, p)
			}
			val = randomToken()
			var err error
			if body, err = insertField(body, p, jsonQuote(val)); err != nil {
				return nil, nil, err
			}
		}
		c.json = append(c.json, val)
	}
	c.body = body
	if sg.tmpl.uses(partForm) {
		form, err := formContent(s.BodyHashParam, m.URL, body)
		if err != nil {
			return nil, nil, err
		}
		c.form = form
	}
	var sigs []string
	for _, k := range sg.keys {
		if !live(k.expires, now) {
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
		return nil, nil, fmt.Errorf("%w: every signing key has expired", ErrConfig)
	}
	var value string
	switch s.Format {
	case FormatList:
		for i := range sigs {
			sigs[i] = s.SignatureKey + "," + sigs[i]
		}
		value = strings.Join(sigs, " ")
	case FormatPairs:
		var parts []string
		if s.TimestampKey != "" {
			parts = append(parts, s.TimestampKey+"="+c.timestamp)
		}
		for _, sig := range sigs {
			parts = append(parts, s.SignatureKey+"="+sig)
		}
		value = strings.Join(parts, s.PairSeparator)
	default:
		value = s.Prefix + sigs[0]
	}
	if s.SignatureField != "" {
		if _, ok := jsonRaw(body, s.SignatureField); ok {
			return nil, nil, fmt.Errorf("%w: m.Body already has the signature field %s", ErrConfig, s.SignatureField)
		}
		var err error
		if body, err = insertField(body, s.SignatureField, jsonQuote(value)); err != nil {
			return nil, nil, err
		}
	} else {
		hdr.Set(s.SignatureHeaders[0], value)
	}
	if len(s.TimestampHeaders) > 0 {
		hdr.Set(s.TimestampHeaders[0], c.timestamp)
	}
	if s.AlgorithmHeader != "" && s.Algorithm != settingsDefault {
		hdr.Set(s.AlgorithmHeader, "algorithm="+settingsName(s.Algorithm))
	}
	return body, hdr, nil
}

// formatTimestamp writes t as format says.
func formatTimestamp(t time.Time, format TimestampFormat) string {
	switch format {
	case UnixMillis:
		return strconv.FormatInt(t.UnixMilli(), 10)
	case RFC3339:
		return t.UTC().Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// jsonQuote writes s as a JSON string.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// randomToken returns 50 random lowercase hex characters, the size of a
// Mailgun token.
func randomToken() string {
	var b [25]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// jsonRaw returns the raw JSON value at path in body.
func jsonRaw(body []byte, path string) ([]byte, bool) {
	start, end, ok := jsonLookup(body, path)
	if !ok {
		return nil, false
	}
	return body[start:end], true
}

// insertField returns a copy of the JSON object body with the value lit
// (raw JSON) set at path, creating the missing objects on the way. The
// field must not exist yet; the rest of the body is kept byte for byte.
func insertField(body []byte, path, lit string) ([]byte, error) {
	segs := strings.Split(path, ".")
	// The deepest object on the path that exists, and where it starts.
	at, depth := -1, 0
	for i := len(segs) - 1; i >= 1; i-- {
		prefix := strings.Join(segs[:i], ".")
		if start, _, ok := jsonLookup(body, prefix); ok {
			if body[start] != '{' {
				return nil, fmt.Errorf("%w: body field %s is not an object, so it cannot carry %s", ErrConfig, prefix, path)
			}
			at, depth = start, i
			break
		}
	}
	if at < 0 {
		sc := scanner{b: body}
		sc.ws()
		if sc.peek() != '{' {
			return nil, fmt.Errorf("%w: the body must be a JSON object to carry field %s", ErrConfig, path)
		}
		at = sc.i
	}
	var add strings.Builder
	for i, seg := range segs[depth:] {
		if i > 0 {
			add.WriteByte('{')
		}
		add.WriteString(jsonQuote(seg))
		add.WriteByte(':')
	}
	add.WriteString(lit)
	add.WriteString(strings.Repeat("}", len(segs)-depth-1))
	sc := scanner{b: body, i: at + 1}
	sc.ws()
	if sc.peek() != '}' {
		add.WriteByte(',')
	}
	out := make([]byte, 0, len(body)+add.Len())
	out = append(out, body[:at+1]...)
	out = append(out, add.String()...)
	return append(out, body[at+1:]...), nil
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
