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
//	go test -count=1 -v ./chaos/                              # 500 events per scenario
//	HOOKGATE_CHAOS_EVENTS=5000 go test -count=1 -v ./chaos/   # the full run
//
// TestExactlyOnce drives events through the SDK Sender, with retries,
// under one fault per scenario (Redis killed and restarted, a failing and
// hanging upstream, three reloads, two senders through two gateways
// sharing Redis), and checks that every event reached the upstream
// exactly once with a 2xx and that the sender saw every delivery succeed.
// TestBadInput throws a corpus of hostile requests at a running gateway
// and checks each documented status and reason while valid traffic keeps
// flowing.
//
// Under CI=true a gateway or Redis that cannot start fails the test; it
// never skips. With -short the package is skipped.
package chaos
