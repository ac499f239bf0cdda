package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(new(ConsoleSite))
	httpcaddyfile.RegisterHandlerDirective("hookgate_console", parseConsoleSite)
	httpcaddyfile.RegisterDirectiveOrder("hookgate_console", httpcaddyfile.Before, "reverse_proxy")
}

// ConsoleSite serves the console and the events API (the routes of
// admin.api.hookgate, under /hookgate/) from a site, so that they can sit
// behind the site's authentication and TLS instead of on Caddy's admin
// endpoint; and so that a browser can open the console by its URL, which
// the admin endpoint refuses (a navigation carries no Origin or Referer,
// caddy#7633). Requests outside /hookgate/ go to the next handler.
//
// Caddyfile (module http.handlers.hookgate_console):
//
//	handle /hookgate/* {
//		basic_auth { ops $2a$14$... }
//		hookgate_console
//	}
//
// It refuses cross-site requests: a request whose Sec-Fetch-Site is
// cross-site or same-site, or whose Origin is not the site's own; and any
// request other than GET without a same-origin Origin or Sec-Fetch-Site,
// so that a page elsewhere cannot replay or purge with the browser's
// credentials.
type ConsoleSite struct {
	api *AdminAPI
	mux *http.ServeMux
}

// CaddyModule returns the Caddy module information.
func (*ConsoleSite) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.hookgate_console", New: func() caddy.Module { return new(ConsoleSite) }}
}

// Provision builds the routes. Streams end when the config is unloaded.
func (cs *ConsoleSite) Provision(ctx caddy.Context) error {
	cs.api = new(AdminAPI)
	if err := cs.api.Provision(ctx); err != nil {
		return err
	}
	cs.mux = http.NewServeMux()
	for _, route := range cs.api.Routes() {
		h := route.Handler
		cs.mux.HandleFunc(route.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := h.ServeHTTP(w, r); err != nil {
				writeAPIError(w, err)
			}
		})
	}
	return nil
}

// ServeHTTP serves /hookgate/ and passes anything else on.
func (cs *ConsoleSite) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !strings.HasPrefix(r.URL.Path, "/hookgate/") {
		return next.ServeHTTP(w, r)
	}
	if err := sameOrigin(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	cs.mux.ServeHTTP(w, r)
	return nil
}

// sameOrigin reports why r may come from another site, or nil.
func sameOrigin(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	if site == "cross-site" || site == "same-site" {
		return errors.New("hookgate console: cross-site request refused")
	}
	origin := r.Header.Get("Origin")
	if origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errors.New("hookgate console: request from another origin refused")
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && origin == "" && site != "same-origin" {
		return errors.New("hookgate console: a change needs a same-origin Origin header")
	}
	return nil
}

// writeAPIError writes err as the admin API does: {"error": message}.
func writeAPIError(w http.ResponseWriter, err error) {
	apiErr, ok := err.(caddy.APIError)
	if !ok {
		apiErr = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	if apiErr.HTTPStatus == 0 {
		apiErr.HTTPStatus = http.StatusInternalServerError
	}
	if apiErr.Message == "" && apiErr.Err != nil {
		apiErr.Message = apiErr.Err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(apiErr.HTTPStatus)
	_ = json.NewEncoder(w).Encode(apiErr)
}

// parseConsoleSite reads the hookgate_console directive, which takes no
// argument.
func parseConsoleSite(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	cs := new(ConsoleSite)
	return cs, cs.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile reads `hookgate_console`: no argument, no block.
func (cs *ConsoleSite) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() || d.NextBlock(0) {
		return d.Err("hookgate_console takes no argument and no block")
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*ConsoleSite)(nil)
	_ caddyhttp.MiddlewareHandler = (*ConsoleSite)(nil)
	_ caddyfile.Unmarshaler       = (*ConsoleSite)(nil)
)
