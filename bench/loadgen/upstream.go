package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// upstreamReply is what the benchmark upstream answers to every request.
const upstreamReply = `{"received":true}`

// Upstream is the application behind every target: it reads the body
// whole and answers 200 with a small JSON body.
func Upstream() http.Handler {
	n := strconv.Itoa(len(upstreamReply))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{n}
		_, _ = io.WriteString(w, upstreamReply)
	})
}

// ServeUpstream serves Upstream on addr until the process ends.
func ServeUpstream(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Upstream(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	return srv.Serve(ln)
}
