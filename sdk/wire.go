package sdk

// Response headers a hookgate receiver sets on everything it answers
// itself, and that a hookgate sender reads.
const (
	// HeaderReason carries the Reason of a rejection or of a duplicate,
	// so that a sender learns why even when an error page hides the body.
	HeaderReason = "Hookgate-Reason"
	// HeaderDuplicate is "true" on the 200 answered for a completed
	// duplicate that was not forwarded.
	HeaderDuplicate = "Hookgate-Duplicate"
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
	ReasonInFlight          Reason = "in_flight"                  // 409
	ReasonDuplicate         Reason = "duplicate"                  // 200, not forwarded
	ReasonStoreUnavailable  Reason = "store_unavailable"          // 503
	ReasonHandshakeRefused  Reason = "handshake_refused"          // 403
	ReasonInternal          Reason = "internal_error"             // 500
)
