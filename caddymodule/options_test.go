package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// TestHookgateGlobalOption: the Caddyfile's global hookgate block, and
// the errors that name the bad option.
func TestHookgateGlobalOption(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{"hookgate {\n hide_payloads\n}", `{"hide_payloads":true}`, ""},
		{"hookgate {\n}", `{}`, ""},
		{"hookgate {\n record metadata_only\n}", `{"record":"metadata_only"}`, ""},
		{"hookgate {\n record full\n}", `{"record":"full"}`, ""},
		{"hookgate {\n retention {\n delivered 24h\n dead 90d\n }\n}", `{"retention":{"delivered":86400000000000,"dead":7776000000000000}}`, ""},
		{"hookgate {\n retention {\n delivered forever\n }\n}", `{"retention":{"delivered":-1}}`, ""},
		{"hookgate {\n record metadata_only\n retention {\n dead forever\n }\n hide_payloads\n}", `{"hide_payloads":true,"record":"metadata_only","retention":{"dead":-1}}`, ""},
		{"hookgate {\n hide_payloads yes\n}", "", "wrong argument count"},
		{"hookgate {\n bodies off\n}", "", `unrecognized option "bodies"`},
		{"hookgate extra", "", "wrong argument count"},
		{"hookgate {\n record\n}", "", "wrong argument count"},
		{"hookgate {\n record bodies\n}", "", `hookgate: record: want full or metadata_only, got "bodies"`},
		{"hookgate {\n record full extra\n}", "", "wrong argument count"},
		{"hookgate {\n retention 72h\n}", "", "wrong argument count"},
		{"hookgate {\n retention {\n delivered\n }\n}", "", "wrong argument count"},
		{"hookgate {\n retention {\n delivered 0\n }\n}", "", `hookgate: retention delivered: want a positive duration (72h, 30d) or forever, got "0"`},
		{"hookgate {\n retention {\n dead -1h\n }\n}", "", `hookgate: retention dead: want a positive duration`},
		{"hookgate {\n retention {\n dead soon\n }\n}", "", `hookgate: retention dead: want a positive duration`},
		{"hookgate {\n retention {\n delivered 1h 2h\n }\n}", "", "wrong argument count"},
		{"hookgate {\n retention {\n pending 1h\n }\n}", "", `retention: unrecognized option "pending" (want delivered or dead)`},
	} {
		v, err := parseHookgateOptions(caddyfile.NewTestDispenser(c.in), nil)
		if !parsed(t, c.in, err, c.err) {
			continue
		}
		if got := string(v.(httpcaddyfile.App).Value); got != c.want {
			t.Errorf("%q: %s, want %s", c.in, got, c.want)
		}
	}
}

// TestHookgateOptionsValidated: a JSON config with a bad record option
// fails at load (caddy validate), naming the field; retention accepts
// Caddy's durations, and negative ones mean forever.
func TestHookgateOptionsValidated(t *testing.T) {
	for _, c := range []struct {
		app, err string
	}{
		{`{"record":"metadata_only","retention":{"delivered":"12h","dead":-1}}`, ""},
		{`{"record":"full","retention":{"dead":"30d"}}`, ""},
		{`{"record":"bodies"}`, `hookgate: record: want full or metadata_only, got "bodies"`},
	} {
		var cfg caddy.Config
		raw := `{"admin":{"disabled":true},"apps":{"hookgate":` + c.app + `}}`
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			t.Fatal(err)
		}
		err := caddy.Validate(&cfg)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.app, err, c.err)
		}
	}
	var a App
	if err := json.Unmarshal([]byte(`{"retention":{"delivered":"12h","dead":-1}}`), &a); err != nil {
		t.Fatal(err)
	}
	if d, x := a.Retention.keep(); d.String() != "12h0m0s" || x >= 0 {
		t.Fatalf("retention: delivered %v, dead %v; want 12h and negative (forever)", d, x)
	}
	if d, x := (*Retention)(nil).keep(); d != 0 || x != 0 {
		t.Fatalf("no retention: %v %v, want the engine's defaults (0)", d, x)
	}
}

// TestRetentionFromConfig: the hookgate app's retention reaches the
// engines. Retention runs as an engine starts and then every minute, so
// the test reloads the config to start new ones.
func TestRetentionFromConfig(t *testing.T) {
	a := newApp(t)
	site := deliverSite(a, t.TempDir(), "max_attempts 1")
	retention := func(delivered, dead any) func(cfg map[string]any) {
		return func(cfg map[string]any) {
			cfg["apps"].(map[string]any)["hookgate"] = map[string]any{"retention": map[string]any{"delivered": delivered, "dead": dead}}
		}
	}
	g := startGatewayWith(t, site, retention("1ms", -1))
	reload := func(patch func(cfg map[string]any)) {
		t.Helper()
		var cfg map[string]any
		if err := json.Unmarshal(g.adapt(site), &cfg); err != nil {
			t.Fatal(err)
		}
		patch(cfg)
		b, _ := json.Marshal(cfg)
		if err := caddy.Load(b, true); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	left := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var l listed
			g.adminJSON("GET", "/hookgate/events", "", 200, &l)
			got := strings.Join(l.ids(), " ")
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("events kept: %q, want %q", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if st := sendEvent(t, g, "evt_delivered", nil); st != 200 {
		t.Fatalf("evt_delivered: %d", st)
	}
	a.status.Store(500)
	if st := sendEvent(t, g, "evt_dead", nil); st != 202 {
		t.Fatalf("evt_dead: %d, want 202 queued", st)
	}
	waitEventStatus(t, g, "deliverdemo", "evt_delivered", "delivered")
	waitEventStatus(t, g, "deliverdemo", "evt_dead", "dead")

	reload(retention("1ms", -1)) // delivered: 1ms; dead: forever
	left("evt_dead")
	reload(retention(-1, "1ms")) // dead: 1ms
	left("")
}

// parsed checks a table case's parse error against wantErr (a part of the
// message; empty: no error), and reports whether the case parsed and has
// a result to check.
func parsed(t *testing.T, in string, err error, wantErr string) bool {
	t.Helper()
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: %v, want an error with %q", in, err, wantErr)
		}
		return false
	case err != nil:
		t.Errorf("%q: %v", in, err)
		return false
	}
	return true
}
