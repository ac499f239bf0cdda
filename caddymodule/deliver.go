package caddymodule

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"golang.org/x/time/rate"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/expr"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/sdk/relay"
	"github.com/hookgate/hookgate/verify"
)

// deliverKeySpace follows the redis block's prefix in the keys of a
// Redis delivery store.
const deliverKeySpace = "dlv:"

// DeliverConfig is one deliver block: the gateway records each verified
// event durably and delivers it to URL itself, retrying until delivered
// or dead, instead of passing the request on to the next handler.
type DeliverConfig struct {
	// URL is where events are POSTed (the app). Required.
	URL string `json:"url"`
	// Name names the destination in metrics, logs and the events API.
	// Default: "app" (then "app2", "app3", ...).
	Name string `json:"name,omitempty"`
	// Mode is "on_failure" (default: try the app live, answer the
	// provider with the app's answer, queue only when it fails) or
	// "async" (record, answer 202, deliver in the background). With
	// several deliver blocks, only the first can be live.
	Mode string `json:"mode,omitempty"`
	// Store is "embedded" (default: a bbolt file in StoreDir) or "redis".
	Store string `json:"store,omitempty"`
	// StoreDir holds the embedded store's file (deliveries.db). Default:
	// Caddy's data directory, under hookgate/.
	StoreDir string `json:"store_dir,omitempty"`
	// BackoffInitial and BackoffMax bound the exponential backoff with
	// full jitter between attempts. Default: 1s and 1h.
	BackoffInitial caddy.Duration `json:"backoff_initial,omitempty"`
	BackoffMax     caddy.Duration `json:"backoff_max,omitempty"`
	// Timeout bounds one background attempt. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// LiveBudget bounds the live attempt (on_failure). Default: 2s, under
	// the common provider timeouts (Slack's is 3s).
	LiveBudget caddy.Duration `json:"live_budget,omitempty"`
	// RecordWithin is how long the live attempt (on_failure, embedded
	// store) may run before the event is written all the same: it is
	// written when the attempt ends or after RecordWithin, whichever
	// comes first. An app that answers 2xx within it costs one write,
	// which the provider's answer does not wait for; a failed attempt is
	// answered 202 only once the record is durable. Negative (the
	// Caddyfile's "before"): the record is durable before the live
	// attempt starts. Not used in async mode, on the Redis store, or for
	// an event that also goes to another deliver block (recorded first).
	// Default: 100ms.
	RecordWithin caddy.Duration `json:"record_within,omitempty"`
	// MaxAttempts and MaxAge end the retries: the delivery is then dead
	// (kept, counted, replayable). Default: 100 attempts, 72h.
	MaxAttempts int            `json:"max_attempts,omitempty"`
	MaxAge      caddy.Duration `json:"max_age,omitempty"`
	// Concurrency bounds background attempts under way at once, per
	// gateway. Default: 16.
	Concurrency int `json:"concurrency,omitempty"`
	// Rate bounds background attempts per second (Burst at once). Default:
	// no limit.
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
	// Filter is a boolean CEL expression (package expr): the event goes to
	// this destination only when it holds. A runtime error means no.
	Filter string `json:"filter,omitempty"`
	// Transform is a CEL expression whose value (a map or a list) is sent
	// as the JSON body instead of the original. A runtime error kills the
	// delivery, with the error as reason.
	Transform string `json:"transform,omitempty"`
}

// provisionDeliver builds the relay of the handler's deliver blocks and
// registers it with the hookgate app, which runs its engine. The
// attestation, when configured, moves from the pipeline to the relay: it
// is made fresh for every attempt.
func (h *Handler) provisionDeliver(ctx caddy.Context, cfg *receive.Config, scheme verify.Scheme) error {
	if len(h.Deliver) == 0 {
		return nil
	}
	var (
		targets []relay.Target
		spec    storeSpec
		mode    = relay.OnFailure
	)
	env, err := expr.NewEnv(expr.Limits{MaxBodyBytes: max(h.MaxBodyBytes, receive.DefaultMaxBodyBytes)})
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	for i, d := range h.Deliver {
		field := "deliver"
		if len(h.Deliver) > 1 {
			field = fmt.Sprintf("deliver[%d]", i)
		}
		if u, err := url.Parse(d.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: want an http or https URL", field, d.URL)
		}
		switch d.Mode {
		case "", "on_failure":
		case "async":
			if i == 0 {
				mode = relay.Async
			}
		default:
			return fmt.Errorf("%s: mode: unknown %q (want on_failure or async)", field, d.Mode)
		}
		var s storeSpec
		switch d.Store {
		case "", "embedded":
			s = embeddedStore(d.StoreDir)
		case "redis":
			c, err := h.redisClient()
			if err != nil {
				return fmt.Errorf("%s: store redis: %w", field, err)
			}
			o, _ := h.redisOptions()
			s = storeSpec{kind: "redis", path: o.Key(), client: c, prefix: h.redisPrefix() + deliverKeySpace}
		default:
			return fmt.Errorf("%s: store: unknown %q (want embedded or redis)", field, d.Store)
		}
		if i > 0 && s != spec {
			return fmt.Errorf("%s: store: every deliver block of a source uses one store", field)
		}
		spec = s
		if d.BackoffInitial < 0 || d.BackoffMax < 0 || (d.BackoffMax > 0 && d.BackoffInitial > d.BackoffMax) {
			return fmt.Errorf("%s: backoff: want 0 < initial <= max", field)
		}
		if d.MaxAttempts < 0 || d.Concurrency < 0 || d.Rate < 0 || d.Burst < 0 || d.Timeout < 0 || d.MaxAge < 0 || d.LiveBudget < 0 {
			return fmt.Errorf("%s: negative limit", field)
		}
		t := relay.Target{URL: d.URL, Destination: d.destination()}
		if d.Filter != "" {
			p, err := env.Compile(d.Filter, expr.Bool)
			if err != nil {
				return fmt.Errorf("%s: filter %q: %w", field, d.Filter, err)
			}
			t.Filter = p
		}
		if d.Transform != "" {
			p, err := env.Compile(d.Transform, expr.Value)
			if err != nil {
				return fmt.Errorf("%s: transform %q: %w", field, d.Transform, err)
			}
			t.Transform = p
		}
		targets = append(targets, t)
	}
	v, err := ctx.App("hookgate")
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	app := v.(*App)
	rl, err := relay.New(relay.Config{
		Source:     h.Source,
		Targets:    targets,
		Mode:       mode,
		LiveBudget: time.Duration(h.Deliver[0].LiveBudget),
		Engine:     app.engineFor(spec),
		Attest:     cfg.Attest,
		Strip:      scheme.SecretHeaders(),
		RetryAfter: time.Duration(h.RetryAfter),
		OnExprError: func(target, use string, err error) {
			countExprError(h.Source+"/"+target, use, err)
		},
	})
	if err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	cfg.Attest = nil
	app.register(spec, rl)
	h.relay = rl
	return nil
}

// destination is the engine's policy for d: zero fields are the engine's
// defaults.
func (d *DeliverConfig) destination() delivery.Destination {
	dest := delivery.Destination{
		Name:           d.Name,
		Concurrency:    d.Concurrency,
		AttemptTimeout: time.Duration(d.Timeout),
		Backoff:        delivery.Backoff{Initial: time.Duration(d.BackoffInitial), Max: time.Duration(d.BackoffMax)},
		MaxAttempts:    d.MaxAttempts,
		MaxAge:         time.Duration(d.MaxAge),
		RecordWithin:   time.Duration(d.RecordWithin),
	}
	if d.Rate > 0 {
		dest.Rate, dest.Burst = rate.Limit(d.Rate), max(d.Burst, 1)
	}
	return dest
}

// parseDeliver reads a deliver block:
//
//	deliver <url> {
//		name          <name>
//		mode          on_failure|async
//		store         embedded [<dir>] | redis
//		backoff       <initial> <max>
//		timeout       <duration>
//		live_budget   <duration>
//		record_within <duration>|before
//		max_attempts  <n>
//		max_age       <duration>
//		concurrency   <n>
//		rate          <n>[/s|/m|/h] [burst <n>]
//		filter        "<CEL expression>"
//		transform     "<CEL expression>"
//	}
func parseDeliver(d *caddyfile.Dispenser) (*DeliverConfig, error) {
	dc := &DeliverConfig{}
	if !d.NextArg() {
		return nil, d.Errf("deliver: want the destination URL")
	}
	dc.URL = d.Val()
	if d.NextArg() {
		return nil, d.Errf("deliver: want exactly one URL")
	}
	duration := func(name string) (caddy.Duration, error) {
		v, err := oneArg(d, "deliver "+name)
		if err != nil {
			return 0, err
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil || dur <= 0 {
			return 0, d.Errf("deliver %s: want a positive duration, got %q", name, v)
		}
		return caddy.Duration(dur), nil
	}
	positive := func(name string) (int, error) {
		v, err := oneArg(d, "deliver "+name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, d.Errf("deliver %s: want a positive integer, got %q", name, v)
		}
		return n, nil
	}
	var err error
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch sub := d.Val(); sub {
		case "name":
			if dc.Name, err = oneArg(d, "deliver name"); err != nil {
				return nil, err
			}
		case "mode":
			if dc.Mode, err = oneArg(d, "deliver mode"); err != nil {
				return nil, err
			}
			if dc.Mode != "on_failure" && dc.Mode != "async" {
				return nil, d.Errf("deliver mode: want on_failure or async, got %q", dc.Mode)
			}
		case "store":
			args := d.RemainingArgs()
			switch {
			case len(args) == 1 && args[0] == "redis":
				dc.Store = "redis"
			case len(args) >= 1 && len(args) <= 2 && args[0] == "embedded":
				dc.Store = "embedded"
				if len(args) == 2 {
					dc.StoreDir = args[1]
				}
			default:
				return nil, d.Errf("deliver store: want embedded [<dir>] or redis")
			}
		case "backoff":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return nil, d.Errf("deliver backoff: want <initial> <max>")
			}
			a, err1 := caddy.ParseDuration(args[0])
			b, err2 := caddy.ParseDuration(args[1])
			if err1 != nil || err2 != nil || a <= 0 || b < a {
				return nil, d.Errf("deliver backoff: want two durations, 0 < initial <= max, got %q %q", args[0], args[1])
			}
			dc.BackoffInitial, dc.BackoffMax = caddy.Duration(a), caddy.Duration(b)
		case "timeout":
			if dc.Timeout, err = duration("timeout"); err != nil {
				return nil, err
			}
		case "live_budget":
			if dc.LiveBudget, err = duration("live_budget"); err != nil {
				return nil, err
			}
		case "record_within":
			v, err := oneArg(d, "deliver record_within")
			if err != nil {
				return nil, err
			}
			if dc.RecordWithin, err = durationOr(v, "before", "100ms, 1s"); err != nil {
				return nil, d.Errf("deliver record_within: %v", err)
			}
		case "max_age":
			if dc.MaxAge, err = duration("max_age"); err != nil {
				return nil, err
			}
		case "filter", "transform":
			v, err := oneArg(d, "deliver "+sub+" (quote the expression)")
			if err != nil {
				return nil, err
			}
			if sub == "filter" {
				dc.Filter = v
			} else {
				dc.Transform = v
			}
		case "max_attempts":
			if dc.MaxAttempts, err = positive("max_attempts"); err != nil {
				return nil, err
			}
		case "concurrency":
			if dc.Concurrency, err = positive("concurrency"); err != nil {
				return nil, err
			}
		case "rate":
			args := d.RemainingArgs()
			if len(args) != 1 && !(len(args) == 3 && args[1] == "burst") {
				return nil, d.Errf("deliver rate: want <n>[/s|/m|/h] [burst <n>]")
			}
			r, err := parseRate(args[0])
			if err != nil {
				return nil, d.Errf("deliver rate: %v", err)
			}
			dc.Rate = r
			if len(args) == 3 {
				b, err := strconv.Atoi(args[2])
				if err != nil || b <= 0 {
					return nil, d.Errf("deliver rate: burst: want a positive integer, got %q", args[2])
				}
				dc.Burst = b
			}
		default:
			return nil, d.Errf("deliver: unrecognized option %q", sub)
		}
	}
	return dc, nil
}
