// Package caddymodule is the hookgate Caddy module: the http.handlers.webhook_verify
// handler (Caddyfile directive webhook_verify) and the http.matchers.webhook_event
// matcher.
//
// The handler is a thin adapter over package sdk/receive's Receiver, which runs
// the whole pipeline (rate limit, bounded body read, signature, schema,
// idempotency claim, forward, complete or release). This package only turns
// Caddy configuration into receive, verify, schemas, idempotency and ratelimit
// values, shares Redis clients and in-memory state across config reloads
// (caddy.UsagePool), exposes the verified event as placeholders, and hangs
// metrics and logs on the Receiver's Observer.
//
// Placeholders set for a verified webhook, for later handlers, matchers and
// logs:
//
//	{http.webhook.id}         the provider's event id
//	{http.webhook.type}       the event type
//	{http.webhook.source}     the configured source name
//	{http.webhook.timestamp}  the signed timestamp, Unix seconds
//	{http.webhook.key}        the name of the secret that matched
//	{http.webhook.verified}   true, or false for a shadow-forwarded failure
//	{http.webhook.type_signed} whether the type came from signed content
//
// and, when the webhook is turned away, {http.webhook.reason}: the stable
// reason (also sent to the client in the Hookgate-Reason header). They are
// resolved when used (one Replacer.Map provider), not set per request.
//
// When the server writes access logs, each entry of a forwarded webhook
// carries webhook_id, webhook_type and webhook_source, and a rejected one
// webhook_reason.
// Rejections are returned as Caddy handler errors with the status from the
// sdk's table, so handle_errors can shape them.
//
// A handler with a deliver block records its events through the hookgate
// app ([App]), which runs one delivery engine per store and serves the
// events API (admin.api.hookgate). Its global Caddyfile option says what
// the stores keep:
//
//	{
//		hookgate {
//			record    full|metadata_only     # metadata_only: headers and body dropped once delivered
//			retention {
//				delivered <duration>|forever  # default 72h
//				dead      <duration>|forever  # default 30d
//			}
//			hide_payloads                     # the events API shows metadata only
//		}
//	}
package caddymodule
