package promtext

import "testing"

func TestSum(t *testing.T) {
	const scrape = `# HELP caddy_webhook_delivered_total Events delivered to their destination.
# TYPE caddy_webhook_delivered_total counter
caddy_webhook_delivered_total{destination="app",source="chaos"} 1200
caddy_webhook_delivered_total{destination="app2",source="chaos"} 3
caddy_webhook_delivered_total{destination="app",source="chaos2"} 7
caddy_webhook_delivered_total_created{destination="app",source="chaos"} 1.7e+09
caddy_webhook_delivery_attempts_total{destination="app",outcome="retry",source="chaos"} 41
caddy_webhook_delivery_attempts_total{destination="app",outcome="delivered",source="chaos"} 1200
caddy_webhook_dead_total 0
go_goroutines 12
`
	m := Text(scrape)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"caddy_webhook_delivered_total", nil, 1210},
		{"caddy_webhook_delivered_total", []string{"source", "chaos"}, 1203},
		{"caddy_webhook_delivered_total", []string{"source", "chaos", "destination", "app"}, 1200},
		{"caddy_webhook_delivered_total", []string{"source", "chao"}, 0},
		{"caddy_webhook_delivery_attempts_total", []string{"outcome", "retry"}, 41},
		{"caddy_webhook_dead_total", nil, 0},
		{"go_goroutines", nil, 12},
		{"caddy_webhook_delivery_pending", nil, 0},
	} {
		if got := m.Sum(c.name, c.labels...); got != c.want {
			t.Errorf("Sum(%q, %q) = %v, want %v", c.name, c.labels, got, c.want)
		}
		if got, want := m.Has(c.name, c.labels...), c.want != 0 || c.name == "caddy_webhook_dead_total"; got != want {
			t.Errorf("Has(%q, %q) = %v, want %v", c.name, c.labels, got, want)
		}
	}
}
