package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// checkEventMatchers refuses a configuration in which a webhook_event
// matcher can be evaluated before webhook_verify ran on the request: such
// a matcher answers every request it sees with a 500. It runs on the
// provisioned http app (the hookgate app's Start), so it sees every route
// as Caddy will run it, subroutes included.
//
// A route list is walked in order. A route whose matchers include
// webhook_event must come after a webhook_verify that ran for every
// request reaching it: an earlier handler of an enclosing route, or an
// earlier route of the same list (or an enclosing one) that has no
// matcher of its own.
func checkEventMatchers(app *caddyhttp.App) error {
	for name, srv := range app.Servers {
		if err := walkRoutes(srv.Routes, false, "server "+name); err != nil {
			return err
		}
	}
	return nil
}

func walkRoutes(routes caddyhttp.RouteList, verified bool, where string) error {
	for i, r := range routes {
		here := fmt.Sprintf("%s, route %d", where, i)
		if !verified && usesEventMatcher(r.MatcherSets) {
			return fmt.Errorf("webhook_event or webhook_expr matcher (%s) can run before webhook_verify: "+
				"it would answer 500; place it after webhook_verify, in the same handle or route block", here)
		}
		v := verified
		for _, h := range r.Handlers {
			switch h := h.(type) {
			case *Handler:
				v = true
			case *caddyhttp.Subroute:
				if err := walkRoutes(h.Routes, v, here); err != nil {
					return err
				}
			}
		}
		if len(r.MatcherSets) == 0 && v {
			verified = true // every request reaching the next route was verified
		}
	}
	return nil
}

// usesEventMatcher reports whether sets hold a webhook_event matcher, also
// inside a not matcher.
func usesEventMatcher(sets caddyhttp.MatcherSets) bool {
	for _, set := range sets {
		for _, m := range set {
			switch m := m.(type) {
			case MatchEvent, *MatchEvent, *MatchExpr:
				return true
			case *caddyhttp.MatchNot:
				for _, inner := range m.MatcherSets {
					if usesEventMatcher(caddyhttp.MatcherSets{inner}) {
						return true
					}
				}
			}
		}
	}
	return false
}
