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

// Algorithm is the hash under the HMAC.
type Algorithm string

// The HMAC hash algorithms.
const (
	SHA1   Algorithm = "sha1"
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
)

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

// Scheme describes one provider's signing scheme as data. The zero value
// is not usable; start from [Preset] or fill in every field a scheme needs.
// [New] validates a Scheme and names the field at fault.
type Scheme struct {
	// Name identifies the scheme in errors, metrics and configuration.
	Name string `json:"name"`

	// SignatureHeaders lists the header carrying the signatures; the first
	// one present is used (Standard Webhooks also accepts svix-signature).
	SignatureHeaders []string `json:"signature_headers"`
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

	// Encoding of the signatures. Default: Hex.
	Encoding Encoding `json:"encoding,omitempty"`
	// Algorithm of the HMAC. Default: SHA256.
	Algorithm Algorithm `json:"algorithm,omitempty"`
	// SecretEncoding says how secrets become key bytes. Default: SecretRaw.
	SecretEncoding SecretEncoding `json:"secret_encoding,omitempty"`

	// Content is the template of the signed bytes. Placeholders: {id},
	// {timestamp} (exactly as received), {body} (raw), {url} (the full
	// request URL), {method}, and {form} (form parameters sorted by name,
	// then value, each written as name+value, as Twilio signs them).
	// Default: "{body}".
	Content string `json:"content,omitempty"`

	// IDHeaders, TypeHeaders and TimestampHeaders list where the event id,
	// event type and Unix timestamp (seconds) live; the first one present
	// is used. A FormatPairs timestamp comes from TimestampKey instead.
	IDHeaders        []string `json:"id_headers,omitempty"`
	TypeHeaders      []string `json:"type_headers,omitempty"`
	TimestampHeaders []string `json:"timestamp_headers,omitempty"`
	// IDField and TypeField name top-level JSON payload fields holding the
	// event id and type when no header carries them. They are read only
	// after the signature has matched.
	IDField   string `json:"id_field,omitempty"`
	TypeField string `json:"type_field,omitempty"`

	// BodyHashParam names a URL query parameter that carries the hex
	// SHA-256 of the body (Twilio's "bodySHA256"). When the URL has it, the
	// body must hash to it and {form} is empty.
	BodyHashParam string `json:"body_hash_param,omitempty"`
	// URLPortVariants also tries the URL with its port removed, or with the
	// scheme's default port added, as Twilio's own libraries do.
	URLPortVariants bool `json:"url_port_variants,omitempty"`

	// Tolerance is the provider's documented replay window. Zero means
	// 5 minutes where the scheme carries a timestamp.
	Tolerance time.Duration `json:"tolerance,omitempty"`
}

// DefaultTolerance is the replay window of schemes that document none.
const DefaultTolerance = 5 * time.Minute

// presets are the built-in schemes, by name. Adding a provider is adding a
// row here and its test vectors.
var presets = map[string]Scheme{
	"standard": {
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
	},
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
		Content:          "{body}",
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
		Tolerance:        5 * time.Minute,
	},
	"shopify": {
		Name:             "shopify",
		SignatureHeaders: []string{"X-Shopify-Hmac-Sha256"},
		Encoding:         Base64,
		Algorithm:        SHA256,
		Content:          "{body}",
		IDHeaders:        []string{"X-Shopify-Webhook-Id", "X-Shopify-Event-Id"},
		TypeHeaders:      []string{"X-Shopify-Topic"},
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
	"hmac": {
		Name:             "hmac",
		SignatureHeaders: []string{"X-Signature"},
		Encoding:         Hex,
		Algorithm:        SHA256,
		Content:          "{body}",
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
	s.IDHeaders = canon(s.IDHeaders)
	s.TypeHeaders = canon(s.TypeHeaders)
	s.TimestampHeaders = canon(s.TimestampHeaders)
	return s
}

// hasTimestamp reports whether the scheme carries a signed timestamp.
func (s *Scheme) hasTimestamp() bool {
	return len(s.TimestampHeaders) > 0 || (s.Format == FormatPairs && s.TimestampKey != "")
}

// validate checks a scheme that went through withDefaults.
func (s *Scheme) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: scheme %q: %s: %s", ErrConfig, s.Name, field, fmt.Sprintf(format, args...))
	}
	if s.Name == "" {
		return fmt.Errorf("%w: scheme: Name: empty", ErrConfig)
	}
	if len(s.SignatureHeaders) == 0 {
		return bad("SignatureHeaders", "at least one header is required")
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
	if _, ok := hashes[s.Algorithm]; !ok {
		return bad("Algorithm", "unknown algorithm %q (want sha1, sha256 or sha512)", s.Algorithm)
	}
	switch s.SecretEncoding {
	case SecretRaw, SecretBase64:
	default:
		return bad("SecretEncoding", "unknown secret encoding %q (want raw or base64)", s.SecretEncoding)
	}
	if _, err := parseTemplate(s.Content); err != nil {
		return bad("Content", "%v", err)
	}
	if s.Tolerance < 0 {
		return bad("Tolerance", "negative")
	}
	return nil
}
