package receive

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hookgate/hookgate/verify"
)

// HandshakeConfig configures handshake answers.
type HandshakeConfig struct {
	// VerifyToken is the token a provider echoes in a subscription GET
	// (Meta's hub.verify_token); the challenge is answered only when it
	// matches. Empty: Meta's handshake is not answered, and its GET is
	// rejected like any unsigned request.
	VerifyToken string
	// Secrets keeps the signing secret that Asana hands over in its
	// handshake (X-Hook-Secret) and shows nowhere else. The first
	// handshake's secret is kept and answered; later events are verified
	// with it, beside the Verifier's keys (which may then be none:
	// verify.Config.AwaitKeys); a handshake bringing another secret is
	// refused (403 handshake_refused) until the kept one is removed.
	// Instances sharing the store share the secret. Nil: the handshake
	// is echoed, and the secret must reach the Verifier some other way.
	Secrets SecretStore
}

// maxChallenge bounds the challenge a handshake echoes; a longer one is
// not a handshake this package answers.
const maxChallenge = 1024

// answerBeforeVerify answers a provider's unsigned handshake (a GET
// challenge, an X-Hook-Secret echo) for schemes that have one, before any
// signature check. Echoing a challenge proves only that this endpoint is
// reachable, which is all these handshakes ask. A request that does not
// have the handshake's exact shape is not answered: it goes on to be
// verified, and rejected, like any webhook. It reports whether it answered.
//
// A handshake that cannot be answered returns an error (a refused or
// unstorable secret).
func (rc *Receiver) answerBeforeVerify(w http.ResponseWriter, r *http.Request) (bool, error) {
	switch rc.handshake {
	case verify.HandshakeMeta:
		// GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C
		if r.Method != http.MethodGet || rc.cfg.Handshake.VerifyToken == "" {
			return false, nil
		}
		q := r.URL.Query()
		challenge := q.Get("hub.challenge")
		if q.Get("hub.mode") != "subscribe" || !validChallenge(challenge) || !sameToken(q.Get("hub.verify_token"), rc.cfg.Handshake.VerifyToken) {
			return false, nil
		}
		writeText(w, challenge)
		return true, nil
	case verify.HandshakeDropbox:
		// GET ?challenge=C, echoed as text.
		if r.Method != http.MethodGet {
			return false, nil // the webhooks themselves: no query to parse
		}
		challenge := r.URL.Query().Get("challenge")
		if !validChallenge(challenge) {
			return false, nil
		}
		writeText(w, challenge)
		return true, nil
	case verify.HandshakeOkta:
		// GET with X-Okta-Verification-Challenge, answered in JSON.
		challenge := r.Header.Get("X-Okta-Verification-Challenge")
		if r.Method != http.MethodGet || !validChallenge(challenge) {
			return false, nil
		}
		writeJSON(w, map[string]string{"verification": challenge})
		return true, nil
	case verify.HandshakeAsana:
		// The first request carries X-Hook-Secret, the secret that signs
		// every later event, and no signature: echo the header, once the
		// secret is kept (Handshake.Secrets). Without a store, the secret
		// must be configured as this source's secret.
		secret := r.Header.Get("X-Hook-Secret")
		if r.Header.Get("X-Hook-Signature") != "" || !validChallenge(secret) {
			return false, nil
		}
		if store := rc.cfg.Handshake.Secrets; store != nil {
			kept, err := store.Keep(r.Context(), secret)
			if err != nil {
				return false, fmt.Errorf("%w: %v", ErrSecretStore, err)
			}
			if !sameToken(kept, secret) {
				return false, ErrHandshakeRefused
			}
			if err := rc.learnSecret(kept); err != nil {
				return false, fmt.Errorf("%w: %v", ErrHandshakeRefused, err)
			}
		}
		w.Header().Set("X-Hook-Secret", secret)
		w.WriteHeader(http.StatusOK)
		return true, nil
	}
	return false, nil
}

// answerAfterVerify answers a provider's signed handshake (a verification
// event whose challenge must be echoed or signed) once its signature has
// been checked, instead of forwarding it. It reports whether it answered.
func (rc *Receiver) answerAfterVerify(w http.ResponseWriter, r *http.Request, body []byte, ev verify.Event) bool {
	switch rc.handshake {
	case verify.HandshakeSlack:
		// {"type":"url_verification","challenge":"..."}: echo the challenge.
		var m struct{ Type, Challenge string }
		if json.Unmarshal(body, &m) != nil || m.Type != "url_verification" || !validChallenge(m.Challenge) {
			return false
		}
		writeText(w, m.Challenge)
		return true
	case verify.HandshakeZoom:
		// {"event":"endpoint.url_validation","payload":{"plainToken":"..."}}:
		// answer the token with its hex HMAC-SHA256 under the secret whose
		// signature matched.
		var m struct {
			Event   string
			Payload struct{ PlainToken string }
		}
		if json.Unmarshal(body, &m) != nil || m.Event != "endpoint.url_validation" || !validChallenge(m.Payload.PlainToken) {
			return false
		}
		mac := rc.verifier.Load().MAC(ev.Key, []byte(m.Payload.PlainToken))
		if mac == nil {
			return false
		}
		writeJSON(w, map[string]string{"plainToken": m.Payload.PlainToken, "encryptedToken": hex.EncodeToString(mac)})
		return true
	case verify.HandshakeTwitch:
		// Twitch-Eventsub-Message-Type: webhook_callback_verification, with
		// {"challenge":"..."}: echo the challenge as text.
		if r.Header.Get("Twitch-Eventsub-Message-Type") != "webhook_callback_verification" {
			return false
		}
		var m struct{ Challenge string }
		if json.Unmarshal(body, &m) != nil || !validChallenge(m.Challenge) {
			return false
		}
		writeText(w, m.Challenge)
		return true
	}
	return false
}

// validChallenge reports whether c is a challenge worth echoing: present,
// short, and free of control characters.
func validChallenge(c string) bool {
	if c == "" || len(c) > maxChallenge {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 0x20 || c[i] == 0x7f {
			return false
		}
	}
	return true
}

// sameToken compares two tokens in constant time, whatever their lengths.
func sameToken(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func writeText(w http.ResponseWriter, s string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, s)
}

func writeJSON(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
