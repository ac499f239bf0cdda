package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/verify"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until s holds n matches of re, and returns s.
func (s *syncBuffer) waitFor(t *testing.T, re string, n int) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.String()
		if len(rx.FindAllString(got, -1)) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in:\n%s", n, re, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// localApp is the developer's app behind listen: it records what it got
// and answers status.
type localApp struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	reqs   []*http.Request
	bodies []string
}

func newLocalApp(t *testing.T) *localApp {
	a := &localApp{status: 200}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.reqs = append(a.reqs, r)
		a.bodies = append(a.bodies, string(b))
		st := a.status
		a.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(a.Close)
	return a
}

// startListen runs listen against g until the test ends, and waits until
// it is connected.
func startListen(t *testing.T, o listenOptions) (out, errOut *syncBuffer) {
	t.Helper()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	c := &webhookCLI{out: out, errOut: errOut}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.listen(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen returned %v", err)
		}
	})
	errOut.waitFor(t, "Connected to the stream", 1)
	return out, errOut
}

// TestListenForwards: listen forwards each verified event of a real
// gateway to the local URL, re-signed with the local secret (given, or
// generated and printed), one line each; a source without a deliver
// block is listed as skipped; a reload of the gateway is resumed without
// losing or repeating an event; the local app's failures are shown.
func TestListenForwards(t *testing.T) {
	for _, c := range []struct {
		name   string
		secret string
	}{
		{"given secret", "whsec_bGlzdGVuLXRlc3Qtc2VjcmV0LTEyMzQ1Njc4OTA="},
		{"generated secret", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startLiveGateway(t, "")
			local := newLocalApp(t)
			out, errOut := startListen(t, listenOptions{af: adminFlags{admin: g.admin}, forwardTo: local.URL + "/hooks", secret: c.secret})
			secret := c.secret
			if secret == "" {
				m := regexp.MustCompile(`Signing secret.*: (whsec_\S+)`).FindStringSubmatch(errOut.String())
				if m == nil {
					t.Fatalf("no secret printed:\n%s", errOut)
				}
				secret = m[1]
			}

			g.send("evt_l1", "invoice.paid", testCLISecret)
			g.sendTo(strings.TrimSuffix(g.url, "/")+"/plain", "evt_p1", "invoice.paid", testCLISecret)
			g.send("evt_bad", "invoice.paid", "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
			out.waitFor(t, `(?m)^→ 200 evt_l1 invoice\.paid \d+ms$`, 1)
			out.waitFor(t, `(?m)^· skipped evt_p1 invoice\.paid: source plain records no events`, 1)
			errOut.waitFor(t, `✗ rejected cli: signature_mismatch \(401\)`, 1)

			s, _ := verify.Preset("standard")
			v, err := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: secret}}})
			if err != nil {
				t.Fatal(err)
			}
			local.mu.Lock()
			req, body := local.reqs[0], local.bodies[0]
			local.mu.Unlock()
			if _, err := v.Verify(&verify.Request{Header: req.Header, Body: []byte(body)}); err != nil {
				t.Fatalf("the forward does not verify with the local secret: %v\n%v", err, req.Header)
			}
			if req.URL.Path != "/hooks" || body != `{"type":"invoice.paid","data":{"id":"in_1"}}` ||
				req.Header.Get("Webhook-Id") != "evt_l1" || req.Header.Get("Hookgate-Event-Id") != "evt_l1" ||
				req.Header.Get("Hookgate-Source") != "cli" || req.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("forwarded %s %q %v", req.URL.Path, body, req.Header)
			}

			// The gateway's admin server is replaced: listen reconnects
			// and resumes after the last event it saw.
			g.reload()
			errOut.waitFor(t, "reconnecting", 1)
			g.send("evt_l2", "invoice.voided", testCLISecret)
			out.waitFor(t, `(?m)^→ 200 evt_l2 invoice\.voided \d+ms$`, 1)

			local.mu.Lock()
			local.status = 500
			local.mu.Unlock()
			g.send("evt_l3", "invoice.paid", testCLISecret)
			out.waitFor(t, `(?m)^→ 500 evt_l3 invoice\.paid \d+ms$`, 1)
			local.Close()
			g.send("evt_l4", "invoice.paid", testCLISecret)
			got := out.waitFor(t, `(?m)^→ ERR evt_l4 invoice\.paid: .*connection refused`, 1)
			if n := strings.Count(got, "evt_l1"); n != 1 {
				t.Fatalf("evt_l1 printed %d times:\n%s", n, got)
			}
			if strings.Contains(got+errOut.String(), testCLISecret) {
				t.Fatal("listen printed the gateway's secret")
			}
		})
	}
}

// TestListenHiddenPayloads: with the gateway's hide_payloads, listen has
// no body to forward: it says so, once per event, and forwards nothing
// (never an empty or made-up body).
func TestListenHiddenPayloads(t *testing.T) {
	g := startLiveGateway(t, "", "hookgate {\n\thide_payloads\n}")
	local := newLocalApp(t)
	out, _ := startListen(t, listenOptions{af: adminFlags{admin: g.admin}, forwardTo: local.URL, secret: ""})
	g.send("evt_h1", "invoice.paid", testCLISecret)
	got := out.waitFor(t, `(?m)^→ ERR evt_h1 invoice\.paid: the gateway hides bodies \(hide_payloads\): nothing to forward$`, 1)
	local.mu.Lock()
	n := len(local.reqs)
	local.mu.Unlock()
	if n != 0 {
		t.Fatalf("the local app got %d requests with the payloads hidden", n)
	}
	if strings.Contains(got, "in_1") {
		t.Fatalf("listen printed a hidden payload:\n%s", got)
	}
}

// TestListenUsage: listen's usage errors exit 2 before connecting.
func TestListenUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{nil, "--forward-to is required"},
		{[]string{"--forward-to", "localhost:3000"}, "want an http or https URL"},
		{[]string{"--forward-to", "http://localhost:3000", "--secret", "not-a-secret%"}, "--secret"},
		{[]string{"--forward-to", "http://localhost:3000", "extra"}, "unknown command"},
	} {
		var out, errOut bytes.Buffer
		c2 := &webhookCLI{out: &out, errOut: &errOut}
		cmd := &cobra.Command{Use: "listen"}
		c2.listenFlags(cmd)
		code := runCommand(cmd, c2, append(c.args, "--admin", "127.0.0.1:"+strconv.Itoa(freeLocalPort(t))))
		if code != exitUsage || !strings.Contains(errOut.String(), c.msg) {
			t.Errorf("%v: exit %d %q, want 2 and %q", c.args, code, errOut.String(), c.msg)
		}
	}
}
