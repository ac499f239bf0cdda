// Package chaos holds hookgate's fault-injection and hostile-input tests.
// It has no code of its own: everything is in its tests, which run the
// real gateway.
//
// The tests build the hookgate binary (without -race, whatever flags the
// test itself runs with), start gateway processes from Caddyfiles on free
// loopback ports (admin API included, for `hookgate reload`), a recording
// upstream inside the test process, and real redis-server processes
// (internal/testredis). They run under plain `go test ./...`:
//
//	go test -count=1 -v ./chaos/                              # CI size
//	HOOKGATE_CHAOS_EVENTS=5000 go test -count=1 -v -run 'TestExactlyOnce' ./chaos/
//	HOOKGATE_CHAOS_FULL=1 go test -count=1 -v -run 'TestDelivery' ./chaos/
//	HOOKGATE_CHAOS_FULL=1 go test -count=1 -v -run 'TestDelivery/^5' ./chaos/   # one scenario
//
// TestExactlyOnce drives events through the SDK Sender, with retries,
// under one fault per scenario (Redis killed and restarted, a failing and
// hanging upstream, three reloads, two senders through two gateways
// sharing Redis), and checks that every event reached the upstream
// exactly once with a 2xx and that the sender saw every delivery succeed.
// 500 events per scenario; HOOKGATE_CHAOS_EVENTS sets another number (the
// full run: 5000).
//
// TestDelivery is the proof of durable delivery (a deliver block): a
// sender that, like GitHub, sends each event once and never retries
// (unless the scenario says so), gateways that record each event and
// deliver it to an app inside the test, and one fault per scenario:
//
//  1. the app refuses connections for a while (on_failure);
//  2. the app answers 500 to 30% of attempts and hangs past the timeout
//     on 2% (on_failure);
//  3. the gateway is SIGKILLed mid-run and restarted on the same embedded
//     store (on_failure, then async);
//  4. two gateways share Redis and one is SIGKILLed mid-delivery: the
//     other takes its leases over (async);
//  5. Redis, with appendfsync always, is SIGKILLed mid-run and restarted
//     on its AOF; meanwhile the gateway answers 503 with Retry-After and
//     the sender retries until it gets a 2xx (on_failure).
//
// Each scenario checks that no event acknowledged to the sender is lost,
// that no event reaches the app twice except when a gateway was killed
// between the app's 2xx and recording it (3 and 4: each duplicate must be
// explained by the kill), that the app got the body byte for byte and the
// delivery headers, and that nothing died; it logs a row of the report
// table (sent, acknowledged, delivered, duplicates, lost, delay from the
// first send to delivery, the gateway's metrics). CI size is 1,000 events
// per scenario, the app down 10 s and Redis down 3 s (about a minute and
// a half in all); HOOKGATE_CHAOS_FULL=1 runs the 5,000 events,
// the app down 60 s and Redis down 10 s; HOOKGATE_CHAOS_EVENTS overrides
// the number of events, and HOOKGATE_CHAOS_DELIVERY_REPORT names a file
// for the table.
//
// TestBadInput throws a corpus of hostile requests at a running gateway
// and checks each documented status and reason while valid traffic keeps
// flowing.
//
// Under CI=true a gateway or Redis that cannot start fails the test; it
// never skips. With -short the package is skipped.
package chaos
