package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "events",
		Usage: "list|replay|purge [--admin ADDR] ...",
		Short: "Lists, replays and purges the events a running gateway recorded",
		Long: `
Lists, replays and purges the events a running gateway recorded (sources
with a deliver block), through its admin API (GET /hookgate/events, POST
/hookgate/events/{source}/{id}/replay, DELETE /hookgate/events/{source}/{id}).

  hookgate events list   [--admin ADDR] [--source S] [--status S] [--type T] [--limit N] [--json]
  hookgate events replay [--admin ADDR] SOURCE ID
  hookgate events purge  [--admin ADDR] SOURCE ID

ADDR defaults to the admin address of --config, else Caddy's default
(localhost:2019). Exit status: 0 done, 1 the gateway refused or could not
be reached, 2 usage error.`,
		CobraFunc: func(cmd *cobra.Command) {
			c := &webhookCLI{in: os.Stdin, out: os.Stdout, errOut: os.Stderr, getenv: os.Getenv}
			for _, sub := range c.eventsCommands() {
				exitOnFinish(c, sub)
				cmd.AddCommand(sub)
			}
		},
	})
}

// exitOnFinish makes cmd exit with its command's exit code, printing what
// its error says, as the webhook commands do.
func exitOnFinish(c *webhookCLI, cmd *cobra.Command) {
	run := cmd.RunE
	cmd.RunE = func(cc *cobra.Command, args []string) error {
		if code := c.finish(run(cc, args)); code != exitOK {
			os.Exit(code)
		}
		return nil
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		os.Exit(c.finish(usageErrorf("%v", err)))
		return nil
	})
}

// runCommand runs cmd (a command tree's root, or one command) with args,
// printing to out and errOut, and returns the exit code; the tests drive
// the commands through it.
func runCommand(cmd *cobra.Command, c *webhookCLI, args []string) int {
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	cmd.SetArgs(args)
	cmd.SetOut(c.out)
	cmd.SetErr(c.errOut)
	got, err := cmd.ExecuteC()
	if err != nil && got != nil && !errors.As(err, new(*exitError)) {
		err = usageErrorf("%v", err)
	}
	return c.finish(err)
}

// adminFlags locate a gateway's admin API.
type adminFlags struct {
	admin, config, adapter string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.admin, "admin", "", "the gateway's admin API address (default: --config's, else localhost:2019)")
	fl.StringVar(&f.config, "config", "", "read the admin address from this config file")
	fl.StringVar(&f.adapter, "adapter", "", "the config file's adapter (default: by its name, as caddy run)")
}

// address returns the admin API address the flags name.
func (f *adminFlags) address() (string, error) {
	addr, err := caddycmd.DetermineAdminAPIAddress(f.admin, nil, f.config, f.adapter)
	if err != nil {
		return "", usageErrorf("--admin: %v", err)
	}
	return addr, nil
}

// apiErrorText matches the error caddycmd.AdminAPIRequest makes of an
// answer of 400 or more.
var apiErrorText = regexp.MustCompile(`(?s)^caddy responded with error: HTTP (\d+): (.*)$`)

// adminRequest makes one request to the admin API at addr. A refusal or
// an unreachable gateway comes back as an exit-1 error saying so in one
// line.
func adminRequest(addr, method, uri string, h http.Header, body io.Reader) (*http.Response, error) {
	resp, err := caddycmd.AdminAPIRequest(addr, method, uri, h, body)
	if err == nil {
		return resp, nil
	}
	if m := apiErrorText.FindStringSubmatch(err.Error()); m != nil {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(m[2])
		if json.Unmarshal([]byte(msg), &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &exitError{code: exitInvalid, msg: fmt.Sprintf("gateway at %s: %s (HTTP %s)", addr, msg, m[1])}
	}
	return nil, &exitError{code: exitInvalid, msg: fmt.Sprintf("no gateway admin API at %s: %v", addr, err)}
}

func (c *webhookCLI) eventsCommands() []*cobra.Command {
	return []*cobra.Command{c.eventsListCommand(), c.eventsReplayCommand(), c.eventsPurgeCommand()}
}

// listedEvent is an event as GET /hookgate/events lists it.
type listedEvent struct {
	Source     string `json:"source"`
	ID         string `json:"id"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	ReceivedAt string `json:"received_at"`
	LastError  string `json:"last_error"`
}

func (c *webhookCLI) eventsListCommand() *cobra.Command {
	var (
		af                  adminFlags
		source, status, typ string
		limit               int
		asJSON              bool
	)
	cmd := &cobra.Command{
		Use:   "list [--admin ADDR] [--source S] [--status S] [--type T] [--limit N] [--json]",
		Short: "Lists the recorded events, newest first",
		Long: `Lists the events the gateway recorded, newest first: when each was
received, its source, id, type, status (pending, delivering, delivered,
dead), attempts so far and the last error. --json prints the events API's
answer as it is: {"events":[...]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := af.address()
			if err != nil {
				return err
			}
			if limit < 0 || limit > 1000 {
				return usageErrorf("--limit: want 1 to 1000")
			}
			q := url.Values{}
			for k, v := range map[string]string{"source": source, "status": status, "type": typ} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			uri := "/hookgate/events"
			if len(q) > 0 {
				uri += "?" + q.Encode()
			}
			resp, err := adminRequest(addr, http.MethodGet, uri, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return &exitError{code: exitInvalid, msg: fmt.Sprintf("reading the gateway's answer: %v", err)}
			}
			if asJSON {
				_, err := c.out.Write(body)
				return err
			}
			var l struct {
				Events []listedEvent `json:"events"`
			}
			if err := json.Unmarshal(body, &l); err != nil {
				return &exitError{code: exitInvalid, msg: fmt.Sprintf("the gateway's answer is not an events list: %v", err)}
			}
			return writeEventTable(c.out, l.Events)
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&source, "source", "", "only this source's events")
	fl.StringVar(&status, "status", "", "only events with this status: pending, delivering, delivered or dead")
	fl.StringVar(&typ, "type", "", "only events of this type")
	fl.IntVar(&limit, "limit", 0, "at most this many events (default 100, at most 1000)")
	fl.BoolVar(&asJSON, "json", false, "print the events API's JSON answer")
	return cmd
}

// writeEventTable writes events as an aligned table, one per line.
func writeEventTable(w io.Writer, events []listedEvent) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "no events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tSOURCE\tID\tTYPE\tSTATUS\tATTEMPTS\tLAST ERROR")
	for _, e := range events {
		received := e.ReceivedAt
		if t, err := time.Parse(time.RFC3339Nano, e.ReceivedAt); err == nil {
			received = t.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", received, e.Source, e.ID, dash(e.Type), e.Status, e.Attempts, dash(clipText(e.LastError, 60)))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clipText shortens s to n runes, marking the cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (c *webhookCLI) eventsReplayCommand() *cobra.Command {
	return c.eventCommand("replay", "Delivers a recorded event again, as a new attempt",
		http.MethodPost, "/replay", "replaying")
}

func (c *webhookCLI) eventsPurgeCommand() *cobra.Command {
	return c.eventCommand("purge", "Deletes a recorded event: its headers, body and attempts; its deliveries stop",
		http.MethodDelete, "", "purged")
}

// eventCommand is a command on one recorded event, SOURCE ID: it sends
// method to the event's admin path (plus suffix) and prints done and the
// event's name.
func (c *webhookCLI) eventCommand(name, short, method, suffix, done string) *cobra.Command {
	var af adminFlags
	cmd := &cobra.Command{
		Use:   name + " [--admin ADDR] SOURCE ID",
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || args[0] == "" || args[1] == "" {
				return usageErrorf("want SOURCE ID, got %d arguments", len(args))
			}
			addr, err := af.address()
			if err != nil {
				return err
			}
			uri := "/hookgate/events/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1]) + suffix
			resp, err := adminRequest(addr, method, uri, nil, nil)
			if err != nil {
				return err
			}
			resp.Body.Close()
			fmt.Fprintf(c.out, "%s %s/%s\n", done, args[0], args[1])
			return nil
		},
	}
	af.register(cmd)
	return cmd
}
