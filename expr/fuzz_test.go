package expr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// fuzzPrograms is the fixed set of expressions FuzzEval runs on every
// body: field access, optionals, mixed arithmetic, comprehensions over maps
// and lists, string functions, and transforms that build or pass on values.
var fuzzPrograms = []struct {
	src  string
	kind Kind
}{
	{`payload.data.priority == "HIGH"`, Bool},
	{`has(payload.a) && payload.a > 1`, Bool},
	{`payload.items.exists(i, i.qty * 2 > 3.5)`, Bool},
	{`payload.?a.?b.orValue(0) + 1 > 0`, Bool},
	{`type(payload) == map && payload.size() > 0`, Bool},
	{`string(payload.a).lowerAscii().contains("x")`, Bool},
	{`payload.a + payload.b == payload.c`, Bool},
	{`payload.a * 1.5 - payload.b / 2 < 10`, Bool},
	{`payload.all(k, k.startsWith("a"))`, Bool},
	{`payload.a.matches("^[a-z]+$") || payload[0] == 1`, Bool},
	{`headers["content-type"] == "application/json" && verified`, Bool},
	{`payload`, Value},
	{`{"subject": "x " + string(payload.a), "n": payload.n, "list": payload.items}`, Value},
	{`payload.items.map(i, {"q": i.qty, "p": i.price * 1})`, Value},
	{`[payload.a, payload.b, payload.?c.orValue(null)]`, Value},
	{`payload.filter(k, k != "a")`, Value},
}

func FuzzEval(f *testing.F) {
	for _, seed := range []string{
		order,
		`{"a": 2, "b": 3, "c": 5}`,
		`{"a": 0.1, "b": 0.2, "c": 0.30000000000000004}`,
		`{"a": 9223372036854775807, "b": 1, "c": 0}`,
		`{"a": "xyz", "n": 9007199254740993, "items": [{"qty": 2, "price": 1.5}, {"qty": 1e400}]}`,
		`{"a": 0.1, "b": 0.1000000000000000000001}`,
		`{"a": {"b": null}, "items": [null, [], {}], "n": -0}`,
		`[1, "a", true, null, 1.5e-300, 123456789012345678901234567890]`,
		`"just a string"`,
		`not json`,
		``,
		`{"a": "\ud800", "b": "\u2028\u0000"}`,
		`{"a": 1} trailing`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		f.Add([]byte(seed))
	}
	progs := make([]*Program, len(fuzzPrograms))
	for i, fp := range fuzzPrograms {
		progs[i] = mustCompile(f, fp.src, fp.kind)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := NewInput("fuzz", "id", "type", h, body, true)
		for _, p := range progs {
			var err error
			var out []byte
			if p.Kind() == Bool {
				_, err = p.Match(context.Background(), in)
			} else {
				out, err = p.Transform(context.Background(), in)
			}
			if err != nil {
				if errKind(err) == nil {
					t.Errorf("%s: error of no kind: %v", p, err)
				}
				if strings.Contains(err.Error(), "internal error") {
					t.Errorf("%s: %v", p, err) // a recovered panic
				}
				if out != nil {
					t.Errorf("%s: %d bytes beside an error", p, len(out))
				}
				continue
			}
			if p.Kind() == Value && !json.Valid(out) {
				t.Errorf("%s: invalid JSON %q", p, out)
			}
			if p.String() == "payload" {
				checkRoundTrip(t, in, body, out)
			}
		}
	})
}

// checkRoundTrip checks that a payload passed through whole comes out with
// the same structure, strings and number values as it came in.
func checkRoundTrip(t *testing.T, in *Input, body, out []byte) {
	t.Helper()
	for _, text := range in.exact {
		if text == "" {
			return // two numbers, one float64: documented to lose digits
		}
	}
	want, err1 := decodeNumbers(body)
	got, err2 := decodeNumbers(out)
	if err1 != nil || err2 != nil {
		t.Fatalf("decode: %v, %v", err1, err2)
	}
	if !sameJSON(want, got) {
		t.Errorf("passed through %q, got %q", body, out)
	}
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		// The same text is the same number, even where sameDecimal
		// cannot read it (0e9227000000000000000: its exponent is beyond
		// int).
		y, ok := b.(json.Number)
		return ok && (x == y || sameDecimal(string(x), string(y)))
	}
	return a == b
}

func TestFuzzProgramsCompile(t *testing.T) {
	for _, fp := range fuzzPrograms {
		if _, err := Compile(fp.src, fp.kind); err != nil {
			t.Errorf("%s: %v", fp.src, err)
		}
	}
}

// TestTwoValuesOneFloat pins down the one case where a pass-through loses
// digits: two payload numbers of different values that round to the same
// float64 are both written as that float64.
func TestTwoValuesOneFloat(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`{"a": 0.1, "b": 0.1000000000000000000001}`, `{"a":0.1,"b":0.1}`},
		{`{"b": 0.1000000000000000000001, "c": 0.1000000000000000000002}`, `{"b":0.1,"c":0.1}`},
		{`{"b": 0.1000000000000000000001, "c": 0.10000000000000000000010}`, `{"b":0.1000000000000000000001,"c":0.1000000000000000000001}`},
	} {
		in := NewInput("", "", "", nil, []byte(tt.body), true)
		got, err := mustCompile(t, `payload`, Value).Transform(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		// Compared by value: of two texts of one value, the first in
		// the body is kept.
		g, _ := decodeNumbers(got)
		w, _ := decodeNumbers([]byte(tt.want))
		if !sameJSON(g, w) {
			t.Errorf("Transform(payload) of %s = %s; want %s", tt.body, got, tt.want)
		}
	}
	in := NewInput("", "", "", nil, []byte(`{"a": 1e400, "b": 2e400}`), true)
	if _, err := mustCompile(t, `payload`, Value).Transform(context.Background(), in); !errors.Is(err, ErrResultType) {
		t.Errorf("two infinities: %v, want ErrResultType", err)
	}
}
