package verify

// Custom overrides the fields of a scheme that describe a generic HMAC
// scheme; empty fields leave the scheme's own. The command line's
// --signature-header ... flags and the Caddyfile's subdirectives of the
// same names both fill one in.
type Custom struct {
	SignatureHeader string `json:"signature_header,omitempty"`
	Prefix          string `json:"prefix,omitempty"`
	Encoding        string `json:"encoding,omitempty"`
	Algorithm       string `json:"algorithm,omitempty"`
	Template        string `json:"template,omitempty"`
	IDHeader        string `json:"id_header,omitempty"`
	TimestampHeader string `json:"timestamp_header,omitempty"`
	TypeHeader      string `json:"type_header,omitempty"`
}

// With returns a copy of s with the non-empty fields of c applied.
// Validation happens in [New] and [NewSigner], which name the bad field.
func (s Scheme) With(c Custom) Scheme {
	set := func(dst *[]string, v string) {
		if v != "" {
			*dst = []string{v}
		}
	}
	set(&s.SignatureHeaders, c.SignatureHeader)
	set(&s.IDHeaders, c.IDHeader)
	set(&s.TimestampHeaders, c.TimestampHeader)
	set(&s.TypeHeaders, c.TypeHeader)
	if c.Prefix != "" {
		s.Prefix = c.Prefix
	}
	if c.Encoding != "" {
		s.Encoding = Encoding(c.Encoding)
	}
	if c.Algorithm != "" {
		s.Algorithm = Algorithm(c.Algorithm)
	}
	if c.Template != "" {
		s.Content = c.Template
	}
	return s
}
