package caddymodule

import (
	"embed"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// consoleFiles is the console: plain HTML, CSS and JavaScript, no build
// step. The page calls the API next to it (events, health, replay,
// stream) with relative URLs.
//
//go:embed console/index.html console/console.css console/console.js
var consoleFiles embed.FS

// consoleTypes are the console files' content types.
var consoleTypes = map[string]string{
	"index.html":  "text/html; charset=utf-8",
	"console.css": "text/css; charset=utf-8",
	"console.js":  "text/javascript; charset=utf-8",
}

// consoleCSP allows the page its own files and its own API only.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// console serves the console: GET /hookgate/ and its two files.
func (api *AdminAPI) console(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutPrefix(r.URL.Path, "/hookgate/")
	if name == "" {
		name = "index.html"
	}
	ctype, known := consoleTypes[name]
	if !ok || !known {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("not found: the console is at /hookgate/")}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(r, "GET")
	}
	b, err := consoleFiles.ReadFile("console/" + name)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	// The admin API checks the Referer of requests without an Origin:
	// the page's own requests must carry it (same origin only).
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
	return nil
}

// consoleWeight returns the bytes of the console's page and files.
func consoleWeight() int {
	n := 0
	for name := range consoleTypes {
		b, _ := consoleFiles.ReadFile("console/" + name)
		n += len(b)
	}
	return n
}
