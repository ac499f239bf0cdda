package caddymodule

import (
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hookgate/hookgate/verify"
)

// secretHeaderWords are parts of header names that mark a header as
// secret: the events API never returns such a header, whatever the
// scheme, even though the relay strips the scheme's own before recording.
var secretHeaderWords = []string{
	"signature", "secret", "token", "auth", "cookie", "password", "passwd",
	"api-key", "apikey", "x-api", "credential", "session", "hmac",
}

// secretHeaders returns the canonical names of every preset's signature,
// token and secret headers, plus the standard credential headers.
var secretHeaders = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{
		"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
		"X-Hook-Secret": true,
	}
	for _, name := range verify.Presets() {
		if s, err := verify.Preset(name); err == nil {
			for _, h := range s.SecretHeaders() {
				m[http.CanonicalHeaderKey(h)] = true
			}
		}
	}
	return m
})

// secretHeader reports whether the header named name may carry a secret,
// a signature or a credential.
func secretHeader(name string) bool {
	if secretHeaders()[http.CanonicalHeaderKey(name)] {
		return true
	}
	lower := strings.ToLower(name)
	for _, w := range secretHeaderWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// publicHeaders returns a copy of h without any header that may carry a
// secret, a signature or a credential.
func publicHeaders(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		if !secretHeader(k) {
			out[k] = append([]string(nil), vs...)
		}
	}
	return out
}

// utf8Text reports whether b is UTF-8 text (no NUL), shown as a string
// rather than base64.
func utf8Text(b []byte) bool {
	return utf8.Valid(b) && !strings.ContainsRune(string(b), 0)
}
