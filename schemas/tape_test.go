package schemas

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// checkTape checks the promise of tape.parse on body: it accepts exactly
// the bodies that the checks it replaces (checkRaw, then encoding/json)
// accept, and then describes the same document and finds the same type.
func checkTape(t *testing.T, body []byte, maxDepth int) {
	t.Helper()
	tp := new(tape)
	ok := tp.parse(body, maxDepth)
	errRaw := checkRaw(body, maxDepth)
	var doc any
	errDecode := errRaw
	if errRaw == nil {
		doc, errDecode = decode(body)
	}
	if ok != (errDecode == nil) {
		t.Fatalf("%q: parse = %v, slow path: %v", body, ok, errDecode)
	}
	if !ok {
		return
	}
	got, next := tp.value(body, 0)
	if next != len(tp.toks) {
		t.Fatalf("%q: value ended at token %d of %d", body, next, len(tp.toks))
	}
	if !reflect.DeepEqual(got, doc) {
		t.Fatalf("%q: tape value %#v, encoding/json %#v", body, got, doc)
	}
	for _, path := range [][]string{{"type"}, {"a", "b"}} {
		want, wantOK := lookup(doc, path)
		s, gotOK := tp.lookup(body, path)
		if gotOK != wantOK || string(s) != want {
			t.Fatalf("%q: lookup %q = %q, %v; want %q, %v", body, path, s, gotOK, want, wantOK)
		}
	}
}

func TestTape(t *testing.T) {
	for _, body := range []string{
		`{}`, `[]`, `0`, `-0`, `1.5e-3`, `-12.0E+2`, `true`, `false`, `null`, `""`,
		` { "a" : [ 1 , 2 , { "b" : null } ] } `, "\t\r\n[1]\n",
		`{"type":"x","type":"y"}`, `{"a":{"b":"c"},"a":{"b":"d"}}`, `{"a":{"b":""}}`,
		`"\u00e9\ud83d\ude00\ud800\udc00x\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ud83d\ude00"`,
		`"\"\\\/\b\f\n\r\t"`, `{"t\u0079pe":"a\u002eb"}`, `"é ✓ 𝄞"`, `"\uFFFD\uffff"`,
		`[[[[1]]]]`, `{"a":[{"b":[{"c":[]}]}]}`, `[1,[2,[3,[]]],{}]`, strings.Repeat("[", 64) + strings.Repeat("]", 64),
		`123456789012345678901234567890`, `1` + strings.Repeat("0", 99), `1e400`, `-1E-400`,
		// refused
		``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a" 1}`, `[1 2]`, `{} {}`, `1 2`,
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`, `Infinity`, `tru`, `nul`, `True`,
		`"a`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"\x00\"", "\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"",
		"\xef\xbb\xbf{}", "[1]\x00", `{"a":1}}`, `[1]]`, `[}`, `{]`,
		strings.Repeat("[", 65) + strings.Repeat("]", 65), `1` + strings.Repeat("0", 100), `1e401`, `[1e-99999]`,
		"\x1f\x8b\x08\x00\x00\x00\x00\x00",
	} {
		checkTape(t, []byte(body), defaultMaxDepth)
	}
}

func FuzzTape(f *testing.F) {
	for _, s := range []string{
		`{"type":"a","data":{"x":[1,2.5,-3e2,true,false,null,"s"]}}`,
		`{"t\u0079pe":"\ud83d\ude00","a":{"b":"\ud800"}}`,
		`[[[["deep"]]]]`, `{"a":1,"a":{"b":"c"}}`, "\"\xe2\x82\xac\"", `{"a" : [ ] , "b" : { } }`,
		validInvoice,
	} {
		f.Add([]byte(s), uint8(64))
	}
	f.Fuzz(func(t *testing.T, body []byte, depth uint8) {
		checkTape(t, body, int(depth%80))
	})
}

// TestSlowPathErrors checks that bodies the tape refuses are refused by
// Validate and TypeOf with the error the checks in turn give.
func TestSlowPathErrors(t *testing.T) {
	r := newRegistry(t, Config{Schemas: map[string][]byte{"a": []byte(`{"type":"object"}`)}})
	tests := []struct {
		body string
		want error
	}{
		{`{"type":"a",` + strings.Repeat("[", 70), ErrTooDeep},
		{`{"type":"a","n":1e999,`, ErrTooLarge},
		{"{\"type\":\"a\",\"s\":\"\xff\"}", ErrNotJSON},
		{`{"type":"a"} x`, ErrNotJSON},
	}
	for _, tt := range tests {
		if _, err := r.Validate("", []byte(tt.body)); !errors.Is(err, tt.want) {
			t.Errorf("Validate(%q) = %v, want %v", tt.body, err, tt.want)
		}
		if _, err := TypeOf([]byte(tt.body), ""); !errors.Is(err, tt.want) {
			t.Errorf("TypeOf(%q) = %v, want %v", tt.body, err, tt.want)
		}
	}
}
