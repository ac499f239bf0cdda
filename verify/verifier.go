package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"hash"
	"net/http"
	"slices"
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
	// ("whsec_..." for Standard Webhooks), or the shared token of a scheme
	// with TokenHeaders.
	Secret string `json:"secret,omitempty"`
	// PublicKey is a public key, written as the scheme's
	// PublicKeyEncoding says: an Ed25519 key in base64, optionally
	// prefixed "whpk_", for Standard Webhooks "v1a" signatures; hex for
	// Discord; base64 DER (or PEM) for SendGrid. Set Secret or PublicKey,
	// not both.
	PublicKey string `json:"public_key,omitempty"`
	// Expires, when set, is the instant from which the key no longer
	// verifies anything.
	Expires time.Time `json:"expires,omitzero"`
}

// Config configures a [Verifier].
type Config struct {
	// Scheme is the provider's scheme, usually from [Preset].
	Scheme Scheme
	// Keys are tried in order; at least one is required, unless
	// AwaitKeys is set.
	Keys []Key
	// AwaitKeys allows Keys to be empty, for a key that arrives later
	// (WithKey): one a provider hands over in its handshake, as Asana's
	// X-Hook-Secret. Until a key is added every signature mismatches.
	AwaitKeys bool
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
	// Now is the time the request is checked at: the timestamp tolerance
	// and key expiries are measured from it. Zero: the Verifier's clock
	// (Config.Now). A caller that reads its own clock once per request
	// passes it here, as x/time/rate's AllowN takes its t.
	Now time.Time
}

// Event is what a successful verification learned about the webhook.
type Event struct {
	// ID is the provider's event id, from a header or the payload; empty
	// when the scheme carries none. It is what the provider calls the
	// event, for logs and the application; it is covered by the signature
	// only when IDSigned is set, so deduplicate on DedupKey, not on ID.
	ID string
	// Type is the event type, from a header or the payload; may be empty.
	// It is covered by the signature only when TypeSigned is set: route
	// on an unsigned type only where whoever can resend a delivery may
	// also choose its route.
	Type string
	// Timestamp is the signed timestamp; zero when the scheme signs none.
	Timestamp time.Time
	// Key is the Name of the key whose signature matched.
	Key string

	// IDSigned reports whether ID is covered by the signature (see
	// [Source.Signed]); false when ID is empty or the request was
	// verified by a token.
	IDSigned bool
	// TypeSigned reports whether Type is covered by the signature; false
	// when Type is empty or the request was verified by a token.
	TypeSigned bool

	// DedupKey is the key to deduplicate this delivery on: a value that
	// whoever resends a verified request cannot vary without breaking its
	// signature. It is:
	//
	//   - ID, when IDSigned: the provider signed its event id (Standard
	//     Webhooks, Stripe, Slack's event_id, Mailgun's token, ...).
	//   - Otherwise, where the scheme names an event id (signed or not:
	//     GitHub's X-GitHub-Delivery, Shopify's X-Shopify-Webhook-Id, or
	//     a signed payload field this payload lacks) or signs a timestamp:
	//     "sha256:" and the lowercase hex SHA-256 of the signed content,
	//     the bytes the scheme's Content template fills in for this
	//     request and the signature covers (the signed timestamp as
	//     received, the body, the request URL in the form that matched,
	//     the sorted form, the signed JSON fields). Headers the signature
	//     does not cover, and the way the signature itself is written
	//     (hex case, base64 padding, how many signatures, which key
	//     matched), do not change it: a delivery resent under another
	//     delivery id or event header, or none, has the same key. Two
	//     deliveries with identical signed content are one for dedup:
	//     that is what a provider's retry of one event is, and what two
	//     distinct events are only when the provider signs nothing that
	//     tells them apart. A provider that signs a fresh timestamp into
	//     each retry gives each retry a key of its own. A request verified
	//     by a token (Okta, GitLab's X-Gitlab-Token) has nothing signed:
	//     its key is the SHA-256 of the body.
	//   - "" when the scheme names no event id and signs no timestamp
	//     (Meta, Asana, Dropbox, Paystack, Lemon Squeezy): identical
	//     signed content can be distinct events there (Dropbox sends the
	//     same body for every change of an account), so no key can
	//     deduplicate without losing events, and replays go undetected.
	//
	// Keys are per scheme: prefix them with a source or namespace when
	// several schemes share a store.
	DedupKey string
}

// Verifier checks webhooks against one scheme and set of keys. It is safe
// for concurrent use.
type Verifier struct {
	cfg       Config // as given, for WithKey
	scheme    Scheme
	tmpl      template
	paths     []string      // the template's {json:PATH} fields
	usesID    bool          // the template signs {id}
	usesURL   bool          // {url}, or the body hash travels in the URL
	usesForm  bool          // the template signs {form}
	id, typ   valueSource   // where the event id and type are read
	idJSON    int           // index in paths of the id field when signed as {json:PATH}, or -1
	typeJSON  int           // the same for the type field
	dedupAll  bool          // every request gets a DedupKey (an id source, or a signed timestamp)
	tolerance time.Duration // < 0: no check
	now       func() time.Time
	newHash   func() hash.Hash
	size      int
	macKeys   []macKey
	pubKeys   []pubKey
	tokens    []tokenKey
	pool      sync.Pool // of *state
	types     typeCache // event types read from payloads
	// perAlgorithm, for a scheme with an AlgorithmHeader, verifies the
	// requests that name each hash.
	perAlgorithm map[Algorithm]*Verifier
}

type macKey struct {
	name    string
	key     []byte
	expires time.Time
}

// pubKey is an Ed25519 or ECDSA P-256 public key.
type pubKey struct {
	name    string
	ed      ed25519.PublicKey
	ec      *ecdsa.PublicKey
	expires time.Time
}

// tokenKey is a shared token, kept as its SHA-256 so that comparing it
// with a presented token takes the same time whatever their lengths.
type tokenKey struct {
	name    string
	sum     [sha256.Size]byte
	expires time.Time
}

func live(expires, now time.Time) bool { return expires.IsZero() || now.Before(expires) }

// state is the per-call scratch space, pooled so that verifying allocates
// nothing of its own: one keyed HMAC per key, their sums, and buffers.
type state struct {
	macs    []hash.Hash
	sums    []byte
	scratch []byte
	sig     [96]byte  // fits the largest decoded signature plus base64 slack
	digest  hash.Hash // SHA-256 for DedupKey, made on first use
	// digestSum receives digest's sum.
	digestSum [sha256.Size]byte
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
		cfg:      cfg,
		scheme:   s,
		tmpl:     tmpl,
		paths:    tmpl.paths(),
		usesID:   tmpl.uses(partID),
		usesURL:  tmpl.uses(partURL) || s.BodyHashParam != "",
		usesForm: tmpl.uses(partForm),
		id:       s.idSource(tmpl),
		typ:      s.typeSource(tmpl),
		idJSON:   slices.Index(tmpl.paths(), s.IDField),
		typeJSON: slices.Index(tmpl.paths(), s.TypeField),
		dedupAll: len(s.IDHeaders) > 0 || s.IDField != "" || s.hasTimestamp(),
		now:      cfg.Now,
		newHash:  hashes[s.Algorithm],
	}
	if s.IDField == "" {
		v.idJSON = -1
	}
	if s.TypeField == "" {
		v.typeJSON = -1
	}
	if v.newHash == nil { // a public-key scheme: no HMAC is computed
		v.newHash = sha256.New
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
	if len(cfg.Keys) == 0 && !cfg.AwaitKeys {
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
		case k.Secret != "" && s.isToken(k.Secret):
			v.tokens = append(v.tokens, tokenKey{name: name, sum: sha256.Sum256([]byte(k.Secret)), expires: k.Expires})
		case k.Secret != "":
			if s.Algorithm.publicKey() {
				return nil, fmt.Errorf("%w: %s: scheme %q verifies with the provider's public key: set PublicKey, not Secret", ErrConfig, field, s.Name)
			}
			raw, err := decodeSecret(k.Secret, s.SecretEncoding)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMalformedSecret, field, err)
			}
			v.macKeys = append(v.macKeys, macKey{name: name, key: raw, expires: k.Expires})
		case k.PublicKey != "":
			if s.PublicKeyVersion == "" && !s.Algorithm.publicKey() {
				return nil, fmt.Errorf("%w: %s: scheme %q takes no public keys", ErrConfig, field, s.Name)
			}
			pub, err := decodePublicKey(k.PublicKey, s.PublicKeyEncoding, s.Algorithm == ECDSAP256)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrMalformedSecret, field, err)
			}
			pub.name, pub.expires = name, k.Expires
			v.pubKeys = append(v.pubKeys, pub)
		default:
			return nil, fmt.Errorf("%w: %s: empty secret", ErrMalformedSecret, field)
		}
	}
	if s.AlgorithmHeader != "" {
		var err error
		if v.perAlgorithm, err = newPerAlgorithm(cfg); err != nil {
			return nil, err
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

// isToken reports whether a configured secret is a shared token rather
// than a signing key: always in a scheme with TokenHeaders and no
// signature; in one with both, unless it has the "whsec_" prefix.
func (s *Scheme) isToken(secret string) bool {
	if len(s.TokenHeaders) == 0 {
		return false
	}
	return !s.hasSignature() || !strings.HasPrefix(secret, "whsec_")
}

// WithKey returns a Verifier like v with k added after v's keys; v is
// unchanged. Its error, like New's, names the bad key.
func (v *Verifier) WithKey(k Key) (*Verifier, error) {
	cfg := v.cfg
	cfg.Keys = append(slices.Clip(cfg.Keys), k)
	return New(cfg)
}

// Scheme returns the scheme in use, with its defaults filled in.
func (v *Verifier) Scheme() Scheme { return v.scheme }

// Tolerance returns the replay window in force; negative when the
// timestamp is not checked.
func (v *Verifier) Tolerance() time.Duration { return v.tolerance }

// IDSigned reports whether the event id of every request v accepts is
// covered by its signature (when the request has an id where the scheme
// reads it first): [Scheme.IDSigned], and false when v also accepts
// tokens, which sign nothing. [Event.IDSigned] says it per request.
func (v *Verifier) IDSigned() bool { return v.id.signed() && len(v.tokens) == 0 }

// TypeSigned is IDSigned for the event type: [Scheme.TypeSigned], unless v
// also accepts tokens.
func (v *Verifier) TypeSigned() bool { return v.typ.signed() && len(v.tokens) == 0 }

// MAC returns the HMAC, under the scheme's hash, of msg with the HMAC key
// named name (an Event.Key), or nil when no HMAC key has that name. It is
// for handshakes that prove the receiver holds the secret, as Zoom's
// endpoint.url_validation does; it never reveals the key.
func (v *Verifier) MAC(name string, msg []byte) []byte {
	for _, k := range v.macKeys {
		if k.name == name {
			h := hmac.New(v.newHash, k.key)
			h.Write(msg)
			return h.Sum(nil)
		}
	}
	return nil
}

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

// decodePublicKey reads an Ed25519 key, or a P-256 key when ec is set,
// written as enc says.
func decodePublicKey(s string, enc KeyEncoding, ec bool) (pubKey, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	var err error
	switch enc {
	case KeyHex:
		if raw, err = hex.DecodeString(s); err != nil {
			return pubKey{}, fmt.Errorf("not hex")
		}
	case KeyDER:
		if blk, _ := pem.Decode([]byte(s)); blk != nil {
			raw = blk.Bytes
		} else if raw, err = base64.StdEncoding.DecodeString(s); err != nil {
			return pubKey{}, fmt.Errorf("not base64 DER or PEM")
		}
		key, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return pubKey{}, fmt.Errorf("not a DER SubjectPublicKeyInfo")
		}
		switch k := key.(type) {
		case *ecdsa.PublicKey:
			if !ec || k.Curve != elliptic.P256() {
				return pubKey{}, fmt.Errorf("ECDSA key on %s, want a P-256 key only for ecdsa-p256 schemes", k.Curve.Params().Name)
			}
			return pubKey{ec: k}, nil
		case ed25519.PublicKey:
			if ec {
				return pubKey{}, fmt.Errorf("Ed25519 key, want ECDSA P-256")
			}
			return pubKey{ed: k}, nil
		default:
			return pubKey{}, fmt.Errorf("unsupported key type %T", key)
		}
	default:
		if raw, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whpk_")); err != nil {
			return pubKey{}, fmt.Errorf("not base64 (expected whpk_ followed by base64)")
		}
	}
	if ec {
		return pubKey{}, fmt.Errorf("ECDSA keys are read as DER")
	}
	if len(raw) != ed25519.PublicKeySize {
		return pubKey{}, fmt.Errorf("Ed25519 public key is %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return pubKey{ed: ed25519.PublicKey(raw)}, nil
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
	if v.perAlgorithm != nil {
		return v.verifyNamed(r)
	}
	s := &v.scheme
	var sigHeader string
	if len(s.SignatureHeaders) > 0 {
		sigHeader = header(r.Header, s.SignatureHeaders)
	}
	signing := len(v.macKeys)+len(v.pubKeys) > 0
	if len(v.tokens) > 0 && (!signing || (sigHeader == "" && s.SignatureField == "")) {
		return v.verifyToken(r)
	}
	if s.SignatureField != "" {
		sigHeader = jsonString(r.Body, s.SignatureField)
		if sigHeader == "" {
			return Event{}, fmt.Errorf("%w: body field %s", ErrMissingHeader, s.SignatureField)
		}
	} else if sigHeader == "" {
		return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.SignatureHeaders[0])
	}
	c := content{body: r.Body, method: r.Method}
	var sigs sigIter
	switch s.Format {
	case FormatPairs:
		sigs = sigIter{rest: sigHeader, sep: s.PairSeparator[0], pairs: true}
		if s.TimestampKey != "" {
			c.timestamp = sigs.pairValue(s.TimestampKey)
			if c.timestamp == "" {
				return Event{}, fmt.Errorf("%w: %s: no %s= timestamp", ErrMalformedHeader, s.SignatureHeaders[0], s.TimestampKey)
			}
		}
	case FormatList:
		sigs = sigIter{rest: sigHeader, sep: ' '}
	default:
		val, ok := strings.CutPrefix(sigHeader, s.Prefix)
		if !ok {
			return Event{}, fmt.Errorf("%w: %s: want prefix %q", ErrMalformedHeader, v.sigSource(), s.Prefix)
		}
		sigs = sigIter{rest: strings.TrimSpace(val), single: true}
	}
	switch {
	case len(s.TimestampHeaders) > 0:
		c.timestamp = header(r.Header, s.TimestampHeaders)
		if c.timestamp == "" {
			return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.TimestampHeaders[0])
		}
	case s.TimestampField != "":
		// The body is read before the signature matched: the timestamp
		// (or, for Mailgun, the signature itself) lives there.
		c.timestamp = jsonString(r.Body, s.TimestampField)
		if c.timestamp == "" {
			return Event{}, fmt.Errorf("%w: body field %s", ErrMissingHeader, s.TimestampField)
		}
	}
	if v.usesID {
		c.id = header(r.Header, s.IDHeaders)
		if c.id == "" {
			return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.IDHeaders[0])
		}
	}
	if len(v.paths) > 0 {
		c.json = make([]string, len(v.paths))
		for i, p := range v.paths {
			if c.json[i] = jsonString(r.Body, p); c.json[i] == "" {
				return Event{}, fmt.Errorf("%w: body field %s", ErrMissingHeader, p)
			}
		}
	}
	now := r.Now
	if now.IsZero() {
		now = v.now()
	}
	var ts time.Time
	if c.timestamp != "" {
		var err error
		if ts, err = v.checkTimestamp(c.timestamp, now); err != nil {
			return Event{}, err
		}
	}

	urls := []string{""}
	if v.usesURL {
		if r.URL == "" {
			return Event{}, fmt.Errorf("%w: scheme %q signs the request URL, and none was given", ErrConfig, s.Name)
		}
		urls = urlVariants(r.URL, s.URLPortVariants)
		if s.DecodeURL {
			for i := range urls {
				urls[i] = decodeReserved(urls[i])
			}
		}
	}
	if v.usesForm {
		form, err := formContent(s.BodyHashParam, r.URL, r.Body)
		if err != nil {
			return Event{}, err
		}
		c.form = form
	}

	st := v.pool.Get().(*state)
	defer v.pool.Put(st)
	name, err := v.match(st, &c, &sigs, urls, now)
	if err != nil {
		return Event{}, err
	}
	return v.event(st, r, &c, name, ts, true), nil
}

// sigSource names where the signature was read, for errors.
func (v *Verifier) sigSource() string {
	if v.scheme.SignatureField != "" {
		return "body field " + v.scheme.SignatureField
	}
	return v.scheme.SignatureHeaders[0]
}

// event builds the Event of an authentic request: its id and type, where
// the signature covers them and whether it does, and its DedupKey. c is
// what the signature was checked over (with the URL variant that
// matched); bySig is false for a request verified by a token.
func (v *Verifier) event(st *state, r *Request, c *content, key string, ts time.Time, bySig bool) Event {
	s := &v.scheme
	ev := Event{Key: key, Timestamp: ts}
	idField, typeField := s.IDField, s.TypeField
	// Values the signature covered as such are taken from what was
	// signed, never read again.
	if bySig {
		switch {
		case v.id.headerSigned:
			ev.ID, ev.IDSigned, idField = c.id, true, ""
		case v.idJSON >= 0:
			ev.ID, ev.IDSigned, idField = c.json[v.idJSON], true, ""
		}
		if v.typeJSON >= 0 {
			ev.Type, ev.TypeSigned, typeField = c.json[v.typeJSON], true, ""
		}
	}
	// Headers come first, unless the field is signed (or alone): a header
	// nobody signed must not override a signed value.
	idFirst, typeFirst := v.id.fieldFirst(), v.typ.fieldFirst()
	if ev.ID == "" && !idFirst {
		if ev.ID = header(r.Header, s.IDHeaders); ev.ID != "" {
			idField = ""
		}
	}
	if ev.Type == "" && !typeFirst {
		if ev.Type = header(r.Header, s.TypeHeaders); ev.Type != "" {
			typeField = ""
		}
	}
	// Only now that the signature matched is anything of the body read
	// (beyond a scheme's signature, timestamp or signed fields).
	if idField != "" || typeField != "" {
		id, typ := jsonFieldsInterned(r.Body, idField, typeField, &v.types)
		if id != "" {
			ev.ID, ev.IDSigned = id, bySig && v.id.fieldSigned
		}
		if typ != "" {
			ev.Type, ev.TypeSigned = typ, bySig && v.typ.fieldSigned
		}
	}
	// A signed field the body lacks: the headers, unsigned, are the fallback.
	if ev.ID == "" && idFirst {
		ev.ID = header(r.Header, s.IDHeaders)
	}
	if ev.Type == "" && typeFirst {
		ev.Type = header(r.Header, s.TypeHeaders)
	}
	switch {
	case ev.IDSigned:
		ev.DedupKey = ev.ID
	case v.dedupAll:
		ev.DedupKey = v.digest(st, c, bySig)
	}
	return ev
}

// digestPrefix starts a DedupKey that is a digest rather than an id.
const digestPrefix = "sha256:"

// digest returns the DedupKey of content the signature covered: the
// SHA-256 of the template filled with c; of the body alone for a request
// verified by a token (bySig false), which signs nothing.
func (v *Verifier) digest(st *state, c *content, bySig bool) string {
	if st.digest == nil {
		st.digest = sha256.New()
	}
	h := st.digest
	h.Reset()
	if bySig {
		st.scratch = v.tmpl.write(h, st.scratch, c)
	} else {
		h.Write(c.body)
	}
	sum := h.Sum(st.digestSum[:0])
	var out [len(digestPrefix) + 2*sha256.Size]byte
	copy(out[:], digestPrefix)
	hex.Encode(out[len(digestPrefix):], sum)
	return string(out[:])
}

// verifyToken compares the request's token header with every active
// token in constant time.
func (v *Verifier) verifyToken(r *Request) (Event, error) {
	s := &v.scheme
	tok := header(r.Header, s.TokenHeaders)
	if tok == "" {
		return Event{}, fmt.Errorf("%w: %s", ErrMissingHeader, s.TokenHeaders[0])
	}
	sum := sha256.Sum256([]byte(tok))
	now := r.Now
	if now.IsZero() {
		now = v.now()
	}
	active := 0
	for _, k := range v.tokens {
		if !live(k.expires, now) {
			continue
		}
		active++
		if hmac.Equal(sum[:], k.sum[:]) {
			st := v.pool.Get().(*state)
			defer v.pool.Put(st)
			return v.event(st, r, &content{body: r.Body}, k.name, time.Time{}, false), nil
		}
	}
	if active == 0 {
		return Event{}, fmt.Errorf("%w: every configured token has expired", ErrSignatureMismatch)
	}
	return Event{}, fmt.Errorf("%w: %s does not match", ErrSignatureMismatch, s.TokenHeaders[0])
}

// checkTimestamp parses a signed timestamp and checks it against the
// tolerance in both directions.
func (v *Verifier) checkTimestamp(raw string, now time.Time) (time.Time, error) {
	var (
		ts        time.Time
		diff, tol int64 // in unit
		unit      = "s"
	)
	switch v.scheme.TimestampFormat {
	case RFC3339:
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: timestamp is not RFC 3339", ErrMalformedHeader)
		}
		ts, diff, tol = t, now.Unix()-t.Unix(), int64(v.tolerance/time.Second)
	case UnixMillis:
		ms, err := parseUnix(raw)
		if err != nil {
			return time.Time{}, err
		}
		ts, diff, tol, unit = time.UnixMilli(ms), now.UnixMilli()-ms, v.tolerance.Milliseconds(), "ms"
	default:
		secs, err := parseUnix(raw)
		if err != nil {
			return time.Time{}, err
		}
		// Compare in seconds, so that timestamps near the int64 limits
		// cannot overflow a Duration.
		ts, diff, tol = time.Unix(secs, 0), now.Unix()-secs, int64(v.tolerance/time.Second)
	}
	if v.tolerance < 0 {
		return ts, nil
	}
	switch {
	case diff > tol:
		return time.Time{}, fmt.Errorf("%w: %d%s old, tolerance %s", ErrTimestamp, diff, unit, v.tolerance)
	case -diff > tol:
		return time.Time{}, fmt.Errorf("%w: %d%s in the future, tolerance %s", ErrTimestamp, -diff, unit, v.tolerance)
	}
	return ts, nil
}

func parseUnix(raw string) (int64, error) {
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 || raw[0] == '+' {
		return 0, fmt.Errorf("%w: timestamp is not a non-negative integer", ErrMalformedHeader)
	}
	return n, nil
}

// match computes the MAC of every active key (once per URL variant) and
// compares it in constant time with every signature in the header.
func (v *Verifier) match(st *state, c *content, sigs *sigIter, urls []string, now time.Time) (string, error) {
	s := &v.scheme

	// Count the signatures before any is compared or any MAC computed, so
	// that a header over the limit is refused whatever its order. Counting
	// separators bounds the number cheaply; only a header that could be
	// over the limit is parsed to count.
	if !sigs.atMost(maxSignatures) {
		count, total := *sigs, 0
		for {
			if _, _, ok := count.next(s); !ok {
				break
			}
			if total++; total > maxSignatures {
				return "", fmt.Errorf("%w: more than %d signatures", ErrMalformedHeader, maxSignatures)
			}
		}
	}

	public := s.Algorithm.publicKey()
	active := 0
	var expired int
	for u, rawURL := range urls {
		c.url = rawURL
		for i := range v.macKeys {
			if !live(v.macKeys[i].expires, now) {
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
			n++
			if public || (version == s.PublicKeyVersion && version != "") {
				if name := v.matchPublic(st, c, sig, now); name != "" {
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
				if !live(v.macKeys[i].expires, now) {
					continue
				}
				if hmac.Equal(dec, st.sums[i*v.size:(i+1)*v.size]) {
					return v.macKeys[i].name, nil
				}
			}
		}
		if n == 0 {
			return "", fmt.Errorf("%w: %s: no signature found", ErrMalformedHeader, v.sigSource())
		}
	}
	for _, k := range v.pubKeys {
		if live(k.expires, now) {
			active++
		} else {
			expired++
		}
	}
	if active == 0 && expired > 0 {
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

// matchPublic verifies an Ed25519 or ECDSA signature against every active
// public key.
func (v *Verifier) matchPublic(st *state, c *content, sig string, now time.Time) string {
	if len(v.pubKeys) == 0 {
		return ""
	}
	raw, ok := v.decode(st, sig)
	if !ok || len(raw) == 0 {
		return ""
	}
	msg := appendWriter{b: make([]byte, 0, len(c.body)+128)}
	v.tmpl.write(&msg, nil, c)
	var digest [sha256.Size]byte
	if v.scheme.Algorithm == ECDSAP256 {
		digest = sha256.Sum256(msg.b)
	}
	for _, k := range v.pubKeys {
		if !live(k.expires, now) {
			continue
		}
		switch {
		case k.ed != nil:
			if len(raw) == ed25519.SignatureSize && ed25519.Verify(k.ed, msg.b, raw) {
				return k.name
			}
		case k.ec != nil:
			if ecdsa.VerifyASN1(k.ec, digest[:], raw) {
				return k.name
			}
		}
	}
	return ""
}
