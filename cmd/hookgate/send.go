package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/sdk/send"
	"github.com/hookgate/hookgate/verify"
)

// sendMaxBackoff caps the CLI's exponential retry delays, and
// sendMaxRetryAfter the wait a Retry-After may ask of it: a test tool
// should not sit for hours.
const (
	sendMaxBackoff    = 30 * time.Second
	sendMaxRetryAfter = time.Minute
)

func (c *webhookCLI) sendCommand() *cobra.Command {
	var (
		sf       schemeFlags
		endpoint string
		data     string
		id, typ  string
		retries  int
		timeout  time.Duration
		backoff  time.Duration
		headers  []string
	)
	cmd := &cobra.Command{
		Use:   "send --scheme NAME --secret S --url URL [--data JSON | BODY_FILE] [--type T] [--retries N]",
		Short: "Sends a signed webhook, retrying: exit 0 delivered, 1 failed, 2 usage error",
		Long: `Sends one signed webhook to URL with the SDK's sender: every attempt is
signed afresh with the same event id; network errors, timeouts, 408, 429
and 5xx are retried with exponential backoff and full jitter (honouring
Retry-After, up to a minute); other 4xx and 3xx fail at once, and 410 Gone
reports the endpoint gone. Each attempt is logged to standard error; the
outcome is one line on standard output:

  delivered status=200 attempts=1 id=msg_...
  delivered status=200 attempts=1 id=msg_... reason=duplicate
  failed status=401 attempts=1 id=msg_... reason=signature_mismatch: ...

id= is the event id the receiver reads, put where the scheme reads it:
its id header, or, for schemes that read the id from the payload
(Stripe's "id", Mailgun's signature.token), the body's own id, or --id
(or the random default) added to a body that has none. --id is refused
when the body carries another id, or the scheme no id at all (the line
then has no id=).

The body is --data, or BODY_FILE, or standard input.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			scheme, keys, err := sf.resolve(c, cmd)
			if err != nil {
				return err
			}
			switch {
			case endpoint == "":
				return usageErrorf("--url is required")
			case retries < 0:
				return usageErrorf("--retries: must not be negative")
			case timeout <= 0:
				return usageErrorf("--timeout: must be positive")
			case backoff < 0:
				return usageErrorf("--backoff: must not be negative")
			}
			var body []byte
			if cmd.Flags().Changed("data") {
				if len(args) > 0 {
					return usageErrorf("give --data or BODY_FILE, not both")
				}
				if !json.Valid([]byte(data)) {
					return usageErrorf("--data: not valid JSON")
				}
				body = []byte(data)
			} else if body, err = c.readBody(args); err != nil {
				return err
			}
			h, err := parseHeaderFlags(headers)
			if err != nil {
				return err
			}
			if h.Get("Content-Type") == "" && scheme.NeedsForm() {
				h.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			body, seen, err := placeEventID(scheme, body, id)
			if err != nil {
				return err
			}
			// Idempotency-Key: the id the receiver reads, else a random one.
			sendID := seen
			if sendID == "" {
				sendID = newEventID()
			}
			sender, err := send.New(send.Config{
				Scheme:         scheme,
				Keys:           keys,
				AttemptTimeout: timeout,
				Schedule:       send.Backoff(backoff, sendMaxBackoff, retries),
				MaxAttempts:    retries + 1,
				MaxRetryAfter:  sendMaxRetryAfter,
				OnAttempt: func(_ send.Delivery, a send.Attempt) {
					c.logAttempt(a, retries+1)
				},
			})
			if err != nil {
				return usageErrorf("%v", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			rep, err := sender.Send(ctx, send.Delivery{URL: endpoint, ID: sendID, Type: typ, Body: body, Header: h})
			if errors.Is(err, send.ErrInvalidDelivery) {
				return usageErrorf("%v", err)
			}
			if err != nil {
				msg := fmt.Sprintf("failed status=%d attempts=%d%s", rep.Status, len(rep.Attempts), idField(seen))
				if n := len(rep.Attempts); n > 0 && rep.Attempts[n-1].Reason != "" {
					msg += " reason=" + quoteIfNeeded(string(rep.Attempts[n-1].Reason))
				}
				return &exitError{code: exitInvalid, msg: msg + ": " + err.Error()}
			}
			line := fmt.Sprintf("delivered status=%d attempts=%d%s", rep.Status, len(rep.Attempts), idField(seen))
			if last := rep.Attempts[len(rep.Attempts)-1]; last.Reason != "" {
				line += " reason=" + string(last.Reason) // duplicate: already delivered before
			}
			fmt.Fprintln(c.out, line)
			return nil
		},
	}
	sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&endpoint, "url", "", "endpoint to POST to (required); signed too by schemes that sign the URL")
	fl.StringVar(&data, "data", "", "inline JSON body (instead of BODY_FILE or standard input)")
	fl.StringVar(&id, "id", "", "event id, the same on every attempt, put where the scheme reads it (default: the payload's own, or a random msg_ id)")
	fl.StringVar(&typ, "type", "", "event type, for schemes that send it in a header (payload-typed schemes read the body)")
	fl.IntVar(&retries, "retries", 3, "retries after the first attempt (0: none)")
	fl.DurationVar(&timeout, "timeout", send.DefaultAttemptTimeout, "timeout of each attempt")
	fl.DurationVar(&backoff, "backoff", time.Second, "delay before the first retry, doubled for each next one (jittered, at most 30s)")
	fl.StringArrayVar(&headers, "header", nil, "extra request header as 'Name: value' (repeatable)")
	return cmd
}

// logAttempt writes one line about an attempt to standard error.
func (c *webhookCLI) logAttempt(a send.Attempt, of int) {
	var b strings.Builder
	fmt.Fprintf(&b, "attempt %d/%d status=%d duration=%s", a.N, of, a.Status, a.Duration.Round(time.Millisecond))
	if a.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", quoteIfNeeded(string(a.Reason)))
	}
	if a.Status == 0 && a.Err != nil {
		fmt.Fprintf(&b, " error=%q", a.Err.Error())
	}
	if a.Retry {
		fmt.Fprintf(&b, " retry_in=%s", a.Delay.Round(time.Millisecond))
	}
	fmt.Fprintln(c.errOut, b.String())
}

// placeEventID puts the event id where scheme reads it and returns the
// body to send and the id the receiver will read ("" when there is none).
// explicit is --id: it is refused when the receiver would read another id
// (the body carries its own) or none (the scheme carries no id). Without
// it a random id is placed where one is missing, unless the body has no
// room for one (a scheme reading a JSON field, a body that is no JSON
// object): that body is sent as it is, with no id.
func placeEventID(scheme verify.Scheme, body []byte, explicit string) ([]byte, string, error) {
	id := explicit
	if id == "" {
		id = newEventID()
	}
	placed, seen, err := scheme.PlaceID(body, id)
	switch {
	case err != nil && explicit == "":
		return body, "", nil
	case err != nil:
		return nil, "", usageErrorf("--id: %v", err)
	case explicit == "" || seen == explicit:
		return placed, seen, nil
	}
	src := scheme.IDSource()
	if src.None() {
		return nil, "", usageErrorf("--id: scheme %q carries no event id, so the receiver would not see it: drop --id", scheme.Name)
	}
	return nil, "", usageErrorf("--id %s: scheme %q reads the event id from the body's %s, which is %s: drop --id or make them agree",
		quoteIfNeeded(explicit), scheme.Name, src.Field, quoteIfNeeded(seen))
}

// idField is the " id=..." part of the outcome line, or "" when the
// receiver reads no id.
func idField(id string) string {
	if id == "" {
		return ""
	}
	return " id=" + quoteIfNeeded(id)
}
