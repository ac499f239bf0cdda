package delivery_test

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/delivery"
)

func TestBackoffDelay(t *testing.T) {
	b := delivery.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for _, tt := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 1, time.Second},
		{2, 1, 2 * time.Second},
		{3, 1, 4 * time.Second},
		{4, 1, 8 * time.Second},
		{5, 1, 10 * time.Second},
		{500, 1, 10 * time.Second},
		{3, 0.5, 2 * time.Second},
		{3, 0, 0},
		{3, -1, 0},
		{3, 2, 4 * time.Second},
		{3, math.NaN(), 0},
		{0, 1, time.Second},
	} {
		if got := b.Delay(tt.n, tt.r); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
	steps := delivery.Backoff{Steps: []time.Duration{5 * time.Second, time.Minute, 30 * time.Second}}
	for _, tt := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 1, 5 * time.Second},
		{1, 1, 5 * time.Second},
		{2, 1, time.Minute},
		{3, 1, 30 * time.Second},
		{4, 1, 30 * time.Second},
		{2, 0.5, 30 * time.Second},
		{2, math.NaN(), 0},
	} {
		if got := steps.Delay(tt.n, tt.r); got != tt.want {
			t.Errorf("steps: Delay(%d, %v) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
	steps.Max = 10 * time.Second
	if got := steps.Delay(2, 1); got != 10*time.Second {
		t.Errorf("steps capped by Max: Delay(2, 1) = %v, want 10s", got)
	}
	huge := delivery.Backoff{Initial: time.Hour, Max: time.Duration(math.MaxInt64)}
	if got := huge.Delay(200, 1); got <= 0 {
		t.Errorf("Delay overflowed: %v", got)
	}
}

func TestResultOf(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	resp := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	for _, tt := range []struct {
		name string
		resp *http.Response
		err  error
		want delivery.Result
	}{
		{"200", resp(200, ""), nil, delivery.Result{Delivered: true, StatusCode: 200}},
		{"204", resp(204, "5"), nil, delivery.Result{Delivered: true, StatusCode: 204}},
		{"410", resp(410, ""), nil, delivery.Result{Permanent: true, StatusCode: 410}},
		{"503", resp(503, ""), nil, delivery.Result{StatusCode: 503}},
		{"429 seconds", resp(429, "120"), nil, delivery.Result{StatusCode: 429, RetryAfter: 2 * time.Minute}},
		{"503 date", resp(503, now.Add(time.Hour).Format(http.TimeFormat)), nil, delivery.Result{StatusCode: 503, RetryAfter: time.Hour}},
		{"503 past date", resp(503, now.Add(-time.Hour).Format(http.TimeFormat)), nil, delivery.Result{StatusCode: 503}},
		{"503 junk", resp(503, "soon"), nil, delivery.Result{StatusCode: 503}},
		{"301", resp(301, ""), nil, delivery.Result{StatusCode: 301}},
	} {
		if got := delivery.ResultOf(tt.resp, tt.err, now); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// A transport error loses its URL, which may carry a token.
	cause := errors.New("dial tcp 127.0.0.1:8000: connect: connection refused")
	r := delivery.ResultOf(nil, &url.Error{Op: "Post", URL: "http://app:8000/hooks?token=s3cret", Err: cause}, now)
	if r.Delivered || r.Err != cause || strings.Contains(r.Err.Error(), "s3cret") {
		t.Fatalf("transport error: %+v", r)
	}
	for _, tt := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"99999999999999999999", math.MaxInt64, true},
		{" 120 ", 2 * time.Minute, true},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"soon", 0, false},
		{"-5", 0, false},
	} {
		if got, ok := delivery.ParseRetryAfter(tt.v, now); got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, st := range []delivery.Status{delivery.StatusPending, delivery.StatusLeased, delivery.StatusDelivered, delivery.StatusDead} {
		b, err := st.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back delivery.Status
		if err := back.UnmarshalText(b); err != nil || back != st {
			t.Errorf("%v: round trip gave %v, %v", st, back, err)
		}
	}
	if delivery.StatusLeased.String() != "delivering" {
		t.Errorf("StatusLeased is %q in the events API, want delivering", delivery.StatusLeased)
	}
	if _, err := delivery.ParseStatus("done"); err == nil {
		t.Error("ParseStatus(done) succeeded")
	}
	if _, err := delivery.Status(0).MarshalText(); err == nil {
		t.Error("the zero Status marshalled")
	}
}

func TestEventStatus(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	d := func(st delivery.Status, fin int) delivery.Delivery {
		x := delivery.Delivery{Status: st}
		if fin > 0 {
			x.FinishedAt = at.Add(time.Duration(fin) * time.Second)
		}
		return x
	}
	for _, tt := range []struct {
		name string
		ds   []delivery.Delivery
		want delivery.Status
		fin  time.Time
	}{
		{"none", nil, delivery.StatusDelivered, at},
		{"pending", []delivery.Delivery{d(delivery.StatusPending, 0)}, delivery.StatusPending, time.Time{}},
		{"one leased", []delivery.Delivery{d(delivery.StatusDelivered, 1), d(delivery.StatusLeased, 0)}, delivery.StatusPending, time.Time{}},
		{"pending and dead", []delivery.Delivery{d(delivery.StatusDead, 1), d(delivery.StatusPending, 0)}, delivery.StatusPending, time.Time{}},
		{"delivered", []delivery.Delivery{d(delivery.StatusDelivered, 1), d(delivery.StatusDelivered, 3)}, delivery.StatusDelivered, at.Add(3 * time.Second)},
		{"one dead", []delivery.Delivery{d(delivery.StatusDelivered, 5), d(delivery.StatusDead, 2)}, delivery.StatusDead, at.Add(5 * time.Second)},
	} {
		ev := &delivery.Event{ReceivedAt: at, Deliveries: tt.ds}
		if got := ev.Status(); got != tt.want {
			t.Errorf("%s: Status %v, want %v", tt.name, got, tt.want)
		}
		if got := ev.FinishedAt(); !got.Equal(tt.fin) {
			t.Errorf("%s: FinishedAt %v, want %v", tt.name, got, tt.fin)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"github": true, "stripe-live_2:eu.x": true, "": false, "a b": false, "a{b": false, "a}": false,
		"é": false, "a\x00": false, strings.Repeat("x", delivery.MaxNameLen): true, strings.Repeat("x", delivery.MaxNameLen+1): false,
	} {
		if err := delivery.CheckName("Source", name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := &delivery.Event{Source: "github", Type: "push", ReceivedAt: at, Deliveries: []delivery.Delivery{
		{Status: delivery.StatusDelivered, FinishedAt: at.Add(time.Minute)},
		{Status: delivery.StatusDead, FinishedAt: at.Add(2 * time.Minute)},
	}}
	for _, tt := range []struct {
		f    delivery.Filter
		want bool
	}{
		{delivery.Filter{}, true},
		{delivery.Filter{Source: "github", Type: "push"}, true},
		{delivery.Filter{Source: "stripe"}, false},
		{delivery.Filter{Type: "pull"}, false},
		{delivery.Filter{Status: delivery.StatusDead}, true},
		{delivery.Filter{Status: delivery.StatusDelivered}, false},
		{delivery.Filter{Status: delivery.StatusLeased}, false},
		{delivery.Filter{ReceivedAfter: at}, true},
		{delivery.Filter{ReceivedAfter: at.Add(time.Millisecond)}, false},
		{delivery.Filter{ReceivedBefore: at}, false},
		{delivery.Filter{ReceivedBefore: at.Add(time.Millisecond)}, true},
		{delivery.Filter{FinishedBefore: at.Add(2 * time.Minute)}, false},
		{delivery.Filter{FinishedBefore: at.Add(3 * time.Minute)}, true},
	} {
		if got := tt.f.Match(ev); got != tt.want {
			t.Errorf("%+v: Match = %v, want %v", tt.f, got, tt.want)
		}
	}
	for limit, want := range map[int]int{0: 100, -1: 100, 5: 5, 5000: 1000} {
		if got := (delivery.Filter{Limit: limit}).ListLimit(); got != want {
			t.Errorf("ListLimit(%d) = %d, want %d", limit, got, want)
		}
	}
}

// TestDependencies holds the rule that the core knows no adapter:
// delivery, deliverytest and memstore import the standard library,
// x/time and delivery's own internal packages only;
// bbolt lives in boltstore, go-redis in redisstore, and neither Caddy nor
// the SDK is imported by any of them.
func TestDependencies(t *testing.T) {
	list := func(pkgs ...string) []string {
		out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)...).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		return strings.Fields(string(out))
	}
	const mod = "github.com/hookgate/hookgate/"
	for _, dep := range list(".", "./deliverytest", "./memstore") {
		switch dep {
		case mod + "delivery", mod + "delivery/deliverytest", mod + "delivery/memstore", mod + "delivery/internal/record", "golang.org/x/time/rate":
		default:
			t.Errorf("delivery imports %s", dep)
		}
	}
	for _, dep := range list("./boltstore") {
		if strings.Contains(dep, "go-redis") {
			t.Errorf("boltstore imports %s", dep)
		}
	}
	for _, dep := range list("./...") {
		if strings.Contains(dep, "caddy") || strings.HasPrefix(dep, mod+"sdk") || strings.HasPrefix(dep, mod+"caddymodule") {
			t.Errorf("a delivery package imports %s", dep)
		}
	}
}
