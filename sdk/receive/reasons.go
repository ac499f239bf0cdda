package receive

import (
	"errors"
	"net/http"

	"github.com/hookgate/hookgate/delivery"
	"github.com/hookgate/hookgate/idempotency"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/sdk"
	"github.com/hookgate/hookgate/verify"
)

// ErrBodyTooLarge and the other errors below are the pipeline's own
// rejections, beside those of verify, schemas and idempotency.
var (
	ErrBodyTooLarge   = errors.New("receive: body larger than the limit")
	ErrBodyUnreadable = errors.New("receive: body could not be read")
	ErrRateLimited    = errors.New("receive: rate limit exceeded")
)

// classes is the one table from error kind to HTTP status and reason. The
// net/http middleware and the Caddy handler both answer from it.
var classes = []struct {
	err    error
	status int
	reason sdk.Reason
}{
	{ErrRateLimited, http.StatusTooManyRequests, sdk.ReasonRateLimited},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, sdk.ReasonBodyTooLarge},
	{ErrBodyUnreadable, http.StatusBadRequest, sdk.ReasonBodyUnreadable},
	{verify.ErrMissingHeader, http.StatusBadRequest, sdk.ReasonMissingHeader},
	{verify.ErrMalformedHeader, http.StatusBadRequest, sdk.ReasonMalformedHeader},
	{verify.ErrSignatureMismatch, http.StatusUnauthorized, sdk.ReasonSignatureMismatch},
	{verify.ErrTimestamp, http.StatusUnauthorized, sdk.ReasonTimestamp},
	{schemas.ErrNotJSON, http.StatusUnsupportedMediaType, sdk.ReasonPayloadNotJSON},
	{schemas.ErrTooDeep, http.StatusUnprocessableEntity, sdk.ReasonPayloadTooDeep},
	{schemas.ErrTooLarge, http.StatusRequestEntityTooLarge, sdk.ReasonPayloadTooLarge},
	{schemas.ErrNoType, http.StatusUnprocessableEntity, sdk.ReasonEventTypeMissing},
	{schemas.ErrUnknownType, http.StatusUnprocessableEntity, sdk.ReasonUnknownEventType},
	{schemas.ErrInvalid, http.StatusUnprocessableEntity, sdk.ReasonSchemaViolation},
	{idempotency.ErrInFlight, http.StatusConflict, sdk.ReasonInFlight},
	{idempotency.ErrDuplicate, http.StatusOK, sdk.ReasonDuplicate},
	{idempotency.ErrUnavailable, http.StatusServiceUnavailable, sdk.ReasonStoreUnavailable},
	{delivery.ErrUnavailable, http.StatusServiceUnavailable, sdk.ReasonStoreUnavailable},
	{ErrSecretStore, http.StatusServiceUnavailable, sdk.ReasonStoreUnavailable},
	{ErrHandshakeRefused, http.StatusForbidden, sdk.ReasonHandshakeRefused},
}

// Classify returns the HTTP status and reason for an error returned by the
// pipeline or by the verify, schemas and idempotency packages. Unknown
// errors are 500 internal_error.
func Classify(err error) (status int, reason sdk.Reason) {
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.status, c.reason
		}
	}
	return http.StatusInternalServerError, sdk.ReasonInternal
}
