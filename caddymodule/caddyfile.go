package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hookgate/hookgate/verify"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("webhook_verify", parseCaddyfile)
	// After request_body (which may cap the body first), before redir,
	// rewrite, auth, handle and reverse_proxy: so it works outside a route.
	httpcaddyfile.RegisterDirectiveOrder("webhook_verify", httpcaddyfile.After, "request_body")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	webhook_verify [<matcher>] [<scheme>] {
//		scheme            <name>
//		source            <name>
//		secret            [<name>] <value> [<expires RFC 3339>]
//		public_key        [<name>] <value> [<expires RFC 3339>]
//		tolerance         <duration>
//		max_body          <size>
//		signature_header  <header>          # generic hmac scheme fields
//		prefix            <prefix>
//		encoding          hex|base64
//		algorithm         sha1|sha256|sha512
//		template          <template>
//		id_header         <header>
//		timestamp_header  <header>
//		type_header       <header>
//		schemas <dir> {
//			type_field      <path>
//			reject_unknown
//			catch_all       <name>
//			max_violations  <n>
//		}
//		rate_limit <rate>[/s|/m|/h] [burst <n>] [key <placeholder>] [shared]
//		dedup memory|redis|off {
//			ttl         <duration>
//			lock_ttl    <duration>
//			fail_open
//			max_entries <n>
//			when_full   evict|refuse
//			namespace   <name>
//		}
//		redis <url> {
//			pool_size     <n>
//			dial_timeout  <duration>
//			read_timeout  <duration>
//			write_timeout <duration>
//			prefix        <prefix>
//		}
//		shadow
//		attest [<name>] <secret>
//		verify_token <token>
//		handshake_secret_file <path>
//		handshake_secret_redis
//		retry_after <duration>
//		disable_metrics
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		h.Scheme = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	once := func(name string) error {
		if seen[name] {
			return d.Errf("%s: already specified", name)
		}
		seen[name] = true
		return nil
	}
	custom := func() *verify.Custom {
		if h.Custom == nil {
			h.Custom = &verify.Custom{}
		}
		return h.Custom
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch name {
		case "scheme", "source", "encoding", "algorithm", "template", "prefix",
			"signature_header", "id_header", "timestamp_header", "type_header", "verify_token",
			"handshake_secret_file":
			if err := once(name); err != nil {
				return err
			}
			val, err := oneArg(d, name)
			if err != nil {
				return err
			}
			switch name {
			case "scheme":
				if h.Scheme != "" && h.Scheme != val {
					return d.Errf("scheme: %q here, but %q after webhook_verify: give it once", val, h.Scheme)
				}
				h.Scheme = val
			case "source":
				h.Source = val
			case "verify_token":
				h.VerifyToken = val
			case "handshake_secret_file":
				h.HandshakeSecretFile = val
			case "encoding":
				custom().Encoding = val
			case "algorithm":
				custom().Algorithm = val
			case "template":
				custom().Template = val
			case "prefix":
				custom().Prefix = val
			case "signature_header":
				custom().SignatureHeader = val
			case "id_header":
				custom().IDHeader = val
			case "timestamp_header":
				custom().TimestampHeader = val
			case "type_header":
				custom().TypeHeader = val
			}
		case "secret", "public_key":
			args := d.RemainingArgs()
			var s Secret
			switch len(args) {
			case 1:
				s.Value = args[0]
			case 2:
				s.Name, s.Value = args[0], args[1]
			case 3:
				s.Name, s.Value, s.Expires = args[0], args[1], args[2]
			default:
				return d.Errf("%s: want [<name>] <value> [<expires>], got %d arguments", name, len(args))
			}
			if name == "public_key" {
				s.PublicKey, s.Value = s.Value, ""
			}
			h.Secrets = append(h.Secrets, s)
		case "tolerance", "retry_after", "body_timeout":
			if err := once(name); err != nil {
				return err
			}
			val, err := oneArg(d, name)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("%s: %v", name, err)
			}
			switch name {
			case "tolerance":
				h.Tolerance = caddy.Duration(dur)
			case "body_timeout":
				h.BodyTimeout = caddy.Duration(dur)
			default:
				h.RetryAfter = caddy.Duration(dur)
			}
		case "deliver":
			dc, err := parseDeliver(d)
			if err != nil {
				return err
			}
			h.Deliver = append(h.Deliver, dc)
		case "max_body":
			if err := once(name); err != nil {
				return err
			}
			val, err := oneArg(d, name)
			if err != nil {
				return err
			}
			n, err := parseSize(val)
			if err != nil {
				return d.Errf("max_body: %v", err)
			}
			h.MaxBodyBytes = n
		case "schemas":
			if err := once(name); err != nil {
				return err
			}
			if err := h.parseSchemas(d); err != nil {
				return err
			}
		case "rate_limit":
			if err := once(name); err != nil {
				return err
			}
			if err := h.parseRateLimit(d); err != nil {
				return err
			}
		case "dedup":
			if err := once(name); err != nil {
				return err
			}
			if err := h.parseDedup(d); err != nil {
				return err
			}
		case "redis":
			if err := once(name); err != nil {
				return err
			}
			if err := h.parseRedis(d); err != nil {
				return err
			}
		case "shadow", "disable_metrics", "handshake_secret_redis":
			if d.NextArg() {
				return d.Errf("%s: takes no arguments", name)
			}
			switch name {
			case "shadow":
				h.Shadow = true
			case "disable_metrics":
				h.DisableMetrics = true
			case "handshake_secret_redis":
				h.HandshakeSecretRedis = true
			}
		case "attest":
			if err := once(name); err != nil {
				return err
			}
			args := d.RemainingArgs()
			switch len(args) {
			case 1:
				h.Attest = &Secret{Value: args[0]}
			case 2:
				h.Attest = &Secret{Name: args[0], Value: args[1]}
			default:
				return d.Errf("attest: want [<name>] <secret>")
			}
		default:
			return d.Errf("unrecognized subdirective %q", name)
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, name string) (string, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return "", d.Errf("%s: want exactly one argument, got %d", name, len(args))
	}
	return args[0], nil
}

func (h *Handler) parseSchemas(d *caddyfile.Dispenser) error {
	dir, err := oneArg(d, "schemas")
	if err != nil {
		return err
	}
	sc := &SchemasConfig{Dir: dir}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "type_field", "catch_all":
			v, err := oneArg(d, "schemas "+sub)
			if err != nil {
				return err
			}
			if sub == "type_field" {
				sc.TypeField = v
			} else {
				sc.CatchAll = v
			}
		case "reject_unknown":
			if d.NextArg() {
				return d.Errf("schemas reject_unknown: takes no arguments")
			}
			sc.RejectUnknown = true
		case "max_violations":
			v, err := oneArg(d, "schemas max_violations")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("schemas max_violations: want a positive integer, got %q", v)
			}
			sc.MaxViolations = n
		default:
			return d.Errf("schemas: unrecognized option %q", sub)
		}
	}
	h.Schemas = sc
	return nil
}

func (h *Handler) parseRateLimit(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.Errf("rate_limit: want <rate> [burst <n>] [key <placeholder>] [shared]")
	}
	rate, err := parseRate(args[0])
	if err != nil {
		return d.Errf("rate_limit: %v", err)
	}
	rl := &RateLimitConfig{Rate: rate}
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "burst":
			if i+1 >= len(args) {
				return d.Errf("rate_limit: burst needs a number")
			}
			n, err := strconv.Atoi(args[i+1])
			if err != nil || n <= 0 {
				return d.Errf("rate_limit: burst: want a positive integer, got %q", args[i+1])
			}
			rl.Burst = n
			i++
		case "key":
			if i+1 >= len(args) {
				return d.Errf("rate_limit: key needs a placeholder")
			}
			rl.Key = args[i+1]
			i++
		case "shared":
			rl.Shared = true
		default:
			return d.Errf("rate_limit: unrecognized option %q", args[i])
		}
	}
	h.RateLimit = rl
	return nil
}

func (h *Handler) parseDedup(d *caddyfile.Dispenser) error {
	dc := &DedupConfig{}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		dc.Store = args[0]
	default:
		return d.Errf("dedup: want memory, redis or off")
	}
	switch dc.Store {
	case "", "memory", "redis", "off":
	default:
		return d.Errf("dedup: unknown store %q (want memory, redis or off)", dc.Store)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "ttl", "lock_ttl":
			v, err := oneArg(d, "dedup "+sub)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("dedup %s: %v", sub, err)
			}
			if sub == "ttl" {
				dc.TTL = caddy.Duration(dur)
			} else {
				dc.LockTTL = caddy.Duration(dur)
			}
		case "fail_open":
			if d.NextArg() {
				return d.Errf("dedup fail_open: takes no arguments")
			}
			dc.FailOpen = true
		case "max_entries":
			v, err := oneArg(d, "dedup max_entries")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("dedup max_entries: want a positive integer, got %q", v)
			}
			dc.MaxEntries = n
		case "when_full":
			v, err := oneArg(d, "dedup when_full")
			if err != nil {
				return err
			}
			if v != "evict" && v != "refuse" {
				return d.Errf("dedup when_full: want evict or refuse, got %q", v)
			}
			dc.WhenFull = v
		case "namespace":
			v, err := oneArg(d, "dedup namespace")
			if err != nil {
				return err
			}
			dc.Namespace = v
		default:
			return d.Errf("dedup: unrecognized option %q", sub)
		}
	}
	h.Dedup = dc
	return nil
}

func (h *Handler) parseRedis(d *caddyfile.Dispenser) error {
	url, err := oneArg(d, "redis")
	if err != nil {
		return err
	}
	rc := &RedisConfig{URL: url}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "pool_size":
			v, err := oneArg(d, "redis pool_size")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("redis pool_size: want a positive integer, got %q", v)
			}
			rc.PoolSize = n
		case "dial_timeout", "read_timeout", "write_timeout":
			v, err := oneArg(d, "redis "+sub)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("redis %s: %v", sub, err)
			}
			switch sub {
			case "dial_timeout":
				rc.DialTimeout = caddy.Duration(dur)
			case "read_timeout":
				rc.ReadTimeout = caddy.Duration(dur)
			default:
				rc.WriteTimeout = caddy.Duration(dur)
			}
		case "max_in_flight":
			v, err := oneArg(d, "redis max_in_flight")
			if err != nil {
				return err
			}
			if v == "off" {
				rc.MaxInFlight = -1
				break
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("redis max_in_flight: want a positive integer or off, got %q", v)
			}
			rc.MaxInFlight = n
		case "prefix":
			v, err := oneArg(d, "redis prefix")
			if err != nil {
				return err
			}
			rc.Prefix = v
		default:
			return d.Errf("redis: unrecognized option %q", sub)
		}
	}
	h.Redis = rc
	return nil
}

// parseRate reads "10", "10/s", "10r/s", "600/m" or "36000/h" as requests
// per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(s, "/")
	num = strings.TrimSuffix(num, "r")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("rate %q: want a positive number of requests, e.g. 100/s", s)
	}
	switch unit {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("rate %q: unit must be s, m or h", s)
}

// parseSize reads a byte size such as 1048576, 512KB, 1MiB or 10MB, the
// way Caddy's request_body max_size does (go-humanize), within 1 TiB.
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<40 {
		return 0, fmt.Errorf("size %q: want a positive size up to 1TiB such as 1MiB or 65536", s)
	}
	return int64(n), nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
