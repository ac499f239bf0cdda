// Package receive is the receiving end of hookgate's webhook pipeline for
// Go programs: net/http middleware that runs the same pipeline as the Caddy
// gateway.
//
// A [Receiver] is configured once per source (one provider endpoint) and
// runs, in this order:
//
//  1. rate limit, before a byte of the body is read;
//  2. read the body whole, within MaxBodyBytes (a Content-Length over the
//     limit is refused before reading);
//  3. verify signature and timestamp over the raw bytes (package verify);
//  4. validate the payload against its event type's JSON Schema, when
//     configured (package schemas);
//  5. claim the event id (package idempotency), so that each event is
//     forwarded once across retries and instances;
//  6. call the next handler with the body restored byte for byte and the
//     [Event] in the context ([EventFrom]);
//  7. complete the claim if the handler wrote a 2xx, release it otherwise
//     (non-2xx, an error, a panic), so that the provider's retry is
//     forwarded.
//
// The safe sequence:
//
//	v, _ := verify.New(verify.Config{Scheme: scheme, Keys: keys})
//	rc, err := receive.New(receive.Config{Source: "stripe", Verifier: v})
//	mux.Handle("/hooks/stripe", rc.Middleware(handler))
//	// in handler: ev, _ := receive.EventFrom(r.Context())
//
// A webhook is acknowledged with a 2xx only when the next handler accepted
// it, or when it is a verified duplicate of one that was accepted.
//
// # Rejections
//
// Every rejection has a status, a stable [sdk.Reason] and a one-line message,
// written as {"error":"<reason>","message":"..."} with the reason also in
// the Hookgate-Reason header. One table ([Classify]) decides them for the
// middleware and the Caddy handler alike:
//
//	status  reason                      when
//	429     rate_limited                over the rate limit (Retry-After, RateLimit, RateLimit-Policy)
//	413     body_too_large              body or Content-Length over MaxBodyBytes
//	400     body_unreadable             the body could not be read (truncated, reset)
//	400     missing_header              a header the scheme needs is absent
//	400     malformed_header            a header cannot be parsed (bad timestamp, no signature, too many)
//	401     signature_mismatch          no signature matches an active key
//	401     timestamp_out_of_tolerance  the signed timestamp is too old or too far ahead
//	415     payload_not_json            schema validation on a body that is not JSON
//	422     payload_too_deep            JSON nested deeper than the schema limit
//	413     payload_too_large           body larger than the schema validator accepts
//	422     event_type_missing          no event type in header or payload
//	422     unknown_event_type          no schema for the type and unknown types are rejected
//	422     schema_violation            the payload does not match its schema (pointers in message)
//	409     in_flight                   the same event is being processed elsewhere (Retry-After)
//	200     duplicate                   completed before: not forwarded (Hookgate-Duplicate: true)
//	503     store_unavailable           the dedup store is unreachable, fail-closed (Retry-After), or the handshake SecretStore failed
//	403     handshake_refused           an Asana handshake brings another secret than the one kept (HandshakeConfig.Secrets)
//	500     internal_error              anything else
//
// # Body buffers
//
// Bodies of declared length are read into pooled buffers. A buffer is
// reused for a later request only once nothing can reach it: the next
// handler has returned, no read of the restored r.Body (or of a GetBody
// copy) is under way, and [EventFrom] was never called, since its Body is
// the buffer itself and stays valid for as long as it is referenced. A
// reader kept past the request (a transport still writing after its
// response came) then gets an error, never another request's bytes; so
// does EventFrom's Body when EventFrom is first called after the request
// is done (it comes back nil). [EventMeta] returns the event without its
// Body and leaves the buffer to be reused: adapters and observers that
// only label or count events use it.
//
// # Forwarding past a hang-up
//
// With Config.Detach, the next handler runs under a context that the
// provider hanging up does not cancel (bounded by Detach instead), so a
// handler that passes the webhook on finishes, and its 2xx completes the
// claim, instead of a cancelled call releasing it and the provider's retry
// being delivered a second time. The Caddy handler sets it to just under
// the dedup lock TTL.
//
// # Shadow mode
//
// With Config.Shadow, every check runs and every decision is reported to
// the Observer, but every request that could be read is forwarded.
//
// # Gateway attestation
//
// A gateway may re-sign what it forwards ([Attester]) with its own key,
// under [AttestationScheme]; the app behind it verifies with a Receiver
// built on [NewAttestationVerifier] and needs no provider secret.
package receive
