package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hookgate/hookgate/expr"
)

func init() {
	caddy.RegisterModule(MatchExpr{})
}

// MatchExpr matches verified webhooks for which a CEL expression over the
// event holds (package expr: payload, type, id, source, headers,
// verified). It must be evaluated after webhook_verify; an unverified
// request (shadow mode) never matches, and an expression that fails at run
// time (a missing key, say) does not match either.
//
//	@high webhook_expr "payload.data.priority == 'HIGH'"
type MatchExpr struct {
	// Expr is the CEL expression; it must be boolean.
	Expr string `json:"expr"`

	prog *expr.Program
}

// CaddyModule returns the Caddy module information.
func (MatchExpr) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.webhook_expr",
		New: func() caddy.Module { return new(MatchExpr) },
	}
}

// UnmarshalCaddyfile reads the expression (one argument; quote it).
func (m *MatchExpr) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.Next() {
		args := d.RemainingArgs()
		if len(args) != 1 {
			return d.Errf("webhook_expr: want one expression (quote it), got %d arguments", len(args))
		}
		m.Expr = args[0]
	}
	return nil
}

// Provision compiles and type-checks the expression and refuses one whose
// estimated cost is over the limit; the error names the position.
func (m *MatchExpr) Provision(ctx caddy.Context) error {
	p, err := expr.Compile(m.Expr, expr.Bool)
	if err != nil {
		return fmt.Errorf("webhook_expr %q: %w", m.Expr, err)
	}
	m.prog = p
	// As for webhook_event: refused at load if it can run before
	// webhook_verify.
	v, err := ctx.App("hookgate")
	if err != nil {
		return err
	}
	v.(*App).checkMatchers.Store(true)
	return nil
}

// MatchWithError reports whether the expression holds for the verified
// event of r. Before webhook_verify it is an error, as for webhook_event.
func (m *MatchExpr) MatchWithError(r *http.Request) (bool, error) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return false, errNoEvent
	}
	v, ok := repl.Get(exprPlaceholder)
	in, _ := v.(*expr.Input)
	if !ok || in == nil {
		return false, errNoEvent
	}
	if verified, _ := repl.Get("http.webhook.verified"); verified != true {
		return false, nil
	}
	ok, err := m.prog.Match(r.Context(), in)
	if err != nil {
		countExprError("webhook_expr", "match", err)
		return false, nil
	}
	return ok, nil
}

// Match is MatchWithError without the error.
func (m *MatchExpr) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// Interface guards.
var (
	_ caddyhttp.RequestMatcherWithError = (*MatchExpr)(nil)
	_ caddyfile.Unmarshaler             = (*MatchExpr)(nil)
	_ caddy.Provisioner                 = (*MatchExpr)(nil)
)
