package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}}

// benchBody is a Standard Webhooks-like payload of about n bytes.
func benchBody(n int) []byte {
	head := `{"type":"invoice.paid","timestamp":"2026-11-22T21:00:00Z","data":{"pad":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// BenchmarkVerify measures the standard scheme end to end (header parsing,
// timestamp, HMAC, constant-time compare, reading the event type), and
// GitHub's, whose unsigned id makes DedupKey a SHA-256 of the body.
func BenchmarkVerify(b *testing.B) {
	for _, name := range []string{"standard", "github"} {
		s, _ := Preset(name)
		for _, sz := range benchSizes {
			body := benchBody(sz.n)
			r := signed(b, s, testSecret, t0, body)
			v := newVerifier(b, s)
			b.Run(name+"/"+sz.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBaselineHMAC is the baseline the issue sets: a bare
// hmac.New(sha256.New, key) + Write + Sum over the same signed content,
// already assembled.
func BenchmarkBaselineHMAC(b *testing.B) {
	key, _ := decodeSecret(testSecret, SecretBase64)
	for _, sz := range benchSizes {
		content := []byte(fmt.Sprintf("evt_1.%d.%s", t0.Unix(), benchBody(sz.n)))
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			for b.Loop() {
				h := hmac.New(sha256.New, key)
				h.Write(content)
				_ = h.Sum(nil)
			}
		})
	}
}

// BenchmarkBareSHA256 is the floor: a plain SHA-256 of the same content.
func BenchmarkBareSHA256(b *testing.B) {
	for _, sz := range benchSizes {
		content := []byte(fmt.Sprintf("evt_1.%d.%s", t0.Unix(), benchBody(sz.n)))
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			for b.Loop() {
				_ = sha256.Sum256(content)
			}
		})
	}
}
