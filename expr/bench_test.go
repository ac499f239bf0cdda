package expr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// body1KiB is a 1 KiB event shaped like the seed document's: a complaint
// with nested customer, order and line items.
var body1KiB = func() []byte {
	b := []byte(`{"event":"complaint.created","created":1718000000,"data":{` +
		`"priority":"HIGH","customer":"Ada Lovelace","email":"ada@example.com",` +
		`"description":"The parcel arrived with a crushed corner and the keyboard inside does not power on.",` +
		`"orderNumber":"ORD-1042","total":129.95,"currency":"EUR","channel":"web",` +
		`"customerInfo":{"tier":"gold","since":2019,"country":"GB","lifetimeValue":4210.5},` +
		`"items":[{"sku":"KB-1","name":"Mechanical keyboard","qty":2,"price":49.5},` +
		`{"sku":"MS-7","name":"Wireless mouse","qty":1,"price":30.95},` +
		`{"sku":"CB-2","name":"USB-C cable","qty":3,"price":4.99}],` +
		`"tags":["vip","retail","damaged","priority-support"],` +
		`"shipping":{"carrier":"DHL","tracking":"JD014600003GB","address":{"line1":"12 St James's Square","city":"London","postcode":"SW1Y 4JH"}},` +
		`"notes":"Customer called twice; prefers email. Replacement requested rather than refund."}`)
	pad := 1024 - len(b) - len(`,"pad":""}`)
	b = append(b, `,"pad":"`...)
	b = append(b, bytes.Repeat([]byte("x"), pad)...)
	return append(b, `"}`...)
}()

var benchHeader = http.Header{"Content-Type": {"application/json"}, "X-Event-Type": {"complaint.created"}}

// BenchmarkFilter: a simple filter on a 1 KiB payload (target 2 µs), with
// and without the decode it shares with the other programs of the event,
// beside decoding the same body with encoding/json.
func BenchmarkFilter(b *testing.B) {
	if len(body1KiB) != 1024 {
		b.Fatalf("body is %d bytes", len(body1KiB))
	}
	p := mustCompile(b, `payload.data.priority == "HIGH" && payload.data.total > 100`, Bool)
	ctx := context.Background()

	b.Run("baseline=json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body1KiB, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=json.Decoder.UseNumber", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(body1KiB))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode=included", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
			if ok, err := p.Match(ctx, in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("decode=shared", func(b *testing.B) {
		in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
		if ok, err := p.Match(ctx, in); !ok || err != nil {
			b.Fatal(ok, err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if ok, err := p.Match(ctx, in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("no-payload", func(b *testing.B) {
		q := mustCompile(b, `type == "complaint.created" && headers["content-type"] == "application/json"`, Bool)
		in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := q.Match(ctx, in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("loop", func(b *testing.B) {
		q := mustCompile(b, `payload.data.items.exists(i, i.sku == "MS-7" && i.qty >= 1)`, Bool)
		in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
		b.ReportAllocs()
		for b.Loop() {
			if ok, err := q.Match(ctx, in); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkTransform: an event reshaped into a 5-field object (target
// 20 µs), beside the same reshaping written in Go with encoding/json.
func BenchmarkTransform(b *testing.B) {
	p := mustCompile(b, `{
		"subject": "Complaint from " + payload.data.customer,
		"description": payload.data.description,
		"priority": payload.data.priority.lowerAscii(),
		"order": payload.data.orderNumber,
		"total": payload.data.total + 0
	}`, Value)
	ctx := context.Background()

	b.Run("baseline=encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				Data struct {
					Priority, Customer, Description, OrderNumber string
					Total                                        json.Number
				}
			}
			dec := json.NewDecoder(bytes.NewReader(body1KiB))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
			out, err := json.Marshal(map[string]any{
				"subject":     "Complaint from " + v.Data.Customer,
				"description": v.Data.Description,
				"priority":    bytes.ToLower([]byte(v.Data.Priority)),
				"order":       v.Data.OrderNumber,
				"total":       v.Data.Total,
			})
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode=included", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
			if out, err := p.Transform(ctx, in); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode=shared", func(b *testing.B) {
		in := NewInput("forms", "evt_1", "complaint.created", benchHeader, body1KiB, true)
		if _, err := p.Transform(ctx, in); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if out, err := p.Transform(ctx, in); err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCELCostTracking shows why Program does not use cel.CostLimit:
// with cel-go v0.32.0's runtime cost tracker on, a simple filter costs
// several times as much and allocates, and a comprehension's time grows
// with the square of its length (the tracker searches a stack that every
// step leaves a value on). Same programs, same inputs, tracker off and on.
func BenchmarkCELCostTracking(b *testing.B) {
	env, err := celEnv()
	if err != nil {
		b.Fatal(err)
	}
	programs := func(src string) (untracked, tracked cel.Program) {
		checked, iss := env.Compile(src)
		if iss.Err() != nil {
			b.Fatal(iss.Err())
		}
		if untracked, err = env.Program(checked); err != nil {
			b.Fatal(err)
		}
		if tracked, err = env.Program(checked, cel.CostLimit(math.MaxUint64)); err != nil {
			b.Fatal(err)
		}
		return untracked, tracked
	}
	run := func(name string, in *Input, untracked, tracked cel.Program) {
		in.payloadOnce.Do(in.decode)
		for _, r := range []struct {
			name string
			prg  cel.Program
		}{{"untracked", untracked}, {"CostLimit", tracked}} {
			b.Run(name+"/"+r.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if out, _, err := r.prg.Eval((*activation)(in)); err != nil || out != types.True {
						b.Fatal(out, err)
					}
				}
			})
		}
	}
	u, t := programs(`payload.data.priority == "HIGH" && payload.data.total > 100`)
	run("filter", NewInput("", "", "", nil, body1KiB, true), u, t)
	u, t = programs(`payload.items.all(i, i.q < 10)`)
	for _, n := range []int{20, 200, 2000} {
		run(fmt.Sprintf("items=%d", n), NewInput("", "", "", nil, bigList(n), true), u, t)
	}
}
