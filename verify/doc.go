// Package verify checks that a webhook's raw body and headers were signed
// by its provider, at an acceptable time.
//
// A provider's signing scheme is data: a [Scheme] names the header that
// carries the signature and how to parse it, the hash (or public-key
// algorithm) and encoding, the template of the signed content
// ("{id}.{timestamp}.{body}" for Standard Webhooks), where the event id,
// type and timestamp live, the provider's documented replay window, and
// the handshake the provider expects to have answered. [Preset] returns
// the built-in rows, one per provider ([Presets] lists them: Stripe,
// GitHub, Slack, Shopify, Twilio, Twitch, Zoom, HubSpot, Mailgun,
// SendGrid, Discord, GitLab and others); the "hmac" preset is a generic
// scheme to fill in.
//
// Three kinds of scheme share the one core:
//
//   - HMAC schemes (most providers) take shared secrets, and a [Signer]
//     can produce what they verify.
//   - Public-key schemes (Discord's Ed25519, SendGrid's ECDSA P-256, and
//     Standard Webhooks' "v1a") take Key.PublicKey; the private key stays
//     with the provider, so they are verified only.
//   - Token schemes (Okta's Authorization header, GitLab's X-Gitlab-Token)
//     compare a shared token in constant time. A token proves only that
//     the sender knows it: nothing about the body or its age.
//
// The safe sequence is:
//
//	scheme, err := verify.Preset("stripe")
//	v, err := verify.New(verify.Config{
//		Scheme: scheme,
//		Keys:   []verify.Key{{Name: "2026-11", Secret: os.Getenv("STRIPE_SECRET")}},
//	})
//	// per request, with the body exactly as received:
//	ev, err := v.Verify(&verify.Request{Header: r.Header, Body: raw})
//	if err != nil {
//		// errors.Is(err, verify.ErrSignatureMismatch), ErrTimestamp, ...
//	}
//	// ev.ID, ev.Type, ev.Timestamp, ev.Key (the name of the key that matched)
//	// dedup on ev.DedupKey, never on ev.ID; route on ev.Type where ev.TypeSigned
//
// Rules that hold for every scheme:
//
//   - The MAC is computed over the raw body bytes as received, without a copy;
//     nothing of the body is parsed before the signature has matched,
//     except by the schemes that carry their signature material in it
//     (Mailgun's signature, timestamp and token; Linear's timestamp),
//     which read those fields, and only those, first.
//   - Signatures are compared in constant time ([hmac.Equal]).
//   - Every configured key is tried against every signature in the header,
//     so keys can be rotated on either side; expired keys no longer verify.
//   - The timestamp, where the scheme signs one, must lie within the
//     tolerance in both directions: not too old, not too far in the future.
//   - Errors are the exported sentinels below, wrapped with detail; their
//     messages never contain a secret, a signature or the body.
//
// What the signature covers differs by provider, and whatever it does not
// cover can be changed by anyone who resends a delivery. Standard Webhooks
// signs its event id; GitHub signs the body only, so X-GitHub-Delivery
// and X-GitHub-Event are whatever the sender writes. [Scheme.IDSigned] and
// [Scheme.TypeSigned] (and [Scheme.IDSource], [Scheme.TypeSource]) say
// it per scheme, [Event.IDSigned] and [Event.TypeSigned] per request, and
// [Event.DedupKey] is the key to deduplicate on: the event id where it is
// signed, else a digest of the signed content, so that a signed body is
// let through once per dedup window whatever its unsigned headers say.
// [Scheme.NeedsURL], [Scheme.NeedsMethod] and [Scheme.NeedsForm] say what
// of the request a scheme signs besides its body and headers, and
// [Scheme.PlaceID] where a sender puts an event id.
//
// A [Verifier] is safe for concurrent use. Verifying a Standard Webhooks
// request allocates at most once (the event type read from the payload).
package verify
