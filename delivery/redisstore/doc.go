// Package redisstore is the [delivery.Store] that several gateway
// instances share: one Redis (single server, Sentinel or Cluster, through
// a go-redis UniversalClient; package redisclient builds one).
//
// # Model
//
// Each event is a hash (metadata, headers, body, and one JSON state per
// destination); each queue has a sorted set of its open deliveries scored
// by when they are due. A lease is that score moved to the lease expiry,
// in one Lua script with the state change: a delivery whose lease expires
// is simply due again, and any instance's worker takes it over, with no
// separate reaper. Retries are scheduled the same way, so the one sorted
// set is the schedule, the pending list and the lease table. (Streams
// with consumer groups were the other candidate; they cannot hide an
// entry until a time, so backoff would still need a sorted set and a
// mover between the two, and XAUTOCLAIM would still be needed for
// takeover. One sorted set per queue does all three, atomically.)
// Members start with the event's sequence number, so that deliveries due
// in the same millisecond go oldest first.
//
// Due times and lease expiries come from the clock of the instance that
// wrote them, and are compared with the clock of the instance that
// leases: keep the instances' clocks in step (NTP). A skew of s between
// two instances shortens or lengthens the leases one grants the other by
// s; keep it far below the destinations' Lease (one minute by default).
//
// Every call is one script, or one round trip (Get, Stats, List's pages):
// Append, Lease (up to n deliveries, bodies included), Report, Extend,
// Replay and Purge each run atomically in Redis. Lazy reports are not
// deferred: each Report waits for its reply. Nothing blocks in Redis (no
// BLOCK reads, whose 0 means forever and which a cancelled context does
// not interrupt): idle workers sleep in the Engine until the next due
// time Lease returns, or until their PollInterval, so every call ends
// with its context and no pooled connection waits in a blocked read.
//
// # Cluster
//
// Every key of a source carries the source as its hash tag:
// Prefix + "{github}:…". A source's events, indexes and queues live in
// one slot, so its scripts run on one master; the scripts build the event
// keys they find in an index, always under that tag. Sources spread over
// the masters by their tags: outgrowing one Redis means more sources per
// Cluster, not more throughput per source. A single source too hot for
// one master can be split into several (one per provider account or
// endpoint). The set of sources, Prefix + "sources", is the one key
// outside any tag; List and Purge without a Source read it.
//
// # Durability
//
// Redis answers from memory. What an acknowledged Append (and so the 2xx
// or 202 the provider got) survives depends on its persistence:
//
//   - appendonly no (Debian's default; RDB snapshots at best): a restart
//     of Redis loses everything written since the last snapshot. Not for
//     durable delivery.
//   - appendonly yes, appendfsync everysec (the usual AOF setting): each
//     write reaches the AOF, in the kernel's page cache, before Redis
//     replies, except while a slow fsync makes Redis postpone writing (up
//     to 2 s); it survives Redis being killed, and a machine crash loses
//     about the last second of acknowledged events.
//   - appendonly yes, appendfsync always: Redis fsyncs the AOF before it
//     replies (once per event loop turn, shared by every client, a group
//     commit of its own): an acknowledged Append survives a crash of the
//     machine, on a disk that honours flushes. Use this for the promise
//     that nothing acknowledged is lost. TestAppendSurvivesKill shows it
//     against SIGKILL.
//
// Replication is asynchronous: a failover may lose writes the old master
// acknowledged and had not sent. WAIT waits for replicas to hold a write
// in memory, not on disk; WAITAOF (Redis 7.2 and later; "unknown command"
// on 7.0) waits for AOF fsyncs, locally or on replicas. Run with
// maxmemory-policy noeviction (or memory to spare): an evicted event is a
// lost event. Retention (Purge of delivered and dead events) keeps
// memory bounded: about 2.6 KB per stored 1 KiB event.
//
// A payload dropped once delivered ([delivery.Report.DropPayload]) is
// deleted from the event's hash by the report's script; a purged event
// is deleted whole. Both stay in the AOF (and in RDB snapshots taken
// before) until Redis rewrites it (BGREWRITEAOF, or its automatic
// rewrite).
//
// Every failure of the client (connection refused, timeout, CLUSTERDOWN,
// a context deadline) is returned wrapping [delivery.ErrUnavailable];
// nothing is reported as a duplicate, missing or lost lease without
// Redis saying so.
//
// The safe sequence:
//
//	client, err := redisclient.New(redisclient.Options{URL: "redis://redis:6379/0"})
//	if err != nil { ... }
//	store, err := redisstore.New(redisstore.Config{Client: client})
//	if err != nil { ... }
//	_ = store.Preload(ctx) // optional: load the scripts, see that Redis answers
//	eng, err := delivery.New(delivery.Config{Store: store, ...})
//	go eng.Run(ctx) // on every instance: they share the queues
package redisstore
