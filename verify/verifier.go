package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

var hashes = map[Algorithm]func() hash.Hash{
	SHA1:   sha1.New,
	SHA256: sha256.New,
	SHA512: sha512.New,
}

// maxSignatures bounds how many signatures one header may carry, so that a
// crafted header cannot make a request cost more than a few MAC compares.
const maxSignatures = 32

// Key is one secret (or, for schemes that take one, a public key) that
// may have signed a webhook. Configure several during a rotation.
type Key struct {
	// Name identifies the key in results, logs and metrics; never the
	// secret itself. Default: "key1", "key2", ... by position.
	Name string `json:"name,omitempty"`
	// Secret is the shared HMAC secret, as the provider shows it
	// ("whsec_..." for Standard Webhooks).
	Secret string `json:"secret,omitempty"`
	// PublicKey is an Ed25519 public key in base64, optionally prefixed
	// "whpk_", for Standard Webhooks "v1a" signatures. Set Secret or
	// PublicKey, not both.
	PublicKey string `json:"public_key,omitempty"`
	// Expires, when set, is the instant from which the key no longer
	// verifies anything.
	Expires time.Time `json:"expires,omitzero"`
}

// Config configures a [Verifier].
type Config struct {
	// Scheme is the provider's scheme, usually from [Preset].
	Scheme Scheme
	// Keys are tried in order; at least one is required.
	Keys []Key
	// Tolerance overrides the scheme's replay window. Zero uses the
	// scheme's documented window (DefaultTolerance where it has none);
	// a negative value disables the timestamp check.
	Tolerance time.Duration
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Request is what a signature is checked over.
type Request struct {
	// Header holds the request headers.
	Header http.Header
	// Body is the raw body exactly as received.
	Body []byte
	// URL is the full URL the provider called (scheme, host, path and
	// query), for schemes that sign it.
	URL string
	// Method is the HTTP method, for schemes that sign it.
	Method string
}

// Event is what a successful verification learned about the webhook.
type Event struct {
	// ID is the provider's event id, from a header or the payload; empty
	// when the scheme carries none.
	ID string
	// Type is the event type, from a header or the payload; may be empty.
	Type string
	// Timestamp is the signed timestamp; zero when the scheme signs none.
	Timestamp time.Time
	// Key is the Name of the key whose signature matched.
	Key string
}

// Verifier checks webhooks against one scheme and set of keys. It is safe
// for concurrent use.
type Verifier struct {
	scheme    Scheme
	tmpl      template
	tolerance time.Duration // < 0: no check
	now       func() time.Time
	newHash   func() hash.Hash
	size      int
	macKeys   []macKey
	pubKeys   []pubKey
	pool      sync.Pool // of *state
}

type macKey struct {
	name    string
	key     []byte
	expires time.Time
}

type pubKey struct {
	name    string
	key     ed25519.PublicKey
	expires time.Time
}

// state is the per-call scratch space, pooled so that verifying allocates
// nothing of its own: one keyed HMAC per key, their sums, and buffers.
type state struct {
	macs    []hash.Hash
	sums    []byte
	scratch []byte
	sig     [96]byte // fits the largest decoded signature plus base64 slack
}

// New validates cfg and returns a Verifier. Errors wrap ErrConfig,
// ErrUnknownScheme or ErrMalformedSecret and name the offending field.
func New(cfg Config) (*Verifier, error) {
	s := cfg.Scheme.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	tmpl, _ := parseTemplate(s.Content)
	v := &Verifier{
		scheme:  s,
		tmpl:    tmpl,
		now:     cfg.Now,
		newHash: hashes[s.Algorithm],
	}
	v.size = v.newHash().Size()
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case cfg.Tolerance < 0:
		v.tolerance = -1
	case cfg.Tolerance > 0:
		v.tolerance = cfg.Tolerance
	case s.Tolerance > 0:
		v.tolerance = s.Tolerance
	default:
		v.tolerance = DefaultTolerance
	}
	if len(cfg.Keys) == 0 {
		return nil, fmt.Errorf("%w: Keys: at least one secret or public key is required", ErrConfig)
	}
	for i, k := range cfg.Keys {
		name := k.Name
		if name == "" {
			name = "key" + strconv.Itoa(i+1)
		}
		field := fmt.Sprintf("Keys[%d] (%s)", i, name)
		switch {
		case k.Secret != "" && k.PublicKey != "":
			return nil, fmt.Errorf("%w: %s: set Secret or PublicKey, not both", ErrConfig, field)
		case k.Secret != "":
			raw, err := decodeSecret(k.Secret, s.SecretEncoding)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMalformedSecret, field, err)
			}
			v.macKeys = append(v.macKeys, macKey{name: name, key: raw, expires: k.Expires})
		case k.PublicKey != "":
			if s.PublicKeyVersion == "" {
				return nil, fmt.Errorf("%w: %s: scheme %q takes no public keys", ErrConfig, field, s.Name)
			}
			pub, err := decodePublicKey(k.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMalformedSecret, field, err)
			}
			v.pubKeys = append(v.pubKeys, pubKey{name: name, key: pub, expires: k.Expires})
		default:
			return nil, fmt.Errorf("%w: %s: empty secret", ErrMalformedSecret, field)
		}
	}
	n := len(v.macKeys)
	v.pool.New = func() any {
		st := &state{macs: make([]hash.Hash, n), sums: make([]byte, n*v.size), scratch: make([]byte, 0, 256)}
		for i, k := range v.macKeys {
			st.macs[i] = hmac.New(v.newHash, k.key)
		}
		return st
	}
	return v, nil
}

// Scheme returns the scheme in use, with its defaults filled in.
func (v *Verifier) Scheme() Scheme { return v.scheme }

// Tolerance returns the replay window in force; negative when the
// timestamp is not checked.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

func decodeSecret(s string, enc SecretEncoding) ([]byte, error) {
	if enc == SecretRaw {
		return []byte(s), nil
	}
	s = strings.TrimPrefix(s, "whsec_")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("not base64 (expected whsec_ followed by base64)")
		}
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("empty after decoding")
	}
	return b, nil
}

func decodePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimPrefix(s, "whpk_")
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64 (expected whpk_ followed by base64)")
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// header returns the first non-empty value among names.
func header(h http.Header, names []string) string {
	for _, n := range names {
		if vs := h[n]; len(vs) > 0 && vs[0] != "" {
			return strings.TrimSpace(vs[0])
		}
	}
	return ""
}

// Verify checks r against the configured scheme and keys. On success it
// returns the event's id, type and timestamp and the name of the key that
// matched; otherwise an error wrapping one of the package's sentinels.
func (v *Verifier) Verify(r *Request) (Event, error) {
	s := &v.scheme
	sigHeader := header(r.Header, s.SignatureHeaders)
	if sigHeader == "" {
		return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.SignatureHeaders[0])
	}
	c := content{body: r.Body, method: r.Method}
	var sigs sigIter
	switch s.Format {
	case FormatPairs:
		sigs = sigIter{rest: sigHeader, sep: s.PairSeparator[0], pairs: true}
		c.timestamp = sigs.pairValue(s.TimestampKey)
		if c.timestamp == "" && s.TimestampKey != "" {
			return Event{}, fmt.Errorf("%w: %s: no %s= timestamp", ErrMalformedHeader, s.SignatureHeaders[0], s.TimestampKey)
		}
	case FormatList:
		sigs = sigIter{rest: sigHeader, sep: ' '}
	default:
		val, ok := strings.CutPrefix(sigHeader, s.Prefix)
		if !ok {
			return Event{}, fmt.Errorf("%w: %s: want prefix %q", ErrMalformedHeader, s.SignatureHeaders[0], s.Prefix)
		}
		sigs = sigIter{rest: strings.TrimSpace(val), single: true}
	}
	if len(s.TimestampHeaders) > 0 {
		c.timestamp = header(r.Header, s.TimestampHeaders)
		if c.timestamp == "" {
			return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.TimestampHeaders[0])
		}
	}
	if v.tmpl.uses(partID) {
		c.id = header(r.Header, s.IDHeaders)
		if c.id == "" {
			return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.IDHeaders[0])
		}
	}
	now := v.now()
	var ev Event
	if c.timestamp != "" {
		ts, err := v.checkTimestamp(c.timestamp, now)
		if err != nil {
			return Event{}, err
		}
		ev.Timestamp = ts
	}

	urls := []string{""}
	if v.tmpl.uses(partURL) || s.BodyHashParam != "" {
		if r.URL == "" {
			return Event{}, fmt.Errorf("%w: scheme %q signs the request URL, and none was given", ErrConfig, s.Name)
		}
		urls = urlVariants(r.URL, s.URLPortVariants)
	}
	if v.tmpl.uses(partForm) {
		form, err := formContent(s.BodyHashParam, r.URL, r.Body)
		if err != nil {
			return Event{}, err
		}
		c.form = form
	}

	name, err := v.match(&c, &sigs, urls, now)
	if err != nil {
		return Event{}, err
	}
	ev.Key = name
	// Only now that the signature matched is anything of the body read.
	ev.ID = header(r.Header, s.IDHeaders)
	ev.Type = header(r.Header, s.TypeHeaders)
	idField, typeField := s.IDField, s.TypeField
	if ev.ID != "" {
		idField = ""
	}
	if ev.Type != "" {
		typeField = ""
	}
	if idField != "" || typeField != "" {
		id, typ := jsonFields(r.Body, idField, typeField)
		if ev.ID == "" {
			ev.ID = id
		}
		if ev.Type == "" {
			ev.Type = typ
		}
	}
	return ev, nil
}

func (v *Verifier) checkTimestamp(raw string, now time.Time) (time.Time, error) {
	secs, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || secs < 0 || raw[0] == '+' {
		return time.Time{}, fmt.Errorf("%w: timestamp is not a non-negative integer", ErrMalformedHeader)
	}
	ts := time.Unix(secs, 0)
	if v.tolerance < 0 {
		return ts, nil
	}
	// Compare in seconds, so that timestamps near the int64 limits cannot
	// overflow a Duration.
	diff := now.Unix() - secs
	tol := int64(v.tolerance / time.Second)
	switch {
	case diff > tol:
		return time.Time{}, fmt.Errorf("%w: %ds old, tolerance %s", ErrTimestamp, diff, v.tolerance)
	case -diff > tol:
		return time.Time{}, fmt.Errorf("%w: %ds in the future, tolerance %s", ErrTimestamp, -diff, v.tolerance)
	}
	return ts, nil
}

// match computes the MAC of every active key (once per URL variant) and
// compares it in constant time with every signature in the header.
func (v *Verifier) match(c *content, sigs *sigIter, urls []string, now time.Time) (string, error) {
	s := &v.scheme
	st := v.pool.Get().(*state)
	defer v.pool.Put(st)

	active := 0
	var expired int
	// hmacOK reports which keys are live; sums are computed lazily below
	// for the first URL variant and recomputed for others.
	for u, rawURL := range urls {
		c.url = rawURL
		for i := range v.macKeys {
			if !v.macKeys[i].expires.IsZero() && !now.Before(v.macKeys[i].expires) {
				if u == 0 {
					expired++
				}
				continue
			}
			if u == 0 {
				active++
			}
			h := st.macs[i]
			h.Reset()
			st.scratch = v.tmpl.write(h, st.scratch, c)
			h.Sum(st.sums[i*v.size : i*v.size])
		}
		it := *sigs
		n := 0
		for {
			version, sig, ok := it.next(s)
			if !ok {
				break
			}
			if n++; n > maxSignatures {
				return "", fmt.Errorf("%w: more than %d signatures", ErrMalformedHeader, maxSignatures)
			}
			if version == s.PublicKeyVersion && version != "" {
				if name := v.matchPublic(c, sig, now); name != "" {
					return name, nil
				}
				continue
			}
			if sigs.tagged() && version != s.SignatureKey {
				continue
			}
			dec, ok := v.decode(st, sig)
			if !ok || len(dec) != v.size {
				continue
			}
			for i := range v.macKeys {
				if !v.macKeys[i].expires.IsZero() && !now.Before(v.macKeys[i].expires) {
					continue
				}
				if hmac.Equal(dec, st.sums[i*v.size:(i+1)*v.size]) {
					return v.macKeys[i].name, nil
				}
			}
		}
		if n == 0 {
			return "", fmt.Errorf("%w: %s: no signature found", ErrMalformedHeader, s.SignatureHeaders[0])
		}
	}
	if active == 0 && len(v.pubKeys) == 0 && expired > 0 {
		return "", fmt.Errorf("%w: every configured key has expired", ErrSignatureMismatch)
	}
	return "", ErrSignatureMismatch
}

// decode decodes one presented signature into st.sig.
func (v *Verifier) decode(st *state, sig string) ([]byte, bool) {
	st.scratch = append(st.scratch[:0], sig...)
	src := st.scratch
	switch v.scheme.Encoding {
	case Hex:
		if hex.DecodedLen(len(src)) > len(st.sig) {
			return nil, false
		}
		n, err := hex.Decode(st.sig[:], src)
		return st.sig[:n], err == nil
	default:
		enc := base64.StdEncoding
		if len(src)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		if enc.DecodedLen(len(src)) > len(st.sig) {
			return nil, false
		}
		n, err := enc.Decode(st.sig[:], src)
		return st.sig[:n], err == nil
	}
}

// matchPublic verifies an Ed25519 signature against every active public key.
func (v *Verifier) matchPublic(c *content, sig string, now time.Time) string {
	if len(v.pubKeys) == 0 {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return ""
	}
	msg := appendWriter{b: make([]byte, 0, len(c.body)+128)}
	v.tmpl.write(&msg, nil, c)
	for _, k := range v.pubKeys {
		if !k.expires.IsZero() && !now.Before(k.expires) {
			continue
		}
		if ed25519.Verify(k.key, msg.b, raw) {
			return k.name
		}
	}
	return ""
}
