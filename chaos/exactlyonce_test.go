package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testredis"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// defaultEvents is the events per scenario under plain `go test`; set
// HOOKGATE_CHAOS_EVENTS for the full run (5000).
const defaultEvents = 500

func chaosEvents(t *testing.T) int {
	t.Helper()
	v := os.Getenv("HOOKGATE_CHAOS_EVENTS")
	if v == "" {
		return defaultEvents
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("HOOKGATE_CHAOS_EVENTS=%q: want a positive integer", v)
	}
	return n
}

// scenario is one fault, run on its own.
type scenario struct {
	name string
	// dedup is "memory" or "redis" (fail closed).
	dedup string
	// gateways and senders: 1 and 1, or 2 and 2 (sender i sends every event
	// through gateway i, both at once).
	gateways, senders int
	// upstream decides the fault of each event's first arrival.
	upstream func(id string) fault
	// attemptTimeout is the sender's per-attempt timeout.
	attemptTimeout time.Duration
	// span paces the events over at least this long, so that the fault
	// lands in the middle of the traffic.
	span time.Duration
	// inject runs beside the traffic; start is when the first event went.
	inject func(t *testing.T, env *chaosEnv, start time.Time) string
	// replay sends every event once more after the run: each must be
	// answered as a duplicate, which shows the dedup state outlived the
	// fault.
	replay bool
}

// chaosEnv is what a scenario runs against.
type chaosEnv struct {
	redis    *testredis.Server
	gateways []*gateway
	rec      *recorder
}

// tally counts what the senders saw, attempt by attempt.
type tally struct {
	attempts, delivered, duplicates, inFlight, storeDown, upstreamErr, timeouts, other atomic.Int64
}

func (c *tally) observe(a send.Attempt) {
	c.attempts.Add(1)
	switch {
	case a.Reason == sdk.ReasonDuplicate:
		c.duplicates.Add(1)
		c.delivered.Add(1)
	case a.Status >= 200 && a.Status < 300:
		c.delivered.Add(1)
	case a.Status == http.StatusConflict && a.Reason == sdk.ReasonInFlight:
		c.inFlight.Add(1)
	case a.Status == http.StatusServiceUnavailable && a.Reason == sdk.ReasonStoreUnavailable:
		c.storeDown.Add(1)
	case a.Status >= 500:
		c.upstreamErr.Add(1)
	case a.Status == 0:
		c.timeouts.Add(1)
	default:
		c.other.Add(1)
	}
}

// result is one row of the report.
type result struct {
	name                                       string
	events, sends, attempts                    int
	forwarded, duplicates, inFlight, storeDown int64
	upstreamErr, timeouts, other, retries      int64
	injected500, injectedHang, hangsCanceled   int64
	lost, duplicated, senderFailures, arrivals int
	replayed, replayDuplicates                 int
	elapsed                                    time.Duration
	notes                                      string
	firstFailure                               string
}

var (
	reportMu   sync.Mutex
	reportRows []result
)

func TestExactlyOnce(t *testing.T) {
	needGateway(t)
	scenarios := []scenario{
		{
			name: "redis killed for 3 s, restarted (fail closed)", dedup: "redis", gateways: 1, senders: 1,
			attemptTimeout: 10 * time.Second, span: 6 * time.Second,
			inject: func(t *testing.T, env *chaosEnv, start time.Time) string {
				sleepUntil(start.Add(1800 * time.Millisecond))
				env.redis.Stop()
				down := time.Now()
				sleepUntil(down.Add(3 * time.Second))
				env.redis.Restart()
				return fmt.Sprintf("Redis down %.1f s from t=%.1f s", time.Since(down).Seconds(), down.Sub(start).Seconds())
			},
		},
		{
			name: "upstream 500 on 20% of first attempts, hangs on 1%", dedup: "memory", gateways: 1, senders: 1,
			upstream: upstreamFaults, attemptTimeout: time.Second, span: 3 * time.Second,
		},
		{
			name: "gateway reloaded 3 times (unchanged config)", dedup: "memory", gateways: 1, senders: 1,
			attemptTimeout: 10 * time.Second, span: 6 * time.Second, replay: true,
			inject: func(t *testing.T, env *chaosEnv, start time.Time) string {
				for i := 1; i <= 3; i++ {
					sleepUntil(start.Add(time.Duration(i) * 1500 * time.Millisecond))
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err := env.gateways[0].Reload(ctx)
					cancel()
					if err != nil {
						t.Errorf("reload %d: %v", i, err)
					}
				}
				// Each applied reload stops the previous servers, which
				// logs this line; a reload Caddy skipped (an unchanged
				// config without --force) would not.
				const stopped = `"msg":"servers shutting down; grace period initiated"`
				n := 0
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
					if n = env.gateways[0].LogCount(stopped); n >= 3 {
						break
					}
				}
				if n != 3 {
					t.Errorf("gateway log shows %d applied reloads, want 3", n)
				}
				return "3 reloads (--force) at t=1.5, 3, 4.5 s"
			},
		},
		{
			name: "same events from 2 senders via 2 gateways sharing Redis", dedup: "redis", gateways: 2, senders: 2,
			attemptTimeout: 10 * time.Second, span: 3 * time.Second,
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := runScenario(t, sc, chaosEvents(t))
			reportMu.Lock()
			reportRows = append(reportRows, r)
			reportMu.Unlock()
			t.Log("\n" + formatReport([]result{r}))
			if r.replayDuplicates != r.replayed {
				t.Errorf("replay: %d of %d events answered as duplicates; the dedup state did not survive", r.replayDuplicates, r.replayed)
			}
			if r.lost != 0 || r.duplicated != 0 || r.senderFailures != 0 {
				t.Errorf("lost %d, duplicated at upstream %d, sender failures %d (first: %s)",
					r.lost, r.duplicated, r.senderFailures, r.firstFailure)
			}
		})
	}
	reportMu.Lock()
	rows := append([]result(nil), reportRows...)
	reportMu.Unlock()
	if len(rows) > 0 {
		table := formatReport(rows)
		t.Log("exactly-once report:\n" + table)
		if path := os.Getenv("HOOKGATE_CHAOS_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
				t.Errorf("write report: %v", err)
			}
		}
	}
}

func runScenario(t *testing.T, sc scenario, n int) result {
	env := &chaosEnv{rec: newRecorder(t, sc.upstream)}
	secret := newSecret()
	dedup := "dedup memory"
	if sc.dedup == "redis" {
		env.redis = testredis.Start(t)
		if sc.inject != nil && env.redis.External() {
			testredis.Unavailable(t, "this scenario stops and restarts Redis; HOOKGATE_TEST_REDIS_URL names a server it cannot")
		}
		dedup = "dedup redis\n\t\tredis " + env.redis.URL
	}
	site := fmt.Sprintf(`	webhook_verify standard {
		source chaos
		secret %s
		%s
		retry_after 1s
	}
	reverse_proxy %s {
		transport http {
			keepalive_idle_conns_per_host 256
		}
	}`, secret, dedup, env.rec.Addr())
	for range sc.gateways {
		env.gateways = append(env.gateways, startGateway(t, site))
	}

	var counts tally
	senders := make([]*send.Sender, sc.senders)
	for i := range senders {
		s, err := send.New(send.Config{
			Keys: []verify.Key{{Secret: secret}},
			Client: &http.Client{
				Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
				CheckRedirect: func(*http.Request, []*http.Request) error {
					return http.ErrUseLastResponse
				},
			},
			AttemptTimeout: sc.attemptTimeout,
			Schedule:       send.Backoff(50*time.Millisecond, time.Second, 60),
			MaxRetryAfter:  2 * time.Second,
			OnAttempt:      func(_ send.Delivery, a send.Attempt) { counts.observe(a) },
		})
		if err != nil {
			t.Fatal(err)
		}
		senders[i] = s
	}

	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt_%s_%d", hex.EncodeToString(prefix[:]), i)
	}

	ctx, cancel := context.WithTimeout(context.Background(), sc.span+time.Duration(n/50)*time.Second+90*time.Second)
	defer cancel()
	const workers = 64
	type job struct{ i int }
	queues := make([]chan job, sc.senders)
	reports := make([][]*send.Report, sc.senders)
	var wg sync.WaitGroup
	for s := range queues {
		queues[s] = make(chan job)
		reports[s] = make([]*send.Report, n)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range queues[s] {
					body := eventBody("chaos.event", j.i)
					rep, _ := senders[s].Send(ctx, send.Delivery{URL: env.gateways[s%len(env.gateways)].URL, ID: ids[j.i], Body: body})
					reports[s][j.i] = rep
				}
			}()
		}
	}

	// The pacer: event i goes out at start + i*span/n, to every sender at
	// once, or later when every worker is busy. The fault is injected from
	// the test's goroutine meanwhile (testredis may call t.Fatal).
	start := time.Now()
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		for i := range n {
			sleepUntil(start.Add(time.Duration(int64(sc.span) * int64(i) / int64(n))))
			for s := range queues {
				select {
				case queues[s] <- job{i}:
				case <-ctx.Done():
				}
			}
		}
		for s := range queues {
			close(queues[s])
		}
	}()
	var notes string
	if sc.inject != nil {
		notes = sc.inject(t, env, start)
	}
	<-paced
	wg.Wait()
	elapsed := time.Since(start)

	// Replay: every event again, after the faults; all must be duplicates.
	var replayed, replayDups atomic.Int64
	if sc.replay {
		jobs := make(chan int)
		var rw sync.WaitGroup
		for range workers {
			rw.Add(1)
			go func() {
				defer rw.Done()
				for i := range jobs {
					rep, err := senders[0].Send(ctx, send.Delivery{URL: env.gateways[0].URL, ID: ids[i], Body: eventBody("chaos.event", i)})
					replayed.Add(1)
					if err == nil && len(rep.Attempts) > 0 && rep.Attempts[len(rep.Attempts)-1].Reason == sdk.ReasonDuplicate {
						replayDups.Add(1)
					}
				}
			}()
		}
		for i := range ids {
			jobs <- i
		}
		close(jobs)
		rw.Wait()
	}
	for i, g := range env.gateways {
		if !g.Alive() {
			t.Errorf("gateway %d exited during the run", i)
		}
	}

	delivered, arrivals := env.rec.counts()
	r := result{
		name: sc.name, events: n, sends: n * sc.senders, attempts: int(counts.attempts.Load()),
		duplicates: counts.duplicates.Load(), inFlight: counts.inFlight.Load(), storeDown: counts.storeDown.Load(),
		upstreamErr: counts.upstreamErr.Load(), timeouts: counts.timeouts.Load(), other: counts.other.Load(),
		injected500: env.rec.injected500.Load(), injectedHang: env.rec.injectedHang.Load(),
		hangsCanceled: env.rec.hangsCanceled.Load(), arrivals: arrivals, elapsed: elapsed, notes: notes,
		replayed: int(replayed.Load()), replayDuplicates: int(replayDups.Load()),
	}
	if r.injectedHang > 0 {
		r.notes += fmt.Sprintf("%s%d of %d hung requests canceled by the gateway when the sender gave up", sep(r.notes), r.hangsCanceled, r.injectedHang)
	}
	if r.replayed > 0 {
		r.notes += fmt.Sprintf("%sthen all %d replayed: %d answered as duplicates", sep(r.notes), r.replayed, r.replayDuplicates)
	}
	for _, id := range ids {
		switch c := delivered[id]; {
		case c == 0:
			r.lost++
		case c > 1:
			r.duplicated += c - 1
		}
		r.forwarded += int64(min(delivered[id], 1))
	}
	for id, c := range delivered {
		if !strings.HasPrefix(id, "evt_"+hex.EncodeToString(prefix[:])) {
			t.Errorf("upstream received unknown event id %q (%d times)", id, c)
		}
	}
	for s := range reports {
		for i, rep := range reports[s] {
			if rep == nil {
				r.senderFailures++
				if r.firstFailure == "" {
					r.firstFailure = fmt.Sprintf("sender %d, %s: not sent (%v)", s, ids[i], ctx.Err())
				}
				continue
			}
			r.retries += int64(max(len(rep.Attempts)-1, 0))
			if !rep.Delivered {
				r.senderFailures++
				if r.firstFailure == "" {
					r.firstFailure = fmt.Sprintf("sender %d, %s: %v", s, ids[i], rep.Err)
				}
			}
		}
	}
	return r
}

// formatReport renders results as a markdown table.
func formatReport(rows []result) string {
	var b strings.Builder
	b.WriteString("| scenario | events | sent (events × senders) | attempts | retries | forwarded (upstream 2xx) | duplicates blocked (200, not forwarded) | in flight (409) | store down (503) | upstream 5xx / timeouts seen by sender | injected 500 / hang | lost | duplicated at upstream | sender failures | time |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		name := r.name
		if r.notes != "" {
			name += " (" + r.notes + ")"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d / %d | %d / %d | %d | %d | %d | %.1f s |\n",
			name, r.events, r.sends, r.attempts, r.retries, r.forwarded, r.duplicates, r.inFlight, r.storeDown,
			r.upstreamErr, r.timeouts, r.injected500, r.injectedHang, r.lost, r.duplicated, r.senderFailures, r.elapsed.Seconds())
	}
	return b.String()
}

// sep separates a note from the ones before it.
func sep(notes string) string {
	if notes == "" {
		return ""
	}
	return "; "
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
