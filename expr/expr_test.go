package expr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// order is the kind of event the seed document (§4) filters and reshapes: a
// form submission carrying a customer complaint.
const order = `{
  "event": "form.submitted",
  "data": {
    "priority": "HIGH",
    "customer": "Ada Lovelace",
    "description": "Parcel arrived damaged",
    "orderNumber": "ORD-1042",
    "total": 129.95,
    "items": [
      {"sku": "KB-1", "qty": 2, "price": 49.5},
      {"sku": "MS-7", "qty": 1, "price": 30.95}
    ],
    "tags": ["vip", "retail"],
    "customerInfo": {"tier": "gold", "since": 2019}
  }
}`

func mustCompile(t testing.TB, src string, kind Kind) *Program {
	t.Helper()
	p, err := Compile(src, kind)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return p
}

func newInput(body string) *Input {
	h := http.Header{}
	h.Set("X-GitHub-Event", "push")
	h.Add("X-Multi", "first")
	h.Add("X-Multi", "second")
	return NewInput("github", "evt-1", "form.submitted", h, []byte(body), true)
}

// errKinds are the errors every runtime failure wraps exactly one of.
var errKinds = []error{ErrNoSuchKey, ErrCost, ErrDeadline, ErrResultType, ErrEval}

func errKind(err error) error {
	for _, k := range errKinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name, src, body string
		want            bool
		err             error
	}{
		// The seed document's filters: equals, contains, greater, less on nested fields.
		{"equals", `payload.data.priority == "HIGH"`, order, true, nil},
		{"equals, other value", `payload.data.priority == "LOW"`, order, false, nil},
		{"contains, string", `payload.data.description.contains("damaged")`, order, true, nil},
		{"contains, list", `"vip" in payload.data.tags`, order, true, nil},
		{"contains, value in a set", `payload.data.customerInfo.tier in ["gold", "platinum"]`, order, true, nil},
		{"greater, double", `payload.data.total > 100`, order, true, nil},
		{"greater, int", `payload.data.customerInfo.since > 2020`, order, false, nil},
		{"less, int against double", `payload.data.customerInfo.since < 2019.5`, order, true, nil},
		{"less, nested in a list", `payload.data.items[1].price < 31`, order, true, nil},
		{"exists", `payload.data.items.exists(i, i.sku == "MS-7" && i.qty >= 1)`, order, true, nil},
		{"all", `payload.data.items.all(i, i.qty * i.price > 30)`, order, true, nil},
		{"sum by hand", `payload.data.items.map(i, i.qty * i.price).exists(x, x == 99)`, order, true, nil},
		{"startsWith", `payload.data.orderNumber.startsWith("ORD-")`, order, true, nil},
		{"matches", `payload.data.orderNumber.matches("^ORD-[0-9]+$")`, order, true, nil},
		{"lowerAscii", `payload.data.priority.lowerAscii() == "high"`, order, true, nil},

		// Other variables.
		{"type", `type == "form.submitted"`, order, true, nil},
		{"id and source", `id == "evt-1" && source == "github"`, order, true, nil},
		{"verified", `verified`, order, true, nil},
		{"header, lower-case name", `headers["x-github-event"] == "push"`, order, true, nil},
		{"header, first value", `headers["x-multi"] == "first"`, order, true, nil},
		{"header, present", `"x-github-event" in headers`, order, true, nil},

		// Missing keys.
		{"missing key is an error", `payload.data.missing == "x"`, order, false, ErrNoSuchKey},
		{"has, missing", `has(payload.data.missing)`, order, false, nil},
		{"has, present", `has(payload.data.priority)`, order, true, nil},
		{"has guards", `has(payload.data.missing) && payload.data.missing == "x"`, order, false, nil},
		{"optional", `payload.?data.?missing.orValue("none") == "none"`, order, true, nil},
		{"missing header", `headers["x-missing"] == ""`, order, false, ErrNoSuchKey},
		{"index past the end", `payload.data.items[5].qty == 1`, order, false, ErrNoSuchKey},

		// Bodies that are not JSON.
		{"not JSON is null", `payload == null`, "hello", true, nil},
		{"empty is null", `payload == null`, "", true, nil},
		{"trailing data is null", `payload == null`, `{"a":1} {"b":2}`, true, nil},
		{"trailing space is fine", `payload.a == 1`, "{\"a\":1}\n\t ", true, nil},
		{"field of null", `payload.a == 1`, "hello", false, ErrNoSuchKey},
		{"has on null", `has(payload.a)`, "hello", false, nil},
		{"other variables still work", `type == "form.submitted"`, "hello", true, nil},
		{"scalar payload", `payload == "text"`, `"text"`, true, nil},
		{"list payload", `payload[1] == 2`, `[1,2]`, true, nil},

		// Wrong types.
		{"dyn result that is not bool", `payload.data.total`, order, false, ErrResultType},
		{"no such overload", `payload.data.tags + 1 == 2`, order, false, ErrEval},
		{"division by zero", `payload.data.customerInfo.since / 0 == 1`, order, false, ErrEval},
		{"integer overflow", `payload.n + 1 > 0`, `{"n": 9223372036854775807}`, false, ErrEval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.src, Bool)
			got, err := p.Match(context.Background(), newInput(tt.body))
			if errKind(err) != tt.err || (err != nil) != (tt.err != nil) {
				t.Fatalf("Match(%q) error = %v, want kind %v", tt.src, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.src, got, tt.want)
			}
		})
	}
}

func TestTransform(t *testing.T) {
	tests := []struct {
		name, src, body, want string
		err                   error
	}{
		// The seed document's transform: an event reshaped into a ticket.
		{"ticket", `{
			"ticket": {
				"subject": "Complaint from " + payload.data.customer,
				"description": payload.data.description,
				"priority": payload.data.priority.lowerAscii(),
				"custom_fields": [{"id": 360000123456, "value": payload.data.orderNumber}]
			}
		}`, order, `{"ticket":{"custom_fields":[{"id":360000123456,"value":"ORD-1042"}],"description":"Parcel arrived damaged","priority":"high","subject":"Complaint from Ada Lovelace"}}`, nil},
		{"sub-tree passed whole", `{"items": payload.data.items}`, order,
			`{"items":[{"price":49.5,"qty":2,"sku":"KB-1"},{"price":30.95,"qty":1,"sku":"MS-7"}]}`, nil},
		{"list", `payload.data.items.map(i, i.sku)`, order, `["KB-1","MS-7"]`, nil},
		{"payload itself", `payload.data.customerInfo`, order, `{"since":2019,"tier":"gold"}`, nil},
		{"list of maps", `payload.data.items.map(i, {"sku": i.sku, "total": i.qty * i.price})`, order,
			`[{"sku":"KB-1","total":99},{"sku":"MS-7","total":30.95}]`, nil},
		{"optional field", `{?"note": payload.data.?note, "id": id}`, order, `{"id":"evt-1"}`, nil},
		{"other variables", `{"type": type, "verified": verified, "source": source, "event": headers["x-github-event"]}`, order,
			`{"event":"push","source":"github","type":"form.submitted","verified":true}`, nil},
		{"escaping", `{"s": "quote \" backslash \\ tab \t nl \n ctl \x01 ls \u2028 é"}`, order,
			`{"s":"quote \" backslash \\ tab \t nl \n ctl \u0001 ls \u2028 é"}`, nil},
		{"bytes are base64", `{"b": b"hi"}`, order, `{"b":"aGk="}`, nil},
		{"timestamp", `{"t": timestamp("2024-01-02T03:04:05Z")}`, order, `{"t":"2024-01-02T03:04:05Z"}`, nil},
		{"duration", `{"d": duration("1m30s")}`, order, `{"d":"90s"}`, nil},
		{"int keys", `{1: "a"}`, order, `{"1":"a"}`, nil},
		{"null", `{"n": null, "payload": payload}`, "not json", `{"n":null,"payload":null}`, nil},

		{"missing key", `{"x": payload.data.missing}`, order, "", ErrNoSuchKey},
		{"scalar result", `payload.data.total`, order, "", ErrResultType},
		{"NaN", `{"x": 0.0 / 0.0}`, order, "", ErrResultType},
		{"infinity", `{"x": 1.0 / 0.0}`, order, "", ErrResultType},
		{"bool key", `{true: 1}`, order, "", ErrResultType},
		{"type value", `{"t": type(1)}`, order, "", ErrResultType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.src, Value)
			got, err := p.Transform(context.Background(), newInput(tt.body))
			if errKind(err) != tt.err || (err != nil) != (tt.err != nil) {
				t.Fatalf("Transform(%q) error = %v, want kind %v", tt.src, err, tt.err)
			}
			if err != nil {
				if got != nil {
					t.Errorf("Transform(%q) = %q with an error, want nil", tt.src, got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("Transform(%q)\n got %s\nwant %s", tt.src, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("Transform(%q) = %s: not valid JSON", tt.src, got)
			}
		})
	}
}

// TestSeedExamples runs the two examples the seed document (§4) gives,
// end to end: only HIGH priority to Slack, and a complaint reshaped into a
// Zendesk ticket.
func TestSeedExamples(t *testing.T) {
	slack := mustCompile(t, `payload.data.priority == "HIGH"`, Bool)
	zendesk := mustCompile(t, `{"ticket": {
		"subject": "Complaint from " + payload.data.customer,
		"description": payload.data.description,
		"priority": payload.data.priority.lowerAscii(),
		"custom_fields": [{"id": 360000123456, "value": payload.data.orderNumber}]}}`, Value)

	for _, tt := range []struct {
		priority string
		toSlack  bool
	}{{"HIGH", true}, {"LOW", false}, {"MEDIUM", false}} {
		body := fmt.Sprintf(`{"data": {"priority": %q, "customer": "Bob", "description": "late", "orderNumber": "A-7"}}`, tt.priority)
		in := NewInput("forms", "e1", "complaint.created", nil, []byte(body), true)
		got, err := slack.Match(context.Background(), in)
		if err != nil || got != tt.toSlack {
			t.Errorf("priority %s: to Slack = %v, %v; want %v", tt.priority, got, err, tt.toSlack)
		}
		ticket, err := zendesk.Transform(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Ticket struct {
				Subject, Priority string
				CustomFields      []struct {
					ID    int64
					Value string
				} `json:"custom_fields"`
			}
		}
		if err := json.Unmarshal(ticket, &v); err != nil {
			t.Fatalf("%s: %v", ticket, err)
		}
		if v.Ticket.Subject != "Complaint from Bob" || v.Ticket.Priority != strings.ToLower(tt.priority) ||
			len(v.Ticket.CustomFields) != 1 || v.Ticket.CustomFields[0].ID != 360000123456 || v.Ticket.CustomFields[0].Value != "A-7" {
			t.Errorf("ticket = %s", ticket)
		}
	}
}

func TestNumbers(t *testing.T) {
	const body = `{
		"id": 9007199254740993,
		"max": 9223372036854775807,
		"beyond": 123456789012345678901234567890,
		"a": 0.1, "b": 0.2, "sum": 0.30000000000000004,
		"pi": 3.14159265358979323846264338327950288,
		"price": 19.99, "trailing": 1.10, "exp": 1e3, "neg": -0.0,
		"huge": 1e400, "tiny": 1e-400,
		"qty": 3, "amount": 100.5
	}`
	in := NewInput("", "", "", nil, []byte(body), true)
	match := []struct {
		src  string
		want bool
	}{
		{`payload.id == 9007199254740993`, true},
		{`payload.id == 9007199254740992`, false}, // as float64 they would be equal
		{`payload.id + 1 == 9007199254740994`, true},
		{`type(payload.id) == int`, true},
		{`payload.max == 9223372036854775807`, true},
		{`type(payload.beyond) == double`, true},
		{`payload.beyond > 1e29`, true},
		{`payload.a + payload.b == payload.sum`, true}, // float64 arithmetic
		{`payload.a + payload.b == 0.3`, false},
		{`payload.price > 19`, true},
		{`payload.price < 20`, true},
		{`payload.amount > 100`, true},
		{`payload.amount + 1 == 101.5`, true}, // int beside double: double
		{`1 + payload.amount == 101.5`, true},
		{`payload.amount - 1 == 99.5`, true},
		{`payload.amount * 2 == 201`, true},
		{`payload.amount / 2 == 50.25`, true},
		{`payload.qty + 1 == 4`, true},
		{`type(payload.qty + 1) == int`, true},
		{`payload.qty * payload.price == 59.97`, true},
		{`payload.qty / 2 == 1`, true}, // int division
		{`double(payload.qty) / 2 == 1.5`, true},
		{`payload.exp == 1000`, true},
		{`type(payload.exp) == double`, true},
		{`1 + 1.5 == 2.5`, true},
		{`2u * 1.5 == 3.0`, true},
		{`payload.huge > 1e308`, true},
		{`payload.tiny == 0`, true},
	}
	for _, tt := range match {
		got, err := mustCompile(t, tt.src, Bool).Match(context.Background(), in)
		if err != nil || got != tt.want {
			t.Errorf("Match(%q) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}

	transform := []struct{ src, want string }{
		{`[payload.id, payload.id + 1, payload.max]`, `[9007199254740993,9007199254740994,9223372036854775807]`},
		{`[payload.a, payload.b, payload.sum, payload.a + payload.b]`, `[0.1,0.2,0.30000000000000004,0.30000000000000004]`},
		{`[payload.beyond, payload.pi]`, `[123456789012345678901234567890,3.14159265358979323846264338327950288]`},
		{`[payload.price, payload.trailing, payload.exp, payload.neg]`, `[19.99,1.1,1000,-0]`},
		{`[payload.huge]`, `[1e400]`},
		{`[payload.amount + 1, payload.qty * payload.price]`, `[101.5,59.97]`},
		{`[1e21, 1e-7, 123456.789]`, `[1e+21,1e-7,123456.789]`},
	}
	for _, tt := range transform {
		got, err := mustCompile(t, tt.src, Value).Transform(context.Background(), in)
		if err != nil || string(got) != tt.want {
			t.Errorf("Transform(%q) = %s, %v; want %s", tt.src, got, err, tt.want)
		}
	}

	// The payload passed whole keeps every number's value, and the digits of
	// those a float64 cannot hold.
	got, err := mustCompile(t, `payload`, Value).Transform(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, digits := range []string{"9007199254740993", "123456789012345678901234567890", "3.14159265358979323846264338327950288", "0.30000000000000004", "1e400"} {
		if !strings.Contains(string(got), digits) {
			t.Errorf("payload passed through = %s: %s lost", got, digits)
		}
	}
}

func TestSameDecimal(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"1.10", "1.1", true},
		{"1e2", "100", true},
		{"1E+2", "100", true},
		{"0.001", "1e-3", true},
		{"-0.0", "0", true},
		{"0e999999999999999999999", "0", false}, // exponent out of range
		{"0.1000000000000000000001", "0.1", false},
		{"123456789012345678901234567890", "123456789012345680000000000000", false},
		{"-1.5", "1.5", false},
		{"1e400", "+Inf", false},
	} {
		if got := sameDecimal(tt.a, tt.b); got != tt.want {
			t.Errorf("sameDecimal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		src          string
		kind         Kind
		line, column int
		msg          string
	}{
		{`payload.data.priority == `, Bool, 1, 26, "Syntax error"},
		{`paylod.data == 1`, Bool, 1, 1, "undeclared reference to 'paylod'"},
		{"type == \"a\" &&\n  verified &&\n  header[\"x\"] == \"y\"", Bool, 3, 3, "undeclared reference to 'header'"},
		{`type + 1 == 2`, Bool, 1, 6, "no matching overload"},
		{`type`, Bool, 1, 1, "must give a bool, this one gives string"},
		{`{"a": 1}`, Bool, 1, 1, "must give a bool"},
		{`type == "x"`, Value, 1, 6, "must give a map or a list, this one gives bool"},
		{`"ticket"`, Value, 1, 1, "must give a map or a list"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src, tt.kind)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%q) = %v, want a *CompileError", tt.src, err)
			continue
		}
		if ce.Line != tt.line || ce.Column != tt.column || !strings.Contains(ce.Msg, tt.msg) {
			t.Errorf("Compile(%q) = %d:%d %q, want %d:%d and %q", tt.src, ce.Line, ce.Column, ce.Msg, tt.line, tt.column, tt.msg)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, fmt.Sprintf("%d:%d: ", tt.line, tt.column)) {
			t.Errorf("Compile(%q) error %q: want one line starting with the position", tt.src, msg)
		}
	}
	if _, err := Compile("true", Kind(9)); err == nil {
		t.Error("Compile with an unknown kind: no error")
	}
}

func TestCost(t *testing.T) {
	// At the defaults, one pass over the payload passes and a loop in a
	// loop does not.
	for _, src := range []string{
		`payload.data.priority == "HIGH"`,
		`payload.items.exists(i, i.sku == "X")`,
		`payload.items.filter(i, i.qty > 1).size() > 2`,
		`payload.text.matches("^[a-z]+@example[.]com$")`,
	} {
		if _, err := Compile(src, Bool); err != nil {
			t.Errorf("Compile(%q): %v", src, err)
		}
	}
	nested := `payload.items.exists(i, payload.tags.exists(t, t == i.sku))`
	_, err := Compile(nested, Bool)
	if !errors.Is(err, ErrCost) {
		t.Fatalf("Compile(nested loops) = %v, want ErrCost", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line", err)
	}
	// The estimate scales with the body: small bodies allow more. (Every
	// comparison of two payload values is priced as a string compare, so
	// this loop in a loop is cubic in the body's size.)
	small, err := NewEnv(Limits{MaxBodyBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	p, err := small.Compile(nested, Bool)
	if err != nil {
		t.Fatalf("Compile(nested loops) for 256-byte bodies: %v", err)
	}
	if p.Cost() == 0 || p.Cost() > DefaultMaxCost {
		t.Errorf("Cost() = %d", p.Cost())
	}
	one := mustCompile(t, `payload.items.exists(i, i.sku == "X")`, Bool)
	if c := one.Cost(); c < DefaultMaxBodyBytes || c > DefaultMaxCost {
		t.Errorf("one loop over a 1 MiB body: Cost() = %d, want between %d and %d", c, DefaultMaxBodyBytes, DefaultMaxCost)
	}
	// A lower budget refuses sooner.
	tight, err := NewEnv(Limits{MaxCost: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tight.Compile(`payload.items.exists(i, i.sku == "X")`, Bool); !errors.Is(err, ErrCost) {
		t.Errorf("Compile under a budget of 1000 = %v, want ErrCost", err)
	}
}

func TestNewEnv(t *testing.T) {
	for _, l := range []Limits{{MaxBodyBytes: -1}, {Timeout: -time.Second}} {
		if _, err := NewEnv(l); err == nil {
			t.Errorf("NewEnv(%+v): no error", l)
		}
	}
	e, err := NewEnv(Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Limits(), (Limits{MaxBodyBytes: DefaultMaxBodyBytes, MaxCost: DefaultMaxCost, Timeout: DefaultTimeout}); got != want {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
}

// bigList returns a body whose "items" list has n small maps.
func bigList(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"q":%d}`, i%10)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestRuntimeLimits(t *testing.T) {
	body := bigList(140_000) // 1,120,011 bytes
	env, err := NewEnv(Limits{MaxBodyBytes: 2 << 20, Timeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	loop, err := env.Compile(`payload.items.all(i, i.q < 10)`, Bool)
	if err != nil {
		t.Fatal(err)
	}
	in := NewInput("", "", "", nil, body, true)
	in.payloadOnce.Do(in.decode) // not on the clock: Match decodes before starting it

	t.Run("deadline", func(t *testing.T) {
		start := time.Now()
		_, err := loop.Match(context.Background(), in)
		if !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Match = %v, want ErrDeadline", err)
		}
		// Unloaded, 140,000 steps take tens of milliseconds; a deadline of
		// 1ms stops the loop within a few hundred steps.
		if el := time.Since(start); el > time.Second {
			t.Errorf("stopped after %v", el)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := loop.Match(ctx, in)
		if !errors.Is(err, ErrDeadline) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Match = %v, want ErrDeadline wrapping context.Canceled", err)
		}
	})
	t.Run("caller's deadline", func(t *testing.T) {
		env, _ := NewEnv(Limits{MaxBodyBytes: 2 << 20, Timeout: time.Hour})
		loop, _ := env.Compile(`payload.items.all(i, i.q < 10)`, Bool)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if _, err := loop.Match(ctx, in); !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Match = %v, want ErrDeadline", err)
		}
	})
	t.Run("body over the estimate", func(t *testing.T) {
		p := mustCompile(t, `payload.items.size() > 0`, Bool) // default 1 MiB
		if _, err := p.Match(context.Background(), in); !errors.Is(err, ErrCost) {
			t.Fatalf("Match = %v, want ErrCost", err)
		}
		// A program that does not read the payload does not care.
		if ok, err := mustCompile(t, `verified`, Bool).Match(context.Background(), in); !ok || err != nil {
			t.Fatalf("Match = %v, %v", ok, err)
		}
	})
	t.Run("transform too large", func(t *testing.T) {
		env, _ := NewEnv(Limits{MaxBodyBytes: 1 << 10})
		p, err := env.Compile(`payload.items.map(i, payload)`, Value)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Transform(context.Background(), NewInput("", "", "", nil, bigList(100), true))
		if !errors.Is(err, ErrCost) || got != nil {
			t.Fatalf("Transform = %d bytes, %v; want ErrCost and nothing", len(got), err)
		}
	})
}

func TestWrongKind(t *testing.T) {
	in := newInput(order)
	if _, err := mustCompile(t, `{"a": 1}`, Value).Match(context.Background(), in); !errors.Is(err, ErrResultType) {
		t.Errorf("Match on a Value program = %v, want ErrResultType", err)
	}
	if _, err := mustCompile(t, `true`, Bool).Transform(context.Background(), in); !errors.Is(err, ErrResultType) {
		t.Errorf("Transform on a Bool program = %v, want ErrResultType", err)
	}
	if _, err := mustCompile(t, `true`, Bool).Match(context.Background(), nil); !errors.Is(err, ErrEval) {
		t.Errorf("Match(nil Input) = %v, want ErrEval", err)
	}
}

func TestHeaders(t *testing.T) {
	h := http.Header{
		"X-Hub-Signature": {"sha1=a", "sha1=b"},
		"x-odd":           {"lower"}, // not canonical: set directly
		"X-Odd":           {"canonical"},
		"X-Empty":         {},
	}
	in := NewInput("", "", "", h, nil, false)
	for src, want := range map[string]bool{
		`headers["x-hub-signature"] == "sha1=a"`: true,
		`headers["X-Odd"] == "canonical"`:        false, // names are lower-case
		`headers["x-odd"] == "canonical"`:        true,  // "X-Odd" sorts before "x-odd"
		`!("x-empty" in headers)`:                true,
		`headers.size() == 2`:                    true,
		`!verified`:                              true,
	} {
		got, err := mustCompile(t, src, Bool).Match(context.Background(), in)
		if errors.Is(err, ErrNoSuchKey) {
			got, err = false, nil
		}
		if err != nil || got != want {
			t.Errorf("Match(%q) = %v, %v; want %v", src, got, err, want)
		}
	}
}

// TestInputShared evaluates a matcher, filters and transforms on one Input
// from many goroutines (run with -race): the body is decoded once.
func TestInputShared(t *testing.T) {
	progs := []*Program{
		mustCompile(t, `payload.data.priority == "HIGH"`, Bool),
		mustCompile(t, `payload.data.items.exists(i, i.qty > 1)`, Bool),
		mustCompile(t, `headers["x-github-event"] == "push"`, Bool),
		mustCompile(t, `{"n": payload.data.total, "items": payload.data.items}`, Value),
		mustCompile(t, `[type, id]`, Value),
	}
	in := newInput(order)
	var wg sync.WaitGroup
	for range 8 {
		for _, p := range progs {
			wg.Go(func() {
				var err error
				if p.Kind() == Bool {
					_, err = p.Match(context.Background(), in)
				} else {
					_, err = p.Transform(context.Background(), in)
				}
				if err != nil {
					t.Errorf("%s: %v", p, err)
				}
			})
		}
	}
	wg.Wait()
}

func TestDecodeLazy(t *testing.T) {
	in := newInput(order)
	if _, err := mustCompile(t, `type == "form.submitted" && verified`, Bool).Match(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if in.payload != nil {
		t.Error("payload decoded for a program that does not read it")
	}
	if _, err := mustCompile(t, `payload.data.total > 1`, Bool).Match(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	first := in.payload
	if _, err := mustCompile(t, `payload.data.total > 2`, Bool).Match(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if in.payload != first {
		t.Error("payload decoded twice")
	}
}

func TestKindString(t *testing.T) {
	if Bool.String() != "bool" || Value.String() != "value" || Kind(7).String() != "Kind(7)" {
		t.Errorf("Kind strings: %v %v %v", Bool, Value, Kind(7))
	}
	p := mustCompile(t, `true`, Bool)
	if p.String() != "true" || p.Kind() != Bool {
		t.Errorf("String() = %q, Kind() = %v", p, p.Kind())
	}
}
