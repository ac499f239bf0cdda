package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath returns the Chromium to drive: $HOOKGATE_CHROMIUM, else
// Debian's chromium (or another on PATH). Without one the test is
// skipped, except under CI=true, where it fails: CI installs chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HOOKGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH (apt-get install -y chromium; .ci/run does)")
	}
	t.Skip("no chromium on PATH: apt-get install -y chromium, or set HOOKGATE_CHROMIUM")
	return ""
}

// TestConsoleServed: the console's page and files, with their types and
// a policy that keeps the page to its own API.
func TestConsoleServed(t *testing.T) {
	a := newApp(t)
	g := startGateway(t, deliverSite(a, t.TempDir(), ""))
	for _, c := range []struct {
		path, ctype string
		status      int
	}{
		{"/hookgate/", "text/html; charset=utf-8", 200},
		{"/hookgate/index.html", "text/html; charset=utf-8", 200},
		{"/hookgate/console.js", "text/javascript; charset=utf-8", 200},
		{"/hookgate/console.css", "text/css; charset=utf-8", 200},
		{"/hookgate/nope.js", "application/json", 404},
		{"/hookgate/x/console.js", "application/json", 404},
	} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://localhost:%d%s", g.adminPort, c.path), nil)
		resp, body := do(t, req)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: %d %s, want %d %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.ctype)
		}
		if c.status == 200 && (!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") || len(body) == 0) {
			t.Errorf("%s: CSP %q, %d bytes", c.path, resp.Header.Get("Content-Security-Policy"), len(body))
		}
	}
	t.Logf("console page weight: %d bytes (HTML, CSS and JS, uncompressed)", consoleWeight())
}

// TestConsoleInBrowser drives the console in headless Chromium: the page
// loads with the recorded events and the sources' health, a webhook sent
// during the test appears live, its detail shows the pretty body, and
// clicking replay makes the app receive it again. Screenshots are kept as
// artifacts (go test -artifacts); HOOKGATE_UPDATE_DOCS=1 also writes
// docs/console.png.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	a := newApp(t)
	u := newUpstream(t)
	// Two sources: billing records and delivers; crm passes verified
	// webhooks on to its upstream, and its only key expires in 3 days.
	g := startGateway(t, fmt.Sprintf(`
http://127.0.0.1:%%PORT%% {
	handle /crm {
		webhook_verify standard {
			source crm
			secret crm-2026 %s %s
		}
		reverse_proxy %s
	}
	handle {
		webhook_verify standard {
			source billing
			secret primary %s
			deliver %s {
				store embedded %s
				backoff 1h 2h
			}
		}
	}
}
`, secretA, time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339), u.hostPort(), secretA, a.URL, t.TempDir()))
	sendEvent(t, g, "evt_1NqXaa", nil)
	do(t, signed(t, g.url("/crm"), "evt_crm_1", []byte(invoice), time.Now(), secretA))
	a.waitDelivered(t, 1)
	a.status.Store(500)
	sendEvent(t, g, "evt_1NqXab", nil) // pending: the app fails
	a.status.Store(200)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820))...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first call binds the browser to ctx: no deadline on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("chromium did not start: %v", err)
	}
	step := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
			t.Fatalf("%s: %v\npage: %s", name, err, text)
		}
	}
	shot := func(name string) []byte {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		p := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
		return png
	}

	// Caddy's admin API refuses a navigation without Origin or Referer
	// (caddy#7633): arrive from the admin origin, as a link would.
	origin := fmt.Sprintf("http://localhost:%d", g.adminPort)
	step("navigate", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: origin + "/hookgate/", Referrer: origin + "/"})
		return err
	}))
	step("the page loads with the recorded events and the health",
		chromedp.WaitVisible(chromedp.CSS(`#events tr[data-id="evt_1NqXaa"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events tr[data-id="evt_1NqXab"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.card[data-source="billing"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.card.degraded[data-source="crm"]`)),
		pollTrue(`document.querySelector("#live").textContent.includes("live")`),
	)

	sendEvent(t, g, "evt_1NqXac", nil)
	do(t, signed(t, g.url("/crm"), "evt_forged", []byte(invoice), time.Now(), secretB))
	step("a webhook sent now appears live, then in the table",
		chromedp.WaitVisible(chromedp.CSS(`#tail li[data-kind="verified"][data-id="evt_1NqXac"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tail li[data-kind="delivered"][data-id="evt_1NqXac"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tail li[data-kind="rejected"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events tr[data-id="evt_1NqXac"]`)),
	)
	a.waitDelivered(t, 2)

	step("the detail shows the pretty body and the attempts",
		chromedp.Click(chromedp.CSS(`#events tr[data-id="evt_1NqXac"] td.id`)),
		chromedp.WaitVisible(chromedp.CSS(`#detail[open] #d-body`)),
		pollTrue(`document.querySelector("#d-body").textContent.includes('"amount_paid": {')`),
		pollTrue(`document.querySelectorAll("#d-attempts tbody tr").length === 1`),
		pollTrue(`!document.querySelector("#d-headers").textContent.toLowerCase().includes("webhook-signature")`),
	)
	shot("console-detail.png")
	step("close the detail", chromedp.Click(chromedp.CSS(`#detail .close button`)), chromedp.WaitNotVisible(chromedp.CSS(`#detail`)))

	step("clicking replay", chromedp.Click(chromedp.CSS(`#events tr[data-id="evt_1NqXac"] button.replay`)),
		pollTrue(`document.querySelector("#notice").textContent.includes("Replaying billing/evt_1NqXac")`))
	hs := a.waitDelivered(t, 3)
	if h := hs[2]; h.Get("Hookgate-Event-Id") != "evt_1NqXac" || h.Get("Hookgate-Attempt") != "2" {
		t.Fatalf("after the click the app got %v, want evt_1NqXac's attempt 2", h)
	}
	step("the replay's delivery appears live",
		pollTrue(`document.querySelectorAll('#tail li[data-kind="delivered"][data-id="evt_1NqXac"]').length === 2`),
		pollTrue(`document.querySelector('#events tr[data-id="evt_1NqXac"] td.num').textContent === "2"`),
	)
	png := shot("console.png")
	if os.Getenv("HOOKGATE_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "console.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pollTrue waits until the JavaScript expression is true.
func pollTrue(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
		return err
	})
}
