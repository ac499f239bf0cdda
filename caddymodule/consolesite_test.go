package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// startGatewayWith is startGateway with the adapted JSON config changed
// by patch before it loads.
func startGatewayWith(t *testing.T, site string, patch func(cfg map[string]any)) *gateway {
	t.Helper()
	g := &gateway{t: t, adminPort: freePort(t), port: freePort(t)}
	var cfg map[string]any
	if err := json.Unmarshal(g.adapt(site), &cfg); err != nil {
		t.Fatal(err)
	}
	patch(cfg)
	b, _ := json.Marshal(cfg)
	if err := caddy.Load(b, true); err != nil {
		t.Fatalf("caddy did not start: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(g.port))
		if err == nil {
			c.Close()
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never listened: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleSite: hookgate_console serves the console and the events API
// from a site: a browser may open it by its URL; requests from another
// site, and changes without a same-origin Origin, are refused.
func TestConsoleSite(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	handle /hookgate/* {
		hookgate_console
	}
	handle {
		webhook_verify standard {
			source sitedemo
			secret primary %s
			deliver %s {
				store embedded %s
			}
		}
	}
}
`, secretA, a.URL, t.TempDir()))
	sendEvent(t, g, "evt_site", nil)
	a.waitDelivered(t, 1)
	self := "http://127.0.0.1:" + strconv.Itoa(g.port)
	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		status             int
		want               string
	}{
		{"a typed URL", "GET", "/hookgate/", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none"}, 200, "<title>hookgate console</title>"},
		{"the page's script", "GET", "/hookgate/console.js", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 200, "EventSource"},
		{"the events", "GET", "/hookgate/events", nil, 200, `"id":"evt_site"`},
		{"the health", "GET", "/hookgate/health", nil, 200, `"source":"sitedemo"`},
		{"a replay from the page", "POST", "/hookgate/events/sitedemo/evt_site/replay", map[string]string{"Origin": self}, 202, `"replaying"`},
		{"a replay from the page, by Sec-Fetch-Site", "POST", "/hookgate/events/sitedemo/evt_site/replay", map[string]string{"Sec-Fetch-Site": "same-origin"}, 202, `"replaying"`},
		{"a replay from another site", "POST", "/hookgate/events/sitedemo/evt_site/replay", map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"a replay without origin", "POST", "/hookgate/events/sitedemo/evt_site/replay", nil, 403, ""},
		{"a purge from a form elsewhere", "POST", "/hookgate/purge", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"a read from another site", "GET", "/hookgate/events", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, ""},
		{"an unknown event", "GET", "/hookgate/events/sitedemo/nope", nil, 404, `{"error":"event not found"}`},
	} {
		req, _ := http.NewRequest(c.method, g.url(c.path), nil)
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, body := do(t, req)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %.200s, want %d with %q", c.name, resp.StatusCode, body, c.status, c.want)
		}
	}
	a.waitDelivered(t, 2) // the replays (the second may find the first still pending)

	req, _ := http.NewRequest("GET", g.url("/hookgate/stream"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 64), ended: make(chan struct{})}
	go c.read()
	sendEvent(t, g, "evt_site2", nil)
	if ev := c.nextOf("verified"); ev.data["id"] != "evt_site2" {
		t.Fatalf("stream: %+v", ev)
	}
}

// TestHidePayloads: with the hookgate app's hide_payloads, an event's
// detail has neither body nor headers.
func TestHidePayloads(t *testing.T) {
	a := newApp(t)
	g := startGatewayWith(t, deliverSite(a, t.TempDir(), ""), func(cfg map[string]any) {
		cfg["apps"].(map[string]any)["hookgate"] = map[string]any{"hide_payloads": true}
	})
	sendEvent(t, g, "evt_hidden", nil)
	_, raw := g.admin("GET", "/hookgate/events/deliverdemo/evt_hidden", "")
	var d map[string]any
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	if d["body_hidden"] != true || d["body"] != nil || len(d["headers"].(map[string]any)) != 0 || strings.Contains(raw, "amount_paid") {
		t.Fatalf("detail shows what it should hide: %s", raw)
	}
	if d["id"] != "evt_hidden" || d["body_size"] != float64(len(invoice)) {
		t.Fatalf("detail lost its metadata: %s", raw)
	}
}

// TestSameOrigin: what the console site takes as coming from itself.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		method string
		header map[string]string
		ok     bool
	}{
		{"GET", nil, true},
		{"GET", map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"GET", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"GET", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"GET", map[string]string{"Origin": "http://hooks.example:8443"}, true},
		{"GET", map[string]string{"Origin": "http://HOOKS.example:8443"}, true},
		{"GET", map[string]string{"Origin": "http://hooks.example"}, false},
		{"GET", map[string]string{"Origin": "null"}, false},
		{"POST", nil, false},
		{"POST", map[string]string{"Origin": "http://hooks.example:8443"}, true},
		{"POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"DELETE", map[string]string{"Sec-Fetch-Site": "none"}, false},
	} {
		r, _ := http.NewRequest(c.method, "http://hooks.example:8443/hookgate/events", io.NopCloser(strings.NewReader("")))
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		if err := sameOrigin(r); (err == nil) != c.ok {
			t.Errorf("%s %v: %v, want ok %v", c.method, c.header, err, c.ok)
		}
	}
}
