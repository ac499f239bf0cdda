package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hookgate/hookgate/schemas/internal/benchcpu"
)

// stripeEvent returns a payment_intent.succeeded event shaped like
// Stripe's, padded with charges to at least size bytes.
func stripeEvent(tb testing.TB, size int) []byte {
	tb.Helper()
	const head = `{"id":"evt_3QaZk2LkdIwHu7ix0aB1cD2e","object":"event","api_version":"2024-06-20","created":1731000000,` +
		`"type":"payment_intent.succeeded","livemode":false,"pending_webhooks":1,` +
		`"request":{"id":"req_Nc9Hs2Kq0aZb1X","idempotency_key":"6f1c2a4e-8b3d-4e5f-9a7b-0c1d2e3f4a5b"},` +
		`"data":{"object":{"id":"pi_3QaZk2LkdIwHu7ix0Xy9Zw8v","object":"payment_intent","amount":2000,` +
		`"amount_capturable":0,"amount_received":2000,"capture_method":"automatic",` +
		`"client_secret":"pi_3QaZk2LkdIwHu7ix0Xy9Zw8v_secret_Rq3bT7mK","confirmation_method":"automatic",` +
		`"created":1730999990,"currency":"usd","customer":"cus_R2d2C3p0Bb8","description":"Order #1042",` +
		`"latest_charge":"ch_3QaZk2LkdIwHu7ix0Qq1Rr2s","livemode":false,` +
		`"metadata":{"order_id":"1042","cart":"c_77"},"payment_method":"pm_1QaZk1LkdIwHu7ixAbCdEf",` +
		`"payment_method_types":["card"],"receipt_email":"jenny.rosen@example.com",` +
		`"shipping":{"address":{"city":"Berlin","country":"DE","line1":"Unter den Linden 1","line2":null,"postal_code":"10117","state":null},"name":"Jenny Rosen"},` +
		`"status":"succeeded","charges":{"object":"list","has_more":false,"url":"/v1/charges?payment_intent=pi_3QaZk2LkdIwHu7ix0Xy9Zw8v","data":[`
	const tail = `]}}}}`
	charge := func(i int) string {
		return fmt.Sprintf(`{"id":"ch_3QaZk2LkdIwHu7ix%010d","object":"charge","amount":2000,"amount_captured":2000,"amount_refunded":0,`+
			`"balance_transaction":"txn_3QaZk2LkdIwHu7ix0Bt1","billing_details":{"address":{"city":"Berlin","country":"DE","line1":"Unter den Linden 1","line2":null,"postal_code":"10117","state":null},`+
			`"email":"jenny.rosen@example.com","name":"Jenny Rosen","phone":null},"captured":true,"created":1730999995,"currency":"usd",`+
			`"metadata":{},"outcome":{"network_status":"approved_by_network","risk_level":"normal","risk_score":32,"seller_message":"Payment complete.","type":"authorized"},`+
			`"paid":true,"payment_method":"pm_1QaZk1LkdIwHu7ixAbCdEf","payment_method_details":{"card":{"brand":"visa","country":"US","exp_month":8,"exp_year":2030,`+
			`"funding":"credit","last4":"4242","network":"visa"},"type":"card"},"receipt_url":"https://pay.example.com/receipts/%d","refunded":false,"status":"succeeded"}`, i, i)
	}
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; b.Len()+len(tail) < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(charge(i))
	}
	b.WriteString(tail)
	if !json.Valid(b.Bytes()) {
		tb.Fatal("stripeEvent: invalid JSON")
	}
	return b.Bytes()
}

func TestStripeEventValid(t *testing.T) {
	r := newRegistry(t, Config{Dir: "testdata/stripe"})
	for _, size := range []int{1 << 10, 16 << 10} {
		body := stripeEvent(t, size)
		if typ, err := r.Validate("", body); typ != "payment_intent.succeeded" || err != nil {
			t.Errorf("%d bytes: Validate = %q, %v", len(body), typ, err)
		}
	}
	bad := bytes.Replace(stripeEvent(t, 16<<10), []byte(`"risk_score":32`), []byte(`"risk_score":320`), 1)
	if _, err := r.Validate("", bad); err == nil {
		t.Error("invalid charge accepted")
	}
}

// BenchmarkValidate measures Validate on a valid event, next to its
// parts and to the library alone: the pre-parse scan of the library path,
// the tape parse, the program's walk over a parsed tape, decoding with
// encoding/json, and the library path that validated every body before
// programs (scan, UTF-8 check, encoding/json, jsonschema), which now
// validates only bodies a program refuses.
func BenchmarkValidate(b *testing.B) {
	r := newRegistry(b, Config{Dir: "testdata/stripe"})
	for _, size := range []int{1 << 10, 16 << 10} {
		benchValidate(b, r, fmt.Sprintf("%dKiB", size>>10), stripeEvent(b, size))
	}
}

// BenchmarkGateway measures Validate on the load benchmark's schema and
// bodies (bench/schemas; testdata/bench holds bench/loadgen's Body of 1
// and 64 KiB), as configuration (e) of bench/run.sh validates them.
func BenchmarkGateway(b *testing.B) {
	r := newRegistry(b, Config{Dir: "../bench/schemas"})
	bodies := benchcpu.Bodies(b, "testdata/bench")
	for _, name := range []string{"1KiB", "64KiB"} {
		benchValidate(b, r, name, bodies[name])
	}
}

func benchValidate(b *testing.B, r *Registry, name string, body []byte) {
	if _, err := r.Validate("", body); err != nil {
		b.Fatal(err)
	}
	b.Run(name+"/scan", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		benchcpu.Loop(b, func() {
			if err := scan(body, defaultMaxDepth); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run(name+"/parse", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		t := new(tape)
		benchcpu.Loop(b, func() {
			if !t.parse(body, defaultMaxDepth) {
				b.Fatal("parse failed")
			}
		})
	})
	b.Run(name+"/walk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		t := new(tape)
		if !t.parse(body, defaultMaxDepth) {
			b.Fatal("parse failed")
		}
		s, _ := t.lookup(body, r.typePath)
		prog := r.schemas[string(s)].prog
		benchcpu.Loop(b, func() {
			if !prog.validate(body, t) {
				b.Fatal("invalid")
			}
		})
	})
	b.Run(name+"/decode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		benchcpu.Loop(b, func() {
			if _, err := decode(body); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run(name+"/library", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		benchcpu.Loop(b, func() {
			if _, err := r.validateSlow("", body); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run(name+"/validate", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		benchcpu.Loop(b, func() {
			if _, err := r.Validate("", body); err != nil {
				b.Fatal(err)
			}
		})
	})
}
