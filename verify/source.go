package verify

import (
	"fmt"
	"slices"
)

// Source says where a scheme finds the event id or the event type, and
// whether its signature covers what it finds there. [Scheme.IDSource] and
// [Scheme.TypeSource] return one; nothing outside this package needs to
// read a scheme's Content template to know it.
type Source struct {
	// Headers are the request headers that may carry the value,
	// canonicalized; the first non-empty one is used.
	Headers []string
	// Field is a dotted JSON path into the body that may carry the value.
	Field string
	// FieldFirst reports whether Field is read before Headers: the field
	// is signed and the headers are not, or no header is named. Otherwise
	// the headers are read first, and Field only when none is present.
	FieldFirst bool
	// Signed reports whether the value read first is covered by the
	// signature of a request verified by its signature (a token, as
	// GitLab's or Okta's, covers nothing): the header is part of the
	// signed content (Standard Webhooks' webhook-id, Twitch's message id),
	// or the field lies in a signed body (Stripe's id, Slack's event_id)
	// or is itself signed (Mailgun's signature.token).
	//
	// A signed field is read before any header, so that a header nobody
	// signed cannot override it; the headers are then a fallback for a
	// body that lacks the field, and a value found there is not signed.
	// [Event.IDSigned] and [Event.TypeSigned] say, per request, whether
	// the value reported was.
	Signed bool
}

// None reports whether the scheme carries no such value at all.
func (src Source) None() bool { return len(src.Headers) == 0 && src.Field == "" }

// valueSource is where one value (id or type) is read, as New and the
// Scheme methods compute it from a scheme with its defaults filled in.
type valueSource struct {
	headers      []string
	field        string
	headerSigned bool // the first header present is part of the signed content ({id})
	fieldSigned  bool // the field is in a signed body, or signed as {json:PATH}
}

// fieldFirst reports whether the field is read before the headers: it is
// signed and the headers are not, or there are no headers.
func (vs valueSource) fieldFirst() bool {
	return vs.field != "" && !vs.headerSigned && (vs.fieldSigned || len(vs.headers) == 0)
}

// signed reports whether what is read first is signed.
func (vs valueSource) signed() bool {
	return vs.headerSigned || (vs.fieldFirst() && vs.fieldSigned)
}

// idSource and typeSource compute where s (with defaults, valid) reads its
// event id and type, and what of that its signature covers.
func (s *Scheme) idSource(t template) valueSource {
	return valueSource{
		headers:      s.IDHeaders,
		field:        s.IDField,
		headerSigned: s.hasSignature() && t.uses(partID) && len(s.IDHeaders) > 0,
		fieldSigned:  s.fieldSigned(t, s.IDField),
	}
}

func (s *Scheme) typeSource(t template) valueSource {
	return valueSource{
		headers:     s.TypeHeaders,
		field:       s.TypeField,
		fieldSigned: s.fieldSigned(t, s.TypeField),
	}
}

// fieldSigned reports whether the body field at path is covered by the
// signature: the whole body is signed, or the template signs that field.
func (s *Scheme) fieldSigned(t template, path string) bool {
	return path != "" && s.hasSignature() && (t.uses(partBody) || slices.Contains(t.paths(), path))
}

// analysed returns s with its defaults and its parsed template; the
// template is nil when Content does not parse (New reports that).
func (s Scheme) analysed() (Scheme, template) {
	d := s.withDefaults()
	t, _ := parseTemplate(d.Content)
	return d, t
}

func (vs valueSource) public() Source {
	return Source{Headers: slices.Clone(vs.headers), Field: vs.field, FieldFirst: vs.fieldFirst(), Signed: vs.signed()}
}

// IDSource returns where the scheme finds the event id and whether its
// signature covers it.
func (s Scheme) IDSource() Source {
	d, t := s.analysed()
	return d.idSource(t).public()
}

// TypeSource returns where the scheme finds the event type and whether its
// signature covers it.
func (s Scheme) TypeSource() Source {
	d, t := s.analysed()
	return d.typeSource(t).public()
}

// IDSigned reports whether the event id of a request verified by its
// signature is covered by that signature, so that an attacker who saw one
// delivery cannot resend it under another id. It is false for a scheme
// that carries no id, and for one verified by a token alone (Okta).
// See [Event.DedupKey] for what deduplication keys on when it is false.
func (s Scheme) IDSigned() bool { return s.IDSource().Signed }

// TypeSigned reports whether the event type of a request verified by its
// signature is read from signed content, so that routing on it cannot be
// steered by whoever resends a delivery. It is false for a scheme that
// carries no type, and for types read from headers no provider signs
// (GitHub's X-GitHub-Event, Shopify's X-Shopify-Topic).
func (s Scheme) TypeSigned() bool { return s.TypeSource().Signed }

// NeedsURL reports whether verifying needs Request.URL: the scheme signs
// the request URL (Twilio, Square, HubSpot) or carries the body's hash in
// its query (Twilio's bodySHA256).
func (s Scheme) NeedsURL() bool {
	d, t := s.analysed()
	return t.uses(partURL) || t.uses(partForm) || d.BodyHashParam != ""
}

// NeedsMethod reports whether verifying needs Request.Method: the scheme
// signs the HTTP method (HubSpot v3).
func (s Scheme) NeedsMethod() bool {
	_, t := s.analysed()
	return t.uses(partMethod)
}

// NeedsForm reports whether the scheme signs the body's form parameters
// rather than its bytes (Twilio), so that a sender sends the body as
// application/x-www-form-urlencoded.
func (s Scheme) NeedsForm() bool {
	_, t := s.analysed()
	return t.uses(partForm)
}

// PlaceID puts an event id where the scheme reads it, for a sender, and
// returns the body to send and the id a [Verifier] will report for it:
//
//   - A scheme that reads its id from a header (Standard Webhooks, GitHub)
//     gets it from the Signer, which sends Message.ID there: body is
//     returned unchanged, with id.
//   - A scheme that reads its id from a body field (Stripe's "id",
//     Mailgun's "signature.token"): a body that has the field keeps it, and
//     that value is returned whatever id says; otherwise id is added at
//     the field (body must then be a JSON object) and returned. An empty
//     id adds nothing and returns "".
//   - A scheme that carries no id: body is returned unchanged, with "".
//
// A caller that must not send an id other than the one it chose compares
// the id returned with its own.
func (s Scheme) PlaceID(body []byte, id string) ([]byte, string, error) {
	d, t := s.analysed()
	src := d.idSource(t)
	switch {
	case src.field == "" && len(src.headers) == 0:
		return body, "", nil
	case !src.fieldFirst():
		return body, id, nil
	}
	if have := jsonString(body, src.field); have != "" {
		return body, have, nil
	}
	if id == "" {
		return body, "", nil
	}
	if _, ok := jsonRaw(body, src.field); ok {
		return nil, "", fmt.Errorf("%w: body field %s holds no string or number to use as the event id", ErrConfig, src.field)
	}
	out, err := insertField(body, src.field, jsonQuote(id))
	if err != nil {
		return nil, "", err
	}
	return out, id, nil
}
