package receive

import (
	"net/http"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// HeaderSource names the verified source on an attested request.
const HeaderSource = "Hookgate-Source"

// AttestationScheme returns the scheme a gateway re-signs forwarded
// webhooks with: Standard Webhooks ({id}.{timestamp}.{body}, v1 HMAC or
// v1a Ed25519) under Hookgate-* header names, so that it never collides
// with a provider's own webhook-* headers:
//
//	Hookgate-Id: <provider event id>
//	Hookgate-Timestamp: <unix seconds at forwarding>
//	Hookgate-Signature: v1,<base64>
//	Hookgate-Event-Type: <event type>
//	Hookgate-Source: <source name> (informational, not signed)
//
// An app behind the gateway verifies with a Receiver whose Verifier uses
// this scheme and the gateway's key; it holds no provider secret.
func AttestationScheme() verify.Scheme {
	s, _ := verify.Preset("standard")
	s.Name = "hookgate-attestation"
	s.SignatureHeaders = []string{"Hookgate-Signature"}
	s.IDHeaders = []string{"Hookgate-Id"}
	s.TimestampHeaders = []string{"Hookgate-Timestamp"}
	s.TypeHeaders = []string{"Hookgate-Event-Type"}
	s.TypeField = ""
	return s
}

// Attester re-signs verified webhooks on their way to the app, as the
// gateway's attestation. It is safe for concurrent use.
type Attester struct {
	signer *verify.Signer
}

// NewAttester returns an Attester signing with the gateway's keys
// (Standard Webhooks secrets, "whsec_..."; all active keys sign, so the
// key can be rotated without downtime).
func NewAttester(keys ...verify.Key) (*Attester, error) {
	sg, err := verify.NewSigner(AttestationScheme(), keys...)
	if err != nil {
		return nil, err
	}
	return &Attester{signer: sg}, nil
}

// Attest sets the attestation headers for ev on h, signed now, replacing
// any the request arrived with.
func (a *Attester) Attest(h http.Header, ev Event) error {
	return a.attest(h, ev, time.Now())
}

// attest is Attest at a given time: the pipeline's reading of its clock.
func (a *Attester) attest(h http.Header, ev Event, now time.Time) error {
	id := ev.ID
	if id == "" {
		id = ev.Source + "-" + now.UTC().Format("20060102T150405.000000000")
	}
	signed, err := a.signer.Sign(verify.Message{ID: id, Type: ev.Type, Timestamp: now, Body: ev.Body})
	if err != nil {
		return err
	}
	h.Del("Hookgate-Event-Type")
	for k, vs := range signed {
		h[k] = vs
	}
	h.Set(HeaderSource, ev.Source)
	return nil
}

// NewAttestationVerifier returns the Verifier an app behind the gateway
// uses to trust attested requests, given the gateway's key(s).
func NewAttestationVerifier(keys ...verify.Key) (*verify.Verifier, error) {
	return verify.New(verify.Config{Scheme: AttestationScheme(), Keys: keys})
}
