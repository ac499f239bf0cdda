package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/sdk/receive"
	"github.com/hookgate/hookgate/verify"
)

func TestBodyIsExactAndValid(t *testing.T) {
	reg, err := schemas.New(schemas.Config{Dir: "../schemas", RejectUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{256, 1024, 4096, 65536} {
		b, err := Body(size)
		if err != nil {
			t.Fatalf("Body(%d): %v", size, err)
		}
		if len(b) != size {
			t.Errorf("Body(%d) is %d bytes", size, len(b))
		}
		typ, err := reg.Validate("", b)
		if err != nil || typ != EventType {
			t.Errorf("Body(%d): Validate = %q, %v", size, typ, err)
		}
	}
	if _, err := Body(100); err == nil {
		t.Error("Body(100): want an error")
	}
}

// TestPresignVerifies parses each presigned request as a server would and
// checks it with the verifier the gateway runs.
func TestPresignVerifies(t *testing.T) {
	secret := NewSecret()
	body, _ := Body(1024)
	p, err := Presign(50, "127.0.0.1:1", "/hooks", secret, "evt_test", body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 50 {
		t.Fatalf("Len = %d", p.Len())
	}
	scheme, _ := verify.Preset("standard")
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i := range p.Len() {
		raw := append(append([]byte{}, p.Head(i)...), p.Body...)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.URL.Path != "/hooks" || !bytes.Equal(got, body) {
			t.Fatalf("request %d: %s %s, %d body bytes", i, req.Method, req.URL, len(got))
		}
		ev, err := v.Verify(&verify.Request{Header: req.Header, Body: got, Method: req.Method})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if ids[ev.ID] {
			t.Fatalf("request %d: id %q repeats", i, ev.ID)
		}
		ids[ev.ID] = true
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Response
		err  bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Response{Status: 200}, false},
		{"duplicate", "HTTP/1.1 200 OK\r\nhookgate-duplicate: true\r\nContent-Length: 2\r\n\r\n{}", Response{Status: 200, Duplicate: true}, false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: v\r\n\r\n", Response{Status: 200}, false},
		{"close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", Response{Status: 503, Close: true}, false},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n", Response{Status: 200, Close: true}, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Response{Status: 200, Close: true}, false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", Response{Status: 204}, false},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", Response{}, true},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", Response{}, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Response{}, true},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", Response{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A second response follows: the first must be consumed exactly.
			br := bufio.NewReader(strings.NewReader(tt.raw + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
			got, err := ReadResponse(br)
			if tt.err {
				if err == nil {
					if next, err2 := ReadResponse(br); err2 == nil && next.Status == 201 {
						t.Fatalf("want an error, got %+v", got)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || got.Duplicate != tt.want.Duplicate || got.Close != tt.want.Close {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if got.Close {
				return
			}
			next, err := ReadResponse(br)
			if err != nil || next.Status != 201 {
				t.Fatalf("next response: %+v, %v", next, err)
			}
		})
	}
}

func TestReadResponseEOF(t *testing.T) {
	_, err := ReadResponse(bufio.NewReader(strings.NewReader("")))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want EOF", err)
	}
}

// TestRunThroughReceiver runs the generator briefly against the hookgate
// pipeline itself: every request must verify, and none is a duplicate.
func TestRunThroughReceiver(t *testing.T) {
	secret := NewSecret()
	scheme, _ := verify.Preset("standard")
	v, err := verify.New(verify.Config{Scheme: scheme, Keys: []verify.Key{{Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := receive.New(receive.Config{Source: "bench", Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc.Middleware(Upstream()))
	defer srv.Close()
	for _, rate := range []float64{0, 500} {
		res, err := Run(RunConfig{
			Target: "test", URL: srv.URL + "/hooks", Conns: 4, Rate: rate,
			Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
			Max: 5000, Size: 1024, Secret: secret,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Errors != 0 || res.RPS <= 0 || res.P50 <= 0 || res.P99 < res.P50 {
			t.Fatalf("rate %g: %+v", rate, res)
		}
	}
	// Requests signed with another secret are all errors.
	res, err := Run(RunConfig{Target: "test", URL: srv.URL, Conns: 2, Duration: 100 * time.Millisecond, Max: 200, Size: 512, Secret: NewSecret()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != res.Requests || res.Statuses["401"] != res.Requests {
		t.Fatalf("wrong secret: %+v", res)
	}
}

func TestWriteTable(t *testing.T) {
	var rs []Result
	for rep := 1; rep <= 3; rep++ {
		for _, x := range []struct {
			target string
			rps    float64
			p50    float64
		}{{"a", 20000, 1}, {"b", 8000, 7.0}, {"c", 7900, 7.05}, {"d", 6000, 9}, {"e", 5800, 9.5}} {
			rs = append(rs, Result{Target: x.target, Size: 1024, Conns: 64, Rep: rep, RPS: x.rps, P50: x.p50})
			rs = append(rs, Result{Target: x.target, Size: 1024, Conns: 8, Rep: rep, RPS: x.rps / 2, P50: x.p50 / 8})
		}
	}
	var b strings.Builder
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### 1 KiB body, 64 connections, closed loop",
		"| (c) hookgate: verify + memory dedup | 7900 | 0.988 |",
		"| (d) keeps ≥ 85% of (b)'s req/s, 1 KiB, 64 connections | 75.0% | **missed** |",
		"| (c) keeps ≥ 97% of (b)'s req/s, 1 KiB, 64 connections | 98.8% | met |",
		"| (c) adds < 0.2 ms to (b)'s p50, 1 KiB, 8 connections | +0.006 ms | met |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
