package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/verify"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "log-filter",
		Usage: "[--scheme NAME ...]",
		Short: "Prints the Caddyfile log filter that keeps signatures and secrets out of logs",
		Long: `
Caddy's access log and its error log record request headers, hiding only
Authorization and Cookie. Webhook signatures, shared tokens and handshake
secrets travel in other headers (and Meta's verify token in the query).
This prints a "format filter" block that deletes them, for the schemes
named with --scheme (default: every preset), to paste into a site's log
directive and into the global "log default":

  hookgate log-filter --scheme stripe --scheme github`,
		CobraFunc: func(cmd *cobra.Command) {
			var schemes []string
			cmd.Flags().StringArrayVar(&schemes, "scheme", nil, "a scheme whose secret headers to filter (repeatable; default: every preset)")
			cmd.RunE = func(*cobra.Command, []string) error {
				return writeLogFilter(os.Stdout, schemes)
			}
		},
	})
}

// writeLogFilter writes a Caddyfile "format filter" block deleting the
// secret headers and query parameters of the named schemes (all presets
// when none is named).
func writeLogFilter(w io.Writer, names []string) error {
	if len(names) == 0 {
		names = verify.Presets()
	}
	var headers, params []string
	for _, name := range names {
		s, err := verify.Preset(name)
		if err != nil {
			return err
		}
		for _, h := range s.SecretHeaders() {
			if !slices.Contains(headers, h) {
				headers = append(headers, h)
			}
		}
		for _, p := range s.SecretQueryParams() {
			if !slices.Contains(params, p) {
				params = append(params, p)
			}
		}
	}
	slices.Sort(headers)
	fmt.Fprintln(w, "format filter {")
	for _, h := range headers {
		fmt.Fprintf(w, "\trequest>headers>%s delete\n", h)
	}
	if len(params) > 0 {
		fmt.Fprintln(w, "\trequest>uri query {")
		for _, p := range params {
			fmt.Fprintf(w, "\t\tdelete %s\n", p)
		}
		fmt.Fprintln(w, "\t}")
	}
	fmt.Fprintln(w, "}")
	return nil
}
