// Package redisstore is an [idempotency.Store] in Redis, shared by every
// gateway instance that uses the same Redis: a single server, Sentinel, or
// Cluster, through one go-redis UniversalClient (package redisclient builds
// one from hookgate's settings).
//
// Each call is one Lua script, run with EVALSHA (EVAL once after the
// server lost its script cache), so a forwarded webhook costs two calls:
// Claim, then Complete or Release. Calls made at the same time share round
// trips: while [Config.MaxInFlight] pipelines wait for Redis, further calls
// queue and go out together in the next one, so under load many webhooks'
// calls cost one write and one read (an idle store sends each call alone,
// without delay). Each call stays its own atomic script; a pipeline is not
// a transaction and none is needed. A key holds "L"+token while
// claimed and "D"+token once done, and expires with the lock or done TTL.
// Keys are Prefix + "{" + key + "}", a hash tag that keeps each event's
// state in one Cluster slot.
//
// Every failure of the client (connection refused, timeout, closed pool,
// CLUSTERDOWN, a context deadline) is returned wrapping
// [idempotency.ErrUnavailable] and the client's own error, so
// errors.Is(err, context.Canceled) still tells a cancelled request apart.
// Nothing is ever reported as a duplicate without Redis saying so.
//
// What Redis forgets, the gateway forwards again: completed events are only
// as durable as the Redis holding them. A restart without persistence, a
// failover that loses the last writes (replication is asynchronous), or an
// eviction under maxmemory (use maxmemory-policy noeviction, or memory to
// spare) can let a provider's retry through a second time. Deduplication
// narrows delivery to about once; the consumer should still tolerate a
// rare repeat.
//
// The safe call sequence:
//
//	client, err := redisclient.New(redisclient.Options{URL: "redis://redis:6379/0"})
//	if err != nil { ... }
//	store, err := redisstore.New(redisstore.Config{Client: client})
//	if err != nil { ... }
//	d, err := idempotency.New(idempotency.Config{Store: store})
//	if err != nil { ... }
//	// then d.Claim, Complete or Release, as in package idempotency
package redisstore
