package verify

import (
	"net/textproto"
	"slices"
)

// SecretHeaders returns the request headers of s whose values must never
// reach a log: the signature headers, the token headers, and the header in
// which a handshake hands a secret over (Asana's X-Hook-Secret). Names
// are in canonical form, without duplicates.
func (s Scheme) SecretHeaders() []string {
	var out []string
	add := func(hs ...string) {
		for _, h := range hs {
			// Canonical, as in the http.Header a log records.
			if h = textproto.CanonicalMIMEHeaderKey(h); h != "" && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	add(s.SignatureHeaders...)
	add(s.TokenHeaders...)
	if s.Handshake == HandshakeAsana {
		add("X-Hook-Secret")
	}
	return out
}

// SecretQueryParams returns the query parameters of s's requests whose
// values must never reach a log: Meta's subscription handshake carries
// its verify token in hub.verify_token.
func (s Scheme) SecretQueryParams() []string {
	if s.Handshake == HandshakeMeta {
		return []string{"hub.verify_token"}
	}
	return nil
}
