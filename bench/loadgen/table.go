package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Targets are the configurations compared, in table order; "b" is the
// baseline every ratio is taken against.
var Targets = []struct{ Key, Name string }{
	{"a", "(a) upstream directly"},
	{"b", "(b) Caddy `reverse_proxy` alone"},
	{"c", "(c) hookgate: verify + memory dedup"},
	{"d", "(d) hookgate: verify + Redis dedup"},
	{"e", "(e) = (d) + schema + rate limit"},
	{"f", "(f) hookgate: verify + memory dedup + `deliver` async, embedded store (acknowledged)"},
	{"g", "(g) hookgate: verify + memory dedup + `deliver` on_failure, embedded store, healthy app"},
	{"h", "(h) drain: a backlog recorded with the app down, delivered to a healthy app (events/s)"},
	{"i", "(i) hookgate: verify + Redis dedup + `deliver` async, Redis store (acknowledged)"},
	{"j", "(j) = (f) with three destinations, each with a CEL filter (one matches each event)"},
}

// The performance targets of issue 7, on 1 KiB events.
const (
	targetMemoryRatio = 0.97 // (c) req/s over (b)
	targetRedisRatio  = 0.85 // (d) req/s over (b)
	targetP50AddMS    = 0.2  // (c) p50 minus (b) p50 at 8 connections
)

// The performance targets of issues 15 (durable delivery) and 17 (routing),
// on 1 KiB events.
const (
	targetAsyncRatio     = 0.8 // (f) acknowledged req/s over (b)
	targetOnFailureRatio = 0.9 // (g) req/s over (c)
	targetDrainRatio     = 0.8 // (h) delivered events/s over (b)'s req/s
	targetFilteredRatio  = 0.8 // (j) acknowledged req/s over (f)'s (issue 17)
)

// ReadResults reads results, one JSON object per line.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var res Result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

type group struct {
	size, conns int
	rate        float64
}

// summary is the medians of one target in one group.
type summary struct {
	runs                 int
	rps, lo, hi          float64
	ratio                float64 // median over reps of rps / (b)'s rps in the same rep
	hasRatio             bool
	p50, p90, p99, p50Db float64 // p50Db: median over reps of p50 - (b)'s p50
	errors               int64
	exhausted            bool
	gwCPU, redisCPU      float64 // median µs per request; 0 when not measured
	cpuRatio             float64 // median over reps of (b)'s gateway CPU / this one's
}

// WriteTable writes the markdown tables: one per body size and load, a
// row per target with medians over the repetitions and ratios to (b), and
// a check of the targets.
func WriteTable(w io.Writer, results []Result) error {
	byGroup := map[group]map[string][]Result{}
	for _, r := range results {
		g := group{r.Size, r.Conns, r.Rate}
		if byGroup[g] == nil {
			byGroup[g] = map[string][]Result{}
		}
		byGroup[g][r.Target] = append(byGroup[g][r.Target], r)
	}
	groups := make([]group, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(x, y group) int {
		return cmp.Or(cmp.Compare(x.size, y.size), cmp.Compare(y.conns, x.conns), cmp.Compare(x.rate, y.rate))
	})
	sums := map[group]map[string]summary{}
	for _, g := range groups {
		load := fmt.Sprintf("%d connections, closed loop", g.conns)
		if g.rate > 0 {
			load = fmt.Sprintf("%d connections, open loop at %g req/s", g.conns, g.rate)
		}
		fmt.Fprintf(w, "### %s body, %s\n\n", sizeName(g.size), load)
		fmt.Fprintln(w, "| target | req/s | ×(b) | req/s range | p50 ms | p50 −(b) ms | p90 ms | p99 ms | errors | gateway CPU µs/req | ×(b) by CPU | Redis CPU µs/req | runs |")
		fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		sums[g] = map[string]summary{}
		for _, t := range Targets {
			rs := byGroup[g][t.Key]
			if len(rs) == 0 {
				continue
			}
			s := summarize(rs, byGroup[g]["b"])
			sums[g][t.Key] = s
			ratio, delta := "–", "–"
			if s.hasRatio {
				ratio = fmt.Sprintf("%.3f", s.ratio)
				delta = fmt.Sprintf("%+.3f", s.p50Db)
			}
			p50, p90, p99 := fmt.Sprintf("%.3f", s.p50), fmt.Sprintf("%.3f", s.p90), fmt.Sprintf("%.3f", s.p99)
			if rs[0].Drain {
				// A drain has a rate, not latencies.
				delta, p50, p90, p99 = "–", "–", "–", "–"
			}
			note := ""
			if s.exhausted {
				note = " (ran out of signed requests)"
			}
			gw, byCPU, rd := "–", "–", "–"
			if s.gwCPU > 0 {
				gw = fmt.Sprintf("%.0f", s.gwCPU)
			}
			if s.cpuRatio > 0 {
				byCPU = fmt.Sprintf("%.3f", s.cpuRatio)
			}
			if s.redisCPU > 0 && t.Key != "a" {
				rd = fmt.Sprintf("%.0f", s.redisCPU)
			}
			fmt.Fprintf(w, "| %s%s | %.0f | %s | %.0f–%.0f | %s | %s | %s | %s | %d | %s | %s | %s | %d |\n",
				t.Name, note, s.rps, ratio, s.lo, s.hi, p50, delta, p90, p99, s.errors, gw, byCPU, rd, s.runs)
		}
		fmt.Fprintln(w)
	}
	writeChecks(w, groups, sums)
	writeDelivery(w, groups, byGroup)
	return nil
}

func writeChecks(w io.Writer, groups []group, sums map[group]map[string]summary) {
	var lines []string
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	var most group
	for _, g := range groups {
		if g.size == 1024 && g.rate == 0 && g.conns > most.conns {
			most = g
		}
	}
	if s := sums[most]; s != nil {
		for _, x := range []struct {
			key, what string
			target    float64
		}{{"c", "(c)", targetMemoryRatio}, {"d", "(d)", targetRedisRatio}} {
			v, ok := s[x.key]
			if !ok || !v.hasRatio {
				continue
			}
			lines = append(lines, fmt.Sprintf("| %s keeps ≥ %.0f%% of (b)'s req/s, 1 KiB, %d connections | %.1f%% | %s |",
				x.what, x.target*100, most.conns, v.ratio*100, verdict(v.ratio >= x.target)))
			if v.cpuRatio > 0 {
				lines = append(lines, fmt.Sprintf("| same, by gateway CPU per request ((b)'s ÷ %s's) | %.1f%% | %s |",
					x.what, v.cpuRatio*100, verdict(v.cpuRatio >= x.target)))
			}
		}
	}
	if s := sums[group{1024, 8, 0}]; s != nil {
		if c, ok := s["c"]; ok && c.hasRatio {
			lines = append(lines, fmt.Sprintf("| (c) adds < %.1f ms to (b)'s p50, 1 KiB, 8 connections | %+.3f ms | %s |",
				targetP50AddMS, c.p50Db, verdict(c.p50Db < targetP50AddMS)))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "### Targets (issue 7)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | verdict |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
}

func summarize(rs, base []Result) summary {
	s := summary{runs: len(rs)}
	var rps, p50, p90, p99, ratios, deltas, gw, rd, cpuRatios []float64
	for _, r := range rs {
		if v := r.CPU["gateway"]; v > 0 {
			gw = append(gw, v)
		}
		if v := r.CPU["redis"]; v > 0 {
			rd = append(rd, v)
		}
		rps = append(rps, r.RPS)
		p50, p90, p99 = append(p50, r.P50), append(p90, r.P90), append(p99, r.P99)
		s.errors += r.Errors
		s.exhausted = s.exhausted || r.Exhausted
		// Pair with (b)'s run of the same repetition: the two ran minutes
		// apart at most, under the same background load.
		for _, b := range base {
			if b.Rep == r.Rep && b.RPS > 0 {
				ratios = append(ratios, r.RPS/b.RPS)
				deltas = append(deltas, r.P50-b.P50)
				if g, bg := r.CPU["gateway"], b.CPU["gateway"]; g > 0 && bg > 0 {
					cpuRatios = append(cpuRatios, bg/g)
				}
				break
			}
		}
	}
	s.rps, s.p50, s.p90, s.p99 = median(rps), median(p50), median(p90), median(p99)
	s.lo, s.hi = slices.Min(rps), slices.Max(rps)
	s.gwCPU, s.redisCPU, s.cpuRatio = median(gw), median(rd), median(cpuRatios)
	if len(ratios) > 0 {
		s.hasRatio = true
		s.ratio, s.p50Db = median(ratios), median(deltas)
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// writeDelivery writes what the delivery targets add to the tables: for
// (f) and (g), the backlog left at the end of each run and the rate and
// CPU with its delivery included; for (h), the disk used per event; then
// the targets of issue 15.
func writeDelivery(w io.Writer, groups []group, byGroup map[group]map[string][]Result) {
	var most group
	for _, g := range groups {
		if g.size == 1024 && g.rate == 0 && g.conns > most.conns {
			most = g
		}
	}
	header := false
	for _, g := range groups {
		for _, key := range []string{"f", "g", "i", "j"} {
			rs := byGroup[g][key]
			if len(rs) == 0 || rs[0].CPUSettled == nil {
				continue
			}
			if !header {
				header = true
				fmt.Fprintln(w, "### Durable delivery: recorded and delivered")
				fmt.Fprintln(w)
				fmt.Fprintln(w, "After each run of (f) and (g) the generator waits until the gateway has delivered every event it recorded (its metrics: `delivered_total` reaches the `forwarded` requests). *Sustained* is the 2xx answers of the run (warm-up included) over the time from its start to that last delivery; its CPU is the gateway's over the same time, per event.")
				fmt.Fprintln(w)
				fmt.Fprintln(w, "| target | body, load | backlog at the end of the run | delivered in s | sustained req/s | sustained ×(b) | gateway CPU µs/event with delivery | ×(b) by CPU | disk written KiB/event | runs |")
				fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
			}
			var backlog, secs, sus, ratio, cpu, cpuRatio, disk []float64
			for _, r := range rs {
				backlog, secs, sus = append(backlog, float64(r.Backlog)), append(secs, r.SettleSeconds), append(sus, r.Sustained)
				if v := r.DiskWritten["gateway"]; v > 0 {
					disk = append(disk, v/1024)
				}
				if v := r.CPUSettled["gateway"]; v > 0 {
					cpu = append(cpu, v)
				}
				for _, b := range byGroup[g]["b"] {
					if b.Rep == r.Rep && b.RPS > 0 {
						ratio = append(ratio, r.Sustained/b.RPS)
						if v, bv := r.CPUSettled["gateway"], b.CPU["gateway"]; v > 0 && bv > 0 {
							cpuRatio = append(cpuRatio, bv/v)
						}
						break
					}
				}
			}
			fmt.Fprintf(w, "| %s | %s, %d connections | %.0f | %.1f | %.0f | %s | %.0f | %s | %s | %d |\n",
				targetName(key), sizeName(g.size), g.conns, median(backlog), median(secs), median(sus),
				optRatio(ratio), median(cpu), optRatio(cpuRatio), optFloat(disk, "%.1f"), len(rs))
		}
	}
	if header {
		fmt.Fprintln(w)
	}
	if rs := byGroup[most]["h"]; len(rs) > 0 {
		fmt.Fprintln(w, "### Durable delivery: the drain and the disk")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "A gateway records the backlog with the app down (`rate 1/s` holds its attempts back), stops; the app comes up; the gateway starts again on the same store and delivers it. *Delivered/s* runs from the first delivery seen to the last (metrics read every 100 ms); the store's size is measured between the two runs.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| repetition | backlog | recorded/s (app down) | delivered/s | ×(b) | gateway CPU µs/event | disk written KiB/event delivered | store file after recording, bytes/event | pages in use, bytes/event | |")
		fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
		for _, r := range rs {
			ratio := "–"
			for _, b := range byGroup[most]["b"] {
				if b.Rep == r.Rep && b.RPS > 0 {
					ratio = fmt.Sprintf("%.3f", r.RPS/b.RPS)
				}
			}
			perEvent := func(n int64) string {
				if n <= 0 || r.Backlog <= 0 {
					return "–"
				}
				return fmt.Sprintf("%.0f", float64(n)/float64(r.Backlog))
			}
			written := "–"
			if v := r.DiskWritten["gateway"]; v > 0 {
				written = fmt.Sprintf("%.1f", v/1024)
			}
			fmt.Fprintf(w, "| %d | %d | %.0f | %.0f | %s | %.0f | %s | %s | %s | %s |\n", r.Rep, r.Backlog, r.RecordRPS, r.RPS, ratio, r.CPU["gateway"],
				written, perEvent(r.DiskBytes), perEvent(r.DiskUsed), r.FirstErr)
		}
		fmt.Fprintln(w)
	}

	s := byGroup[most]
	if s == nil {
		return
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	var lines []string
	for _, x := range []struct {
		key, base, what string
		target          float64
	}{
		{"f", "b", "(f) `async`, embedded: acknowledged req/s ≥ %.1f× (b)'s", targetAsyncRatio},
		{"g", "c", "(g) `on_failure`, healthy app: req/s ≥ %.1f× (c)'s", targetOnFailureRatio},
		{"h", "b", "(h) drain of the backlog: delivered/s ≥ %.1f× (b)'s req/s", targetDrainRatio},
		{"i", "b", "(i) `async`, Redis store: acknowledged req/s ≥ %.1f× (b)'s", targetAsyncRatio},
		{"j", "f", "(j) three filtered destinations: acknowledged req/s ≥ %.1f× (f)'s, one destination (issue 17)", targetFilteredRatio},
	} {
		if len(s[x.key]) == 0 || len(s[x.base]) == 0 {
			continue
		}
		v := summarize(s[x.key], s[x.base])
		if !v.hasRatio {
			continue
		}
		what := fmt.Sprintf(x.what, x.target)
		lines = append(lines, fmt.Sprintf("| %s, 1 KiB, %d connections | %.3f× | %s |", what, most.conns, v.ratio, verdict(v.ratio >= x.target)))
		cpuRatio, how := v.cpuRatio, ""
		if x.key == "f" || x.key == "i" || x.key == "j" {
			// An acknowledgement leaves its delivery for later: count
			// the CPU of both.
			cpuRatio, how = settledCPURatio(s[x.key], s[x.base]), ", its delivery included"
		}
		if cpuRatio > 0 {
			lines = append(lines, fmt.Sprintf("| same, by gateway CPU per event ((%s)'s ÷ (%s)'s%s) | %.3f× | %s |", x.base, x.key, how, cpuRatio, verdict(cpuRatio >= x.target)))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "### Targets (issues 15 and 17)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured (median of per-repetition ratios) | verdict |")
	fmt.Fprintln(w, "| --- | ---: | --- |")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
}

// settledCPURatio returns the median over repetitions of base's gateway
// CPU per request over rs's with the delivery of its backlog included.
func settledCPURatio(rs, base []Result) float64 {
	var ratios []float64
	for _, r := range rs {
		for _, b := range base {
			bv := b.CPU["gateway"]
			if v := b.CPUSettled["gateway"]; v > 0 {
				bv = v // a delivery target as the base: its delivery counts too
			}
			if v := r.CPUSettled["gateway"]; b.Rep == r.Rep && v > 0 && bv > 0 {
				ratios = append(ratios, bv/v)
				break
			}
		}
	}
	return median(ratios)
}

func targetName(key string) string {
	for _, t := range Targets {
		if t.Key == key {
			return t.Name
		}
	}
	return key
}

func optFloat(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf(format, median(xs))
}

func optRatio(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", median(xs))
}
