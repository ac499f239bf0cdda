package expr_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hookgate/hookgate/expr"
)

// The safe sequence: compile at load, build one Input per event, evaluate
// every program on it.
func Example() {
	// At load.
	toSlack, err := expr.Compile(`payload.data.priority == "HIGH"`, expr.Bool)
	if err != nil {
		panic(err)
	}
	toZendesk, err := expr.Compile(`{"ticket": {
		"subject": "Complaint from " + payload.data.customer,
		"description": payload.data.description,
		"priority": payload.data.priority.lowerAscii(),
		"custom_fields": [{"id": 360000123456, "value": payload.data.orderNumber}]
	}}`, expr.Value)
	if err != nil {
		panic(err)
	}

	// Per verified event.
	body := []byte(`{"data": {"priority": "HIGH", "customer": "Ada", "description": "Parcel damaged", "orderNumber": "ORD-1042"}}`)
	h := http.Header{"X-Event-Type": {"complaint.created"}}
	in := expr.NewInput("forms", "evt_1", "complaint.created", h, body, true)

	ok, err := toSlack.Match(context.Background(), in)
	fmt.Println("to Slack:", ok, err)
	ticket, err := toZendesk.Transform(context.Background(), in)
	fmt.Println("to Zendesk:", string(ticket), err)
	// Output:
	// to Slack: true <nil>
	// to Zendesk: {"ticket":{"custom_fields":[{"id":360000123456,"value":"ORD-1042"}],"description":"Parcel damaged","priority":"high","subject":"Complaint from Ada"}} <nil>
}

func ExampleProgram_Match() {
	filter, err := expr.Compile(`has(payload.amount) && payload.amount > 100 && headers["x-env"] == "live"`, expr.Bool)
	if err != nil {
		panic(err)
	}
	h := http.Header{"X-Env": {"live"}}
	for _, body := range []string{`{"amount": 100.5}`, `{"amount": 99}`, `{"other": 1}`, `not JSON`} {
		in := expr.NewInput("shop", "1", "order.paid", h, []byte(body), true)
		ok, err := filter.Match(context.Background(), in)
		fmt.Println(body, ok, err)
	}
	// Output:
	// {"amount": 100.5} true <nil>
	// {"amount": 99} false <nil>
	// {"other": 1} false <nil>
	// not JSON false <nil>
}

// Missing keys are errors, not false; each error wraps one of the package's
// kinds, for counting.
func ExampleProgram_Match_missingKey() {
	filter, err := expr.Compile(`payload.data.priority == "HIGH"`, expr.Bool)
	if err != nil {
		panic(err)
	}
	in := expr.NewInput("forms", "1", "t", nil, []byte(`{"data": {}}`), true)
	ok, err := filter.Match(context.Background(), in)
	fmt.Println(ok, err)
	// Output:
	// false expr: no such key: priority (at 1:13)
}

// Numbers keep their value: integers exactly, decimals as written.
func ExampleProgram_Transform() {
	tr, err := expr.Compile(`{"id": payload.id, "next": payload.id + 1, "fee": payload.fee, "total": payload.amount + 1, "precise": payload.precise}`, expr.Value)
	if err != nil {
		panic(err)
	}
	body := []byte(`{"id": 9007199254740993, "fee": 0.1, "amount": 19.99, "precise": 3.14159265358979323846}`)
	out, err := tr.Transform(context.Background(), expr.NewInput("", "", "", nil, body, true))
	fmt.Println(string(out), err)
	// Output:
	// {"fee":0.1,"id":9007199254740993,"next":9007199254740994,"precise":3.14159265358979323846,"total":20.99} <nil>
}

// A compile error is one line, its position first, for the caller to
// prefix with where the expression came from.
func ExampleCompileError() {
	_, err := expr.Compile("payload.data.priority == \"HIGH\" &&\n  header[\"x-env\"] == \"live\"", expr.Bool)
	fmt.Printf("deliver slack: filter: %v\n", err)
	_, err = expr.Compile(`payload.items.exists(i, payload.items.exists(j, i.sku == j.sku))`, expr.Bool)
	fmt.Printf("deliver slack: filter: %v\n", err)
	// Output:
	// deliver slack: filter: 2:3: undeclared reference to 'header'
	// deliver slack: filter: expr: cost limit exceeded: estimated cost up to 115299187341393922 for a 1048576-byte body, limit 100000000 (a loop inside a loop over payload is the usual cause)
}
