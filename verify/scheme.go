package verify

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// Format says how a signature header is laid out.
type Format string

// The signature header formats.
const (
	// FormatValue: the whole header is one signature, after an optional
	// Prefix (GitHub's "sha256=<hex>", Shopify's bare base64).
	FormatValue Format = "value"
	// FormatList: space-separated "version,signature" tokens (Standard
	// Webhooks' "v1,<base64> v1,<base64>").
	FormatList Format = "list"
	// FormatPairs: "key=value" pairs split by PairSeparator, carrying the
	// timestamp under TimestampKey and signatures under SignatureKey
	// (Stripe's "t=...,v1=...", Paddle's "ts=...;h1=...").
	FormatPairs Format = "pairs"
)

// Encoding is how a signature is written in its header.
type Encoding string

// The signature encodings.
const (
	Hex    Encoding = "hex"
	Base64 Encoding = "base64" // standard alphabet, padded or not
)

// Algorithm is the hash under the HMAC, or the public-key algorithm of a
// scheme verified with public keys.
type Algorithm string

// The algorithms.
const (
	SHA1   Algorithm = "sha1"
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
	// Ed25519 verifies the signed content with Ed25519 public keys
	// (Discord).
	Ed25519 Algorithm = "ed25519"
	// ECDSAP256 verifies an ASN.1 DER ECDSA signature over the SHA-256 of
	// the signed content with P-256 public keys (SendGrid).
	ECDSAP256 Algorithm = "ecdsa-p256"
)

// publicKey reports whether a verifies with public keys rather than an HMAC.
func (a Algorithm) publicKey() bool { return a == Ed25519 || a == ECDSAP256 }

// SecretEncoding says how a configured HMAC secret becomes key bytes.
type SecretEncoding string

// The secret encodings.
const (
	// SecretRaw uses the secret's bytes as they are (Stripe, GitHub, Slack).
	SecretRaw SecretEncoding = "raw"
	// SecretBase64 strips an optional "whsec_" prefix and decodes the rest
	// as standard base64 (Standard Webhooks).
	SecretBase64 SecretEncoding = "base64"
)

// KeyEncoding says how a configured public key is written.
type KeyEncoding string

// The public key encodings.
const (
	// KeyBase64 is the raw key in standard base64, optionally prefixed
	// "whpk_" (Standard Webhooks' Ed25519 keys).
	KeyBase64 KeyEncoding = "base64"
	// KeyHex is the raw key in hex (Discord's application public key).
	KeyHex KeyEncoding = "hex"
	// KeyDER is a DER SubjectPublicKeyInfo in standard base64, or the same
	// in a PEM "PUBLIC KEY" block (SendGrid's verification key).
	KeyDER KeyEncoding = "der"
)

// TimestampFormat is how a signed timestamp is written.
type TimestampFormat string

// The timestamp formats.
const (
	// UnixSeconds is a decimal count of seconds since 1970 (most providers).
	UnixSeconds TimestampFormat = "unix"
	// UnixMillis is a decimal count of milliseconds (HubSpot, Linear).
	UnixMillis TimestampFormat = "unix-ms"
	// RFC3339 is an RFC 3339 date and time, fractional seconds allowed
	// (Twitch).
	RFC3339 TimestampFormat = "rfc3339"
)

// Handshake names a provider's verification handshake: a request that
// must be answered by the receiver rather than forwarded. [Verifier]
// does not answer handshakes; the receiver (package sdk) does, by kind.
type Handshake string

// The handshakes. Signed ones are answered only after the request's
// signature matched; unsigned ones (GET challenges, a secret echo) before.
const (
	// HandshakeSlack: a signed "url_verification" event; the receiver
	// echoes its challenge.
	HandshakeSlack Handshake = "slack"
	// HandshakeZoom: a signed "endpoint.url_validation" event; the receiver
	// answers the plainToken with its HMAC under the matching secret.
	HandshakeZoom Handshake = "zoom"
	// HandshakeTwitch: a signed "webhook_callback_verification" message;
	// the receiver echoes the challenge as text.
	HandshakeTwitch Handshake = "twitch"
	// HandshakeMeta: an unsigned GET with hub.mode=subscribe, answered with
	// hub.challenge when hub.verify_token matches the configured token.
	HandshakeMeta Handshake = "meta"
	// HandshakeAsana: an unsigned request carrying X-Hook-Secret, answered
	// by echoing that header.
	HandshakeAsana Handshake = "asana"
	// HandshakeDropbox: an unsigned GET with ?challenge=, echoed as text.
	HandshakeDropbox Handshake = "dropbox"
	// HandshakeOkta: an unsigned GET with X-Okta-Verification-Challenge,
	// answered with {"verification": <the value>}.
	HandshakeOkta Handshake = "okta"
)

var handshakes = []Handshake{HandshakeSlack, HandshakeZoom, HandshakeTwitch, HandshakeMeta, HandshakeAsana, HandshakeDropbox, HandshakeOkta}

// Scheme describes one provider's signing scheme as data. The zero value
// is not usable; start from [Preset] or fill in every field a scheme needs.
// [New] validates a Scheme and names the field at fault.
type Scheme struct {
	// Name identifies the scheme in errors, metrics and configuration.
	Name string `json:"name"`

	// SignatureHeaders lists the header carrying the signatures; the first
	// one present is used (Standard Webhooks also accepts svix-signature).
	SignatureHeaders []string `json:"signature_headers,omitempty"`
	// SignatureField, instead of a header, names the JSON body field that
	// carries the signature, as a dotted path ("signature.signature" for
	// Mailgun). Such a scheme reads the body before the signature has
	// matched, and its Content must not sign {body}.
	SignatureField string `json:"signature_field,omitempty"`
	// Format is how the signature header is laid out. Default: FormatValue.
	Format Format `json:"format,omitempty"`
	// Prefix, with FormatValue, must start the header and is stripped
	// before decoding ("sha256=" for GitHub, "v0=" for Slack).
	Prefix string `json:"prefix,omitempty"`
	// SignatureKey is the version tag (FormatList, "v1") or pair key
	// (FormatPairs, "v1" or "h1") that marks an HMAC signature. Entries
	// with other tags are ignored.
	SignatureKey string `json:"signature_key,omitempty"`
	// PublicKeyVersion, with FormatList, is the version tag of Ed25519
	// signatures ("v1a" for Standard Webhooks), verified with public keys.
	PublicKeyVersion string `json:"public_key_version,omitempty"`
	// PairSeparator splits FormatPairs entries. Default: ",".
	PairSeparator string `json:"pair_separator,omitempty"`
	// TimestampKey is the FormatPairs key of the timestamp ("t", "ts").
	TimestampKey string `json:"timestamp_key,omitempty"`

	// TokenHeaders lists headers that carry a shared token in the clear
	// (GitLab's X-Gitlab-Token, Okta's Authorization). The token is
	// compared in constant time with the configured secrets; it proves
	// the sender knows the secret, nothing about the body or its age. In a
	// scheme that also has a signature, secrets with the "whsec_" prefix
	// are signing keys and any other secret is a token; a request is
	// checked by its signature when a signing key is configured and the
	// signature is present, else by its token.
	TokenHeaders []string `json:"token_headers,omitempty"`

	// Encoding of the signatures. Default: Hex.
	Encoding Encoding `json:"encoding,omitempty"`
	// Algorithm of the HMAC, or Ed25519 or ECDSAP256 for schemes verified
	// with public keys only. Default: SHA256.
	Algorithm Algorithm `json:"algorithm,omitempty"`
	// AlgorithmHeader names a header that lets each request name its
	// HMAC's hash, in Twilio's format: comma-separated key=value settings
	// whose "algorithm" is HMAC_SHA1, HMAC_SHA256 or HMAC_SHA512
	// (X-Twilio-Webhooks-Signature-Settings: "key=...,algorithm=HMAC_SHA256",
	// sent with webhooks signed by a SharedKey). A request without the
	// header, or without an algorithm in it, is HMAC-SHA1, as the format
	// says; one naming another algorithm is refused as malformed. With it,
	// Algorithm is the hash a [Signer] signs with, and the Signer names any
	// hash but SHA-1 in the header.
	AlgorithmHeader string `json:"algorithm_header,omitempty"`
	// SecretEncoding says how secrets become key bytes. Default: SecretRaw.
	SecretEncoding SecretEncoding `json:"secret_encoding,omitempty"`
	// PublicKeyEncoding says how public keys are written. Default:
	// KeyBase64.
	PublicKeyEncoding KeyEncoding `json:"public_key_encoding,omitempty"`

	// Content is the template of the signed bytes. Placeholders: {id},
	// {timestamp} (exactly as received), {body} (raw), {url} (the full
	// request URL), {method}, {form} (form parameters sorted by name,
	// then value, each written as name+value, as Twilio signs them), and
	// {json:PATH} (the string or number at a dotted path of the JSON body,
	// read before the signature matched, as Mailgun's token).
	// Default: "{body}".
	Content string `json:"content,omitempty"`
	// DecodeURL signs {url} with the percent-encoded reserved characters
	// : / ? @ ! $ ' ( ) * , ; decoded, as HubSpot's v3 signature does.
	DecodeURL bool `json:"decode_url,omitempty"`

	// IDHeaders, TypeHeaders and TimestampHeaders list where the event id,
	// event type and timestamp live; the first one present is used. A
	// FormatPairs timestamp comes from TimestampKey instead.
	IDHeaders        []string `json:"id_headers,omitempty"`
	TypeHeaders      []string `json:"type_headers,omitempty"`
	TimestampHeaders []string `json:"timestamp_headers,omitempty"`
	// TimestampField names a JSON body field, as a dotted path, that holds
	// the signed timestamp when no header does ("webhookTimestamp" for
	// Linear, whose body is signed; "signature.timestamp" for Mailgun,
	// whose Content signs it). It is read before the signature matched.
	TimestampField string `json:"timestamp_field,omitempty"`
	// TimestampFormat is how the timestamp is written. Default:
	// UnixSeconds.
	TimestampFormat TimestampFormat `json:"timestamp_format,omitempty"`
	// IDField and TypeField name JSON payload fields, as dotted paths
	// ("event.id"), holding the event id and type. They are read only
	// after the signature has matched: before the headers when the
	// signature covers the field (a signed body, or a {json:PATH} of the
	// Content) and not the headers, so that a header nobody signed cannot
	// override a signed value; otherwise when no header carries them.
	// [Scheme.IDSource] and [Scheme.TypeSource] say which, and whether
	// what is read is signed.
	IDField   string `json:"id_field,omitempty"`
	TypeField string `json:"type_field,omitempty"`

	// BodyHashParam names a URL query parameter that carries the hex
	// SHA-256 of the body (Twilio's "bodySHA256"). When the URL has it, the
	// body must hash to it and {form} is empty.
	BodyHashParam string `json:"body_hash_param,omitempty"`
	// URLPortVariants also tries the URL with its port removed, or with the
	// scheme's default port added, as Twilio's own libraries do.
	URLPortVariants bool `json:"url_port_variants,omitempty"`

	// Handshake names the provider's verification handshake, answered by
	// the receiver instead of being forwarded. Default: none.
	Handshake Handshake `json:"handshake,omitempty"`

	// Tolerance is the provider's documented replay window. Zero means
	// 5 minutes where the scheme carries a timestamp.
	Tolerance time.Duration `json:"tolerance,omitempty"`
}

// DefaultTolerance is the replay window of schemes that document none.
const DefaultTolerance = 5 * time.Minute

// withDefaults fills in the documented defaults and canonicalizes header
// names, returning a copy.
func (s Scheme) withDefaults() Scheme {
	if s.Format == "" {
		s.Format = FormatValue
	}
	if s.Encoding == "" {
		s.Encoding = Hex
	}
	if s.Algorithm == "" {
		s.Algorithm = SHA256
	}
	if s.SecretEncoding == "" {
		s.SecretEncoding = SecretRaw
	}
	if s.PublicKeyEncoding == "" {
		s.PublicKeyEncoding = KeyBase64
	}
	if s.TimestampFormat == "" {
		s.TimestampFormat = UnixSeconds
	}
	if s.Content == "" {
		s.Content = "{body}"
	}
	if s.Format == FormatPairs && s.PairSeparator == "" {
		s.PairSeparator = ","
	}
	canon := func(hs []string) []string {
		out := make([]string, 0, len(hs))
		for _, h := range hs {
			if h = strings.TrimSpace(h); h != "" {
				out = append(out, textproto.CanonicalMIMEHeaderKey(h))
			}
		}
		return out
	}
	s.SignatureHeaders = canon(s.SignatureHeaders)
	s.TokenHeaders = canon(s.TokenHeaders)
	s.IDHeaders = canon(s.IDHeaders)
	s.TypeHeaders = canon(s.TypeHeaders)
	s.TimestampHeaders = canon(s.TimestampHeaders)
	if s.AlgorithmHeader = strings.TrimSpace(s.AlgorithmHeader); s.AlgorithmHeader != "" {
		s.AlgorithmHeader = textproto.CanonicalMIMEHeaderKey(s.AlgorithmHeader)
	}
	return s
}

// hasTimestamp reports whether the scheme carries a signed timestamp.
func (s *Scheme) hasTimestamp() bool {
	return len(s.TimestampHeaders) > 0 || s.TimestampField != "" ||
		(s.Format == FormatPairs && s.TimestampKey != "")
}

// hasSignature reports whether the scheme carries a signature (a token
// alone is not one).
func (s *Scheme) hasSignature() bool {
	return len(s.SignatureHeaders) > 0 || s.SignatureField != ""
}

// validate checks a scheme that went through withDefaults.
func (s *Scheme) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: scheme %q: %s: %s", ErrConfig, s.Name, field, fmt.Sprintf(format, args...))
	}
	if s.Name == "" {
		return fmt.Errorf("%w: scheme: Name: empty", ErrConfig)
	}
	if !s.hasSignature() && len(s.TokenHeaders) == 0 {
		return bad("SignatureHeaders", "at least one header (or a SignatureField or TokenHeaders) is required")
	}
	switch s.Format {
	case FormatValue:
	case FormatList:
		if s.SignatureKey == "" && s.PublicKeyVersion == "" {
			return bad("SignatureKey", "required with format %q", s.Format)
		}
	case FormatPairs:
		if s.SignatureKey == "" {
			return bad("SignatureKey", "required with format %q", s.Format)
		}
		if len(s.PairSeparator) != 1 {
			return bad("PairSeparator", "must be one character, got %q", s.PairSeparator)
		}
	default:
		return bad("Format", "unknown format %q (want value, list or pairs)", s.Format)
	}
	switch s.Encoding {
	case Hex, Base64:
	default:
		return bad("Encoding", "unknown encoding %q (want hex or base64)", s.Encoding)
	}
	if _, ok := hashes[s.Algorithm]; !ok && !s.Algorithm.publicKey() {
		return bad("Algorithm", "unknown algorithm %q (want sha1, sha256, sha512, ed25519 or ecdsa-p256)", s.Algorithm)
	}
	if s.AlgorithmHeader != "" && s.Algorithm.publicKey() {
		return bad("AlgorithmHeader", "names an HMAC hash; algorithm %q verifies with public keys", s.Algorithm)
	}
	if s.Algorithm.publicKey() && s.PublicKeyVersion != "" {
		return bad("PublicKeyVersion", "applies to HMAC schemes that also take Ed25519 signatures; algorithm %q verifies every signature with public keys", s.Algorithm)
	}
	switch s.SecretEncoding {
	case SecretRaw, SecretBase64:
	default:
		return bad("SecretEncoding", "unknown secret encoding %q (want raw or base64)", s.SecretEncoding)
	}
	switch s.PublicKeyEncoding {
	case KeyBase64, KeyHex, KeyDER:
	default:
		return bad("PublicKeyEncoding", "unknown key encoding %q (want base64, hex or der)", s.PublicKeyEncoding)
	}
	if s.Algorithm == ECDSAP256 && s.PublicKeyEncoding != KeyDER {
		return bad("PublicKeyEncoding", "ecdsa-p256 keys are read as der, got %q", s.PublicKeyEncoding)
	}
	switch s.TimestampFormat {
	case UnixSeconds, UnixMillis, RFC3339:
	default:
		return bad("TimestampFormat", "unknown timestamp format %q (want unix, unix-ms or rfc3339)", s.TimestampFormat)
	}
	tmpl, err := parseTemplate(s.Content)
	if err != nil {
		return bad("Content", "%v", err)
	}
	for _, f := range []struct{ name, path string }{
		{"SignatureField", s.SignatureField}, {"TimestampField", s.TimestampField},
		{"IDField", s.IDField}, {"TypeField", s.TypeField},
	} {
		if err := checkPath(f.path); f.path != "" && err != nil {
			return bad(f.name, "%v", err)
		}
	}
	if tmpl.uses(partID) && len(s.IDHeaders) == 0 {
		return bad("IDHeaders", "Content signs {id}, so an id header is required")
	}
	if s.SignatureField != "" {
		if tmpl.uses(partBody) {
			return bad("Content", "signs {body}, which holds the signature itself (SignatureField %q)", s.SignatureField)
		}
		if s.Format != FormatValue {
			return bad("Format", "a SignatureField holds one signature: want value, got %q", s.Format)
		}
	}
	if s.Handshake != "" && !slices.Contains(handshakes, s.Handshake) {
		return bad("Handshake", "unknown handshake %q", s.Handshake)
	}
	if s.Tolerance < 0 {
		return bad("Tolerance", "negative")
	}
	return nil
}
