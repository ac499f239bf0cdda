// Package redisclient turns hookgate's Redis settings into one go-redis
// UniversalClient, shared by the idempotency store and the shared rate
// limiter: a single server, Sentinel, or Cluster, chosen from one URL or a
// few fields. The URL is go-redis's own: go-redis parses it
// (redis.ParseURL, ParseClusterURL, ParseFailoverURL) into its options,
// and this package picks the parser, applies the fields and hookgate's
// defaults over the result, and keeps passwords out of every error.
//
// The safe sequence:
//
//	o := redisclient.Options{URL: "redis://:secret@redis:6379/0"}
//	if err := o.Validate(); err != nil { ... } // at config load: no network
//	client, err := redisclient.New(o)          // no network I/O either
//	if err != nil { ... }
//	defer client.Close()
//
// To share one client between handlers (for example in a caddy.UsagePool),
// key it by [Options.Key], which covers every field without revealing the
// password.
//
// The defaults favour failing fast: a store that is slow or down makes
// webhooks answer 503 within a second or two rather than hang, and
// the client reconnects by itself once Redis is back.
package redisclient
