// Command loadgen is hookgate's load generator: it sends correctly signed
// Standard Webhooks requests, each with a fresh event id, over loopback,
// and reports requests per second, latency percentiles and errors.
//
//	loadgen run -target c -url http://127.0.0.1:8080/ -conns 64 -size 1024 \
//	    -warmup 1s -duration 6s -max 300000 -secret whsec_... [-rate 5000] [-rep 1] [-out results.jsonl]
//	loadgen upstream -addr 127.0.0.1:8081
//	loadgen run ... -settle 127.0.0.1:2019   # then wait until the gateway delivered what it recorded
//	loadgen drain -admin 127.0.0.1:2019 -want 50000 -pid 1234 [-rep 1] [-out results.jsonl]
//	loadgen storesize -store deliveries.db
//	loadgen table -in results.jsonl [-out results.md]
//	loadgen secret
//	loadgen ports N
//
// To stay cheap beside the server it measures (the two share a 2-core
// machine), it signs every request before the timed part of a run, keeps
// one request in flight per connection on raw keep-alive TCP connections,
// writes each request with one system call and parses responses in
// place. bench/run.sh runs it against each gateway configuration.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = runCmd(args)
	case "upstream":
		fs := flag.NewFlagSet("upstream", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:8081", "listen address")
		_ = fs.Parse(args)
		err = ServeUpstream(*addr)
	case "drain":
		err = drainCmd(args)
	case "storesize":
		err = storeSizeCmd(args)
	case "table":
		err = tableCmd(args)
	case "secret":
		fmt.Println(NewSecret())
	case "ports":
		err = portsCmd(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loadgen run|upstream|drain|storesize|table|secret|ports [flags]")
	os.Exit(2)
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var cfg RunConfig
	fs.StringVar(&cfg.Target, "target", "", "target name in the results (a..e)")
	fs.StringVar(&cfg.URL, "url", "", "URL to POST to")
	fs.IntVar(&cfg.Conns, "conns", 64, "connections, one request in flight on each")
	fs.Float64Var(&cfg.Rate, "rate", 0, "total requests per second (0: as fast as possible)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up")
	fs.DurationVar(&cfg.Duration, "duration", 6*time.Second, "measured window")
	fs.IntVar(&cfg.Max, "max", 300_000, "requests signed in advance; the run stops when they run out")
	fs.IntVar(&cfg.Size, "size", 1024, "body size in bytes")
	fs.StringVar(&cfg.Secret, "secret", "", "Standard Webhooks secret (whsec_...)")
	rep := fs.Int("rep", 0, "repetition number, recorded in the result")
	out := fs.String("out", "", "append the result as one JSON line to this file")
	procs := fs.String("cpu", "", "measure CPU per request of these processes: name=pid,name=pid")
	fs.StringVar(&cfg.Settle, "settle", "", "after the run, wait until the gateway with this admin API (host:port) delivered every event it recorded")
	fs.StringVar(&cfg.SettleSource, "settle-source", "bench", "the source whose deliveries -settle waits for")
	_ = fs.Parse(args)
	var err error
	if cfg.Procs, err = ParseProcs(*procs); err != nil {
		return err
	}
	if cfg.Secret == "" {
		return fmt.Errorf("run: -secret is required")
	}
	res, err := Run(cfg)
	if err != nil {
		return err
	}
	res.Rep = *rep
	fmt.Printf("%-2s size=%-6d conns=%-3d rep=%d  %8.0f req/s  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.1f ms  errors %d",
		res.Target, res.Size, res.Conns, res.Rep, res.RPS, res.P50, res.P90, res.P99, res.Max, res.Errors)
	for _, p := range cfg.Procs {
		if v, ok := res.CPU[p.Name]; ok {
			fmt.Printf("  %s %.0f µs/req", p.Name, v)
		}
	}
	if res.FirstErr != "" {
		fmt.Printf(" (first: %s)", res.FirstErr)
	}
	if res.Exhausted {
		fmt.Print(" [ran out of signed requests: raise -max]")
	}
	if cfg.Settle != "" {
		fmt.Printf("  backlog %d delivered in %.1f s, %.0f events/s recorded and delivered", res.Backlog, res.SettleSeconds, res.Sustained)
		if v, ok := res.CPUSettled["gateway"]; ok {
			fmt.Printf(", gateway %.0f µs/event with its delivery", v)
		}
	}
	fmt.Println()
	if *out == "" {
		return nil
	}
	f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(res)
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func tableCmd(args []string) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	in := fs.String("in", "", "results, one JSON object per line")
	out := fs.String("out", "", "markdown output (default: standard output)")
	_ = fs.Parse(args)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	results, err := ReadResults(f)
	if err != nil {
		return fmt.Errorf("%s: %v", *in, err)
	}
	w := os.Stdout
	if *out != "" {
		if w, err = os.Create(*out); err != nil {
			return err
		}
		defer w.Close()
	}
	return WriteTable(w, results)
}

// portsCmd prints n loopback TCP ports that were free a moment ago.
func portsCmd(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			return fmt.Errorf("ports: want a positive count")
		}
	}
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
