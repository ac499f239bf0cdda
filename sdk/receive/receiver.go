package receive

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/verify"
)

// Defaults of [Config].
const (
	// DefaultMaxBodyBytes is the body limit when Config.MaxBodyBytes is
	// zero.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultBodyTimeout bounds the body's arrival when Config.BodyTimeout
	// is zero.
	DefaultBodyTimeout = 10 * time.Second
)

// Config configures a [Receiver] for one source: one provider endpoint
// with its scheme and secrets.
type Config struct {
	// Source names the endpoint ("stripe", "github-org"). It namespaces
	// event ids for deduplication and labels decisions. Required.
	Source string
	// Verifier checks signatures. Required.
	Verifier *verify.Verifier
	// MaxBodyBytes limits the body. Default: DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// BodyTimeout bounds the time the body may take to arrive, from when
	// the pipeline starts reading it (a read deadline on the connection,
	// where the server supports one, as net/http's does): a body that
	// trickles in is refused 400 body_unreadable. Negative: no bound.
	// Default: DefaultBodyTimeout (10s, 100 KiB/s for a 1 MiB body).
	BodyTimeout time.Duration
	// Schemas, when set, validates payloads by event type.
	Schemas *schemas.Registry
	// Dedup claims event ids so that each is forwarded once. Default: a
	// per-process in-memory store (idempotency.NewMemory); share one
	// Deduper backed by Redis between instances.
	Dedup *idempotency.Deduper
	// Namespace keys event ids in the dedup store, so that two providers'
	// ids never collide. Default: Source.
	Namespace string
	// NoDedup turns deduplication off: every verified webhook is forwarded.
	NoDedup bool
	// RateLimit, when set, is consulted before the body is read.
	RateLimit ratelimit.Limiter
	// RateKey returns the rate-limit key of a request. Default: the client
	// IP from RemoteAddr.
	RateKey func(*http.Request) string
	// Shadow runs every check and reports its decision, but forwards every
	// request regardless, for rolling out in front of live traffic.
	Shadow bool
	// RetryAfter is the Retry-After sent with 409 (in flight) and 503
	// (store unavailable). Default: 5s.
	RetryAfter time.Duration
	// URL returns the full URL the provider called, for schemes that sign
	// it. Default: built from the Host header, the request URI and the
	// X-Forwarded-Proto header or TLS state.
	URL func(*http.Request) string
	// Handshake configures the answers to providers' verification
	// handshakes (Meta's verify token, for one). Schemes that have a
	// handshake are answered by default where nothing needs configuring.
	Handshake HandshakeConfig
	// Observer receives every decision. Optional.
	Observer Observer
	// Attest, when set, re-signs forwarded requests so that an app behind
	// a gateway can trust them (see NewAttester).
	Attest *Attester
	// Detach runs the next handler under a context that the client going
	// away does not cancel, and that ends Detach after the request arrived
	// instead (rounded up to the next second: requests arriving in the
	// same second share one timer). If the provider hangs up mid-way, the
	// next handler (a proxy, a queue, the app itself) still finishes, and
	// its 2xx completes the claim, rather than a cancelled call releasing
	// it so that the provider's retry is handled a second time. Keep it
	// within the dedup lock TTL, the life of a claim. Default: with dedup,
	// the lock TTL less a second (at least half of it); without, or when
	// negative, the request's own context.
	Detach time.Duration
	// Now returns the current time. Serve reads it once per request and
	// measures everything from that reading: the signed timestamp's
	// tolerance, key expiries, the Detach deadline, the attestation's
	// timestamp, and the Decision's durations; the Verifier's own clock
	// (verify.Config.Now) is not read. Default: time.Now.
	Now func() time.Time
}

// Receiver runs the verification pipeline for one source. Use Middleware
// for net/http, or Serve to adapt it to another server (the Caddy handler
// does). It is safe for concurrent use.
type Receiver struct {
	cfg       Config
	verifier  atomic.Pointer[verify.Verifier] // cfg.Verifier, plus a learned secret
	learned   learned                         // for Config.Handshake.Secrets
	learnMu   sync.Mutex
	needsURL  bool
	retry     string
	handshake verify.Handshake // the scheme's, read once: Scheme() copies
	deadlines deadlines        // for Config.Detach
	realClock bool             // Config.Now is time.Now: its reading can set network deadlines
}

// New validates cfg and returns a Receiver. Errors name the bad field.
func New(cfg Config) (*Receiver, error) {
	if strings.TrimSpace(cfg.Source) == "" {
		return nil, errors.New("receive: Config.Source: required")
	}
	if cfg.Verifier == nil {
		return nil, errors.New("receive: Config.Verifier: required")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("receive: Config.MaxBodyBytes: negative (%d)", cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.RetryAfter < 0 {
		return nil, fmt.Errorf("receive: Config.RetryAfter: negative (%s)", cfg.RetryAfter)
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.Dedup == nil && !cfg.NoDedup {
		d, err := idempotency.New(idempotency.Config{})
		if err != nil {
			return nil, fmt.Errorf("receive: Config.Dedup: %w", err)
		}
		cfg.Dedup = d
	}
	if cfg.NoDedup {
		cfg.Dedup = nil
	}
	if cfg.Detach == 0 && cfg.Dedup != nil {
		lock := cfg.Dedup.LockTTL()
		cfg.Detach = max(lock-time.Second, lock/2)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = cfg.Source
	}
	if cfg.RateKey == nil {
		cfg.RateKey = ClientIP
	}
	if cfg.URL == nil {
		cfg.URL = RequestURL
	}
	realClock := cfg.Now == nil
	if realClock {
		cfg.Now = time.Now
	}
	s := cfg.Verifier.Scheme()
	rc := &Receiver{
		cfg:       cfg,
		needsURL:  s.NeedsURL(),
		retry:     strconv.FormatInt(int64((cfg.RetryAfter+time.Second-1)/time.Second), 10),
		handshake: s.Handshake,
		realClock: realClock,
	}
	rc.verifier.Store(cfg.Verifier)
	// A kept secret is read when a signature first fails to match, not
	// here: New does no I/O, so a store that is down does not stop a
	// gateway from loading its configuration.
	if cfg.Handshake.Secrets != nil && s.Handshake != verify.HandshakeAsana {
		return nil, fmt.Errorf("receive: Config.Handshake.Secrets: scheme %q hands over no secret in its handshake", s.Name)
	}
	return rc, nil
}

// Source returns the configured source name.
func (rc *Receiver) Source() string { return rc.cfg.Source }

// Middleware returns net/http middleware running the pipeline in front of
// next. Rejections are written as JSON with their status.
func (rc *Receiver) Middleware(next http.Handler) http.Handler {
	forward := func(w http.ResponseWriter, r *http.Request) error {
		next.ServeHTTP(w, r)
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := rc.Serve(w, r, forward)
		if err == nil {
			return
		}
		// Declared here, not above: errors.As moves rej to the heap.
		var rej *Rejection
		if errors.As(err, &rej) {
			rej.WriteTo(w)
		} else {
			rc.reject(err, nil).WriteTo(w)
		}
	})
}

// Next is the rest of the chain that Serve calls for a webhook that
// passed. An error it returns means the webhook was not accepted.
type Next func(w http.ResponseWriter, r *http.Request) error

// Serve runs the pipeline for r: rate limit, bounded body read,
// signature, schema, idempotency claim; then next with the body restored
// byte for byte and the Event in the context; then completes or releases
// the claim by what next did. A completed duplicate is answered 200 here.
// A rejection is returned as a *Rejection, not written, so the caller
// decides how to render it; an error from next is returned as is.
func (rc *Receiver) Serve(w http.ResponseWriter, r *http.Request, next Next) error {
	in := inbound{now: rc.cfg.Now(), d: Decision{Source: rc.cfg.Source, Shadow: rc.cfg.Shadow}}
	err := rc.serve(w, r, next, &in)
	if rc.cfg.Observer != nil {
		in.d.Total = rc.cfg.Now().Sub(in.now)
		rc.cfg.Observer.Observe(r.Context(), in.d)
	}
	return err
}

// ClientIP returns the host part of r.RemoteAddr, the default rate-limit
// key. Behind a trusted proxy, set Config.RateKey to read its header.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RequestURL reconstructs the URL the provider called: scheme from
// X-Forwarded-Proto or the TLS state, then the Host header and the
// request URI as received.
func RequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + r.Host + r.RequestURI
}
