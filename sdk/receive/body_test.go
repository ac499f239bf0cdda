package receive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// bodyOf returns a JSON body of n bytes whose content depends on tag, so
// that one request's bytes are never mistaken for another's.
func bodyOf(tag string, n int) string {
	head := `{"type":"invoice.paid","tag":"` + tag + `","pad":"`
	return head + strings.Repeat(tag[:1], n-len(head)-2) + `"}`
}

// TestBodyReleasedAfterRequest checks the pooled body's life: a reader
// kept past the request gets an error once the buffer went back to the
// pool, never the bytes of a later request.
func TestBodyReleasedAfterRequest(t *testing.T) {
	h := newHarness(t, nil)
	var (
		kept    io.ReadCloser
		getBody func() (io.ReadCloser, error)
		calls   int
	)
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		b, err := io.ReadAll(r.Body)
		if want := bodyOf(fmt.Sprint(calls), 700); err != nil || string(b) != want {
			t.Errorf("call %d read %q, %v; want %q", calls, b, err, want)
		}
		if calls == 1 {
			kept, getBody = r.Body, r.GetBody
		}
	}))
	for i := 1; i <= 3; i++ {
		if w := h.do(h.request(fmt.Sprint("evt_", i), bodyOf(fmt.Sprint(i), 700), now0)); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	if n, err := kept.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBodyReleased) {
		t.Errorf("kept r.Body read after the request: %d, %v; want errBodyReleased", n, err)
	}
	rb, err := getBody()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rb); len(b) != 0 || !errors.Is(err, errBodyReleased) {
		t.Errorf("GetBody read after the request: %q, %v; want errBodyReleased", b, err)
	}
}

// TestEventBodyOutlivesRequest checks that Event.Body from EventFrom stays
// the request's bytes however many requests follow: its buffer is never
// reused.
func TestEventBodyOutlivesRequest(t *testing.T) {
	h := newHarness(t, nil)
	var kept [][]byte
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := EventFrom(r.Context())
		kept = append(kept, ev.Body)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	for i := range 50 {
		if w := h.do(h.request(fmt.Sprint("evt_", i), bodyOf(fmt.Sprint(i%10), 700), now0)); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	for i, b := range kept {
		if want := bodyOf(fmt.Sprint(i%10), 700); string(b) != want {
			t.Fatalf("Event.Body of request %d changed after it was done: %q", i, b)
		}
	}
}

// TestEventFromAfterRequest checks EventFrom on a context kept past the
// request, whose body nobody took: the event, without its Body.
func TestEventFromAfterRequest(t *testing.T) {
	h := newHarness(t, nil)
	var kept context.Context
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kept = r.Context()
		if ev, ok := EventMeta(r.Context()); !ok || ev.ID != "evt_1" || ev.Body != nil {
			t.Errorf("EventMeta: %+v, %v; want evt_1 without a body", ev, ok)
		}
	}))
	if w := h.do(h.request("evt_1", bodyOf("x", 700), now0)); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	ev, ok := EventFrom(kept)
	if !ok || ev.ID != "evt_1" || ev.Type != "invoice.paid" || ev.Body != nil {
		t.Errorf("EventFrom after the request: %+v, %v; want evt_1 without a body", ev, ok)
	}
}

// TestBodyBufStates drives the buffer's states directly: a read under way
// or an exposed body keeps the buffer from the pool.
func TestBodyBufStates(t *testing.T) {
	fill := func() *bodyBuf {
		pb := getBuf(5)
		copy(pb.b, "hello")
		return &bodyBuf{b: pb.b[:5], pb: pb}
	}

	bb := fill()
	if !bb.acquire() {
		t.Fatal("acquire on a fresh buffer failed")
	}
	bb.release() // a read is under way: must not release
	bb.done()
	if b, err := io.ReadAll(&bodyReader{buf: bb}); string(b) != "hello" || err != nil {
		t.Errorf("read after a release during a read: %q, %v; want hello", b, err)
	}

	bb = fill()
	if !bb.expose() {
		t.Fatal("expose on a fresh buffer failed")
	}
	bb.release()
	if b, err := io.ReadAll(&bodyReader{buf: bb}); string(b) != "hello" || err != nil {
		t.Errorf("read of an exposed body after release: %q, %v; want hello", b, err)
	}

	bb = fill()
	bb.release()
	if bb.acquire() || bb.expose() {
		t.Error("acquire or expose succeeded on a released buffer")
	}

	unpooled := &bodyBuf{b: []byte("x")}
	unpooled.release()
	if !unpooled.acquire() {
		t.Error("a buffer of its own was released")
	}
}

// TestLateReadersNeverSeeOtherBodies races readers that outlive their
// request against later requests reusing buffers (run it with -race): a
// late reader gets a prefix of its own body and then an error, never
// another request's bytes.
func TestLateReadersNeverSeeOtherBodies(t *testing.T) {
	h := newHarness(t, nil)
	var late sync.WaitGroup
	h.handler = h.rc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := EventMeta(r.Context())
		want := bodyOf(strings.TrimPrefix(ev.ID, "evt_")[:1], 700)
		body := r.Body
		late.Add(1)
		go func() {
			defer late.Done()
			var got []byte
			buf := make([]byte, 64)
			for {
				n, err := body.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					if err != io.EOF && !errors.Is(err, errBodyReleased) {
						t.Errorf("late read: %v", err)
					}
					break
				}
			}
			if !strings.HasPrefix(want, string(got)) {
				t.Errorf("late reader of %s got foreign bytes: %q", ev.ID, got)
			}
		}()
	}))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := fmt.Sprintf("evt_%d_%d", (g+i)%10, g*1000+i)
				r := h.request(id, bodyOf(fmt.Sprint((g+i)%10), 700), now0)
				if w := h.do(r); w.Code != 200 {
					t.Errorf("%s: %d %s", id, w.Code, bytes.TrimSpace(w.Body.Bytes()))
				}
			}
		}()
	}
	wg.Wait()
	late.Wait()
}
