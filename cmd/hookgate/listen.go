package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/verify"
)

// listen's pacing.
const (
	// listenForwardTimeout bounds one forward to the local URL.
	listenForwardTimeout = 30 * time.Second
	// listenMaxBackoff caps the wait between reconnections.
	listenMaxBackoff = 30 * time.Second
	// listenSeen is how many forwarded events listen remembers, so that a
	// resumed stream does not forward one twice.
	listenSeen = 10000
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "listen",
		Usage: "[--admin ADDR] [--source S] --forward-to URL [--secret whsec_…]",
		Short: "Forwards a gateway's verified events to a local URL, re-signed",
		Long: `
Tails a running gateway's live stream (GET /hookgate/stream on its admin
API) and forwards each verified event to a local URL, re-signed with a
local Standard Webhooks secret: local development against real provider
traffic, for every provider the gateway verifies.

  hookgate listen --forward-to http://localhost:3000/webhooks
  hookgate listen --admin localhost:2019 --source stripe --forward-to http://localhost:3000/hooks --secret whsec_...

The secret is generated and printed at start when --secret is not given;
verify the forwarded requests with it (webhook-id, webhook-timestamp,
webhook-signature). Each forward is one line on standard output:

  → 200 evt_1NqX invoice.paid 12ms

The body comes from the events API, so only sources with a deliver block
(whose events the gateway records) are forwarded; others are listed as
skipped. The stream is resumed after a disconnection (Last-Event-ID);
events are forwarded once each. Ctrl-C stops.`,
		CobraFunc: func(cmd *cobra.Command) {
			c := &webhookCLI{in: os.Stdin, out: os.Stdout, errOut: os.Stderr, getenv: os.Getenv}
			c.listenFlags(cmd)
			exitOnFinish(c, cmd)
		},
	})
}

// listenOptions are listen's flags.
type listenOptions struct {
	af        adminFlags
	source    string
	forwardTo string
	secret    string
}

// listenFlags sets cmd up as the listen command.
func (c *webhookCLI) listenFlags(cmd *cobra.Command) {
	var o listenOptions
	o.af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.source, "source", "", "only this source's events (default: every source)")
	fl.StringVar(&o.forwardTo, "forward-to", "", "the local URL to POST each verified event to (required)")
	fl.StringVar(&o.secret, "secret", "", "the Standard Webhooks secret (whsec_…) to sign forwards with (default: a new one, printed)")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(*cobra.Command, []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return c.listen(ctx, o)
	}
}

// listen forwards the stream's verified events until ctx ends.
func (c *webhookCLI) listen(ctx context.Context, o listenOptions) error {
	if o.forwardTo == "" {
		return usageErrorf("--forward-to is required")
	}
	if u, err := url.Parse(o.forwardTo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErrorf("--forward-to: want an http or https URL, got %q", o.forwardTo)
	}
	addr, err := o.af.address()
	if err != nil {
		return err
	}
	generated := o.secret == ""
	if generated {
		var b [24]byte
		_, _ = rand.Read(b[:])
		o.secret = "whsec_" + base64.StdEncoding.EncodeToString(b[:])
	}
	scheme, _ := verify.Preset("standard")
	signer, err := verify.NewSigner(scheme, verify.Key{Name: "listen", Secret: o.secret})
	if err != nil {
		return usageErrorf("--secret: want a Standard Webhooks secret (whsec_ and base64): %v", err)
	}
	from := "every source"
	if o.source != "" {
		from = "source " + o.source
	}
	fmt.Fprintf(c.errOut, "Forwarding verified events of %s from the gateway at %s to %s\n", from, addr, o.forwardTo)
	if generated {
		fmt.Fprintf(c.errOut, "Signing secret (Standard Webhooks; pass --secret to keep it): %s\n", o.secret)
	}
	l := &listener{cli: c, o: o, addr: addr, signer: signer, seen: newSeenSet(listenSeen),
		client: &http.Client{Timeout: listenForwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return l.run(ctx)
}

// listener is one run of listen.
type listener struct {
	cli    *webhookCLI
	o      listenOptions
	addr   string
	signer *verify.Signer
	client *http.Client
	seen   *seenSet
	lastID string
}

// run follows the stream, reconnecting with the last id it saw, until
// ctx ends.
func (l *listener) run(ctx context.Context) error {
	backoff := time.Second
	for {
		connected, err := l.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff = time.Second
		}
		msg := "the stream ended"
		if err != nil {
			msg = err.Error()
		}
		fmt.Fprintf(l.cli.errOut, "%s; reconnecting in %s\n", msg, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, listenMaxBackoff)
	}
}

// follow reads the stream once, forwarding as it goes, and reports
// whether it got connected.
func (l *listener) follow(ctx context.Context) (bool, error) {
	uri := "/hookgate/stream"
	if l.o.source != "" {
		uri += "?source=" + url.QueryEscape(l.o.source)
	}
	h := http.Header{"Accept": {"text/event-stream"}}
	if l.lastID != "" {
		h.Set("Last-Event-ID", l.lastID)
	}
	resp, err := adminRequest(l.addr, http.MethodGet, uri, h, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	fmt.Fprintln(l.cli.errOut, "Connected to the stream; waiting for events (Ctrl-C stops)")
	br := bufio.NewReader(resp.Body)
	var id, kind, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return true, nil
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if kind != "" {
				l.handle(ctx, kind, data)
			}
			if id != "" {
				l.lastID = id
			}
			id, kind, data = "", "", ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimPrefix(line[5:], " ")
		}
	}
}

// streamEvent is the part of a stream event listen reads.
type streamEvent struct {
	Kind     string `json:"kind"`
	Source   string `json:"source"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	Status   int    `json:"status"`
	Recorded bool   `json:"recorded"`
}

// handle acts on one stream event: forwards a verified one, reports a
// rejected one on standard error, ignores the rest.
func (l *listener) handle(ctx context.Context, kind, data string) {
	var ev streamEvent
	if json.Unmarshal([]byte(data), &ev) != nil {
		return
	}
	switch kind {
	case "rejected":
		fmt.Fprintf(l.cli.errOut, "✗ rejected %s: %s (%d)\n", ev.Source, ev.Reason, ev.Status)
		return
	case "gap":
		fmt.Fprintln(l.cli.errOut, "some events recorded while disconnected were not resumed: see hookgate events list")
		return
	case "verified":
	default:
		return
	}
	typ := dash(ev.Type)
	if !ev.Recorded {
		fmt.Fprintf(l.cli.out, "· skipped %s %s: source %s records no events (no deliver block), so its body is not kept\n", dash(ev.ID), typ, ev.Source)
		return
	}
	if !l.seen.add(ev.Source + "\x00" + ev.ID) {
		return // resumed after a disconnection: forwarded already
	}
	status, took, err := l.forward(ctx, ev)
	if err != nil {
		fmt.Fprintf(l.cli.out, "→ ERR %s %s: %v\n", ev.ID, typ, err)
		return
	}
	fmt.Fprintf(l.cli.out, "→ %d %s %s %s\n", status, ev.ID, typ, millis(took))
}

// recordedEvent is the part of GET /hookgate/events/{source}/{id} listen
// forwards.
type recordedEvent struct {
	Type       string              `json:"type"`
	Headers    map[string][]string `json:"headers"`
	Body       *string             `json:"body"`
	BodyBase64 []byte              `json:"body_base64"`
	BodyHidden bool                `json:"body_hidden"`
	// PayloadDropped: recorded metadata only, and delivered already.
	PayloadDropped bool `json:"payload_dropped"`
}

// forwardSkip lists recorded headers a forward does not pass on: the
// framing the new request sets, and the provider's Standard Webhooks
// headers, which the local signature replaces.
var forwardSkip = map[string]bool{
	"Content-Length": true, "Host": true, "Connection": true, "Transfer-Encoding": true,
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
}

// forward fetches ev's body from the events API and POSTs it, signed, to
// the local URL; it returns the answer's status and the time it took.
func (l *listener) forward(ctx context.Context, ev streamEvent) (int, time.Duration, error) {
	resp, err := adminRequest(l.addr, http.MethodGet, "/hookgate/events/"+url.PathEscape(ev.Source)+"/"+url.PathEscape(ev.ID), nil, nil)
	if err != nil {
		return 0, 0, err
	}
	var rec recordedEvent
	err = json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("reading the event: %v", err)
	}
	if rec.BodyHidden {
		return 0, 0, errors.New("the gateway hides bodies (hide_payloads): nothing to forward")
	}
	if rec.PayloadDropped {
		return 0, 0, errors.New("the gateway records metadata only (record metadata_only) and dropped the body once the event was delivered: nothing to forward")
	}
	body := rec.BodyBase64
	if rec.Body != nil {
		body = []byte(*rec.Body)
	}
	sig, err := l.signer.Sign(verify.Message{ID: ev.ID, Type: ev.Type, Body: body})
	if err != nil {
		return 0, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.o.forwardTo, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, vs := range rec.Headers {
		if !forwardSkip[http.CanonicalHeaderKey(k)] {
			req.Header[k] = vs
		}
	}
	for k, vs := range sig {
		req.Header[k] = vs
	}
	req.Header.Set("Hookgate-Event-Id", ev.ID)
	req.Header.Set("Hookgate-Source", ev.Source)
	if ev.Type != "" {
		req.Header.Set("Hookgate-Event-Type", ev.Type)
	}
	start := time.Now()
	out, err := l.client.Do(req)
	took := time.Since(start)
	if err != nil {
		return 0, took, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(out.Body, 1<<20))
	out.Body.Close()
	return out.StatusCode, took, nil
}

// millis writes d as whole milliseconds under a second, else rounded.
func millis(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}

// seenSet remembers the last n keys added.
type seenSet struct {
	keys map[string]bool
	ring []string
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{keys: map[string]bool{}, ring: make([]string, n)}
}

// add adds key and reports whether it was new.
func (s *seenSet) add(key string) bool {
	if s.keys[key] {
		return false
	}
	delete(s.keys, s.ring[s.next])
	s.ring[s.next] = key
	s.next = (s.next + 1) % len(s.ring)
	s.keys[key] = true
	return true
}
