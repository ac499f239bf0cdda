// Package sdk is hookgate for Go programs, one package per end of the
// wire:
//
//   - [github.com/hookgate/hookgate/sdk/receive]: the receiving pipeline as
//     net/http middleware (rate limit, bounded body, signature, schema,
//     dedup, forward), the same pipeline the Caddy gateway runs;
//   - [github.com/hookgate/hookgate/sdk/send]: the sending end, which signs,
//     delivers and retries, and fans events out to subscriptions.
//
// This package holds only what both ends share: the names of the response
// headers a receiver sets and a sender reads, and the stable reasons a
// receiver gives for a rejection ([Reason]).
package sdk
