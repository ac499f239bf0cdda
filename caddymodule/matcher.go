package caddymodule

import (
	"errors"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(MatchEvent{})
}

// MatchEvent matches requests whose verified webhook event type is one of
// the listed types. It must be evaluated after webhook_verify ran (in a
// handle or route block after it); a config where it can run before is
// refused at load.
//
// Some providers do not sign the type: GitHub's X-GitHub-Event, Shopify's
// topic and others (the README's scheme table says which). Anyone who saw
// one delivery can resend its signed body under another type, so a route
// that matters should not rest on such a type alone: match on the signed
// payload with webhook_expr instead, or add {http.webhook.type_signed}
// to the condition.
//
//	@push webhook_event push pull_request
type MatchEvent []string

// CaddyModule returns the Caddy module information.
func (MatchEvent) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.webhook_event",
		New: func() caddy.Module { return new(MatchEvent) },
	}
}

// UnmarshalCaddyfile reads the event types; several lines merge.
func (m *MatchEvent) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		*m = append(*m, args...)
	}
	return nil
}

// Provision asks the hookgate app to check, once every route is in place,
// that this matcher cannot run before webhook_verify (see
// checkEventMatchers): such a configuration is refused at load instead of
// answering every request 500.
func (m *MatchEvent) Provision(ctx caddy.Context) error {
	v, err := ctx.App("hookgate")
	if err != nil {
		return err
	}
	v.(*App).checkMatchers.Store(true)
	return nil
}

// errNoEvent reports a webhook_event matcher evaluated before webhook_verify.
var errNoEvent = errors.New("webhook_event matcher: no verified webhook on this request (place it after webhook_verify)")

// MatchWithError reports whether the event type is listed.
func (m MatchEvent) MatchWithError(r *http.Request) (bool, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return false, errNoEvent
	}
	typ, ok := repl.GetString("http.webhook.type")
	if !ok {
		return false, errNoEvent
	}
	return slices.Contains(m, typ), nil
}

// Match is MatchWithError without the error, for older callers.
func (m MatchEvent) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// Interface guards.
var (
	_ caddyhttp.RequestMatcherWithError = (*MatchEvent)(nil)
	_ caddyfile.Unmarshaler             = (*MatchEvent)(nil)
	_ caddy.Provisioner                 = (*MatchEvent)(nil)
)
