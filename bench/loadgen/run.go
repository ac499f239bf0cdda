package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RunConfig is one load run against one target.
type RunConfig struct {
	// Target names the target in the results ("a" ... "e").
	Target string
	// URL is the http:// URL to POST to.
	URL string
	// Conns is the number of connections, each with one request in flight.
	Conns int
	// Rate, when positive, sends at this many requests per second in
	// total (open loop: latency counts from when a request was due, so a
	// stalled server shows in it). Zero sends as fast as the connections
	// allow (closed loop).
	Rate float64
	// Warmup is sent first and not measured; Duration is measured.
	Warmup, Duration time.Duration
	// Max bounds the requests sent, warm-up included: this many are
	// signed before the run starts.
	Max int
	// Size is the body size in bytes.
	Size int
	// Secret signs every request.
	Secret string
	// Procs are processes whose CPU time per request is measured.
	Procs []Proc
	// Settle, when set, is the admin API (host:port) of a gateway that
	// delivers in the background: after the run, Run waits until it has
	// delivered every event of SettleSource it recorded, and measures the
	// run with that delivery included.
	Settle, SettleSource string
}

// Result is the measurement of one run. Latencies are in milliseconds.
type Result struct {
	Target   string  `json:"target"`
	Size     int     `json:"size"`
	Conns    int     `json:"conns"`
	Rate     float64 `json:"rate,omitempty"`
	Rep      int     `json:"rep,omitempty"`
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	// Errors counts everything but a fresh 2xx: transport errors,
	// non-2xx answers and (never expected with fresh ids) duplicates.
	Errors     int64            `json:"errors"`
	Transport  int64            `json:"transport_errors,omitempty"`
	Statuses   map[string]int64 `json:"non_2xx,omitempty"`
	Duplicates int64            `json:"duplicates,omitempty"`
	// Exhausted reports that the signed requests ran out before the
	// measured window ended; the window was cut short.
	Exhausted bool `json:"exhausted,omitempty"`
	// CPU is the CPU time each measured process spent per request (µs),
	// over the whole run, warm-up included.
	CPU      map[string]float64 `json:"cpu_us_per_req,omitempty"`
	FirstErr string             `json:"first_error,omitempty"`
	At       string             `json:"at"`

	// With RunConfig.Settle: the events recorded but not yet delivered
	// when the run ended, how long the gateway then took to deliver them,
	// the 2xx answers of the run (warm-up included) over the time from
	// its start to the last delivery, and each process's CPU per such
	// answer over that time.
	Backlog       int64              `json:"backlog,omitempty"`
	SettleSeconds float64            `json:"settle_seconds,omitempty"`
	Sustained     float64            `json:"sustained_rps,omitempty"`
	CPUSettled    map[string]float64 `json:"cpu_us_per_req_settled,omitempty"`
	// DiskWritten is each process's bytes sent to storage per 2xx answer
	// over the same time (/proc/<pid>/io write_bytes).
	DiskWritten map[string]float64 `json:"disk_written_per_req,omitempty"`

	// A drain (loadgen drain): RPS is the delivery rate of a backlog of
	// Backlog events, Requests the deliveries it was measured over; the
	// rate they were recorded at (app down), and the store file's size
	// and its pages in use after recording them.
	Drain     bool    `json:"drain,omitempty"`
	RecordRPS float64 `json:"record_rps,omitempty"`
	DiskBytes int64   `json:"disk_bytes,omitempty"`
	DiskUsed  int64   `json:"disk_used_bytes,omitempty"`
}

// worker is one connection's share of a run.
type worker struct {
	lat        []time.Duration
	statuses   [600]int64
	transport  int64
	duplicates int64
	lastDone   time.Time
	done       int64 // responses read, warm-up included
	ok         int64 // 2xx responses, warm-up included
	firstErr   error
}

// Run signs cfg.Max requests, then sends them over cfg.Conns connections
// until the warm-up and the measured window have passed or the requests
// run out.
func Run(cfg RunConfig) (*Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http://host:port/path", cfg.URL)
	}
	if cfg.Conns < 1 || cfg.Max < 1 || cfg.Duration <= 0 {
		return nil, errors.New("conns, max and duration must be positive")
	}
	path := u.RequestURI()
	body, err := Body(cfg.Size)
	if err != nil {
		return nil, err
	}
	reqs, err := Presign(cfg.Max, u.Host, path, cfg.Secret, RunPrefix(), body)
	if err != nil {
		return nil, err
	}

	cpu0 := make([]int64, len(cfg.Procs))
	io0 := make([]int64, len(cfg.Procs))
	for i, p := range cfg.Procs {
		if cpu0[i], err = cpuMicros(p.PID); err != nil {
			return nil, fmt.Errorf("-cpu %s: %v", p.Name, err)
		}
		io0[i], _ = writeBytes(p.PID) // 0 where /proc/<pid>/io is not readable
	}
	var next atomic.Int64
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	workers := make([]*worker, cfg.Conns)
	var exhausted atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{lat: make([]time.Duration, 0, min(cfg.Max/cfg.Conns+16, 1<<20))}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(u.Host, reqs, &next, &exhausted, cfg.Rate, start, warmEnd, end)
		}()
	}
	wg.Wait()
	runEnd := time.Now()

	var done int64
	for _, w := range workers {
		done += w.done
	}
	cpu := map[string]float64{}
	for i, p := range cfg.Procs {
		if c, err := cpuMicros(p.PID); err == nil && done > 0 {
			cpu[p.Name] = float64(c-cpu0[i]) / float64(done)
		}
	}
	res := &Result{
		CPU: cpu, Target: cfg.Target, Size: cfg.Size, Conns: cfg.Conns, Rate: cfg.Rate,
		Statuses: map[string]int64{}, At: start.UTC().Format(time.RFC3339),
	}
	windowEnd := end
	if exhausted.Load() {
		res.Exhausted = true
		var last time.Time
		for _, w := range workers {
			if w.lastDone.After(last) {
				last = w.lastDone
			}
		}
		if last.Before(windowEnd) {
			windowEnd = last
		}
	}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		for code, n := range w.statuses {
			if n > 0 && (code < 200 || code > 299) {
				res.Statuses[fmt.Sprint(code)] += n
				res.Errors += n
			}
		}
		res.Transport += w.transport
		res.Duplicates += w.duplicates
		res.Errors += w.transport + w.duplicates
		if w.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = w.firstErr.Error()
		}
	}
	res.Seconds = windowEnd.Sub(warmEnd).Seconds()
	res.Requests = int64(len(all))
	if res.Seconds > 0 {
		res.RPS = float64(res.Requests) / res.Seconds
	}
	slices.Sort(all)
	res.P50, res.P90, res.P99 = ms(quantile(all, .50)), ms(quantile(all, .90)), ms(quantile(all, .99))
	if len(all) > 0 {
		res.Max = ms(all[len(all)-1])
	}
	if cfg.Settle != "" {
		var ok int64
		for _, w := range workers {
			ok += w.ok
		}
		backlog, last, err := settle(cfg.Settle, cfg.SettleSource, 10*time.Minute)
		if err != nil {
			return nil, err
		}
		res.Backlog, res.SettleSeconds = backlog, max(0, last.Sub(runEnd).Seconds())
		if s := last.Sub(start).Seconds(); s > 0 {
			res.Sustained = float64(ok) / s
		}
		res.CPUSettled, res.DiskWritten = map[string]float64{}, map[string]float64{}
		for i, p := range cfg.Procs {
			if c, err := cpuMicros(p.PID); err == nil && ok > 0 {
				res.CPUSettled[p.Name] = float64(c-cpu0[i]) / float64(ok)
			}
			if w, err := writeBytes(p.PID); err == nil && ok > 0 && w > io0[i] {
				res.DiskWritten[p.Name] = float64(w-io0[i]) / float64(ok)
			}
		}
	}
	return res, nil
}

// loop sends requests on one connection, reconnecting after errors.
func (w *worker) loop(addr string, reqs *Presigned, next *atomic.Int64, exhausted *atomic.Bool,
	rate float64, start, warmEnd, end time.Time) {
	var (
		conn net.Conn
		br   *bufio.Reader
		buf  []byte
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	body := reqs.Body
	for {
		i := int(next.Add(1) - 1)
		if i >= reqs.Len() {
			exhausted.Store(true)
			return
		}
		t0 := time.Now()
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := due.Sub(t0); d > 0 {
				time.Sleep(d)
			}
			t0 = due
		}
		if !t0.Before(end) {
			return
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				w.fail(err, t0, warmEnd)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			_ = c.SetDeadline(end.Add(10 * time.Second))
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		head := reqs.Head(i)
		var err error
		if len(head)+len(body) <= 32<<10 {
			buf = append(append(buf[:0], head...), body...)
			_, err = conn.Write(buf)
		} else {
			bufs := net.Buffers{head, body}
			_, err = bufs.WriteTo(conn)
		}
		var resp Response
		if err == nil {
			resp, err = ReadResponse(br)
		}
		t1 := time.Now()
		if err != nil {
			conn.Close()
			conn = nil
			w.fail(err, t0, warmEnd)
			continue
		}
		w.lastDone = t1
		w.done++
		if resp.Status >= 200 && resp.Status <= 299 {
			w.ok++
		}
		if !t0.Before(warmEnd) && !t1.After(end) {
			w.lat = append(w.lat, t1.Sub(t0))
			w.statuses[resp.Status]++
			if resp.Duplicate {
				w.duplicates++
			}
			if resp.Status < 200 || resp.Status > 299 || resp.Duplicate {
				if w.firstErr == nil {
					w.firstErr = fmt.Errorf("status %d (duplicate %v)", resp.Status, resp.Duplicate)
				}
			}
		}
		if resp.Close {
			conn.Close()
			conn = nil
		}
	}
}

func (w *worker) fail(err error, t0, warmEnd time.Time) {
	if t0.Before(warmEnd) {
		return
	}
	w.transport++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
