package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("hookgate", parseHookgateOptions)
}

// What App.Record accepts.
const (
	recordFull         = "full"
	recordMetadataOnly = "metadata_only"
)

// Retention is how long the delivery stores keep finished events; the
// engines delete older ones every minute. Gateways sharing a Redis store
// should agree: the shortest setting wins.
type Retention struct {
	// Delivered is how long an event is kept once it was delivered to
	// every destination. Negative: until purged.
	//
	// default: 72h
	Delivered caddy.Duration `json:"delivered,omitempty"`

	// Dead is how long an event is kept once one of its deliveries died
	// (and none is pending): as long as it can be replayed. Negative:
	// until purged.
	//
	// default: 720h (30 days)
	Dead caddy.Duration `json:"dead,omitempty"`
}

// checkOptions reports what is wrong with the app's own options, naming
// the field.
func (a *App) checkOptions() error {
	switch a.Record {
	case "", recordFull, recordMetadataOnly:
	default:
		return fmt.Errorf("hookgate: record: want %s or %s, got %q", recordFull, recordMetadataOnly, a.Record)
	}
	return nil
}

// parseHookgateOptions reads the global option block of the hookgate
// app:
//
//	{
//		hookgate {
//			record    full|metadata_only     # default full; metadata_only drops a delivered event's headers and body
//			retention {
//				delivered <duration>|forever  # default 72h
//				dead      <duration>|forever  # default 30d
//			}
//			hide_payloads                     # the events API, console and listen show metadata only
//		}
//	}
func parseHookgateOptions(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next()
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "hide_payloads":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.HidePayloads = true
		case "record":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			app.Record = d.Val()
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			if err := app.checkOptions(); err != nil {
				return nil, d.Err(err.Error())
			}
		case "retention":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			if app.Retention == nil {
				app.Retention = new(Retention)
			}
			for d.NextBlock(1) {
				var field *caddy.Duration
				switch d.Val() {
				case "delivered":
					field = &app.Retention.Delivered
				case "dead":
					field = &app.Retention.Dead
				default:
					return nil, d.Errf("hookgate: retention: unrecognized option %q (want delivered or dead)", d.Val())
				}
				what := d.Val()
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				keep, err := durationOr(d.Val(), "forever", "72h, 30d")
				if err != nil {
					return nil, d.Errf("hookgate: retention %s: %v", what, err)
				}
				*field = keep
				if d.NextArg() {
					return nil, d.ArgErr()
				}
			}
		default:
			return nil, d.Errf("hookgate: unrecognized option %q (want record, retention or hide_payloads)", d.Val())
		}
	}
	return httpcaddyfile.App{Name: "hookgate", Value: caddyconfig.JSON(app, nil)}, nil
}

// durationOr reads a positive duration (units up to d, as Caddy's
// durations), or word, which stands for -1: a retention period or forever
// (kept until purged), record_within or before (durable before the live
// attempt). examples go in the error.
func durationOr(s, word, examples string) (caddy.Duration, error) {
	if s == word {
		return caddy.Duration(-1), nil
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("want a positive duration (%s) or %s, got %q", examples, word, s)
	}
	return caddy.Duration(v), nil
}

// keep returns how long the engines keep delivered and dead events: zero
// for their defaults.
func (r *Retention) keep() (delivered, dead time.Duration) {
	if r == nil {
		return 0, 0
	}
	return time.Duration(r.Delivered), time.Duration(r.Dead)
}
