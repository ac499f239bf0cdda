package expr

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// referenceDecode is how Input.decode worked before decodePayload: the
// body through encoding/json with UseNumber, then a pass converting
// numbers, then a pass building CEL values. It is what decodePayload must
// give for every body.
func referenceDecode(body []byte) (ref.Val, map[uint64]string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return types.NullValue, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return types.NullValue, nil
	}
	var r reference
	return r.value(r.numbers(v)), r.exact
}

type reference struct{ exact map[uint64]string }

func (r *reference) numbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case map[string]any, []any, json.Number:
				x[k] = r.numbers(e)
			}
		}
	case []any:
		for i, e := range x {
			switch e.(type) {
			case map[string]any, []any, json.Number:
				x[i] = r.numbers(e)
			}
		}
	case json.Number:
		return r.number(string(x), x)
	}
	return v
}

func (r *reference) number(s string, n json.Number) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, _ := strconv.ParseFloat(s, 64)
	var buf [32]byte
	if sameDecimal(s, string(appendFloat(buf[:0], f))) {
		return f
	}
	bits := math.Float64bits(f)
	if r.exact == nil {
		r.exact = make(map[uint64]string)
	}
	if prev, ok := r.exact[bits]; !ok {
		r.exact[bits] = s
	} else if prev != "" && !sameDecimal(prev, s) {
		r.exact[bits] = ""
	}
	return n
}

func (r *reference) value(v any) ref.Val {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = r.value(e)
		}
		return types.NewStringInterfaceMap(adapter, x)
	case []any:
		l := make([]ref.Val, len(x))
		for i, e := range x {
			l[i] = r.value(e)
		}
		return types.NewRefValList(adapter, l)
	case string:
		return types.String(x)
	case int64:
		return types.Int(x)
	case float64:
		if text, ok := r.exact[math.Float64bits(x)]; ok && text != "" {
			r.exact[math.Float64bits(x)] = ""
		}
		return types.Double(x)
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return types.Double(f)
	case bool:
		return types.Bool(x)
	}
	return types.NullValue
}

// sameValue reports how two payloads differ, or "" if they are the same:
// the same Go types all the way down (the encoder relies on them), the
// same strings byte for byte, the same float64 bits.
func sameValue(got, want ref.Val, path string) string {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return path + ": " + reflect.TypeOf(got).String() + ", want " + reflect.TypeOf(want).String()
	}
	switch w := want.(type) {
	case types.Double:
		if math.Float64bits(float64(got.(types.Double))) != math.Float64bits(float64(w)) {
			return path + ": " + strconv.FormatFloat(float64(got.(types.Double)), 'g', -1, 64) + ", want " + strconv.FormatFloat(float64(w), 'g', -1, 64)
		}
		return ""
	case types.String, types.Int, types.Bool, types.Null:
		if got != want {
			return path + ": " + strconv.Quote(got.Type().TypeName()) + " value differs"
		}
		return ""
	}
	gv, wv := got.Value(), want.Value()
	if reflect.TypeOf(gv) != reflect.TypeOf(wv) {
		return path + ": holds " + reflect.TypeOf(gv).String() + ", want " + reflect.TypeOf(wv).String()
	}
	switch w := wv.(type) {
	case map[string]any:
		g := gv.(map[string]any)
		if len(g) != len(w) {
			return path + ": " + strconv.Itoa(len(g)) + " keys, want " + strconv.Itoa(len(w))
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return path + ": no key " + strconv.Quote(k)
			}
			if diff := sameValue(gv.(ref.Val), wv.(ref.Val), path+"."+strconv.Quote(k)); diff != "" {
				return diff
			}
		}
	case []ref.Val:
		g := gv.([]ref.Val)
		if len(g) != len(w) || (g == nil) != (w == nil) {
			return path + ": " + strconv.Itoa(len(g)) + " items, want " + strconv.Itoa(len(w))
		}
		for i := range w {
			if diff := sameValue(g[i], w[i], path+"["+strconv.Itoa(i)+"]"); diff != "" {
				return diff
			}
		}
	default:
		return path + ": unexpected " + reflect.TypeOf(wv).String()
	}
	return ""
}

// sameExact reports how two exact maps differ, or "". Of two texts of one
// decimal the reference kept whichever its map order met first, and
// decodePayload the first in the body: the texts need only be the same
// decimal.
func sameExact(got, want map[uint64]string) string {
	if len(got) != len(want) {
		return "exact has " + strconv.Itoa(len(got)) + " entries, want " + strconv.Itoa(len(want))
	}
	for bits, w := range want {
		g, ok := got[bits]
		switch {
		case !ok:
			return "exact lacks " + strconv.FormatUint(bits, 16)
		case (g == "") != (w == ""), g != w && !sameDecimal(g, w):
			return "exact[" + strconv.FormatUint(bits, 16) + "] = " + strconv.Quote(g) + ", want " + strconv.Quote(w)
		}
	}
	return ""
}

func checkSameDecode(t *testing.T, body []byte) {
	t.Helper()
	got, gotExact := decodePayload(body)
	want, wantExact := referenceDecode(body)
	if diff := sameValue(got, want, "payload"); diff != "" {
		t.Errorf("%q: %s", body, diff)
	}
	if diff := sameExact(gotExact, wantExact); diff != "" {
		t.Errorf("%q: %s", body, diff)
	}
}

// decodeSeeds are bodies at the edges of JSON: every escape, surrogates
// paired and not, invalid UTF-8, numbers at the edges of int64 and
// float64, repeated keys, nesting at encoding/json's limit, trailing data,
// a byte order mark, space JSON allows and space it does not.
var decodeSeeds = []string{
	``, ` `, "\t\n\r ", `null`, `true`, `false`, `nul`, `tru`, `falsey`, `0`, `-`, `-0`, `-0.0`, `0.0`,
	`"a"`, `"`, `"\"`, `"\u00"`, `"\x"`, `"\'"`, "\"\x01\"", "\"\x7f\"",
	`"\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u20ac\u2028\uFFFF\uffFe"`,
	`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\ud800"`, `"\udc00"`, `"\ud800x"`, `"\ud800\u0041"`,
	`"\ud800\ud800\udc00"`, `"\udc00\ud800"`, `"\ud800\uZZZZ"`, `"\ud800\"`, `"\ud800\n"`, `"\ud800\u12"`,
	"\"\xff\"", "\"a\xc3\"", "\"\xc3\x28\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\"",
	"\"\xef\xbf\xbd\"", "\"é€😀\"", "\"\xff\\n\xfe\"", "\"abcdefghijklmnop\xffqrstuvw\\u0041xyz0123456789\"",
	`1`, `-1`, `01`, `-01`, `1.`, `.1`, `1.e1`, `1e`, `1e+`, `+1`, `1E5`, `1e-5`, `1e+5`, `1.5E-05`,
	`9223372036854775807`, `-9223372036854775808`, `9223372036854775808`, `-9223372036854775809`,
	`999999999999999999`, `1000000000000000000`, `12345678901234567890123`, `100000000000000000000000`,
	`9007199254740993`, `9007199254740993.0`, `0.1`, `0.10`, `0.1000000000000000000001`, `1e400`, `-1e400`,
	`1e-400`, `-1e-400`, `4.9e-324`, `5e-324`, `2.2250738585072011e-308`, `2.2250738585072014e-308`,
	`1.7976931348623157e308`, `1.7976931348623159e308`, `1e308`, `1e-307`, `123456789012345.6`,
	`1234567890123456.7`, `0.000000000000000000000000000000000000000001`, `1e99999999999999999999`,
	`1e-99999999999999999999`, `0e99999999999999999999`, `[0,0e9227000000000000000]`, `3.14159265358979323846`, `[1e400, 2e400]`,
	`[0.1, 0.1000000000000000000001]`, `[0.1000000000000000000001, 0.1]`,
	`[0.1000000000000000000001, 0.10000000000000000000010, 0.1000000000000000000002]`,
	`{}`, `[]`, `{ }`, `[ ]`, `{"a":1}`, `{"a" : 1 , "b" : [ 1 , 2 ] }`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`,
	`{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `[1 2]`, `{"a":1}}`, `[[]`, `[]]`, `{"a":[}`,
	`{"a":1,"a":2}`, `{"a":{"b":1},"a":[3]}`, `{"a":1.5,"b":2,"a":"x"}`, `{"\u0061":1,"a":2}`,
	`{"a":1.00000000000000000001,"a":1}`, `{"a":1.00000000000000000001,"a":1,"b":1.00000000000000000001}`,
	`{"a":[0.1000000000000000000001],"b":1,"a":0.1}`, `{"a":0.1,"b":1,"a":0.1000000000000000000001}`,
	`{"x":{"a":1e400,"a":2},"y":1e400}`, `{"a":1e400,"b":{"a":2e400,"a":1}}`,
	`{"a":1} `, `{"a":1} x`, `{"a":1} {}`, `1 2`, `"a" "b"`, `[] ,`, `{"a":1}` + "\x00",
	"\ufeff{}", "\xef\xbb\xbf{}", "{}\ufeff", "\f{}", "\v{}", "{}\u00a0", "\u00a0{}", "{\t\"a\"\n:\r1 }",
	`[[[[[]]]]]`, `{"a":{"b":{"c":{"d":{}}}}}`, `[{"a":[{"b":[1,{"c":[]}]}]}]`,
	strings.Repeat("[", 64) + strings.Repeat("]", 64), strings.Repeat(`{"a":[`, 64) + strings.Repeat("]}", 64),
	order,
}

// deepSeeds nest at encoding/json's limit and one past it. TestDecode runs
// them; they are not fuzz seeds, since at 20 to 60 KB they would slow the
// fuzzer to a crawl.
var deepSeeds = []string{
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
	strings.Repeat("[", maxDepth-1) + `{"a":1}` + strings.Repeat("]", maxDepth-1),
	strings.Repeat("[", maxDepth) + `{"a":1}` + strings.Repeat("]", maxDepth),
	strings.Repeat("[", 20000),
}

func addDecodeSeeds(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Add(body1KiB)
	f.Add(bigList(50))
	// The bodies FuzzEval keeps.
	dir := filepath.Join("testdata", "fuzz", "FuzzEval")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		body, ok := corpusBytes(raw)
		if !ok {
			f.Fatalf("%s: not a []byte corpus file", e.Name())
		}
		f.Add(body)
	}
}

// corpusBytes reads a one-[]byte corpus file of go test fuzz v1.
func corpusBytes(raw []byte) ([]byte, bool) {
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		return nil, false
	}
	lit, ok := strings.CutPrefix(lines[1], "[]byte(")
	if !ok {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
	return []byte(s), err == nil
}

// FuzzDecodeSameAsEncodingJSON: decodePayload gives what the decoder it
// replaced (encoding/json and two passes, referenceDecode) gave.
func FuzzDecodeSameAsEncodingJSON(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecode(t, body)
	})
}

func TestDecodeSameAsEncodingJSON(t *testing.T) {
	for _, s := range append(decodeSeeds, deepSeeds...) {
		checkSameDecode(t, []byte(s))
	}
	checkSameDecode(t, body1KiB)
	for _, n := range []int{0, 1, 50, 2000} {
		checkSameDecode(t, bigList(n))
	}
}

// TestDecode pins down what some bodies decode to, beside the comparison
// with encoding/json.
func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		body string
		want ref.Val
	}{
		{`"\ud83d\ude00\ud800x\udc00"`, types.String("😀\uFFFDx\uFFFD")},
		{"\"a\xffb\xed\xa0\x80\"", types.String("a\uFFFDb\uFFFD\uFFFD\uFFFD")},
		{`-0`, types.Int(0)},
		{`1e2`, types.Double(100)},
		{`9223372036854775808`, types.Double(9223372036854775808)},
		{`-9223372036854775808`, types.Int(math.MinInt64)},
		{`1e400`, types.Double(math.Inf(1))},
		{` 7 `, types.Int(7)},
		{`7 7`, types.NullValue},
		{"\ufeff7", types.NullValue},
		{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), types.NullValue},
	} {
		got, _ := decodePayload([]byte(tt.body))
		if diff := sameValue(got, tt.want, "payload"); diff != "" {
			t.Errorf("%.40q: %s", tt.body, diff)
		}
	}
	if v, _ := decodePayload([]byte(`-0.0`)); !math.Signbit(float64(v.(types.Double))) {
		t.Errorf("-0.0 decoded to %v, want negative zero", v)
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if v, _ := decodePayload([]byte(deep)); v == types.NullValue {
		t.Errorf("%d nested arrays decoded to null", maxDepth)
	}
	got, exact := decodePayload([]byte(`{"a":1.00000000000000000001,"a":1,"b":[3.14159265358979323846]}`))
	if len(exact) != 1 || exact[math.Float64bits(3.14159265358979323846)] != "3.14159265358979323846" {
		t.Errorf("exact = %v: want only the text of b[0]: a's first value was replaced", exact)
	}
	if got.(traits.Mapper).Get(types.String("a")) != types.Int(1) {
		t.Errorf("a = %v, want the last value, 1", got)
	}
}

// TestDecodeReusesNothing: a payload does not change when the decoder
// that built it decodes another body.
func TestDecodeReusesNothing(t *testing.T) {
	first, _ := decodePayload([]byte(`{"a":"x\ny","b":[1,2,{"c":"z"}]}`))
	want, _ := referenceDecode([]byte(`{"a":"x\ny","b":[1,2,{"c":"z"}]}`))
	for range 10 {
		decodePayload([]byte(`{"a":"p\tq","b":[3,4,{"c":"w"}],"d":[5]}`))
		decodePayload([]byte(`{"a":"p\tq","b":[3,4,{"c":"w"}],"d":[5`))
	}
	if diff := sameValue(first, want, "payload"); diff != "" {
		t.Error(diff)
	}
}

// BenchmarkDecode: the decode alone, old and new, on the 1 KiB body.
func BenchmarkDecode(b *testing.B) {
	b.Run("decoder=reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			referenceDecode(body1KiB)
		}
	})
	b.Run("decoder=decodePayload", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodePayload(body1KiB)
		}
	})
}
