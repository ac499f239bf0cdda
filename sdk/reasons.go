package sdk

import (
	"errors"
	"net/http"

	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/verify"
)

// Reason is a stable, machine-readable name for why a webhook was turned
// away (or answered without being forwarded). Reasons never change once
// released; the table in the package documentation lists them all.
type Reason string

// The reasons, by the step of the pipeline that decides them.
const (
	ReasonRateLimited       Reason = "rate_limited"               // 429
	ReasonBodyTooLarge      Reason = "body_too_large"             // 413
	ReasonBodyUnreadable    Reason = "body_unreadable"            // 400
	ReasonMissingHeader     Reason = "missing_header"             // 400
	ReasonMalformedHeader   Reason = "malformed_header"           // 400
	ReasonSignatureMismatch Reason = "signature_mismatch"         // 401
	ReasonTimestamp         Reason = "timestamp_out_of_tolerance" // 401
	ReasonPayloadNotJSON    Reason = "payload_not_json"           // 415
	ReasonPayloadTooDeep    Reason = "payload_too_deep"           // 422
	ReasonPayloadTooLarge   Reason = "payload_too_large"          // 413
	ReasonEventTypeMissing  Reason = "event_type_missing"         // 422
	ReasonUnknownEventType  Reason = "unknown_event_type"         // 422
	ReasonSchemaViolation   Reason = "schema_violation"           // 422
	ReasonEventIDMissing    Reason = "event_id_missing"           // 400
	ReasonInFlight          Reason = "in_flight"                  // 409
	ReasonDuplicate         Reason = "duplicate"                  // 200, not forwarded
	ReasonStoreUnavailable  Reason = "store_unavailable"          // 503
	ReasonHandshakeRefused  Reason = "handshake_refused"          // 403
	ReasonInternal          Reason = "internal_error"             // 500
)

// ErrBodyTooLarge and the other errors below are the pipeline's own
// rejections, beside those of verify, schemas and idempotency.
var (
	ErrBodyTooLarge   = errors.New("sdk: body larger than the limit")
	ErrBodyUnreadable = errors.New("sdk: body could not be read")
	ErrRateLimited    = errors.New("sdk: rate limit exceeded")
	ErrNoEventID      = errors.New("sdk: verified webhook carries no event id to deduplicate on")
)

// classes is the one table from error kind to HTTP status and reason. The
// net/http middleware and the Caddy handler both answer from it.
var classes = []struct {
	err    error
	status int
	reason Reason
}{
	{ErrRateLimited, http.StatusTooManyRequests, ReasonRateLimited},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, ReasonBodyTooLarge},
	{ErrBodyUnreadable, http.StatusBadRequest, ReasonBodyUnreadable},
	{verify.ErrMissingHeader, http.StatusBadRequest, ReasonMissingHeader},
	{verify.ErrMalformedHeader, http.StatusBadRequest, ReasonMalformedHeader},
	{verify.ErrSignatureMismatch, http.StatusUnauthorized, ReasonSignatureMismatch},
	{verify.ErrTimestamp, http.StatusUnauthorized, ReasonTimestamp},
	{schemas.ErrNotJSON, http.StatusUnsupportedMediaType, ReasonPayloadNotJSON},
	{schemas.ErrTooDeep, http.StatusUnprocessableEntity, ReasonPayloadTooDeep},
	{schemas.ErrTooLarge, http.StatusRequestEntityTooLarge, ReasonPayloadTooLarge},
	{schemas.ErrNoType, http.StatusUnprocessableEntity, ReasonEventTypeMissing},
	{schemas.ErrUnknownType, http.StatusUnprocessableEntity, ReasonUnknownEventType},
	{schemas.ErrInvalid, http.StatusUnprocessableEntity, ReasonSchemaViolation},
	{ErrNoEventID, http.StatusBadRequest, ReasonEventIDMissing},
	{idempotency.ErrInFlight, http.StatusConflict, ReasonInFlight},
	{idempotency.ErrDuplicate, http.StatusOK, ReasonDuplicate},
	{idempotency.ErrUnavailable, http.StatusServiceUnavailable, ReasonStoreUnavailable},
	{ErrSecretStore, http.StatusServiceUnavailable, ReasonStoreUnavailable},
	{ErrHandshakeRefused, http.StatusForbidden, ReasonHandshakeRefused},
}

// Classify returns the HTTP status and reason for an error returned by the
// pipeline or by the verify, schemas and idempotency packages. Unknown
// errors are 500 internal_error.
func Classify(err error) (status int, reason Reason) {
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.status, c.reason
		}
	}
	return http.StatusInternalServerError, ReasonInternal
}
