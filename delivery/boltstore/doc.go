// Package boltstore is the embedded [delivery.Store]: one bbolt file on
// the gateway's disk (under Caddy's data directory), no server needed.
//
// # Durability
//
// Append, Replay, Purge, Extend and non-lazy reports return once their
// transaction is committed: bbolt writes the changed pages, fdatasyncs,
// writes the meta page and fdatasyncs again. A recorded event then
// survives a crash of the process and of the machine, on a disk that
// honours flushes (on ext4 with fast_commit, use a kernel with its fixes:
// etcd-io/bbolt#562). NoSync is never used. Lazy reports (Engine.Finish,
// and the workers' reports) are queued and committed with a later group,
// within Config.LazyDelay (10 ms) or at once when a write someone waits
// for comes along; a crash in between loses the report, not the event:
// its lease expires and it is attempted again (the destination may then
// see it twice). QueueAppend (Engine.BeginLive, on_failure) holds an
// append until its live attempt ends or its hold passes; an append the
// attempt's 2xx was folded into is committed within Config.HistoryDelay
// (100 ms): a crash before loses that event's history, not a delivery.
// Lease answers as soon as its write is applied, while its commit syncs,
// so that attempts start during the sync; a crash before the commit
// forgets the lease, and the delivery is leased again. Reads (Get, List,
// Stats) first wait for the writes queued before them (Flush), so a
// caller reads its own writes, lazy ones included.
//
// # Group commit
//
// Every write goes through one committer goroutine, which takes the
// first queued write and everything queued behind it (up to MaxBatch) and
// commits them in one transaction: writers that arrive while a commit
// syncs share the next one, so concurrent webhooks pay for a fraction of
// a sync each, and an idle store commits a lone write at once. DB.Batch
// instead waits up to MaxBatchDelay (10ms) to fill a batch, which a lone
// writer pays in full; DB.Update syncs once per write. bench_test.go
// measures the three. If a group's transaction fails, each of its writes
// runs again alone, so that one bad write does not fail the others.
//
// # The file
//
// Open creates the directory with mode 0700 and the file with 0600 (bodies
// may hold personal data), and bbolt takes an exclusive lock (flock) on
// it: a second Open of the same path, in another process or in this one,
// waits Config.Timeout and fails. A gateway that reloads its
// configuration shares one Store (or one *bolt.DB, through New) per path
// across the reload, and opens it in App.Start, never in a
// configuration check.
//
// Events, bodies and each index live in their own buckets, keyed so that
// leasing reads the due index of one queue in order, and a report
// rewrites the event's few hundred bytes of state, not its body. The file
// never shrinks: pages freed by retention are reused for new events, so
// under a steady load with retention the file stays at its high-water
// mark (TestBoundedSize shows it). To give space back, copy it with
// bbolt.Compact or `bbolt compact` while the gateway is stopped.
//
// A purged event, or a payload dropped once delivered
// ([delivery.Report.DropPayload]: the body's value is deleted and the
// record rewritten without headers), is gone from every read at once,
// but bbolt does not wipe freed pages: the bytes stay in the file until
// new writes reuse the pages, or a compaction copies the file without
// them.
//
// The safe sequence:
//
//	store, err := boltstore.Open(filepath.Join(caddy.AppDataDir(), "hookgate", "delivery.db"), boltstore.Config{})
//	if err != nil { ... } // another process holds the file, or the disk failed
//	defer store.Close()    // after the Engine's Run has returned: writes what is queued
//	eng, err := delivery.New(delivery.Config{Store: store, ...})
package boltstore
