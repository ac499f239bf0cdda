package receive

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/verify"
)

// benchRequests pre-signs n distinct 1 KiB Standard Webhooks requests.
func benchRequests(b *testing.B, n int) ([]*http.Request, []*bytes.Reader) {
	s, _ := verify.Preset("standard")
	sg, _ := verify.NewSigner(s, verify.Key{Secret: secret})
	head := `{"type":"invoice.paid","data":{"pad":"`
	body := []byte(head + strings.Repeat("x", 1024-len(head)-3) + `"}}`)
	reqs := make([]*http.Request, n)
	bodies := make([]*bytes.Reader, n)
	for i := range reqs {
		hdr, err := sg.Sign(verify.Message{ID: "evt_" + strconv.Itoa(i), Timestamp: now0, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = bytes.NewReader(body)
		r := httptest.NewRequest(http.MethodPost, "/hook", bodies[i])
		for k, v := range hdr {
			r.Header[k] = v
		}
		reqs[i] = r
	}
	return reqs, bodies
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// SetReadDeadline is a server's (net/http's response supports it), so the
// body's read deadline costs here what it costs there, less the timer.
func (d *discardWriter) SetReadDeadline(time.Time) error { return nil }

// BenchmarkMiddleware compares the full pipeline (verify + memory dedup,
// claim and complete) on a 1 KiB webhook with the bare handler in the same
// run. Each request carries a fresh id: the dedup clock jumps past the
// done TTL every time the pre-signed pool wraps.
func BenchmarkMiddleware(b *testing.B) {
	const pool = 4096
	reqs, bodies := benchRequests(b, pool)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	w := &discardWriter{h: http.Header{}}

	b.Run("bare", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := reqs[i%pool]
			i++
			handler.ServeHTTP(w, r)
		}
	})

	// The machine's speed in the same run: one hmac.New + Write + Sum over
	// the same signed content (the baseline of ../shared/bench/BASELINES.md,
	// 1,375 ns there), to read the pipeline's figure against.
	b.Run("hmac-reference", func(b *testing.B) {
		key := make([]byte, 32)
		content := append([]byte("evt_0.1700000000."), make([]byte, 1024)...)
		b.ReportAllocs()
		for b.Loop() {
			h := hmac.New(sha256.New, key)
			h.Write(content)
			_ = h.Sum(nil)
		}
	})

	b.Run("pipeline", func(b *testing.B) {
		var epoch time.Duration
		mem := idempotency.NewMemory(idempotency.MemoryConfig{Now: func() time.Time { return now0.Add(epoch) }})
		dd, _ := idempotency.New(idempotency.Config{Store: mem})
		s, _ := verify.Preset("standard")
		v, _ := verify.New(verify.Config{Scheme: s, Keys: []verify.Key{{Secret: secret}}, Now: func() time.Time { return now0 }})
		rc, err := New(Config{Source: "bench", Verifier: v, Dedup: dd, Now: func() time.Time { return now0 }})
		if err != nil {
			b.Fatal(err)
		}
		mw := rc.Middleware(handler)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%pool == 0 {
				epoch += 100 * time.Hour
			}
			r := reqs[i%pool]
			bodies[i%pool].Seek(0, 0)
			r.Body = http.NoBody
			r.Body = readCloser{bodies[i%pool]}
			i++
			mw.ServeHTTP(w, r)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
