// Package benchcpu reports CPU time per operation in benchmarks, next to
// the wall time that testing reports. On a shared machine wall time moves
// with whatever else runs; the CPU time a process spends per operation
// (garbage collection included) much less.
package benchcpu

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Loop runs f in b's loop and reports allocations and cpu-ns/op: the
// process's user and system CPU time, every thread, per iteration.
func Loop(b *testing.B, f func()) {
	b.Helper()
	b.ReportAllocs()
	start, n := cpuTime(b), 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(n), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Bodies returns the load benchmark's bodies (bench/loadgen Body) of 1
// and 64 KiB, valid against bench/schemas, from the files in dir, by
// name ("1KiB", "64KiB").
func Bodies(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	out := make(map[string][]byte)
	for _, name := range []string{"1KiB", "64KiB"} {
		b, err := os.ReadFile(filepath.Join(dir, "bench.event-"+name+".json"))
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = b
	}
	return out
}
