package verify

import (
	"fmt"
	"strings"
)

// settingsDefault is the hash of a request that names none in its
// AlgorithmHeader: Twilio's Auth Token signature, HMAC-SHA1.
const settingsDefault = SHA1

// settingsName is how an AlgorithmHeader names alg ("HMAC_SHA256").
func settingsName(alg Algorithm) string { return "HMAC_" + strings.ToUpper(string(alg)) }

// requestAlgorithm reads the hash named by an AlgorithmHeader value:
// settingsDefault when it names none, false when it names one this
// package does not compute.
func requestAlgorithm(settings string) (Algorithm, bool) {
	for part := range strings.SplitSeq(settings, ",") {
		key, val, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(key) != "algorithm" {
			continue
		}
		val = strings.TrimSpace(val)
		if val == "" {
			break
		}
		for alg := range hashes {
			if strings.EqualFold(val, settingsName(alg)) {
				return alg, true
			}
		}
		return "", false
	}
	return settingsDefault, true
}

// newPerAlgorithm returns, for a scheme with an AlgorithmHeader, one
// Verifier per hash a request may name, each configured as cfg but for
// its hash.
func newPerAlgorithm(cfg Config) (map[Algorithm]*Verifier, error) {
	out := make(map[Algorithm]*Verifier, len(hashes))
	for alg := range hashes {
		sub := cfg
		sub.Scheme.Algorithm, sub.Scheme.AlgorithmHeader = alg, ""
		v, err := New(sub)
		if err != nil {
			return nil, err
		}
		out[alg] = v
	}
	return out, nil
}

// verifyNamed verifies r with the Verifier for the hash that its
// AlgorithmHeader names.
func (v *Verifier) verifyNamed(r *Request) (Event, error) {
	alg, ok := requestAlgorithm(header(r.Header, []string{v.scheme.AlgorithmHeader}))
	if !ok {
		return Event{}, fmt.Errorf("%w: %s: unsupported algorithm (want HMAC_SHA1, HMAC_SHA256 or HMAC_SHA512)", ErrMalformedHeader, v.scheme.AlgorithmHeader)
	}
	return v.perAlgorithm[alg].Verify(r)
}
