// Package promtext reads metrics scraped in the Prometheus text format,
// for tests and benchmarks that watch a gateway's counters. It knows only
// what they need: the sum of a metric's samples over the series that carry
// given labels.
package promtext

import (
	"strconv"
	"strings"
)

// Text is a scrape in the Prometheus text exposition format.
type Text string

// Sum returns the sum of the samples of the metric name whose labels
// include each pair of labels (name, value, name, value, ...): with no
// labels, the metric's total over every series. A metric with no series
// sums to 0. It panics when labels has an odd length.
func (m Text) Sum(name string, labels ...string) float64 {
	if len(labels)%2 != 0 {
		panic("promtext: Text.Sum: labels come in name, value pairs")
	}
	total := 0.0
	m.each(name, labels, func(v float64) { total += v })
	return total
}

// each calls f with the value of each series of the metric name whose
// labels include each pair of labels.
func (m Text) each(name string, labels []string, f func(float64)) {
	for line := range strings.Lines(string(m)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		set := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			set, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric whose name starts with this one
		}
		if !hasLabels(set, labels) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			f(v)
		}
	}
}

// hasLabels reports whether the label set (a="x",b="y") has every pair.
func hasLabels(set string, pairs []string) bool {
	for i := 0; i < len(pairs); i += 2 {
		want := pairs[i] + "=" + strconv.Quote(pairs[i+1])
		found := false
		for rest := set; ; {
			j := strings.Index(rest, want)
			if j < 0 {
				break
			}
			after := rest[j+len(want):]
			if (j == 0 || rest[j-1] == ',') && (after == "" || after[0] == ',') {
				found = true
				break
			}
			rest = rest[j+1:]
		}
		if !found {
			return false
		}
	}
	return true
}

// Has reports whether the metric name has a series whose labels include
// each pair of labels, whatever its value.
func (m Text) Has(name string, labels ...string) bool {
	found := false
	m.each(name, labels, func(float64) { found = true })
	return found
}
