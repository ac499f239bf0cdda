package caddymodule

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hookgate/hookgate/verify"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`
webhook_verify stripe {
	source payments
	secret current whsec_abc
	secret previous whsec_old 2026-12-31T00:00:00Z
	public_key whpk_key
	tolerance 10m
	max_body 2MiB
	signature_header X-Sig
	prefix sha256=
	encoding base64
	algorithm sha512
	template {timestamp}.{body}
	id_header X-Id
	timestamp_header X-Ts
	type_header X-Type
	schemas ./schemas {
		type_field event.type
		reject_unknown
		catch_all _default
		max_violations 5
	}
	rate_limit 600/m burst 20 key {http.request.header.X-Tenant} shared
	dedup redis {
		ttl 24h
		lock_ttl 45s
		fail_open
		max_entries 1000
		namespace acct1
	}
	redis redis://127.0.0.1:6379/2 {
		pool_size 32
		dial_timeout 200ms
		read_timeout 100ms
		write_timeout 100ms
		max_in_flight 4
		prefix app:
	}
	shadow
	attest gw whsec_gw
	retry_after 3s
	verify_token tok
	handshake_secret_file /var/lib/hookgate/asana.secret
	handshake_secret_redis
	disable_metrics
}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Source: "payments",
		Scheme: "stripe",
		Custom: &verify.Custom{SignatureHeader: "X-Sig", Prefix: "sha256=", Encoding: "base64", Algorithm: "sha512",
			Template: "{timestamp}.{body}", IDHeader: "X-Id", TimestampHeader: "X-Ts", TypeHeader: "X-Type"},
		Secrets: []Secret{
			{Name: "current", Value: "whsec_abc"},
			{Name: "previous", Value: "whsec_old", Expires: "2026-12-31T00:00:00Z"},
			{PublicKey: "whpk_key"},
		},
		Tolerance:    caddy.Duration(10 * time.Minute),
		MaxBodyBytes: 2 << 20,
		Schemas:      &SchemasConfig{Dir: "./schemas", TypeField: "event.type", RejectUnknown: true, CatchAll: "_default", MaxViolations: 5},
		RateLimit:    &RateLimitConfig{Rate: 10, Burst: 20, Key: "{http.request.header.X-Tenant}", Shared: true},
		Dedup: &DedupConfig{Store: "redis", TTL: caddy.Duration(24 * time.Hour), LockTTL: caddy.Duration(45 * time.Second),
			FailOpen: true, MaxEntries: 1000, Namespace: "acct1"},
		Redis: &RedisConfig{URL: "redis://127.0.0.1:6379/2", PoolSize: 32, DialTimeout: caddy.Duration(200 * time.Millisecond),
			ReadTimeout: caddy.Duration(100 * time.Millisecond), WriteTimeout: caddy.Duration(100 * time.Millisecond), MaxInFlight: 4, Prefix: "app:"},
		Shadow:               true,
		Attest:               &Secret{Name: "gw", Value: "whsec_gw"},
		RetryAfter:           caddy.Duration(3 * time.Second),
		VerifyToken:          "tok",
		HandshakeSecretFile:  "/var/lib/hookgate/asana.secret",
		HandshakeSecretRedis: true,
		DisableMetrics:       true,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := []struct{ input, want string }{
		{"webhook_verify a b", "wrong argument count"},
		{"webhook_verify {\n bogus 1\n}", `unrecognized subdirective "bogus"`},
		{"webhook_verify {\n source a\n source b\n}", "source: already specified"},
		{"webhook_verify {\n source\n}", "source: want exactly one argument"},
		{"webhook_verify {\n secret a b c d\n}", "secret: want [<name>] <value> [<expires>]"},
		{"webhook_verify {\n tolerance soon\n}", "tolerance"},
		{"webhook_verify {\n max_body lots\n}", "max_body"},
		{"webhook_verify {\n max_body -5\n}", "max_body"},
		{"webhook_verify {\n schemas\n}", "schemas: want exactly one argument"},
		{"webhook_verify {\n schemas d {\n  nope\n }\n}", `schemas: unrecognized option "nope"`},
		{"webhook_verify {\n schemas d {\n  max_violations 0\n }\n}", "max_violations"},
		{"webhook_verify {\n rate_limit\n}", "rate_limit: want"},
		{"webhook_verify {\n rate_limit fast\n}", "rate_limit"},
		{"webhook_verify {\n rate_limit 10/d\n}", "unit must be s, m or h"},
		{"webhook_verify {\n rate_limit 10 burst\n}", "burst needs a number"},
		{"webhook_verify {\n rate_limit 10 burst x\n}", "burst: want a positive integer"},
		{"webhook_verify {\n rate_limit 10 key\n}", "key needs a placeholder"},
		{"webhook_verify {\n rate_limit 10 sometimes\n}", `unrecognized option "sometimes"`},
		{"webhook_verify {\n dedup disk\n}", `unknown store "disk"`},
		{"webhook_verify github {\n scheme stripe\n}", "give it once"},
		{"webhook_verify {\n dedup memory {\n  when_full sometimes\n }\n}", "when_full"},
		{"webhook_verify {\n dedup memory {\n  ttl forever\n }\n}", "dedup ttl"},
		{"webhook_verify {\n dedup memory {\n  max_entries -1\n }\n}", "max_entries"},
		{"webhook_verify {\n dedup memory {\n  fail_open yes\n }\n}", "fail_open: takes no arguments"},
		{"webhook_verify {\n dedup memory {\n  other\n }\n}", `dedup: unrecognized option "other"`},
		{"webhook_verify {\n redis\n}", "redis: want exactly one argument"},
		{"webhook_verify {\n redis u {\n  pool_size none\n }\n}", "pool_size"},
		{"webhook_verify {\n redis u {\n  max_in_flight 0\n }\n}", "max_in_flight"},
		{"webhook_verify {\n redis u {\n  read_timeout x\n }\n}", "read_timeout"},
		{"webhook_verify {\n redis u {\n  tls\n }\n}", `redis: unrecognized option "tls"`},
		{"webhook_verify {\n shadow on\n}", "shadow: takes no arguments"},
		{"webhook_verify {\n attest\n}", "attest: want"},
	}
	for _, tc := range cases {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.input, err, tc.want)
		}
	}
}

func TestParseRateAndSize(t *testing.T) {
	for in, want := range map[string]float64{"10": 10, "10/s": 10, "10r/s": 10, "120/m": 2, "3600/h": 1, "0.5": 0.5} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{"65536": 65536, "1MiB": 1 << 20, "512KB": 512000, "2mib": 2 << 20, "1 GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestMatcherUnmarshal(t *testing.T) {
	var m MatchEvent
	if err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser("webhook_event push pull_request\nwebhook_event issues")); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, MatchEvent{"push", "pull_request", "issues"}) {
		t.Fatalf("got %v", m)
	}
	if err := new(MatchEvent).UnmarshalCaddyfile(caddyfile.NewTestDispenser("webhook_event")); err == nil {
		t.Fatal("webhook_event without types accepted")
	}
}

// TestDirectiveOrder: written after reverse_proxy, webhook_verify still
// runs before it, outside any route block.
func TestDirectiveOrder(t *testing.T) {
	src := `http://localhost:9999 {
	reverse_proxy 127.0.0.1:1
	request_body {
		max_size 1MB
	}
	webhook_verify github {
		secret s
	}
}`
	out, _, err := caddyconfigAdapt(src)
	if err != nil {
		t.Fatal(err)
	}
	rb, wv, rp := strings.Index(out, `"request_body"`), strings.Index(out, `"webhook_verify"`), strings.Index(out, `"reverse_proxy"`)
	if rb < 0 || wv < 0 || rp < 0 || !(rb < wv && wv < rp) {
		t.Fatalf("order request_body=%d webhook_verify=%d reverse_proxy=%d in %s", rb, wv, rp, out)
	}
}

func TestRedisMaxInFlightOff(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("webhook_verify {\n redis u {\n  max_in_flight off\n }\n}")); err != nil {
		t.Fatal(err)
	}
	if h.Redis == nil || h.Redis.MaxInFlight != -1 {
		t.Fatalf("max_in_flight off: got %+v, want MaxInFlight -1", h.Redis)
	}
}
