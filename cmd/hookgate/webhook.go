package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/verify"
)

// Exit codes of the webhook commands, part of their contract.
const (
	exitOK      = 0 // valid / done
	exitInvalid = 1 // the webhook did not verify, or the delivery failed
	exitUsage   = 2 // bad flags, unknown scheme, unreadable input
)

// exitError carries an exit code and the line to print for it.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "webhook",
		Usage: "sign|verify|send [flags] [BODY_FILE]",
		Short: "Signs, verifies and sends webhooks",
		Long: `
Signs, verifies and sends webhooks with the same code the gateway runs.

  hookgate webhook sign   --scheme NAME --secret S [--id ID] [--timestamp UNIX] [--url URL] [BODY_FILE]
  hookgate webhook verify --scheme NAME --secret S [--secret S2 ...] [--header 'Name: value' ...]
                          [--url URL] [--now UNIX_SECONDS] [--tolerance DURATION] [BODY_FILE]
  hookgate webhook send   --scheme NAME --secret S --url URL [--data JSON | BODY_FILE] [--type T] [--retries N]

The body is read from BODY_FILE, or standard input when absent or "-".
Secrets can come from --secret, --secret-file PATH (one per line) or the
HOOKGATE_SECRET environment variable, so that they need not appear in ps.
Public-key schemes take --public-key instead of --secret.

Exit status: 0 valid (or sent), 1 invalid (or delivery failed), 2 usage error.`,
		CobraFunc: func(cmd *cobra.Command) {
			c := &webhookCLI{in: os.Stdin, out: os.Stdout, errOut: os.Stderr, getenv: os.Getenv}
			for _, sub := range c.commands() {
				run := sub.RunE
				sub.RunE = func(cc *cobra.Command, args []string) error {
					if code := c.finish(run(cc, args)); code != exitOK {
						os.Exit(code)
					}
					return nil
				}
				sub.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
					os.Exit(c.finish(usageErrorf("%v", err)))
					return nil
				})
				cmd.AddCommand(sub)
			}
		},
	})
}

// runWebhook runs `webhook <args>` on its own command tree and returns the
// exit code; the tests drive the commands through it.
func runWebhook(args []string, in io.Reader, out, errOut io.Writer, getenv func(string) string) int {
	c := &webhookCLI{in: in, out: out, errOut: errOut, getenv: getenv}
	root := &cobra.Command{Use: "webhook", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	for _, sub := range c.commands() {
		root.AddCommand(sub)
	}
	cmd, err := root.ExecuteC()
	if err != nil && cmd != nil && !errors.As(err, new(*exitError)) {
		err = usageErrorf("%v", err)
	}
	return c.finish(err)
}

// webhookCLI holds the commands' input and output, injected for tests.
type webhookCLI struct {
	in          io.Reader
	out, errOut io.Writer
	getenv      func(string) string
}

// finish prints what err says and returns the exit code for it.
func (c *webhookCLI) finish(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if !errors.As(err, &e) {
		e = &exitError{code: exitUsage, msg: err.Error()}
	}
	w := c.errOut
	if e.code == exitInvalid {
		w = c.out
	}
	fmt.Fprintln(w, e.msg)
	return e.code
}

// schemeFlags are the flags that choose and shape a scheme, shared by all
// three commands.
type schemeFlags struct {
	scheme      string
	secrets     []string
	secretFiles []string
	publicKeys  []string

	signatureHeader, prefix, encoding, algorithm, template string
	idHeader, timestampHeader                              string
}

func (f *schemeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.scheme, "scheme", "standard", "signature scheme: "+strings.Join(verify.Presets(), ", "))
	fl.StringArrayVar(&f.secrets, "secret", nil, "shared secret (repeatable, for rotation)")
	fl.StringArrayVar(&f.secretFiles, "secret-file", nil, "file holding secrets, one per line (repeatable)")
	fl.StringArrayVar(&f.publicKeys, "public-key", nil, "public key, for public-key schemes (repeatable)")
	fl.StringVar(&f.signatureHeader, "signature-header", "", "hmac scheme: header carrying the signature")
	fl.StringVar(&f.prefix, "prefix", "", "hmac scheme: prefix before the signature, e.g. sha256=")
	fl.StringVar(&f.encoding, "encoding", "", "hmac scheme: hex or base64")
	fl.StringVar(&f.algorithm, "algorithm", "", "hmac scheme: sha1, sha256 or sha512; twilio: sign with sha256 (a SharedKey's) instead of sha1")
	fl.StringVar(&f.template, "template", "", "hmac scheme: signed content, e.g. {timestamp}.{body}")
	fl.StringVar(&f.idHeader, "id-header", "", "hmac scheme: header carrying the event id")
	fl.StringVar(&f.timestampHeader, "timestamp-header", "", "hmac scheme: header carrying the Unix timestamp")
}

// resolve returns the scheme and keys the flags describe.
func (f *schemeFlags) resolve(c *webhookCLI, cmd *cobra.Command) (verify.Scheme, []verify.Key, error) {
	s, err := verify.Preset(f.scheme)
	if err != nil {
		return s, nil, usageErrorf("--scheme: %v", err)
	}
	generic := map[string]*string{
		"signature-header": &f.signatureHeader, "prefix": &f.prefix, "encoding": &f.encoding,
		"algorithm": &f.algorithm, "template": &f.template, "id-header": &f.idHeader,
		"timestamp-header": &f.timestampHeader,
	}
	for name := range generic {
		// A scheme whose requests name their hash (Twilio) signs with
		// the one --algorithm names.
		if name == "algorithm" && s.AlgorithmHeader != "" {
			continue
		}
		if cmd.Flags().Changed(name) && s.Name != "hmac" {
			return s, nil, usageErrorf("--%s applies to --scheme hmac only", name)
		}
	}
	s = s.With(verify.Custom{
		SignatureHeader: f.signatureHeader, Prefix: f.prefix, Encoding: f.encoding, Algorithm: f.algorithm,
		Template: f.template, IDHeader: f.idHeader, TimestampHeader: f.timestampHeader,
	})

	var keys []verify.Key
	for _, sec := range f.secrets {
		keys = append(keys, verify.Key{Secret: sec})
	}
	for _, path := range f.secretFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return s, nil, usageErrorf("--secret-file: %v", err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				keys = append(keys, verify.Key{Secret: line})
			}
		}
	}
	if len(keys) == 0 && len(f.publicKeys) == 0 {
		if env := strings.TrimSpace(c.getenv("HOOKGATE_SECRET")); env != "" {
			keys = append(keys, verify.Key{Secret: env})
		}
	}
	for _, pk := range f.publicKeys {
		keys = append(keys, verify.Key{PublicKey: pk})
	}
	if len(keys) == 0 {
		return s, nil, usageErrorf("no secret: give --secret, --secret-file or HOOKGATE_SECRET (or --public-key)")
	}
	for i := range keys {
		keys[i].Name = "key" + strconv.Itoa(i+1)
	}
	return s, keys, nil
}

// readBody reads BODY_FILE, or standard input when it is absent or "-".
func (c *webhookCLI) readBody(args []string) ([]byte, error) {
	if len(args) > 1 {
		return nil, usageErrorf("at most one BODY_FILE, got %d arguments", len(args))
	}
	var (
		b   []byte
		err error
	)
	if len(args) == 0 || args[0] == "-" {
		b, err = io.ReadAll(c.in)
	} else {
		b, err = os.ReadFile(args[0])
	}
	if err != nil {
		return nil, usageErrorf("read body: %v", err)
	}
	return b, nil
}

func (c *webhookCLI) commands() []*cobra.Command {
	return []*cobra.Command{c.verifyCommand(), c.signCommand(), c.sendCommand()}
}

func (c *webhookCLI) verifyCommand() *cobra.Command {
	var (
		sf        schemeFlags
		headers   []string
		url       string
		now       int64
		tolerance string
	)
	cmd := &cobra.Command{
		Use:   "verify --scheme NAME --secret S [--header 'Name: value' ...] [BODY_FILE]",
		Short: "Verifies a webhook's signature: exit 0 valid, 1 invalid, 2 usage error",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			scheme, keys, err := sf.resolve(c, cmd)
			if err != nil {
				return err
			}
			h, err := parseHeaderFlags(headers)
			if err != nil {
				return err
			}
			cfg := verify.Config{Scheme: scheme, Keys: keys}
			if cmd.Flags().Changed("now") {
				at := time.Unix(now, 0)
				cfg.Now = func() time.Time { return at }
			}
			if tolerance != "" {
				d, err := time.ParseDuration(tolerance)
				if err != nil {
					return usageErrorf("--tolerance: %v", err)
				}
				if d == 0 {
					return usageErrorf("--tolerance: must not be 0 (negative disables the check)")
				}
				cfg.Tolerance = d
			}
			v, err := verify.New(cfg)
			if err != nil {
				return usageErrorf("%v", err)
			}
			body, err := c.readBody(args)
			if err != nil {
				return err
			}
			ev, err := v.Verify(&verify.Request{Header: h, Body: body, URL: url, Method: http.MethodPost})
			if errors.Is(err, verify.ErrConfig) {
				return usageErrorf("%v", err)
			}
			if err != nil {
				_, reason := receive.Classify(err)
				return &exitError{code: exitInvalid, msg: fmt.Sprintf("invalid %s: %v", reason, err)}
			}
			fmt.Fprintf(c.out, "valid id=%s type=%s key=%s\n", quoteIfNeeded(ev.ID), quoteIfNeeded(ev.Type), ev.Key)
			return nil
		},
	}
	sf.register(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&headers, "header", nil, "request header as 'Name: value' (repeatable)")
	fl.StringVar(&url, "url", "", "full request URL, for schemes that sign it")
	fl.Int64Var(&now, "now", 0, "current time as Unix seconds (default: the clock)")
	fl.StringVar(&tolerance, "tolerance", "", "timestamp tolerance, e.g. 5m (default: the provider's; negative disables)")
	return cmd
}

func (c *webhookCLI) signCommand() *cobra.Command {
	var (
		sf      schemeFlags
		id, typ string
		ts      int64
		url     string
		method  string
		bodyOut string
	)
	cmd := &cobra.Command{
		Use:   "sign --scheme NAME --secret S [--id ID] [--timestamp UNIX] [--url URL] [BODY_FILE]",
		Short: "Prints the headers that sign a body, one 'Name: value' per line",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			scheme, keys, err := sf.resolve(c, cmd)
			if err != nil {
				return err
			}
			signer, err := verify.NewSigner(scheme, keys...)
			if err != nil {
				return usageErrorf("%v", err)
			}
			body, err := c.readBody(args)
			if err != nil {
				return err
			}
			at := time.Now()
			if cmd.Flags().Changed("timestamp") {
				at = time.Unix(ts, 0)
			}
			if id == "" {
				id = newEventID()
			}
			signed, h, err := signer.SignBody(verify.Message{ID: id, Type: typ, Timestamp: at, Body: body, URL: url, Method: method})
			if err != nil {
				return usageErrorf("%v", err)
			}
			if !bytes.Equal(signed, body) {
				// Mailgun's signature, Linear's timestamp: fields of the body.
				if bodyOut == "" {
					return usageErrorf("--scheme %s signs fields of the body: give --body-out FILE for the signed body", scheme.Name)
				}
				if err := os.WriteFile(bodyOut, signed, 0o600); err != nil {
					return usageErrorf("--body-out: %v", err)
				}
			}
			names := make([]string, 0, len(h))
			for n := range h {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				for _, v := range h[n] {
					fmt.Fprintf(c.out, "%s: %s\n", n, v)
				}
			}
			return nil
		},
	}
	sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&id, "id", "", "event id (default: a random msg_ id)")
	fl.StringVar(&typ, "type", "", "event type, for schemes that send it in a header")
	fl.Int64Var(&ts, "timestamp", 0, "signing time as Unix seconds (default: now)")
	fl.StringVar(&url, "url", "", "full request URL, for schemes that sign it")
	fl.StringVar(&method, "method", http.MethodPost, "HTTP method, for schemes that sign it")
	fl.StringVar(&bodyOut, "body-out", "", "write the signed body to this file, for schemes that sign fields of the body (mailgun, linear)")
	return cmd
}

// parseHeaderFlags reads repeated --header 'Name: value' flags.
func parseHeaderFlags(lines []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, usageErrorf("--header %q: want 'Name: value'", line)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return h, nil
}

// newEventID returns a random id in the Standard Webhooks style.
func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

// quoteIfNeeded keeps the one-line output parseable when a value is empty
// or holds spaces.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}
