package verify

import "errors"

// Errors reported by [Verifier.Verify], wrapped with detail. Match them
// with [errors.Is]. Their messages never contain a secret, a signature or
// any of the body.
var (
	// ErrMissingHeader: a header the scheme needs is absent or empty, or,
	// for schemes that carry them in the body, a signature, timestamp or
	// token field is.
	ErrMissingHeader = errors.New("verify: missing header")
	// ErrMalformedHeader: a header is present but cannot be parsed
	// (no signature in the expected layout, a timestamp that is not a
	// non-negative integer, too many signatures).
	ErrMalformedHeader = errors.New("verify: malformed header")
	// ErrTimestamp: the signed timestamp is outside the tolerance, too old
	// or too far in the future.
	ErrTimestamp = errors.New("verify: timestamp outside tolerance")
	// ErrSignatureMismatch: no signature in the request matches any
	// active key.
	ErrSignatureMismatch = errors.New("verify: no matching signature")
	// ErrMalformedSecret: a configured secret or public key cannot be
	// decoded (reported by New, never per request).
	ErrMalformedSecret = errors.New("verify: malformed secret")
	// ErrUnknownScheme: no built-in scheme has that name.
	ErrUnknownScheme = errors.New("verify: unknown scheme")
	// ErrConfig: the configuration is invalid; the message names the field.
	ErrConfig = errors.New("verify: invalid configuration")
)
