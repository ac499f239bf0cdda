package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hookgate/hookgate/expr"
	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/idempotency/redisstore"
	"github.com/hookgate/hookgate/ratelimit"
	"github.com/hookgate/hookgate/ratelimit/redislimit"
	"github.com/hookgate/hookgate/redisclient"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/receive/redissecret"
	"github.com/hookgate/hookgate/sdk/relay"
	"github.com/hookgate/hookgate/verify"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler verifies webhooks in front of any upstream. Its JSON fields are
// the module's configuration; the Caddyfile directive webhook_verify sets
// the same fields.
type Handler struct {
	// Source names this endpoint in metrics, logs and the dedup namespace.
	// Default: the scheme name.
	Source string `json:"source,omitempty"`

	// Scheme is the provider's signature scheme: one of the presets
	// (verify.Presets: standard, stripe, github, slack, shopify and 33
	// more; the README's "Supported schemes" table lists them) or "hmac"
	// for a generic HMAC scheme described by Custom. Default: "standard".
	Scheme string `json:"scheme,omitempty"`

	// Custom describes the generic "hmac" scheme (and may override fields
	// of a built-in one).
	Custom *verify.Custom `json:"custom,omitempty"`

	// Secrets are the keys that may have signed a webhook; several during a
	// rotation. Values may use placeholders such as {env.STRIPE_SECRET} or
	// {file./run/secrets/stripe}, resolved once at provision.
	Secrets []Secret `json:"secrets,omitempty"`

	// Tolerance is the replay window for the signed timestamp. Default:
	// the provider's documented window (5m where none is documented).
	Tolerance caddy.Duration `json:"tolerance,omitempty"`

	// MaxBodyBytes limits the body. Default: 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// BodyTimeout bounds the time the body may take to arrive once the
	// pipeline reads it; a slower body is refused 400 body_unreadable.
	// Default: 10s; negative: no bound (the server's timeouts only).
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

	// Schemas validates payloads with JSON Schema per event type.
	Schemas *SchemasConfig `json:"schemas,omitempty"`

	// RateLimit limits requests before the body is read.
	RateLimit *RateLimitConfig `json:"rate_limit,omitempty"`

	// Dedup configures exactly-once forwarding. Default: in-memory store.
	Dedup *DedupConfig `json:"dedup,omitempty"`

	// Redis is the server shared by the redis dedup store and the shared
	// rate limiter.
	Redis *RedisConfig `json:"redis,omitempty"`

	// Shadow verifies, counts and logs, but forwards every request.
	Shadow bool `json:"shadow,omitempty"`

	// Attest re-signs forwarded requests with the gateway's own Standard
	// Webhooks key, so the app behind can trust them (receive.AttestationScheme).
	Attest *Secret `json:"attest,omitempty"`

	// VerifyToken answers subscription handshakes that echo a token
	// (Meta's GET hub.verify_token); placeholders are resolved.
	VerifyToken string `json:"verify_token,omitempty"`

	// HandshakeSecretFile keeps the signing secret Asana hands over in its
	// handshake (X-Hook-Secret), which it shows nowhere else: the first
	// handshake's secret is written to this file (mode 0600) and verifies
	// later events; a handshake with another secret is refused (403
	// handshake_refused) until the file is removed. With it, secrets may be
	// empty. Gateways that share the file share the secret.
	HandshakeSecretFile string `json:"handshake_secret_file,omitempty"`

	// HandshakeSecretRedis keeps that secret in the redis server instead
	// (key <prefix>handshake-secret:<source>), shared by every gateway
	// using it. Use a server that persists its data.
	HandshakeSecretRedis bool `json:"handshake_secret_redis,omitempty"`

	// RetryAfter is sent with 409 (in flight) and 503 (store unavailable).
	// Default: 5s.
	RetryAfter caddy.Duration `json:"retry_after,omitempty"`

	// DisableMetrics turns the Prometheus metrics off.
	DisableMetrics bool `json:"disable_metrics,omitempty"`

	// Deliver makes the gateway record each verified event durably and
	// deliver it itself, with retries and dead letters, instead of
	// passing the request on to the next handler (see DeliverConfig).
	Deliver []*DeliverConfig `json:"deliver,omitempty"`

	receiver *receive.Receiver
	relay    *relay.Relay // set with Deliver
	feed     *feed        // the hookgate app's live stream
	logger   *zap.Logger
	metrics  *sourceMetrics
	poolKeys []string
}

// Secret is one key. Exactly one of Value and PublicKey is set.
type Secret struct {
	// Name labels the key in metrics and logs (never its value).
	// Default: key1, key2, ... by position.
	Name string `json:"name,omitempty"`
	// Value is the shared secret; placeholders are resolved.
	Value string `json:"value,omitempty"`
	// PublicKey is a public key, for public-key schemes.
	PublicKey string `json:"public_key,omitempty"`
	// Expires, RFC 3339, after which the key no longer verifies.
	Expires string `json:"expires,omitempty"`
}

// SchemasConfig loads JSON Schemas from a directory.
type SchemasConfig struct {
	// Dir holds one <event type>.json per type, plus shared definitions.
	Dir string `json:"dir,omitempty"`
	// TypeField is the payload field path of the event type when the
	// scheme gives none in a header. Default: "type".
	TypeField string `json:"type_field,omitempty"`
	// RejectUnknown rejects event types with no schema (default: allow).
	RejectUnknown bool `json:"reject_unknown,omitempty"`
	// CatchAll names the schema for types without one of their own.
	CatchAll string `json:"catch_all,omitempty"`
	// MaxViolations caps the violations reported. Default: 10.
	MaxViolations int `json:"max_violations,omitempty"`
}

// RateLimitConfig is a token bucket per key.
type RateLimitConfig struct {
	// Rate is the sustained rate in requests per second. Required.
	Rate float64 `json:"rate,omitempty"`
	// Burst is the bucket size. Default: the rate rounded up, at least 1.
	Burst int `json:"burst,omitempty"`
	// Key is a placeholder naming the bucket. Default: {http.request.remote.host}.
	Key string `json:"key,omitempty"`
	// Shared enforces one limit across instances through Redis (falling
	// back to the local limiter when Redis is unreachable).
	Shared bool `json:"shared,omitempty"`
}

// DeliverLockTTL is the dedup lock_ttl of a source with a deliver block,
// unless set: the claim covers the record and the live attempt only.
const DeliverLockTTL = 30 * time.Second

// DedupConfig configures the idempotency store.
type DedupConfig struct {
	// Store is "memory" (default; per process), "redis" (shared; needs
	// Redis) or "off".
	Store string `json:"store,omitempty"`
	// TTL is how long a completed event id is remembered. Default: 72h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// LockTTL is how long an in-flight claim lives if never completed or
	// released. Default: 2m, keep it above the upstream timeout; with a
	// deliver block, 30s (DeliverLockTTL).
	LockTTL caddy.Duration `json:"lock_ttl,omitempty"`
	// FailOpen forwards without dedup when the store is unreachable
	// (default: fail closed with 503 and Retry-After).
	FailOpen bool `json:"fail_open,omitempty"`
	// MaxEntries bounds the memory store. Default: 1,000,000.
	MaxEntries int `json:"max_entries,omitempty"`
	// WhenFull is what a full memory store does with a new event id:
	// "evict" (default) forgets the oldest completed id before its TTL
	// (counted in caddy_webhook_dedup_evicted_total and logged), so a late
	// retry of that event would be forwarded again; "refuse" keeps every
	// completed id for its TTL and answers new events 503 (or forwards
	// them undeduplicated with fail_open) until entries expire.
	WhenFull string `json:"when_full,omitempty"`
	// Namespace prefixes event ids in the store. Default: Source.
	Namespace string `json:"namespace,omitempty"`
}

// RedisConfig locates Redis; see redisclient.Options for the URL forms
// (single server, Cluster, Sentinel).
type RedisConfig struct {
	URL          string         `json:"url,omitempty"`
	PoolSize     int            `json:"pool_size,omitempty"`
	DialTimeout  caddy.Duration `json:"dial_timeout,omitempty"`
	ReadTimeout  caddy.Duration `json:"read_timeout,omitempty"`
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`
	// Prefix starts every key hookgate writes. Default: "hookgate:".
	Prefix string `json:"prefix,omitempty"`
	// MaxInFlight bounds the pipelines the dedup store keeps waiting for
	// Redis; calls made meanwhile queue and share the next round trip
	// (redisstore.Config.MaxInFlight). Default: 2; negative: no batching.
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.webhook_verify",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision builds the pipeline. It needs no live Redis: `caddy validate`
// provisions too.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Scheme == "" {
		h.Scheme = "standard"
	}
	if h.Source == "" {
		h.Source = h.Scheme
	}
	// Every error names the source: a config has one webhook_verify per
	// provider endpoint, and Caddy reports the error at the end of a long
	// chain of module names. Fields are named as in the Caddyfile.
	if err := h.provision(ctx); err != nil {
		return fmt.Errorf("webhook_verify (source %q): %w", h.Source, err)
	}
	return nil
}

func (h *Handler) provision(ctx caddy.Context) error {
	scheme, err := h.scheme()
	if err != nil {
		return err
	}
	repl := caddy.NewReplacer()
	keys := make([]verify.Key, 0, len(h.Secrets))
	for i, s := range h.Secrets {
		k := verify.Key{Name: s.Name, Secret: repl.ReplaceAll(s.Value, ""), PublicKey: repl.ReplaceAll(s.PublicKey, "")}
		if k.Name == "" {
			k.Name = "key" + strconv.Itoa(i+1)
		}
		if k.Secret == "" && k.PublicKey == "" {
			return fmt.Errorf("secret %s (secrets[%d]): empty after resolving placeholders", k.Name, i)
		}
		if s.Expires != "" {
			t, err := time.Parse(time.RFC3339, s.Expires)
			if err != nil {
				return fmt.Errorf("secret %s (secrets[%d]): expires: want RFC 3339: %v", k.Name, i, err)
			}
			k.Expires = t
		}
		keys = append(keys, k)
	}
	secrets, err := h.secretStore(scheme)
	if err != nil {
		return err
	}
	if len(keys) == 0 && secrets == nil {
		return fmt.Errorf("secrets: at least one secret is required")
	}
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: keys, Tolerance: time.Duration(h.Tolerance), AwaitKeys: secrets != nil})
	if err != nil {
		return err
	}

	cfg := receive.Config{
		Source:       h.Source,
		Verifier:     v,
		MaxBodyBytes: h.MaxBodyBytes,
		BodyTimeout:  time.Duration(h.BodyTimeout),
		Shadow:       h.Shadow,
		RetryAfter:   time.Duration(h.RetryAfter),
		Handshake:    receive.HandshakeConfig{VerifyToken: repl.ReplaceAll(h.VerifyToken, "")},
	}
	cfg.Handshake.Secrets = secrets
	if h.MaxBodyBytes < 0 {
		return fmt.Errorf("max_body: negative")
	}
	if h.Schemas != nil {
		if h.Schemas.Dir == "" {
			return fmt.Errorf("schemas: dir is required")
		}
		reg, err := schemas.New(schemas.Config{
			Dir:           h.Schemas.Dir,
			TypeField:     h.Schemas.TypeField,
			RejectUnknown: h.Schemas.RejectUnknown,
			CatchAll:      h.Schemas.CatchAll,
			MaxViolations: h.Schemas.MaxViolations,
			MaxBytes:      max(h.MaxBodyBytes, receive.DefaultMaxBodyBytes),
		})
		if err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
		cfg.Schemas = reg
	}
	if err := h.provisionDedup(&cfg); err != nil {
		return err
	}
	if err := h.provisionRateLimit(&cfg); err != nil {
		return err
	}
	if h.Attest != nil {
		att, err := receive.NewAttester(verify.Key{Name: h.Attest.Name, Secret: repl.ReplaceAll(h.Attest.Value, "")})
		if err != nil {
			return fmt.Errorf("attest: %w", err)
		}
		cfg.Attest = att
	}
	if !h.DisableMetrics {
		m, err := registerMetrics(ctx.GetMetricsRegistry())
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		h.metrics = m.forSource(h.Source)
	}
	if err := h.provisionDeliver(ctx, &cfg, scheme); err != nil {
		return err
	}
	if err := h.provisionConsole(ctx, keys); err != nil {
		return err
	}
	cfg.Observer = receive.ObserverFunc(h.observe)
	h.receiver, err = receive.New(cfg)
	if err != nil {
		return err
	}
	return nil
}

func (h *Handler) scheme() (verify.Scheme, error) {
	s, err := verify.Preset(h.Scheme)
	if err != nil {
		return s, fmt.Errorf("scheme: %w", err)
	}
	if h.Custom != nil {
		s = s.With(*h.Custom)
	}
	return s, nil
}

func (h *Handler) redisOptions() (redisclient.Options, error) {
	if h.Redis == nil || h.Redis.URL == "" {
		return redisclient.Options{}, fmt.Errorf("redis: url is required for the redis dedup store, shared rate limits and handshake_secret_redis")
	}
	o := redisclient.Options{
		URL:          caddy.NewReplacer().ReplaceAll(h.Redis.URL, ""),
		PoolSize:     h.Redis.PoolSize,
		DialTimeout:  time.Duration(h.Redis.DialTimeout),
		ReadTimeout:  time.Duration(h.Redis.ReadTimeout),
		WriteTimeout: time.Duration(h.Redis.WriteTimeout),
	}
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("redis: %w", err)
	}
	return o, nil
}

// secretStore returns where a handshake's secret is kept
// (handshake_secret_file or handshake_secret_redis), or nil.
func (h *Handler) secretStore(scheme verify.Scheme) (receive.SecretStore, error) {
	file := caddy.NewReplacer().ReplaceAll(h.HandshakeSecretFile, "")
	var field string
	switch {
	case file != "" && h.HandshakeSecretRedis:
		return nil, fmt.Errorf("handshake_secret_file and handshake_secret_redis: choose one")
	case file != "":
		field = "handshake_secret_file"
	case h.HandshakeSecretRedis:
		field = "handshake_secret_redis"
	default:
		return nil, nil
	}
	if scheme.Handshake != verify.HandshakeAsana {
		return nil, fmt.Errorf("%s: scheme %q hands over no secret in its handshake", field, scheme.Name)
	}
	if file != "" {
		return receive.SecretFile(file), nil
	}
	client, err := h.redisClient()
	if err != nil {
		return nil, err
	}
	return redissecret.New(client, h.redisPrefix()+"handshake-secret:"+h.Source), nil
}

func (h *Handler) redisPrefix() string {
	if h.Redis != nil && h.Redis.Prefix != "" {
		return h.Redis.Prefix
	}
	return "hookgate:"
}

func (h *Handler) provisionDedup(cfg *receive.Config) error {
	d := h.Dedup
	if d == nil {
		d = &DedupConfig{}
	}
	var store idempotency.Store
	switch d.Store {
	case "", "memory":
		if d.WhenFull != "" && d.WhenFull != "evict" && d.WhenFull != "refuse" {
			return fmt.Errorf("dedup: when_full: unknown %q (want evict or refuse)", d.WhenFull)
		}
		key := fmt.Sprintf("memory|%s|%d|%s", h.Source, d.MaxEntries, d.WhenFull)
		evicted := evictionReporter(h.Source, h.logger)
		v, err := h.pooled(key, func() (any, func() error, error) {
			return idempotency.NewMemory(idempotency.MemoryConfig{MaxEntries: d.MaxEntries,
				RefuseWhenFull: d.WhenFull == "refuse", OnEvict: evicted}), nil, nil
		})
		if err != nil {
			return err
		}
		store = v.(*idempotency.Memory)
	case "redis":
		client, err := h.redisClient()
		if err != nil {
			return err
		}
		rs, err := redisstore.New(redisstore.Config{Client: client, Prefix: h.redisPrefix() + "idem:", MaxInFlight: h.Redis.MaxInFlight})
		if err != nil {
			return fmt.Errorf("dedup: %w", err)
		}
		store = rs
	case "off":
		cfg.NoDedup = true
		return nil
	default:
		return fmt.Errorf("dedup: store: unknown %q (want memory, redis or off)", d.Store)
	}
	cfg.Namespace = d.Namespace
	// receive.Config.Detach's default, derived from the lock TTL, lets
	// the upstream call outlive the provider's connection: its 2xx still
	// completes the claim.
	lockTTL := time.Duration(d.LockTTL)
	if lockTTL == 0 && len(h.Deliver) > 0 {
		// A deliver block holds the claim only while it records the
		// event and makes the live attempt (live_budget), and its store
		// refuses a second record of the same id anyway: a claim left
		// behind (Redis restarted from its AOF mid-request) then blocks
		// the provider's retries for seconds, not minutes.
		lockTTL = DeliverLockTTL
	}
	dd, err := idempotency.New(idempotency.Config{
		Store:    store,
		DoneTTL:  time.Duration(d.TTL),
		LockTTL:  lockTTL,
		FailOpen: d.FailOpen,
	})
	if err != nil {
		return fmt.Errorf("dedup: %w", err)
	}
	cfg.Dedup = dd
	return nil
}

func (h *Handler) provisionRateLimit(cfg *receive.Config) error {
	rl := h.RateLimit
	if rl == nil {
		return nil
	}
	if rl.Rate <= 0 {
		return fmt.Errorf("rate_limit: rate must be positive")
	}
	key := fmt.Sprintf("ratelimit|%s|%g|%d", h.Source, rl.Rate, rl.Burst)
	v, err := h.pooled(key, func() (any, func() error, error) {
		l, err := ratelimit.NewLocal(ratelimit.Config{Rate: rl.Rate, Burst: rl.Burst})
		return l, nil, err
	})
	if err != nil {
		return fmt.Errorf("rate_limit: %w", err)
	}
	local := v.(*ratelimit.Local)
	cfg.RateLimit = local
	if rl.Shared {
		client, err := h.redisClient()
		if err != nil {
			return err
		}
		shared, err := redislimit.New(redislimit.Config{
			Client: client, Rate: rl.Rate, Burst: rl.Burst,
			Prefix: h.redisPrefix() + "rl:" + h.Source + ":", Fallback: local,
		})
		if err != nil {
			return fmt.Errorf("rate_limit: %w", err)
		}
		cfg.RateLimit = shared
	}
	keyTmpl := rl.Key
	if keyTmpl == "" {
		keyTmpl = "{http.request.remote.host}"
	}
	cfg.RateKey = func(r *http.Request) string {
		repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		if repl == nil {
			return receive.ClientIP(r)
		}
		return repl.ReplaceAll(keyTmpl, "")
	}
	return nil
}

// Validate checks the provisioned handler.
func (h *Handler) Validate() error {
	if h.receiver == nil {
		return errors.New("webhook_verify: not provisioned")
	}
	return nil
}

// Cleanup releases pooled clients and state.
func (h *Handler) Cleanup() error {
	for _, k := range h.poolKeys {
		_, _ = pool.Delete(k)
	}
	h.poolKeys = nil
	if h.relay != nil {
		h.relay.Close()
	}
	return nil
}

// ServeHTTP runs the sdk pipeline and, for a webhook that passes, exposes
// the event as placeholders before calling the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	err := h.receiver.Serve(w, r, func(w http.ResponseWriter, r *http.Request) error {
		var fields *webhookFields
		if ev, ok := receive.EventMeta(r.Context()); ok {
			fields = &webhookFields{ev: ev, r: r}
			if repl != nil {
				// Looked up when a placeholder is used, not set one by one
				// for every request (each Set boxes a value into a map).
				repl.Map(fields.placeholder)
			}
			if accessLogged(r) {
				if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
					extra.Set(zap.Inline(fields))
				}
			}
		}
		if h.relay != nil {
			var in *expr.Input
			if fields != nil && fields.input != nil {
				in = fields.input
			}
			return h.relay.ServeInput(w, r, in)
		}
		return next.ServeHTTP(w, r)
	})
	if err == nil {
		return nil
	}
	// Declared here, not above: errors.As moves rej to the heap.
	var rej *receive.Rejection
	if !errors.As(err, &rej) {
		return err
	}
	for k, vs := range rej.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Hookgate-Message", rej.Message())
	if repl != nil {
		repl.Set("http.webhook.reason", string(rej.Reason))
		repl.Set("http.webhook.source", h.Source)
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Set(zap.String("webhook_reason", string(rej.Reason)))
	}
	return caddyhttp.Error(rej.Status, rej)
}

// observe logs and counts each decision. It never logs a secret, a
// signature or the body.
func (h *Handler) observe(_ context.Context, d receive.Decision) {
	if h.metrics != nil {
		h.metrics.observe(d)
	}
	h.feed.decision(&d, h.relay != nil)
	var (
		level zapcore.Level
		msg   string
	)
	switch {
	case d.StoreError && d.DedupSkipped:
		level, msg = zapcore.WarnLevel, "dedup store unavailable; forwarded without dedup (fail open)"
	case d.StoreError:
		level, msg = zapcore.ErrorLevel, "dedup store unavailable"
	case d.Outcome == receive.OutcomeShadowForwarded:
		level, msg = zapcore.InfoLevel, "shadow mode: would have rejected"
	case d.Outcome == receive.OutcomeRejected:
		level, msg = zapcore.DebugLevel, "webhook rejected"
	case d.Outcome == receive.OutcomeDuplicate:
		level, msg = zapcore.DebugLevel, "duplicate webhook answered without forwarding"
	case d.RateLimitDegraded:
		level, msg = zapcore.WarnLevel, "shared rate limiter unavailable; limited locally"
	default:
		return
	}
	// Fields are built only when the level is enabled: this runs for
	// every request.
	if ce := h.logger.Check(level, msg); ce != nil {
		ce.Write(
			zap.String("source", d.Source), zap.String("outcome", string(d.Outcome)),
			zap.String("reason", string(d.Reason)), zap.Int("status", d.Status),
			zap.String("event_id", d.EventID), zap.String("event_type", d.EventType),
		)
	}
}

// webhookFields exposes a forwarded webhook's event as placeholders and
// access-log fields.
type webhookFields struct {
	ev    receive.Event
	r     *http.Request
	input *expr.Input // made at the first use, shared by every expression
}

// exprPlaceholder is where webhook_expr matchers find the event's
// expression input (internal: not a placeholder to use in a config).
const exprPlaceholder = "http.webhook._expr_input"

// exprInput returns the event's expression input, made at the first call:
// the payload is decoded once, whatever the number of matchers, filters
// and transforms. It pins the body's buffer (receive.EventFrom).
func (f *webhookFields) exprInput() *expr.Input {
	if f.input == nil {
		ev, _ := receive.EventFrom(f.r.Context())
		f.input = expr.NewInput(ev.Source, ev.ID, ev.Type, f.r.Header, ev.Body, ev.Verified)
	}
	return f.input
}

// placeholder resolves {http.webhook.*} (a caddy.ReplacerFunc).
func (f *webhookFields) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "http.webhook.")
	if !ok {
		return nil, false
	}
	switch name {
	case "_expr_input":
		return f.exprInput(), true
	case "type_signed":
		return f.ev.TypeSigned, true
	case "verified":
		return f.ev.Verified, true
	case "id":
		return f.ev.ID, true
	case "type":
		return f.ev.Type, true
	case "source":
		return f.ev.Source, true
	case "key":
		return f.ev.Key, true
	case "timestamp":
		if f.ev.Timestamp.IsZero() {
			return nil, false
		}
		return f.ev.Timestamp.Unix(), true
	}
	return nil, false
}

// MarshalLogObject writes the webhook_id, webhook_type and webhook_source
// fields, inline in the access log entry.
func (f *webhookFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("webhook_id", f.ev.ID)
	enc.AddString("webhook_type", f.ev.Type)
	enc.AddString("webhook_source", f.ev.Source)
	return nil
}

// accessLogged reports whether r's server writes access logs. Extra log
// fields are set only then: each ExtraLogFields.Set resets a cache and
// costs more than the rest of this handler's bookkeeping.
func accessLogged(r *http.Request) bool {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	return !ok || srv == nil || srv.Logs != nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
