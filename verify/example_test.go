package verify_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookgate/hookgate/verify"
)

// A receiver checks a Standard Webhooks request against its secret.
func Example() {
	scheme, err := verify.Preset("standard")
	if err != nil {
		panic(err)
	}
	// The official Standard Webhooks test vector.
	v, err := verify.New(verify.Config{
		Scheme: scheme,
		Keys:   []verify.Key{{Name: "2021-02", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Now:    func() time.Time { return time.Unix(1614265330, 0) },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	ev, err := v.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(ev.ID, ev.Key, err)

	body[3] = 'X' // one byte changed in transit
	_, err = v.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(errors.Is(err, verify.ErrSignatureMismatch))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek 2021-02 <nil>
	// true
}

// A sender signs with every active key during a rotation; the receiver
// accepts either.
func ExampleSigner() {
	scheme, _ := verify.Preset("stripe")
	signer, err := verify.NewSigner(scheme, verify.Key{Secret: "whsec_old"}, verify.Key{Secret: "whsec_new"})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"id":"evt_1","type":"charge.succeeded"}`)
	at := time.Unix(1700000000, 0)
	h, _ := signer.Sign(verify.Message{Body: body, Timestamp: at})

	v, _ := verify.New(verify.Config{
		Scheme: scheme,
		Keys:   []verify.Key{{Name: "new", Secret: "whsec_new"}},
		Now:    func() time.Time { return at },
	})
	ev, err := v.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(ev.ID, ev.Type, ev.Key, err)
	// Output: evt_1 charge.succeeded new <nil>
}

// A public-key scheme takes the provider's public key instead of a
// secret: here SendGrid's ECDSA key and its official test vector.
func Example_publicKey() {
	scheme, _ := verify.Preset("sendgrid")
	v, err := verify.New(verify.Config{
		Scheme: scheme,
		Keys:   []verify.Key{{Name: "sendgrid", PublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="}},
		Now:    func() time.Time { return time.Unix(1588788367, 0) },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("X-Twilio-Email-Event-Webhook-Signature", "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=")
	h.Set("X-Twilio-Email-Event-Webhook-Timestamp", "1588788367")
	body := []byte(`{"category":"example_payload","event":"test_event","message_id":"message_id"}`)

	ev, err := v.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(ev.Key, err)

	_, err = v.Verify(&verify.Request{Header: h, Body: append(body, ' ')})
	fmt.Println(errors.Is(err, verify.ErrSignatureMismatch))
	// Output:
	// sendgrid <nil>
	// true
}

// GitHub signs the body only: a delivery resent under a fresh
// X-GitHub-Delivery verifies, and has the same DedupKey, a digest of the
// signed body. Standard Webhooks signs its id, which is then the key.
func ExampleEvent_DedupKey() {
	github, _ := verify.Preset("github")
	signer, _ := verify.NewSigner(github, verify.Key{Secret: "s3cret"})
	v, _ := verify.New(verify.Config{Scheme: github, Keys: []verify.Key{{Secret: "s3cret"}}})
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	h, _ := signer.Sign(verify.Message{ID: "delivery-1", Type: "ping", Body: body})

	first, _ := v.Verify(&verify.Request{Header: h, Body: body})
	h.Set("X-GitHub-Delivery", "delivery-2") // resent by someone else
	h.Set("X-GitHub-Event", "push")
	again, _ := v.Verify(&verify.Request{Header: h, Body: body})
	fmt.Println(github.IDSigned(), first.ID, again.ID, again.Type, again.TypeSigned)
	fmt.Println(first.DedupKey == again.DedupKey, first.DedupKey[:7])

	standard, _ := verify.Preset("standard")
	fmt.Println(standard.IDSigned())
	// Output:
	// false delivery-1 delivery-2 push false
	// true sha256:
	// true
}
