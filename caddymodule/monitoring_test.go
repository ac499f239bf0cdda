package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMonitoringPack: every metric the alert rules and the Grafana
// dashboard of monitoring/ use is one a real gateway exports, and every
// dashboard query parses (promtool, from Debian's prometheus package;
// required under CI=true).
func TestMonitoringPack(t *testing.T) {
	a := newApp(t)
	a.status.Store(500)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	webhook_verify standard {
		source monitored
		secret primary %s %s
		deliver %s {
			store embedded %s
			max_attempts 1
		}
	}
}
`, secretA, time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339), a.URL, t.TempDir()))
	sendEvent(t, g, "evt_dies", nil)
	a.status.Store(200)
	sendEvent(t, g, "evt_ok", nil)
	do(t, signed(t, g.url("/"), "evt_bad", []byte(invoice), time.Now(), secretB))
	waitEventStatus(t, g, "monitored", "evt_dies", "dead")
	_, metrics := do(t, mustGet(fmt.Sprintf("http://localhost:%d/metrics", g.adminPort)))
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (caddy_webhook_\w+) (\w+)$`).FindAllStringSubmatch(metrics, -1) {
		exported[m[1]] = true
		if m[2] == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				exported[m[1]+suffix] = true
			}
		}
	}

	files, _ := filepath.Glob(filepath.Join("..", "monitoring", "*"))
	used := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`caddy_webhook_\w+`).FindAllString(string(b), -1) {
			if !slices.Contains(used[name], filepath.Base(f)) {
				used[name] = append(used[name], filepath.Base(f))
			}
		}
	}
	if len(used) < 8 {
		t.Fatalf("monitoring/ uses %d metrics: files missing? %v", len(used), files)
	}
	for name, in := range used {
		if !exported[name] {
			t.Errorf("%v use %s, which the gateway does not export", in, name)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no promtool (apt-get install -y prometheus; .ci/run does)")
		}
		t.Skip("no promtool: the dashboard's queries are not parsed")
	}
	b, err := os.ReadFile(filepath.Join("..", "monitoring", "hookgate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	// Each query as a recording rule, Grafana's variables filled in.
	vars := strings.NewReplacer("$source", ".*", "$__rate_interval", "5m")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(vars.Replace(tg.Expr))
			fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", n, q)
		}
	}
	if n < 10 {
		t.Fatalf("the dashboard has %d queries", n)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("the dashboard's queries do not parse: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"check", "rules", filepath.Join("..", "monitoring", "hookgate-alerts.yml")},
		{"test", "rules", filepath.Join("..", "monitoring", "hookgate-alerts.test.yml")},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
