package chaos

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookgate/hookgate/sdk"
)

// corpusMaxBody is the gateway's max_body in TestBadInput.
const corpusMaxBody = 64 << 10

// badCase is one hostile request and the answer the documentation gives.
type badCase struct {
	name string
	// write sends the request on c; it may send slowly, stop short, or
	// half-close. It returns the bytes it sent.
	write func(c wconn) (int, error)
	// method is the request method, for reading the response (HEAD has no
	// body). Default: POST.
	method string
	status int
	// reason is the Hookgate-Reason the gateway must send; "" means the
	// request is refused before the gateway sees it (by net/http) and
	// carries none.
	reason sdk.Reason
	// duplicate: the answer must carry Hookgate-Duplicate: true.
	duplicate bool
	// early: the answer must come before the whole request was sent.
	early bool
	// total is what write would send in full (for early).
	total int
}

// wconn is the client's side of a connection, as a case writes to it.
type wconn interface {
	Write([]byte) (int, error)
	CloseWrite() error
}

// req is a request to be written raw, so that anything can be sent.
type req struct {
	host   string // the Host header: the gateway's site address
	method string
	header [][2]string // in order, values as they are
	body   []byte
	// length overrides Content-Length ("" for len(body), "-" for none).
	length string
}

func (r req) bytes() []byte {
	var b bytes.Buffer
	m := r.method
	if m == "" {
		m = http.MethodPost
	}
	fmt.Fprintf(&b, "%s /hooks HTTP/1.1\r\nHost: %s\r\n", m, r.host)
	for _, h := range r.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	switch r.length {
	case "":
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	case "-":
	default:
		fmt.Fprintf(&b, "Content-Length: %s\r\n", r.length)
	}
	b.WriteString("\r\n")
	b.Write(r.body)
	return b.Bytes()
}

// sendAll writes b at once.
func sendAll(b []byte) func(wconn) (int, error) {
	return func(c wconn) (int, error) { return c.Write(b) }
}

// sendSlowly writes head, then body in chunks of size every pause; with
// halfClose it then closes its side.
func sendSlowly(head, body []byte, size int, pause time.Duration, halfClose bool) func(wconn) (int, error) {
	return func(c wconn) (int, error) {
		n, err := c.Write(head)
		for len(body) > 0 && err == nil {
			time.Sleep(pause)
			k := min(size, len(body))
			var m int
			m, err = c.Write(body[:k])
			n += m
			body = body[k:]
		}
		if err == nil && halfClose {
			err = c.CloseWrite()
		}
		return n, err
	}
}

// chunked frames body as chunks of size, ending with the last chunk when
// complete is set.
func chunked(body []byte, size int, complete bool) []byte {
	var b bytes.Buffer
	for len(body) > 0 {
		k := min(size, len(body))
		fmt.Fprintf(&b, "%x\r\n", k)
		b.Write(body[:k])
		b.WriteString("\r\n")
		body = body[k:]
	}
	if complete {
		b.WriteString("0\r\n\r\n")
	}
	return b.Bytes()
}

func TestBadInput(t *testing.T) {
	needGateway(t)
	rec := newRecorder(t, nil)
	secret := newSecret()
	schemaDir, err := filepath.Abs("testdata/schemas")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, fmt.Sprintf(`	webhook_verify standard {
		source corpus
		secret %s
		max_body %d
		schemas %s {
			reject_unknown
		}
		dedup memory
		retry_after 1s
	}
	reverse_proxy %s`, secret, corpusMaxBody, schemaDir, rec.Addr()))

	host := g.Addr
	valid := eventBody("chaos.event", 1)
	var idSeq atomic.Int64
	newID := func() string { return fmt.Sprintf("evt_corpus_%d", idSeq.Add(1)) }
	// signed returns a request for body signed now with a fresh id, plus
	// extra headers.
	signed := func(body []byte, extra ...[2]string) req {
		id := newID()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		h := [][2]string{
			{"Content-Type", "application/json"},
			{"Webhook-Id", id},
			{"Webhook-Timestamp", ts},
			{"Webhook-Signature", signStandard(t, secret, id, ts, body)},
		}
		return req{host: host, header: append(h, extra...), body: body}
	}
	// withTimestamp signs body under the literal timestamp ts, so that
	// only the timestamp is wrong.
	withTimestamp := func(ts string) []byte {
		id := newID()
		return req{host: host, header: [][2]string{
			{"Webhook-Id", id},
			{"Webhook-Timestamp", ts},
			{"Webhook-Signature", signStandard(t, secret, id, ts, valid)},
		}, body: valid}.bytes()
	}
	manySigs := func(validLast bool) []byte {
		r := signed(valid)
		sigs := strings.Repeat("v1,"+strings.Repeat("A", 43)+"= ", 99)
		if validLast {
			sigs += r.header[3][1]
		} else {
			sigs += "v1," + strings.Repeat("B", 43) + "="
		}
		r.header[3][1] = sigs
		return r.bytes()
	}
	withSignature := func(sig string) []byte {
		r := signed(valid)
		r.header[3][1] = sig
		return r.bytes()
	}
	unsigned := func(method string, body []byte) []byte {
		return req{host: host, method: method, header: [][2]string{{"Content-Type", "application/json"}}, body: body}.bytes()
	}
	// A body well over the limit, sent chunked and slowly: the gateway
	// must stop reading at the limit and answer without waiting for the
	// rest.
	bigBody := bytes.Repeat([]byte("x"), 1<<20)
	bigHead := req{host: host, header: signed(valid).header, length: "-"}.bytes()
	bigHead = append(bigHead[:len(bigHead)-2], "Transfer-Encoding: chunked\r\n\r\n"...)
	bigChunks := chunked(bigBody, 8<<10, true)
	// A body under the limit sent slowly but whole: accepted.
	slowValid := []byte(fmt.Sprintf(`{"type":"chaos.event","timestamp":"2026-11-22T10:00:00Z","data":{"n":7,"note":"slow"},"pad":"%s"}`, strings.Repeat("s", 32<<10)))
	slowReq := signed(slowValid).bytes()
	slowHead, slowRest := slowReq[:len(slowReq)-len(slowValid)], slowValid
	// Truncated: 1000 bytes declared, 500 sent, then the client's side closed.
	truncated := signed(bytes.Repeat([]byte("t"), 1000)).bytes()
	truncated = truncated[:len(truncated)-500]
	truncChunkHead := req{host: host, header: signed(valid).header, length: "-"}.bytes()
	truncChunkHead = append(truncChunkHead[:len(truncChunkHead)-2], "Transfer-Encoding: chunked\r\n\r\n"...)
	dupReq := signed(valid)

	cases := []badCase{
		{name: "valid webhook (control)", write: sendAll(signed(valid).bytes()), status: 200},
		{name: "huge header, 2 MiB", write: sendAll(signed(valid, [2]string{"X-Junk", strings.Repeat("a", 2<<20)}).bytes()),
			status: http.StatusRequestHeaderFieldsTooLarge, reason: ""},
		// Caddy's default header limit is 16 KiB (servers { max_header_size }).
		{name: "large header under the limit, 8 KiB, on a valid webhook", write: sendAll(signed(valid, [2]string{"X-Junk", strings.Repeat("a", 8<<10)}).bytes()), status: 200},
		{name: "header over Caddy's 16 KiB default", write: sendAll(signed(valid, [2]string{"X-Junk", strings.Repeat("a", 24<<10)}).bytes()),
			status: http.StatusRequestHeaderFieldsTooLarge, reason: ""},
		{name: "control character in a header", write: sendAll(signed(valid, [2]string{"X-Junk", "a\x00b"}).bytes()), status: 400, reason: ""},
		{name: "100 signatures, none valid", write: sendAll(manySigs(false)), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "100 signatures, the valid one last", write: sendAll(manySigs(true)), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "signature not base64", write: sendAll(withSignature("v1,!!!not*base64!!!")), status: 401, reason: sdk.ReasonSignatureMismatch},
		{name: "signature base64 of the wrong length", write: sendAll(withSignature("v1,AAAA")), status: 401, reason: sdk.ReasonSignatureMismatch},
		{name: "signature empty after the version", write: sendAll(withSignature("v1,")), status: 401, reason: sdk.ReasonSignatureMismatch},
		{name: "signature header blank", write: sendAll(withSignature("   ")), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "timestamp int64 max", write: sendAll(withTimestamp("9223372036854775807")), status: 401, reason: sdk.ReasonTimestamp},
		{name: "timestamp int64 min", write: sendAll(withTimestamp("-9223372036854775808")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp int64 max + 1", write: sendAll(withTimestamp("9223372036854775808")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp 30 digits", write: sendAll(withTimestamp(strings.Repeat("9", 30))), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp negative", write: sendAll(withTimestamp("-1")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp non-numeric", write: sendAll(withTimestamp("yesterday")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp with exponent", write: sendAll(withTimestamp("1.7e9")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp with plus sign", write: sendAll(withTimestamp("+" + strconv.FormatInt(time.Now().Unix(), 10))), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp hexadecimal", write: sendAll(withTimestamp("0x6553f100")), status: 400, reason: sdk.ReasonMalformedHeader},
		{name: "timestamp zero", write: sendAll(withTimestamp("0")), status: 401, reason: sdk.ReasonTimestamp},
		{name: "timestamp 10 minutes old", write: sendAll(withTimestamp(strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10))), status: 401, reason: sdk.ReasonTimestamp},
		{name: "timestamp 10 minutes ahead", write: sendAll(withTimestamp(strconv.FormatInt(time.Now().Add(10*time.Minute).Unix(), 10))), status: 401, reason: sdk.ReasonTimestamp},
		{name: "timestamp missing", write: sendAll(req{host: host, header: [][2]string{{"Webhook-Id", "evt_x"}, {"Webhook-Signature", "v1,AAAA"}}, body: valid}.bytes()), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "event id missing", write: sendAll(req{host: host, header: [][2]string{{"Webhook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10)}, {"Webhook-Signature", "v1,AAAA"}}, body: valid}.bytes()), status: 400, reason: sdk.ReasonMissingHeader},
		// A body declared over the limit is refused; see
		// TestRegressionOversizedBodyNotRefusedBeforeReading for a
		// client that waits for the answer before sending it.
		{name: "body over the limit, declared and sent", write: sendAll(signed(bytes.Repeat([]byte("x"), corpusMaxBody+1)).bytes()),
			status: 413, reason: sdk.ReasonBodyTooLarge},
		{name: "body over the limit, 1 MiB chunked, 8 KiB every 10 ms", write: sendSlowly(bigHead, bigChunks, 8<<10+8, 10*time.Millisecond, false),
			status: 413, reason: sdk.ReasonBodyTooLarge, early: true, total: len(bigHead) + len(bigChunks)},
		{name: "body under the limit, 32 KiB sent 4 KiB every 20 ms", write: sendSlowly(slowHead, slowRest, 4<<10, 20*time.Millisecond, false), status: 200},
		{name: "body truncated, Content-Length 1000, 500 sent", write: func(c wconn) (int, error) {
			n, err := c.Write(truncated)
			if err == nil {
				err = c.CloseWrite()
			}
			return n, err
		}, status: 400, reason: sdk.ReasonBodyUnreadable},
		{name: "body truncated, chunked, no last chunk", write: sendSlowly(truncChunkHead, chunked(valid, 16, false), 1<<20, 0, true), status: 400, reason: sdk.ReasonBodyUnreadable},
		{name: "invalid UTF-8 outside strings", write: sendAll(signed(append([]byte{0xff, 0xfe}, valid...)).bytes()), status: 415, reason: sdk.ReasonPayloadNotJSON},
		{name: "binary body", write: sendAll(signed([]byte{0, 1, 2, 3, 0x80, 0xc0}).bytes()), status: 415, reason: sdk.ReasonPayloadNotJSON},
		{name: "JSON nested 10,000 deep", write: sendAll(signed([]byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))).bytes()), status: 422, reason: sdk.ReasonPayloadTooDeep},
		{name: "JSON nested 65 deep inside the event", write: sendAll(signed([]byte(`{"type":"chaos.event","data":` + strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat("}", 64) + `}`)).bytes()), status: 422, reason: sdk.ReasonPayloadTooDeep},
		{name: "JSON with trailing garbage", write: sendAll(signed(append(append([]byte{}, valid...), "}"...)).bytes()), status: 415, reason: sdk.ReasonPayloadNotJSON},
		{name: "schema violation", write: sendAll(signed([]byte(`{"type":"chaos.event","timestamp":"2026-11-22T10:00:00Z","data":{"n":-1}}`)).bytes()), status: 422, reason: sdk.ReasonSchemaViolation},
		{name: "unknown event type", write: sendAll(signed([]byte(`{"type":"chaos.unknown","data":{}}`)).bytes()), status: 422, reason: sdk.ReasonUnknownEventType},
		{name: "event type missing", write: sendAll(signed([]byte(`{"data":{}}`)).bytes()), status: 422, reason: sdk.ReasonEventTypeMissing},
		{name: "no body, signed", write: sendAll(signed(nil).bytes()), status: 415, reason: sdk.ReasonPayloadNotJSON},
		{name: "no body, unsigned", write: sendAll(unsigned(http.MethodPost, nil)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "GET, unsigned", write: sendAll(unsigned(http.MethodGet, nil)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "HEAD, unsigned", method: http.MethodHead, write: sendAll(unsigned(http.MethodHead, nil)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "PUT, unsigned", write: sendAll(unsigned(http.MethodPut, valid)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "DELETE, unsigned", write: sendAll(unsigned(http.MethodDelete, nil)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "OPTIONS, unsigned", write: sendAll(unsigned(http.MethodOptions, nil)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "PATCH, unsigned", write: sendAll(unsigned(http.MethodPatch, valid)), status: 400, reason: sdk.ReasonMissingHeader},
		{name: "valid webhook, first delivery", write: sendAll(dupReq.bytes()), status: 200},
		{name: "valid webhook, the same delivery again", write: sendAll(dupReq.bytes()), status: 200, reason: sdk.ReasonDuplicate, duplicate: true},
	}

	// Valid traffic throughout: every webhook must be forwarded.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var bgOK, bgFailed atomic.Int64
	var bgFirstErr atomic.Value
	bg.Add(1)
	go func() {
		defer bg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			body := eventBody("chaos.event", i)
			r, _ := http.NewRequest(http.MethodPost, g.URL, bytes.NewReader(body))
			r.Header = signedHeader(t, secret, fmt.Sprintf("evt_background_%d", i), body)
			resp, err := client.Do(r)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && resp.Header.Get(sdk.HeaderDuplicate) == "" {
					bgOK.Add(1)
					continue
				}
				err = fmt.Errorf("status %d, reason %q", resp.StatusCode, resp.Header.Get(sdk.HeaderReason))
			}
			bgFailed.Add(1)
			bgFirstErr.CompareAndSwap(nil, err.Error())
		}
	}()

	var table strings.Builder
	table.WriteString("| input | expected | answered |\n| --- | --- | --- |\n")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, sent, err := exchange(g.Addr, tc)
			if err != nil {
				fmt.Fprintf(&table, "| %s | %s | no answer: %v |\n", tc.name, answer(tc.status, tc.reason), err)
				t.Fatal(err)
			}
			got := sdk.Reason(resp.Header.Get(sdk.HeaderReason))
			fmt.Fprintf(&table, "| %s | %s | %s |\n", tc.name, answer(tc.status, tc.reason), answer(resp.StatusCode, got))
			if resp.StatusCode != tc.status || got != tc.reason {
				t.Errorf("got %d %q (%s), want %d %q", resp.StatusCode, got, resp.Header.Get("Hookgate-Message"), tc.status, tc.reason)
			}
			if dup := resp.Header.Get(sdk.HeaderDuplicate) == "true"; dup != tc.duplicate {
				t.Errorf("Hookgate-Duplicate: %v, want %v", dup, tc.duplicate)
			}
			if tc.early && sent >= tc.total {
				t.Errorf("answered only after the whole request (%d bytes) was sent", sent)
			}
			if !g.Alive() {
				t.Fatal("the gateway exited")
			}
		})
	}
	close(stop)
	bg.Wait()
	if !g.Alive() {
		t.Fatal("the gateway exited during the corpus")
	}
	if n := bgFailed.Load(); n > 0 || bgOK.Load() == 0 {
		t.Errorf("valid traffic during the corpus: %d forwarded, %d failed (first: %v)", bgOK.Load(), n, bgFirstErr.Load())
	}
	t.Logf("bad input corpus:\n%s\nvalid traffic during the corpus: %d webhooks forwarded, %d failed",
		table.String(), bgOK.Load(), bgFailed.Load())
}

// answer renders a status and reason for the report.
func answer(status int, reason sdk.Reason) string {
	switch {
	case reason != "":
		return fmt.Sprintf("%d %s", status, reason)
	case status == http.StatusOK:
		return "200, forwarded"
	}
	return fmt.Sprintf("%d (net/http, before the gateway)", status)
}

// exchange sends tc's request on a fresh connection and reads the answer
// while the request is still being written. It returns the response and
// how many bytes had been sent when it arrived.
func exchange(addr string, tc badCase) (*http.Response, int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	conn := c.(*net.TCPConn)
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		n, err := tc.write(countingConn{conn, &sent})
		_ = n
		wrote <- err
	}()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	sentAtAnswer := int(sent.Load())
	if err != nil {
		werr := <-wrote
		return nil, sentAtAnswer, fmt.Errorf("no response (write: %v): %w", werr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// Stop a writer still sending (slow bodies) and wait for it.
	_ = conn.SetWriteDeadline(time.Now())
	if werr := <-wrote; werr != nil && !isClosedByPeer(werr) {
		return nil, sentAtAnswer, fmt.Errorf("write: %w", werr)
	}
	return resp, sentAtAnswer, nil
}

// countingConn counts the bytes written through it.
type countingConn struct {
	*net.TCPConn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.TCPConn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) CloseWrite() error { return c.TCPConn.CloseWrite() }

// isClosedByPeer reports whether err is what writing to a connection the
// server has closed, or that exchange stopped, looks like.
func isClosedByPeer(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") || errors.Is(err, net.ErrClosed)
}
