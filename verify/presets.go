package verify

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// standardWebhooks is the Standard Webhooks row, shared by the providers
// that send it unchanged (Svix, Clerk, Resend).
var standardWebhooks = Scheme{
	Name:             "standard",
	SignatureHeaders: []string{"webhook-signature", "svix-signature"},
	Format:           FormatList,
	SignatureKey:     "v1",
	PublicKeyVersion: "v1a",
	Encoding:         Base64,
	Algorithm:        SHA256,
	SecretEncoding:   SecretBase64,
	Content:          "{id}.{timestamp}.{body}",
	IDHeaders:        []string{"webhook-id", "svix-id"},
	TimestampHeaders: []string{"webhook-timestamp", "svix-timestamp"},
	TypeField:        "type",
	Tolerance:        5 * time.Minute,
}

// alias returns s under another name.
func alias(s Scheme, name string) Scheme {
	s.Name = name
	return s
}

// svixSent is the Standard Webhooks row under the svix-* header names that
// Svix sends, for Svix and the providers that deliver through it (Clerk,
// Resend), whose own verifiers read only those. The webhook-* names are
// still accepted; a Signer writes the svix-* ones.
func svixSent(name string) Scheme {
	s := alias(standardWebhooks, name)
	s.SignatureHeaders = []string{"svix-signature", "webhook-signature"}
	s.IDHeaders = []string{"svix-id", "webhook-id"}
	s.TimestampHeaders = []string{"svix-timestamp", "webhook-timestamp"}
	return s
}

// presets are the built-in schemes, by name. Adding a provider is adding a
// row here, its test vectors (testdata/presets.json) and its line in the
// README's scheme table.
var presets = map[string]Scheme{
	"standard": standardWebhooks,
	"svix":     svixSent("svix"),
	"clerk":    svixSent("clerk"),
	"resend":   svixSent("resend"),
	"stripe": {
		Name:             "stripe",
		SignatureHeaders: []string{"Stripe-Signature"},
		Format:           FormatPairs,
		PairSeparator:    ",",
		TimestampKey:     "t",
		SignatureKey:     "v1",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{timestamp}.{body}",
		IDField:          "id",
		TypeField:        "type",
		Tolerance:        5 * time.Minute,
	},
	"github": {
		Name:             "github",
		SignatureHeaders: []string{"X-Hub-Signature-256"},
		Prefix:           "sha256=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-GitHub-Delivery"},
		TypeHeaders:      []string{"X-GitHub-Event"},
	},
	"slack": {
		Name:             "slack",
		SignatureHeaders: []string{"X-Slack-Signature"},
		Prefix:           "v0=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "v0:{timestamp}:{body}",
		TimestampHeaders: []string{"X-Slack-Request-Timestamp"},
		IDField:          "event_id",
		TypeField:        "type",
		Handshake:        HandshakeSlack,
		Tolerance:        5 * time.Minute,
	},
	// Shopify's newer deliveries (its "events") drop the X- prefix.
	"shopify": {
		Name:             "shopify",
		SignatureHeaders: []string{"X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256"},
		Encoding:         Base64,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-Shopify-Webhook-Id", "Shopify-Webhook-Id", "X-Shopify-Event-Id", "Shopify-Event-Id"},
		TypeHeaders:      []string{"X-Shopify-Topic", "Shopify-Topic"},
	},
	"paddle": {
		Name:             "paddle",
		SignatureHeaders: []string{"Paddle-Signature"},
		Format:           FormatPairs,
		PairSeparator:    ";",
		TimestampKey:     "ts",
		SignatureKey:     "h1",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{timestamp}:{body}",
		IDField:          "event_id",
		TypeField:        "event_type",
		Tolerance:        5 * time.Second,
	},
	"twilio": {
		Name:             "twilio",
		SignatureHeaders: []string{"X-Twilio-Signature"},
		Encoding:         Base64,
		Algorithm:        SHA1,
		AlgorithmHeader:  "X-Twilio-Webhooks-Signature-Settings", // SharedKey: HMAC_SHA256
		Content:          "{url}{form}",
		IDHeaders:        []string{"I-Twilio-Idempotency-Token"},
		BodyHashParam:    "bodySHA256",
		URLPortVariants:  true,
	},
	"square": {
		Name:             "square",
		SignatureHeaders: []string{"X-Square-Hmacsha256-Signature"},
		Encoding:         Base64,
		Algorithm:        SHA256,
		Content:          "{url}{body}",
		IDField:          "event_id",
		TypeField:        "type",
	},
	"linear": {
		Name:             "linear",
		SignatureHeaders: []string{"Linear-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		TimestampField:   "webhookTimestamp",
		TimestampFormat:  UnixMillis,
		IDHeaders:        []string{"Linear-Delivery"},
		TypeHeaders:      []string{"Linear-Event"},
		TypeField:        "type",
		Tolerance:        time.Minute,
	},
	"zoom": {
		Name:             "zoom",
		SignatureHeaders: []string{"x-zm-signature"},
		Prefix:           "v0=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "v0:{timestamp}:{body}",
		TimestampHeaders: []string{"x-zm-request-timestamp"},
		TypeField:        "event",
		Handshake:        HandshakeZoom,
	},
	"intercom": {
		Name:             "intercom",
		SignatureHeaders: []string{"X-Hub-Signature"},
		Prefix:           "sha1=",
		Encoding:         Hex,
		Algorithm:        SHA1,
		IDField:          "id",
		TypeField:        "topic",
	},
	"typeform": {
		Name:             "typeform",
		SignatureHeaders: []string{"Typeform-Signature"},
		Prefix:           "sha256=",
		Encoding:         Base64,
		Algorithm:        SHA256,
		IDField:          "event_id",
		TypeField:        "event_type",
	},
	"twitch": {
		Name:             "twitch",
		SignatureHeaders: []string{"Twitch-Eventsub-Message-Signature"},
		Prefix:           "sha256=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{id}{timestamp}{body}",
		IDHeaders:        []string{"Twitch-Eventsub-Message-Id"},
		TimestampHeaders: []string{"Twitch-Eventsub-Message-Timestamp"},
		TimestampFormat:  RFC3339,
		TypeHeaders:      []string{"Twitch-Eventsub-Subscription-Type"},
		TypeField:        "subscription.type", // signed; the header repeats it unsigned
		Handshake:        HandshakeTwitch,
		Tolerance:        10 * time.Minute,
	},
	"meta": {
		Name:             "meta",
		SignatureHeaders: []string{"X-Hub-Signature-256"},
		Prefix:           "sha256=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		TypeField:        "object",
		Handshake:        HandshakeMeta,
	},
	"mailgun": {
		Name:           "mailgun",
		SignatureField: "signature.signature",
		Encoding:       Hex,
		Algorithm:      SHA256,
		Content:        "{timestamp}{json:signature.token}",
		TimestampField: "signature.timestamp",
		// The token is signed and unique per delivery; event-data is not
		// covered by the signature, so its id is not one to trust.
		IDField:   "signature.token",
		TypeField: "event-data.event",
	},
	"hubspot": {
		Name:             "hubspot",
		SignatureHeaders: []string{"X-HubSpot-Signature-v3"},
		Encoding:         Base64,
		Algorithm:        SHA256,
		Content:          "{method}{url}{body}{timestamp}",
		DecodeURL:        true,
		TimestampHeaders: []string{"X-HubSpot-Request-Timestamp"},
		TimestampFormat:  UnixMillis,
		Tolerance:        5 * time.Minute,
	},
	"pagerduty": {
		Name:             "pagerduty",
		SignatureHeaders: []string{"X-PagerDuty-Signature"},
		Format:           FormatPairs,
		PairSeparator:    ",",
		SignatureKey:     "v1",
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDField:          "event.id",
		TypeField:        "event.event_type",
	},
	"sentry": {
		Name:             "sentry",
		SignatureHeaders: []string{"Sentry-Hook-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"Request-ID"},
		TypeHeaders:      []string{"Sentry-Hook-Resource"},
	},
	"vercel": {
		Name:             "vercel",
		SignatureHeaders: []string{"X-Vercel-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA1,
		IDField:          "id",
		TypeField:        "type",
	},
	"lemonsqueezy": {
		Name:             "lemonsqueezy",
		SignatureHeaders: []string{"X-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		TypeHeaders:      []string{"X-Event-Name"},
		TypeField:        "meta.event_name",
	},
	"calendly": {
		Name:             "calendly",
		SignatureHeaders: []string{"Calendly-Webhook-Signature"},
		Format:           FormatPairs,
		PairSeparator:    ",",
		TimestampKey:     "t",
		SignatureKey:     "v1",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{timestamp}.{body}",
		TypeField:        "event",
		Tolerance:        3 * time.Minute,
	},
	"mux": {
		Name:             "mux",
		SignatureHeaders: []string{"Mux-Signature"},
		Format:           FormatPairs,
		PairSeparator:    ",",
		TimestampKey:     "t",
		SignatureKey:     "v1",
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{timestamp}.{body}",
		IDField:          "id",
		TypeField:        "type",
		Tolerance:        5 * time.Minute,
	},
	"gitea": {
		Name:             "gitea",
		SignatureHeaders: []string{"X-Gitea-Signature", "X-Forgejo-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-Gitea-Delivery", "X-Forgejo-Delivery"},
		TypeHeaders:      []string{"X-Gitea-Event", "X-Forgejo-Event"},
	},
	"forgejo": {
		Name:             "forgejo",
		SignatureHeaders: []string{"X-Forgejo-Signature", "X-Gitea-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-Forgejo-Delivery", "X-Gitea-Delivery"},
		TypeHeaders:      []string{"X-Forgejo-Event", "X-Gitea-Event"},
	},
	"bitbucket": {
		Name:             "bitbucket",
		SignatureHeaders: []string{"X-Hub-Signature"},
		Prefix:           "sha256=",
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-Request-UUID"},
		TypeHeaders:      []string{"X-Event-Key"},
	},
	"gitlab": {
		Name:             "gitlab",
		SignatureHeaders: []string{"webhook-signature"},
		Format:           FormatList,
		SignatureKey:     "v1",
		Encoding:         Base64,
		Algorithm:        SHA256,
		SecretEncoding:   SecretBase64,
		Content:          "{id}.{timestamp}.{body}",
		TokenHeaders:     []string{"X-Gitlab-Token"},
		IDHeaders:        []string{"webhook-id", "Idempotency-Key", "X-Gitlab-Event-UUID"},
		TimestampHeaders: []string{"webhook-timestamp"},
		TypeHeaders:      []string{"X-Gitlab-Event"},
		Tolerance:        5 * time.Minute,
	},
	"asana": {
		Name:             "asana",
		SignatureHeaders: []string{"X-Hook-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		Handshake:        HandshakeAsana,
	},
	"dropbox": {
		Name:             "dropbox",
		SignatureHeaders: []string{"X-Dropbox-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		Handshake:        HandshakeDropbox,
	},
	"okta": {
		Name:         "okta",
		TokenHeaders: []string{"Authorization"},
		IDField:      "eventId",
		Handshake:    HandshakeOkta,
	},
	"paystack": {
		Name:             "paystack",
		SignatureHeaders: []string{"X-Paystack-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA512,
		TypeField:        "event",
	},
	"razorpay": {
		Name:             "razorpay",
		SignatureHeaders: []string{"X-Razorpay-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-Razorpay-Event-Id"},
		TypeField:        "event",
	},
	"woocommerce": {
		Name:             "woocommerce",
		SignatureHeaders: []string{"X-WC-Webhook-Signature"},
		Encoding:         Base64,
		Algorithm:        SHA256,
		IDHeaders:        []string{"X-WC-Webhook-Delivery-ID"},
		TypeHeaders:      []string{"X-WC-Webhook-Topic"},
	},
	"sendgrid": {
		Name:              "sendgrid",
		SignatureHeaders:  []string{"X-Twilio-Email-Event-Webhook-Signature"},
		Encoding:          Base64,
		Algorithm:         ECDSAP256,
		PublicKeyEncoding: KeyDER,
		Content:           "{timestamp}{body}",
		TimestampHeaders:  []string{"X-Twilio-Email-Event-Webhook-Timestamp"},
	},
	"discord": {
		Name:              "discord",
		SignatureHeaders:  []string{"X-Signature-Ed25519"},
		Encoding:          Hex,
		Algorithm:         Ed25519,
		PublicKeyEncoding: KeyHex,
		Content:           "{timestamp}{body}",
		TimestampHeaders:  []string{"X-Signature-Timestamp"},
		IDField:           "id",
		TypeField:         "event.type",
	},
	"hmac": {
		Name:             "hmac",
		SignatureHeaders: []string{"X-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
	},
}

// Preset returns a copy of the built-in scheme with the given name, or an
// error wrapping [ErrUnknownScheme]. The copy may be changed freely.
func Preset(name string) (Scheme, error) {
	s, ok := presets[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Scheme{}, fmt.Errorf("%w: %q (known: %s)", ErrUnknownScheme, name, strings.Join(Presets(), ", "))
	}
	s.SignatureHeaders = slices.Clone(s.SignatureHeaders)
	s.TokenHeaders = slices.Clone(s.TokenHeaders)
	s.IDHeaders = slices.Clone(s.IDHeaders)
	s.TypeHeaders = slices.Clone(s.TypeHeaders)
	s.TimestampHeaders = slices.Clone(s.TimestampHeaders)
	return s, nil
}

// Presets returns the names of the built-in schemes, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// PublicKey reports whether the scheme verifies with public keys only, so
// that it takes Key.PublicKey and cannot sign (the private key stays with
// the provider).
func (s Scheme) PublicKey() bool { return s.Algorithm.publicKey() }

// SignsBody reports whether the scheme's signature or timestamp lives in
// the JSON body, so that a sender must use [Signer.SignBody].
func (s Scheme) SignsBody() bool { return s.SignatureField != "" || s.TimestampField != "" }
