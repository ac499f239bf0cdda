package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/internal/testredis"
)

// TestDelivery is the proof of durable delivery (issue 15): real gateway
// processes with a deliver block, a real app that fails in the ways of
// each scenario, and a sender that, like GitHub, sends each event once
// and never retries (unless the scenario says so). Every event
// acknowledged to the sender with a 2xx must reach the app; none may
// reach it twice, except when a gateway was killed between the app's 2xx
// and recording it, and then each duplicate must be explained by that
// kill.
//
// Sizes: 1,000 events per scenario, a 10 s outage of the app and a 3 s
// outage of Redis by default (CI); HOOKGATE_CHAOS_FULL=1 runs the issue's
// 5,000 events and 60 s outage of the app, and a 10 s outage of Redis;
// HOOKGATE_CHAOS_EVENTS overrides the number of events.
// HOOKGATE_CHAOS_DELIVERY_REPORT names a file for the report table.
func TestDelivery(t *testing.T) {
	needGateway(t)
	size := deliverySizes(t)
	scenarios := []deliveryScenario{
		{
			name: fmt.Sprintf("1. app refuses connections for %.0f s, sender never retries", size.outage.Seconds()),
			mode: "on_failure", store: storeEmbedded, gateways: 1,
			span: size.outage + 4*time.Second,
			inject: func(t *testing.T, env *deliveryEnv, start time.Time) string {
				sleepUntil(start.Add(2 * time.Second))
				env.app.setDown(context.Background())
				down := time.Now()
				sleepUntil(down.Add(size.outage))
				env.app.setUp(t)
				return fmt.Sprintf("app down %.1f s from t=%.1f s", time.Since(down).Seconds(), down.Sub(start).Seconds())
			},
		},
		{
			name: "2. app answers 500 to 30% of attempts, hangs past the timeout on 2%",
			mode: "on_failure", store: storeEmbedded, gateways: 1,
			fault: attemptFaults(0.30, 0.02),
			span:  time.Duration(size.events) * time.Second / 250,
		},
		{
			name: "3. gateway SIGKILLed mid-run, restarted on the same store",
			mode: "on_failure", store: storeEmbedded, gateways: 1,
			span: time.Duration(size.events) * time.Second / 200, inject: killAndRestart,
		},
		{
			name: "3. gateway SIGKILLed mid-run, restarted on the same store",
			mode: "async", store: storeEmbedded, gateways: 1,
			span: time.Duration(size.events) * time.Second / 200, inject: killAndRestart,
		},
		{
			name: "4. two gateways sharing Redis, one SIGKILLed mid-delivery",
			mode: "async", store: storeRedis, gateways: 2,
			// The app takes 100 ms per event, so that the killed gateway
			// holds leases on deliveries under way, which the other must
			// take over once they expire.
			appLatency: 100 * time.Millisecond,
			span:       time.Duration(size.events) * time.Second / 200,
			inject: func(t *testing.T, env *deliveryEnv, start time.Time) string {
				sleepUntil(start.Add(env.span / 2))
				env.kill(0)
				// A load balancer's health check takes it out of the
				// rotation a moment later.
				time.Sleep(200 * time.Millisecond)
				env.out[0].Store(true)
				return fmt.Sprintf("gateway 1 of 2 SIGKILLed at t=%.1f s, out of the rotation 0.2 s later, not restarted", time.Since(start).Seconds()-0.2)
			},
		},
		{
			// Redis is SIGKILLed, as in a crash, and started again on the
			// same port and data directory. What an acknowledged event
			// survives depends on Redis' persistence. appendonly no: a
			// restart keeps only the last RDB snapshot (none with save
			// ""). appendfsync everysec: Redis writes the AOF into the
			// kernel before it answers, so a crash of Redis alone loses
			// nothing, except what it holds back while a slow fsync makes
			// it postpone writing (up to 2 s); a crash of the machine
			// loses about the last second. appendfsync always, as here:
			// Redis fsyncs the AOF before it answers, so not even a
			// machine crash loses an acknowledged write. While Redis is
			// down the gateway answers 503 with Retry-After and the
			// sender, like Stripe, retries until it gets a 2xx: every
			// event must be acknowledged and delivered, and, since no
			// gateway dies, delivered once.
			name: fmt.Sprintf("5. Redis SIGKILLed mid-run for %.0f s, restarted on its AOF (appendfsync always), the sender retries", size.redisOutage.Seconds()),
			mode: "on_failure", store: storeRedis, gateways: 1, senderRetries: true,
			redisArgs: []string{"--appendonly", "yes", "--appendfsync", "always"},
			span:      time.Duration(size.events) * time.Second / 200,
			inject: func(t *testing.T, env *deliveryEnv, start time.Time) string {
				sleepUntil(start.Add(env.span / 3))
				env.redis.Stop()
				down := time.Now()
				sleepUntil(down.Add(size.redisOutage))
				env.redis.Restart()
				return fmt.Sprintf("Redis SIGKILLed at t=%.1f s, answering again %.1f s later", down.Sub(start).Seconds(), time.Since(down).Seconds())
			},
		},
	}
	var rows []deliveryResult
	for _, sc := range scenarios {
		t.Run(sc.name+" ("+sc.mode+")", func(t *testing.T) {
			r := runDelivery(t, sc, size.events)
			rows = append(rows, r)
			t.Log("\n" + formatDeliveryReport([]deliveryResult{r}))
			r.check(t, sc)
		})
	}
	if len(rows) > 0 {
		table := formatDeliveryReport(rows)
		t.Log("durable delivery report:\n" + table)
		if path := os.Getenv("HOOKGATE_CHAOS_DELIVERY_REPORT"); path != "" {
			if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
				t.Errorf("write report: %v", err)
			}
		}
	}
}

// deliverySize is how big the scenarios are.
type deliverySize struct {
	events int
	outage time.Duration // the app's (scenario 1)
	// redisOutage is how long Redis stays down (scenario 5).
	redisOutage time.Duration
}

func deliverySizes(t *testing.T) deliverySize {
	t.Helper()
	s := deliverySize{events: 1000, outage: 10 * time.Second, redisOutage: 3 * time.Second}
	switch v := os.Getenv("HOOKGATE_CHAOS_FULL"); v {
	case "", "0":
	case "1":
		s = deliverySize{events: 5000, outage: 60 * time.Second, redisOutage: 10 * time.Second}
	default:
		t.Fatalf("HOOKGATE_CHAOS_FULL=%q: want 1 or unset", v)
	}
	if v := os.Getenv("HOOKGATE_CHAOS_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HOOKGATE_CHAOS_EVENTS=%q: want a positive integer", v)
		}
		s.events = n
	}
	return s
}

// storeKind is the delivery store of a scenario's gateways.
type storeKind string

const (
	storeEmbedded storeKind = "embedded" // one bbolt file per gateway, in a temporary directory
	storeRedis    storeKind = "redis"    // one redis-server shared by the gateways
)

// deliveryScenario is one fault, run on its own.
type deliveryScenario struct {
	name string
	// mode is the deliver block's: on_failure or async.
	mode  string
	store storeKind
	// gateways run the same site on one store (Redis) or each on its own
	// (embedded); the sender spreads the events over those in rotation.
	gateways int
	// redisArgs are redis-server's extra arguments (store redis).
	redisArgs []string
	// fault decides what the app does with each arrival; nil: nothing.
	fault func(id string, arrival int) fault
	// appLatency is how long the app works on each event it accepts.
	appLatency time.Duration
	// span paces the events over at least this long, so that the fault
	// lands in the middle of the traffic.
	span time.Duration
	// senderRetries makes the sender retry an event until acknowledged
	// (as Stripe does), instead of sending it once (as GitHub does).
	senderRetries bool
	// inject runs beside the traffic; start is when the first event went.
	// It returns a note for the report.
	inject func(t *testing.T, env *deliveryEnv, start time.Time) string
}

// The deliver block's timings: short, so that retries and lease
// takeovers happen within the test. A lease is 2 × attemptTimeout.
const (
	attemptTimeout = time.Second
	liveBudget     = time.Second
	backoffInitial = 50 * time.Millisecond
	backoffMax     = time.Second
	// maxAttempts outlasts the longest outage: at backoffMax 1 s with
	// full jitter an attempt comes every 0.5 s on average, so the
	// default 100 runs out in about 50 s, within scenario 1's 60 s
	// outage at full size (one event died so, once the engine attempted
	// on schedule).
	maxAttempts = 1000
	// dedupLockTTL is how long a dedup claim in Redis holds an event
	// whose request never settled it.
	dedupLockTTL = 5 * time.Second
	// senderTimeout is how long the sender waits for an answer (GitHub's
	// is 10 s).
	senderTimeout = 10 * time.Second
	// settleLimit bounds the wait, after the last send, for every
	// acknowledged event to reach the app.
	settleLimit = 2 * time.Minute
	// quiet is how long the app must have seen nothing before the count
	// is final: a lease left by a killed gateway expires (2 × the attempt
	// timeout), a worker polls (1 s), and a duplicate would arrive.
	quiet = 2*attemptTimeout + 2*time.Second
)

// deliveryEnv is what a scenario runs against.
type deliveryEnv struct {
	app      *app
	redis    *testredis.Server
	gateways []*gateway
	// out marks the gateways the sender no longer sends to.
	out  []atomic.Bool
	span time.Duration

	mu    sync.Mutex
	kills []kill
	// refusals counts the sender's attempts answered with a non-2xx, by
	// status; bare those of them (409, 503) that came without
	// Retry-After.
	refusals map[int]int
	bare     int
}

// refused notes an attempt answered with status, not a 2xx.
func (env *deliveryEnv) refused(status int, retryAfter bool) {
	env.mu.Lock()
	if env.refusals == nil {
		env.refusals = map[int]int{}
	}
	env.refusals[status]++
	if (status == http.StatusConflict || status == http.StatusServiceUnavailable) && !retryAfter {
		env.bare++
	}
	env.mu.Unlock()
}

// kill is when a gateway was SIGKILLed and, if it was, restarted.
type kill struct {
	gateway           int
	killed, restarted time.Time
}

// kill SIGKILLs gateway i and notes when.
func (env *deliveryEnv) kill(i int) {
	env.gateways[i].Kill()
	env.mu.Lock()
	env.kills = append(env.kills, kill{gateway: i, killed: time.Now()})
	env.mu.Unlock()
}

// restart starts gateway i again, on the same ports and store.
func (env *deliveryEnv) restart(i int) {
	env.gateways[i].Restart()
	env.mu.Lock()
	for k := len(env.kills) - 1; k >= 0; k-- {
		if env.kills[k].gateway == i && env.kills[k].restarted.IsZero() {
			env.kills[k].restarted = time.Now()
			break
		}
	}
	env.mu.Unlock()
}

// killAndRestart SIGKILLs the gateway halfway through the traffic and
// starts it again on the same store 1 s later; meanwhile its port refuses
// connections, and the sender, which never retries, gives those events
// up.
func killAndRestart(t *testing.T, env *deliveryEnv, start time.Time) string {
	sleepUntil(start.Add(env.span / 2))
	env.kill(0)
	killed := time.Now()
	sleepUntil(killed.Add(time.Second))
	env.restart(0)
	return fmt.Sprintf("SIGKILL at t=%.1f s, restarted %.1f s later", killed.Sub(start).Seconds(), time.Since(killed).Seconds())
}

// sent is what the sender saw of one event.
type sent struct {
	at       time.Time // when it was first sent
	status   int       // the last answer's status; 0: no answer
	queued   bool      // Hookgate-Queued: true
	attempts int
}

func (s *sent) acked() bool { return s.status >= 200 && s.status < 300 }

// deliveryResult is one row of the report.
type deliveryResult struct {
	name, mode                           string
	events                               int
	acked, ackLive, ackQueued            int
	notAcked, transportErrors            int
	senderAttempts                       int
	delivered, deliveredUnacked          int
	duplicates, dupEvents, dupsExplained int
	lost                                 int
	arrivals                             int
	p50, p95, max                        time.Duration
	dupGap                               time.Duration // the longest time from a duplicate's first 2xx to the kill after it
	injected500, injectedHang, hangsCut  int64
	problems                             int
	firstProblems                        []string
	firstLost                            []string
	gatewaysDown                         []int
	metricsDelivered, metricsDead        float64
	metricsRetries, metricsLeaseLost     float64
	metricsStoreErrors                   float64
	metricsErr                           string
	killed                               bool
	refusals                             map[int]int // the sender's attempts answered non-2xx, by status
	bare                                 int         // of them, 409 and 503 without Retry-After
	elapsed                              time.Duration
	notes                                string
}

func runDelivery(t *testing.T, sc deliveryScenario, n int) deliveryResult {
	env := &deliveryEnv{span: sc.span}
	env.app = newApp(t, sc.fault, 3*attemptTimeout)
	env.app.latency = sc.appLatency
	secret := newSecret()

	store := ""
	switch sc.store {
	case storeEmbedded:
		// Each gateway gets its own directory below (bbolt locks its
		// file).
	case storeRedis:
		env.redis = testredis.Start(t, sc.redisArgs...)
		if sc.inject != nil && env.redis.External() {
			testredis.Unavailable(t, "this scenario stops and restarts Redis; HOOKGATE_TEST_REDIS_URL names a server it cannot")
		}
		store = "store redis"
	default:
		t.Fatalf("unknown store %q", sc.store)
	}
	env.out = make([]atomic.Bool, sc.gateways)
	for range sc.gateways {
		st, dedup := store, "dedup memory"
		if sc.store == storeEmbedded {
			st = "store embedded " + t.TempDir()
		} else {
			// A request that Redis' death cuts off after its dedup claim
			// (the record or the release then fails) leaves the claim in
			// flight until lock_ttl: the sender's retries get 409 until
			// then. The default, 2 min, is for an upstream as slow as
			// GitHub's timeout; here the upstream is the live attempt,
			// bounded by live_budget (1 s).
			dedup = fmt.Sprintf("dedup redis {\n\t\t\tlock_ttl %s\n\t\t}\n\t\tredis %s", dedupLockTTL, env.redis.URL)
		}
		env.gateways = append(env.gateways, startGateway(t, fmt.Sprintf(`	webhook_verify standard {
		source chaos
		secret %s
		%s
		deliver %s {
			mode %s
			%s
			backoff %s %s
			timeout %s
			live_budget %s
			max_attempts %d
		}
	}`, secret, dedup, env.app.URL(), sc.mode, st, backoffInitial, backoffMax, attemptTimeout, liveBudget, maxAttempts)))
	}

	// Caddy starts its apps in no set order (a map's), so the HTTP server
	// may listen before the hookgate app has started the delivery engine;
	// until then a webhook is answered 503 store_unavailable. The engine
	// reports its queues as soon as it runs.
	for i, g := range env.gateways {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := g.WaitMetric(ctx, "caddy_webhook_delivery_pending", "source", "chaos")
		cancel()
		if err != nil {
			t.Fatalf("gateway %d: the delivery engine did not start: %v", i, err)
		}
	}

	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	ids := make([]string, n)
	bodies := make([][]byte, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt_%s_%d", hex.EncodeToString(prefix[:]), i)
		bodies[i] = eventBody("chaos.delivery", i)
		env.app.expect(ids[i], bodies[i])
	}

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute},
		Timeout:   senderTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), sc.span+settleLimit)
	defer cancel()

	sends := make([]sent, n)
	var transportErrors atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	const workers = 64
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				sendEvent(ctx, t, client, env, sc.senderRetries, secret, ids[i], bodies[i], i, &sends[i], &transportErrors)
			}
		})
	}
	// The pacer: event i goes out at start + i*span/n, or later when
	// every worker is busy. The fault is injected from the test's
	// goroutine meanwhile.
	start := time.Now()
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		defer close(jobs)
		for i := range n {
			sleepUntil(start.Add(time.Duration(int64(sc.span) * int64(i) / int64(n))))
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var notes string
	if sc.inject != nil {
		notes = sc.inject(t, env, start)
	}
	<-paced
	wg.Wait()

	// Settle: every acknowledged event delivered, then nothing arriving
	// for long enough that a late duplicate would have come.
	var acked []string
	for i := range sends {
		if sends[i].acked() {
			acked = append(acked, ids[i])
		}
	}
	deadline := time.Now().Add(settleLimit)
	for env.app.deliveredAmong(acked) < len(acked) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for time.Since(env.app.lastArrival()) < quiet && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}

	r := deliveryResult{name: sc.name, mode: sc.mode, events: n, notes: notes,
		transportErrors: int(transportErrors.Load()),
		injected500:     env.app.injected500.Load(), injectedHang: env.app.injectedHang.Load(), hangsCut: env.app.hangsCanceled.Load()}
	env.mu.Lock()
	kills := append([]kill(nil), env.kills...)
	env.mu.Unlock()
	r.killed = len(kills) > 0
	env.mu.Lock()
	r.refusals, r.bare = env.refusals, env.bare
	env.mu.Unlock()
	events, arrivals, last, nProblem, problems := env.app.snapshot()
	r.arrivals, r.problems, r.firstProblems = arrivals, nProblem, problems
	r.elapsed = last.Sub(start)
	var delays []time.Duration
	for i, id := range ids {
		s := &sends[i]
		r.senderAttempts += s.attempts
		if s.acked() {
			r.acked++
			if s.queued {
				r.ackQueued++
			} else {
				r.ackLive++
			}
		} else {
			r.notAcked++
		}
		ev := events[id]
		if len(ev.delivered) == 0 {
			if s.acked() {
				r.lost++
				if len(r.firstLost) < 5 {
					r.firstLost = append(r.firstLost, fmt.Sprintf("%s (sent at t=%.3f s, answered %d, %d arrivals at the app)",
						id, s.at.Sub(start).Seconds(), s.status, ev.arrivals))
				}
			}
			continue
		}
		r.delivered++
		if !s.acked() {
			r.deliveredUnacked++
		}
		delays = append(delays, ev.delivered[0].Sub(s.at))
		if extra := len(ev.delivered) - 1; extra > 0 {
			r.duplicates += extra
			r.dupEvents++
			if gap, ok := explainedByKill(ev.delivered, kills); ok {
				r.dupsExplained++
				r.dupGap = max(r.dupGap, gap)
			}
		}
	}
	if r.notAcked > 0 {
		statuses := map[int]int{}
		for i := range sends {
			if !sends[i].acked() {
				statuses[sends[i].status]++
			}
		}
		codes := make([]int, 0, len(statuses))
		for c := range statuses {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		var parts []string
		for _, c := range codes {
			what := strconv.Itoa(c)
			if c == 0 {
				what = "no answer"
			}
			parts = append(parts, fmt.Sprintf("%d %s", statuses[c], what))
		}
		r.notes += sep(r.notes) + "not acknowledged: " + strings.Join(parts, ", ")
	}
	if len(r.refusals) > 0 {
		codes := slices.Sorted(maps.Keys(r.refusals))
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%d × %d", r.refusals[c], c))
		}
		what := "the sender's attempts refused: " + strings.Join(parts, ", ")
		if r.bare == 0 {
			what += ", each with Retry-After"
		} else {
			what += fmt.Sprintf(", %d without Retry-After", r.bare)
		}
		r.notes += sep(r.notes) + what
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		r.p50, r.p95, r.max = delays[len(delays)/2], delays[(len(delays)*95)/100], delays[len(delays)-1]
	}
	for i, g := range env.gateways {
		if !g.Alive() && !env.out[i].Load() {
			r.gatewaysDown = append(r.gatewaysDown, i)
		}
	}
	r.scrape(env)
	return r
}

// target returns the gateway event i goes to: the i-th in rotation, or
// the next one still in it.
func (env *deliveryEnv) target(i int) *gateway {
	n := len(env.gateways)
	for k := range n {
		if j := (i + k) % n; !env.out[j].Load() {
			return env.gateways[j]
		}
	}
	return env.gateways[i%n]
}

// sendEvent sends event id to a gateway in rotation, once, or until
// acknowledged when retries is set, and records what it saw in s.
func sendEvent(ctx context.Context, t *testing.T, client *http.Client, env *deliveryEnv, retries bool, secret, id string,
	body []byte, i int, s *sent, transportErrors *atomic.Int64) {
	s.at = time.Now()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.target(i).URL, bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = signedHeader(t, secret, id, body)
		s.attempts++
		resp, err := client.Do(req)
		retryAfter := 200 * time.Millisecond
		if err != nil {
			s.status = 0
			transportErrors.Add(1)
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			s.status, s.queued = resp.StatusCode, resp.Header.Get("Hookgate-Queued") == "true"
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err == nil && secs > 0 {
				retryAfter = min(time.Duration(secs)*time.Second, 2*time.Second)
			}
			if !s.acked() {
				env.refused(s.status, err == nil && secs > 0)
			}
		}
		if s.acked() || !retries || ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(retryAfter):
		case <-ctx.Done():
			return
		}
	}
}

// explainedByKill reports whether each 2xx after the first of an event
// (delivered, in order) came after a gateway was killed, the 2xx before
// it having come before that kill: the app took the event, and the
// gateway died before it recorded that. gap is the longest time from
// such a 2xx to the kill.
func explainedByKill(delivered []time.Time, kills []kill) (gap time.Duration, ok bool) {
	for j := 1; j < len(delivered); j++ {
		found := false
		for _, k := range kills {
			if delivered[j-1].Before(k.killed) && delivered[j].After(k.killed) {
				found = true
				gap = max(gap, k.killed.Sub(delivered[j-1]))
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return gap, true
}

// scrape reads the delivery metrics of the gateways still running (a
// restarted gateway's count from its restart).
func (r *deliveryResult) scrape(env *deliveryEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, g := range env.gateways {
		if !g.Alive() {
			continue
		}
		m, err := g.Metrics(ctx)
		if err != nil {
			r.metricsErr = fmt.Sprintf("gateway %d: %v", i, err)
			continue
		}
		r.metricsDelivered += m.Sum("caddy_webhook_delivered_total", "source", "chaos")
		r.metricsDead += m.Sum("caddy_webhook_dead_total", "source", "chaos")
		r.metricsRetries += m.Sum("caddy_webhook_delivery_attempts_total", "source", "chaos", "outcome", "retry")
		r.metricsLeaseLost += m.Sum("caddy_webhook_delivery_lease_lost_total", "source", "chaos")
		r.metricsStoreErrors += m.Sum("caddy_webhook_delivery_store_errors_total")
	}
}

// check fails t on what the scenario forbids: an acknowledged event lost,
// a duplicate at the app no kill explains, a delivery that is not what
// was sent, a dead delivery, a gateway that died on its own.
func (r *deliveryResult) check(t *testing.T, sc deliveryScenario) {
	t.Helper()
	if r.lost != 0 {
		t.Errorf("%d events acknowledged to the sender never reached the app; first: %s", r.lost, strings.Join(r.firstLost, "; "))
	}
	if unexplained := r.dupEvents - r.dupsExplained; unexplained != 0 {
		t.Errorf("%d events reached the app more than once with no gateway killed in between (%d duplicates in all)", unexplained, r.duplicates)
	}
	if r.duplicates != 0 && !r.killed {
		t.Errorf("%d duplicates at the app without a kill", r.duplicates)
	}
	if r.problems != 0 {
		t.Errorf("%d deliveries were not what was sent; first: %s", r.problems, strings.Join(r.firstProblems, "; "))
	}
	if r.acked == 0 {
		t.Error("no event was acknowledged to the sender")
	}
	if !r.killed && r.notAcked != 0 {
		// No gateway was stopped: they must have taken every event.
		t.Errorf("%d events not acknowledged though every gateway stayed up (%d transport errors)", r.notAcked, r.transportErrors)
	}
	if len(r.gatewaysDown) > 0 {
		t.Errorf("gateways %v exited during the run", r.gatewaysDown)
	}
	if sc.senderRetries {
		// The sender retries what was refused: a gateway that cannot
		// record says so with 503 (or 409 for an event another request
		// holds) and when to come back, never with another error.
		for c, n := range r.refusals {
			if c != http.StatusServiceUnavailable && c != http.StatusConflict {
				t.Errorf("%d attempts answered %d; want only 503 or 409 while a store is down", n, c)
			}
		}
		if r.bare != 0 {
			t.Errorf("%d answers 409 or 503 without Retry-After", r.bare)
		}
	}
	if r.metricsErr != "" {
		t.Errorf("metrics: %s", r.metricsErr)
	}
	if r.metricsDead != 0 {
		t.Errorf("caddy_webhook_dead_total = %v, want 0 (nothing should run out of attempts here)", r.metricsDead)
	}
	if !r.killed && r.metricsDelivered != float64(r.delivered) {
		t.Errorf("caddy_webhook_delivered_total = %v, but the app took %d events", r.metricsDelivered, r.delivered)
	}
}

// formatDeliveryReport renders results as a markdown table.
func formatDeliveryReport(rows []deliveryResult) string {
	var b strings.Builder
	b.WriteString("| scenario | mode | sent | acknowledged 2xx (live 200 / queued 202) | not acknowledged | delivered (distinct ids at the app) | of them not acknowledged | duplicates at the app (explained by the kill) | lost | app arrivals | injected 500 / hang | delay p50 / p95 / max | gateway: retries, lease lost, dead, store errors | time |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		name := r.name
		if r.notes != "" {
			name += " (" + r.notes + ")"
		}
		dups := strconv.Itoa(r.duplicates)
		if r.killed {
			dups = fmt.Sprintf("%d (%d of %d events", r.duplicates, r.dupsExplained, r.dupEvents)
			if r.dupEvents > 0 {
				dups += fmt.Sprintf("; 2xx at most %s before the kill", ms(r.dupGap))
			}
			dups += ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d (%d / %d) | %d | %d | %d | %s | %d | %d | %d / %d | %s / %s / %s | %.0f, %.0f, %.0f, %.0f | %.1f s |\n",
			name, r.mode, r.events, r.acked, r.ackLive, r.ackQueued, r.notAcked, r.delivered, r.deliveredUnacked, dups,
			r.lost, r.arrivals, r.injected500, r.injectedHang, ms(r.p50), ms(r.p95), ms(r.max),
			r.metricsRetries, r.metricsLeaseLost, r.metricsDead, r.metricsStoreErrors, r.elapsed.Seconds())
	}
	return b.String()
}

// ms renders d in milliseconds, or seconds from 10 s.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
