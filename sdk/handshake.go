package sdk

import (
	"net/http"

	"github.com/hookgate/hookgate/verify"
)

// HandshakeConfig configures handshake answers.
type HandshakeConfig struct {
	// VerifyToken is the token a provider echoes in a subscription GET
	// (Meta's hub.verify_token); the challenge is answered only when it
	// matches.
	VerifyToken string
}

// answerBeforeVerify answers a provider's unsigned handshake (a GET
// challenge, an X-Hook-Secret echo) for schemes that have one, before any
// signature check. It reports whether it answered.
func (rc *Receiver) answerBeforeVerify(w http.ResponseWriter, r *http.Request) bool {
	return false
}

// answerAfterVerify answers a provider's signed handshake (a verification
// event whose challenge must be echoed or signed) once its signature has
// been checked, instead of forwarding it. It reports whether it answered.
func (rc *Receiver) answerAfterVerify(w http.ResponseWriter, r *http.Request, body []byte, ev verify.Event) bool {
	return false
}
