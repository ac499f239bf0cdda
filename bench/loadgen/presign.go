package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// EventType is the event type of every generated body; bench/schemas has
// its schema.
const EventType = "bench.event"

// Body returns a JSON event of exactly size bytes that is valid against
// bench/schemas/bench.event.json: line items up to the size, then a
// padding string to hit it exactly. size must be at least 256.
func Body(size int) ([]byte, error) {
	if size < 256 {
		return nil, fmt.Errorf("body size %d: want at least 256 bytes", size)
	}
	b := make([]byte, 0, size+128)
	b = append(b, `{"type":"`+EventType+`","timestamp":"2026-11-22T10:00:00Z","data":{"id":"ord_1","amount":12000,"currency":"EUR","items":[`...)
	const tail = `]},"pad":""}`
	for i := 0; ; i++ {
		item := `{"sku":"sku-` + strconv.Itoa(i) + `","qty":` + strconv.Itoa(i%9+1) + `,"note":"line item for the load benchmark"}`
		sep := ""
		if i > 0 {
			sep = ","
		}
		if len(b)+len(sep)+len(item)+len(tail) > size {
			break
		}
		b = append(b, sep...)
		b = append(b, item...)
	}
	b = append(b, `]},"pad":"`...)
	for len(b)+2 < size {
		b = append(b, 'x')
	}
	b = append(b, `"}`...)
	if len(b) != size {
		return nil, fmt.Errorf("body size %d: built %d bytes", size, len(b))
	}
	return b, nil
}

// NewSecret returns a random Standard Webhooks secret, "whsec_" and 32
// bytes in base64.
func NewSecret() string {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(k[:])
}

// RunPrefix returns a random event id prefix, so that no two runs (and
// no two processes) send the same event id.
func RunPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Presigned holds n signed requests that share one body: the request
// line and headers of each (with its own event id, timestamp and
// signature) in one arena, and the body once.
type Presigned struct {
	Body  []byte
	arena []byte
	ends  []int // request i's head is arena[ends[i-1]:ends[i]]
}

// Len returns the number of requests.
func (p *Presigned) Len() int { return len(p.ends) }

// Head returns the request line and headers of request i, ending with the
// blank line.
func (p *Presigned) Head(i int) []byte {
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.arena[start:p.ends[i]:p.ends[i]]
}

// Presign signs n requests for host (the Host header) and path with
// secret, event ids prefix-0, prefix-1, ..., all timestamped now. It uses
// every CPU it may, before the timed part of a run.
func Presign(n int, host, path, secret, prefix string, body []byte) (*Presigned, error) {
	scheme, err := verify.Preset("standard")
	if err != nil {
		return nil, err
	}
	signer, err := verify.NewSigner(scheme, verify.Key{Secret: secret})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	workers := max(1, runtime.GOMAXPROCS(0))
	parts := make([][]byte, workers)
	ends := make([][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, (hi-lo)*320)
			e := make([]int, 0, hi-lo)
			for i := lo; i < hi; i++ {
				id := prefix + "-" + strconv.Itoa(i)
				h, err := signer.Sign(verify.Message{ID: id, Timestamp: now, Body: body})
				if err != nil {
					errs[w] = err
					return
				}
				buf = appendHead(buf, host, path, len(body), id, h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature"))
				e = append(e, len(buf))
			}
			parts[w], ends[w] = buf, e
		}()
	}
	wg.Wait()
	p := &Presigned{Body: body, ends: make([]int, 0, n)}
	for w := range workers {
		if errs[w] != nil {
			return nil, errs[w]
		}
		off := len(p.arena)
		p.arena = append(p.arena, parts[w]...)
		for _, e := range ends[w] {
			p.ends = append(p.ends, off+e)
		}
	}
	return p, nil
}

func appendHead(b []byte, host, path string, bodyLen int, id, ts, sig string) []byte {
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: hookgate-loadgen\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(bodyLen), 10)
	b = append(b, "\r\nWebhook-Id: "...)
	b = append(b, id...)
	b = append(b, "\r\nWebhook-Timestamp: "...)
	b = append(b, ts...)
	b = append(b, "\r\nWebhook-Signature: "...)
	b = append(b, sig...)
	b = append(b, "\r\n\r\n"...)
	return b
}
