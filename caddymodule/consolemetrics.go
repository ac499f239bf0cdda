package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// The live stream's metrics, shared by every config (the feed outlives
// reloads) and registered with each config's registry.
var (
	streamDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "stream_dropped_total",
		Help: "Live stream subscribers cut off because they fell a full buffer behind (they resume with Last-Event-ID).",
	})
	streamSubscribers = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "stream_subscribers",
		Help: "Live stream subscribers connected now.",
	})
)

// newKeyExpiry returns the gauge of each key's expiry. A config makes its
// own, so that a key removed from the config disappears with it.
func newKeyExpiry() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "webhook", Name: "key_expiry_timestamp_seconds",
		Help: "When each configured key (by its name, never its value) stops verifying, Unix seconds; +Inf for a key without expiry.",
	}, []string{"source", "key"})
}

// registerAll registers cs with reg; "already registered" is success.
func registerAll(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}
