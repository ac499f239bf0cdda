package schemas

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/schemas/internal/benchcpu"
)

// verdicts returns, for body under the schema of typ, what the program
// says (and whether it was unsure) and what the library says.
func verdicts(t *testing.T, r *Registry, typ string, body []byte) (prog, unsure, lib bool) {
	t.Helper()
	c := r.schemas[typ]
	if c == nil {
		t.Fatalf("no schema %q", typ)
	}
	tp := new(tape)
	if !tp.parse(body, r.maxDepth) {
		t.Fatalf("%s: tape refused the body", body)
	}
	if c.prog == nil {
		t.Fatalf("%q has no program", typ)
	}
	v := validator{body: body, toks: tp.toks, t: tp}
	prog = v.valid(c.prog.root, 0, 0)
	doc, _ := tp.value(body, 0)
	err := r.check(c, typ, false, doc)
	if err != nil && !errors.Is(err, ErrInvalid) {
		t.Fatalf("%s: library: %v", body, err)
	}
	return prog, v.unsure, err == nil
}

// TestProgramAgreesWithLibrary runs every keyword a program evaluates
// over valid and invalid values, and checks that the program and the
// library agree, and that the program was sure.
func TestProgramAgreesWithLibrary(t *testing.T) {
	tests := []struct {
		schema string
		valid  []string
		inval  []string
	}{
		{`true`, []string{`1`, `{}`}, nil},
		{`false`, nil, []string{`1`, `{}`, `null`}},
		{`{}`, []string{`1`, `"x"`, `[]`}, nil},
		{`{"type":"integer"}`, []string{`1`, `-7`, `1.0`, `1e2`, `-2.50e1`, `0e5`, `12345678901234567890123`}, []string{`1.5`, `1e-2`, `"1"`, `null`, `true`}},
		{`{"type":"number"}`, []string{`1`, `1.5`, `-1e-9`}, []string{`"1"`, `[]`}},
		{`{"type":["string","null"]}`, []string{`"a"`, `null`}, []string{`1`, `false`, `{}`}},
		{`{"type":["boolean","array","object"]}`, []string{`true`, `false`, `[]`, `{}`}, []string{`0`, `""`, `null`}},
		{`{"type":["integer","string"]}`, []string{`3`, `3.0`, `"x"`}, []string{`3.5`, `null`}},
		{`{"const":"a\u00e9"}`, []string{`"aé"`, `"a\u00e9"`}, []string{`"a"`, `1`, `null`}},
		{`{"const":null}`, []string{`null`}, []string{`0`, `false`, `""`}},
		{`{"const":false}`, []string{`false`}, []string{`true`, `0`}},
		{`{"const":1.0}`, []string{`1`, `1.0`, `10e-1`}, []string{`1.01`, `"1"`}},
		{`{"const":{"a":[1,{"b":null}],"c":"d"}}`, []string{`{"c":"d","a":[1.0,{"b":null}]}`}, []string{`{"a":[1,{"b":null}]}`, `{"a":[1,{"b":0}],"c":"d"}`, `{"a":[1,{"b":null}],"c":"d","e":1}`, `[]`}},
		{`{"enum":["a","b","c"]}`, []string{`"a"`, `"c"`, `"\u0062"`}, []string{`"d"`, `1`, `null`, `["a"]`}},
		{`{"enum":[1,"1",null,[2],{"x":true}]}`, []string{`1`, `1.0`, `"1"`, `null`, `[2]`, `[2.0]`, `{"x":true}`}, []string{`2`, `"2"`, `[1]`, `{"x":false}`, `{}`, `false`}},
		{`{"format":"date-time"}`, []string{`"2026-11-05T10:00:00Z"`, `"2026-11-05t10:00:00.5+01:00"`, `1`, `null`}, []string{`"2026-13-05T10:00:00Z"`, `"yesterday"`, `""`}},
		{`{"format":"email"}`, []string{`"a@example.com"`, `{}`}, []string{`"nope"`}},
		{`{"format":"uuid"}`, []string{`"0b9d8a3e-1c1e-4a5e-8a57-3f0f7f6f6f6f"`}, []string{`"0b9d8a3e"`}},
		{`{"format":"ipv4"}`, []string{`"10.0.0.1"`}, []string{`"10.0.0.256"`}},
		{`{"format":"no-such-format"}`, []string{`"anything"`}, nil},
		{`{"minLength":2,"maxLength":3}`, []string{`"ab"`, `"abc"`, `"éé"`, `"\u00e9\u00e9\u00e9"`, `"😀😀"`, `1`}, []string{`"a"`, `"abcd"`, `"é"`, `"😀"`, `"\ud83d\ude00"`, `"éééé"`}},
		{`{"pattern":"^[a-z]+_[0-9]{2}$"}`, []string{`"ab_12"`, `"x_00"`, `7`}, []string{`"ab_1"`, `"AB_12"`, `"ab_12\n"`, `"ab\u005f12x"`}},
		{`{"pattern":"é"}`, []string{`"café"`, `"caf\u00e9"`}, []string{`"cafe"`}},
		{`{"minimum":1,"maximum":10}`, []string{`1`, `10`, `5.5`, `1e1`, `"x"`}, []string{`0`, `11`, `0.999`, `10.0001`, `1e2`, `-3`}},
		{`{"exclusiveMinimum":0,"exclusiveMaximum":1}`, []string{`0.5`, `1e-300`}, []string{`0`, `1`, `-0`, `1.0`, `2`}},
		{`{"minimum":-9223372036854775809,"maximum":9223372036854775808}`, []string{`0`, `-9223372036854775808`, `9223372036854775807`, `9223372036854775808`}, []string{`-9223372036854775810`, `9223372036854775809`, `1e19`}},
		{`{"minimum":0.5}`, []string{`1`, `0.5`, `5e-1`}, []string{`0`, `0.49`}},
		{`{"multipleOf":3}`, []string{`0`, `9`, `-12`, `3.0`, `3e3`}, []string{`1`, `10`, `4.5`}},
		{`{"multipleOf":0.01}`, []string{`1.23`, `100`, `0.1`}, []string{`1.234`, `1e-3`}},
		{`{"minItems":1,"maxItems":2}`, []string{`[1]`, `[1,2]`, `{}`}, []string{`[]`, `[1,2,3]`}},
		{`{"uniqueItems":true}`, []string{`[]`, `[1]`, `[1,2,"1",[1],{"a":1},{"a":2},null,true,false]`, `[{"a":1,"b":2},{"a":1,"b":3}]`}, []string{`[1,1]`, `[1,1.0]`, `["a","\u0061"]`, `[[1,2],[1,2]]`, `[{"a":1,"b":2},{"b":2,"a":1}]`, `[null,null]`, `[true,true]`, `[1e2,100]`}},
		{`{"items":{"type":"string"}}`, []string{`[]`, `["a","b"]`, `{}`}, []string{`[1]`, `["a",null]`}},
		{`{"prefixItems":[{"type":"integer"},{"type":"string"}]}`, []string{`[1]`, `[1,"a"]`, `[1,"a",null]`}, []string{`["a"]`, `[1,2]`}},
		{`{"prefixItems":[{"type":"integer"}],"items":false}`, []string{`[]`, `[1]`}, []string{`[1,2]`}},
		{`{"prefixItems":[{"type":"integer"}],"items":{"type":"boolean"}}`, []string{`[1,true,false]`}, []string{`[1,true,2]`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"integer"}],"additionalItems":false}`, []string{`[1]`}, []string{`[1,2]`, `["a"]`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"integer"}],"additionalItems":{"type":"string"}}`, []string{`[1,"a"]`}, []string{`[1,2]`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":{"type":"integer"}}`, []string{`[1,2]`}, []string{`[1,"a"]`}},
		{`{"contains":{"type":"string"}}`, []string{`["a"]`, `[1,"a"]`, `{}`}, []string{`[]`, `[1,2]`}},
		{`{"contains":{"type":"string"},"minContains":2,"maxContains":3}`, []string{`["a","b"]`, `[1,"a","b","c"]`}, []string{`["a"]`, `["a","b","c","d"]`}},
		{`{"contains":{"type":"string"},"minContains":0}`, []string{`[]`, `[1]`}, nil},
		{`{"required":["a","b"]}`, []string{`{"a":1,"b":2}`, `{"b":1,"a":2,"c":3}`, `[]`}, []string{`{}`, `{"a":1}`, `{"b":1}`}},
		{`{"minProperties":2,"maxProperties":3}`, []string{`{"a":1,"b":2}`, `{"a":1,"b":2,"c":3}`}, []string{`{"a":1}`, `{"a":1,"b":2,"c":3,"d":4}`}},
		{`{"properties":{"a":{"type":"integer"},"b":{"type":"string"}}}`, []string{`{}`, `{"a":1}`, `{"a":1,"b":"x","c":null}`}, []string{`{"a":"1"}`, `{"b":2}`}},
		{`{"properties":{"a_long_property_name":{"type":"integer"},"a_long_property_nam":{"type":"string"}}}`, []string{`{"a_long_property_name":1,"a_long_property_nam":"x"}`}, []string{`{"a_long_property_name":"x"}`, `{"a_long_property_nam":1}`}},
		{`{"properties":{"a":true},"additionalProperties":false}`, []string{`{}`, `{"a":1}`}, []string{`{"b":1}`, `{"a":1,"b":1}`}},
		{`{"properties":{"a":true},"additionalProperties":{"type":"integer"}}`, []string{`{"a":"x","b":1,"c":2}`}, []string{`{"b":"x"}`}},
		{`{"patternProperties":{"^x_":{"type":"integer"},"_y$":{"minimum":10}},"additionalProperties":false}`, []string{`{"x_a":1,"b_y":10,"x_y":10}`}, []string{`{"x_a":"1"}`, `{"x_y":5}`, `{"z":1}`}},
		{`{"propertyNames":{"maxLength":3,"pattern":"^[a-z]"}}`, []string{`{"abc":1}`, `{}`}, []string{`{"abcd":1}`, `{"1":1}`}},
		{`{"dependentRequired":{"a":["b","c"]}}`, []string{`{}`, `{"b":1}`, `{"a":1,"b":1,"c":1}`}, []string{`{"a":1}`, `{"a":1,"b":1}`}},
		{`{"dependentSchemas":{"a":{"required":["b"]}}}`, []string{`{}`, `{"a":1,"b":1}`}, []string{`{"a":1}`}},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","dependencies":{"a":["b"],"c":{"required":["d"]}}}`, []string{`{"a":1,"b":1}`, `{"c":1,"d":1}`}, []string{`{"a":1}`, `{"c":1}`}},
		{`{"allOf":[{"type":"integer"},{"minimum":2}]}`, []string{`2`, `3`}, []string{`1`, `2.5`}},
		{`{"anyOf":[{"type":"integer"},{"type":"string","minLength":2}]}`, []string{`1`, `"ab"`}, []string{`"a"`, `1.5`}},
		{`{"oneOf":[{"multipleOf":2},{"multipleOf":3}]}`, []string{`2`, `3`, `4`}, []string{`6`, `5`}},
		{`{"not":{"type":"string"}}`, []string{`1`, `null`}, []string{`"a"`}},
		{`{"not":{"properties":{"a":{"type":"string"}}}}`, []string{`{"a":1}`}, []string{`{"a":"x"}`, `{}`}},
		{`{"if":{"required":["a"]},"then":{"required":["b"]},"else":{"required":["c"]}}`, []string{`{"a":1,"b":1}`, `{"c":1}`}, []string{`{"a":1}`, `{}`}},
		{`{"if":{"type":"string"},"then":{"minLength":2}}`, []string{`"ab"`, `1`}, []string{`"a"`}},
		{`{"$defs":{"pos":{"type":"integer","minimum":1}},"properties":{"n":{"$ref":"#/$defs/pos"}}}`, []string{`{"n":1}`}, []string{`{"n":0}`}},
		{`{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"},"v":{"type":"integer"}}}},"$ref":"#/$defs/node"}`, []string{`{"v":1,"next":{"v":2,"next":{}}}`}, []string{`{"next":{"next":{"v":"x"}}}`}},
		{`{"$schema":"http://json-schema.org/draft-04/schema#","properties":{"n":{"minimum":1,"exclusiveMinimum":true}}}`, []string{`{"n":2}`}, []string{`{"n":1}`}},
		{`{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"enum":["x"]}},"required":["b"]}}}`, []string{`{"a":{"b":"x"}}`}, []string{`{"a":{}}`, `{"a":{"b":"y"}}`}},
	}
	for _, tt := range tests {
		r := newRegistry(t, Config{Schemas: map[string][]byte{"t": []byte(tt.schema)}})
		for _, want := range []bool{true, false} {
			bodies := tt.valid
			if !want {
				bodies = tt.inval
			}
			for _, body := range bodies {
				prog, unsure, lib := verdicts(t, r, "t", []byte(body))
				if lib != want {
					t.Errorf("%s: %s: library says valid=%v; fix the test", tt.schema, body, lib)
				}
				if unsure || prog != lib {
					t.Errorf("%s: %s: program says valid=%v (unsure %v), library %v", tt.schema, body, prog, unsure, lib)
				}
			}
		}
	}
}

// TestProgramUnsure checks the bodies a program leaves to the library:
// names that repeat or are escaped in objects under object keywords,
// and long arrays under uniqueItems. Validate still answers as the
// library does.
func TestProgramUnsure(t *testing.T) {
	long := "[" + strings.Repeat("1,", maxUniqueItems) + "2]"
	tests := []struct {
		schema, body string
		valid        bool
	}{
		{`{"properties":{"a":{"type":"string"}}}`, `{"a":1,"a":"x"}`, true},
		{`{"not":{"properties":{"a":{"type":"string"}}}}`, `{"a":1,"a":"x"}`, false},
		{`{"minProperties":2}`, `{"a":1,"a":2}`, false},
		{`{"maxProperties":1}`, `{"a":1,"a":2}`, true},
		{`{"additionalProperties":{"type":"integer"}}`, `{"b":"x","b":1}`, true},
		{`{"required":["type"]}`, `{"t\u0079pe":1}`, true},
		{`{"properties":{"type":{"type":"string"}}}`, `{"t\u0079pe":1}`, false},
		{`{"uniqueItems":true}`, long, false},
		{`{"const":{"a":1}}`, `{"a":2,"a":1}`, true},
		{`{"uniqueItems":true}`, `[{"a":1,"a":2},{"a":2}]`, false},
	}
	for _, tt := range tests {
		r := newRegistry(t, Config{Schemas: map[string][]byte{"t": []byte(tt.schema)}})
		prog, unsure, lib := verdicts(t, r, "t", []byte(tt.body))
		if lib != tt.valid {
			t.Errorf("%s: %s: library says valid=%v; fix the test", tt.schema, tt.body, lib)
		}
		if !unsure {
			t.Errorf("%s: %s: program sure (valid=%v), want unsure", tt.schema, tt.body, prog)
		}
		_, err := r.Validate("t", []byte(tt.body))
		if (err == nil) != tt.valid || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %s: Validate = %v, want valid=%v", tt.schema, tt.body, err, tt.valid)
		}
	}
}

// TestNoProgram checks that schemas using keywords that programs do not
// evaluate get none, and are validated by the library.
func TestNoProgram(t *testing.T) {
	tests := []struct{ schema, valid, invalid string }{
		{`{"properties":{"a":true},"unevaluatedProperties":false}`, `{"a":1}`, `{"b":1}`},
		{`{"prefixItems":[true],"unevaluatedItems":false}`, `[1]`, `[1,2]`},
		{`{"$dynamicAnchor":"n","type":"object","properties":{"c":{"$dynamicRef":"#n"}}}`, `{"c":{}}`, `{"c":1}`},
		{`{"$schema":"https://json-schema.org/draft/2019-09/schema","$recursiveAnchor":true,"type":"object","properties":{"c":{"$recursiveRef":"#"}}}`, `{"c":{}}`, `{"c":1}`},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","type":"string","contentEncoding":"base64"}`, `"YQ=="`, `1`},
	}
	for _, tt := range tests {
		r := newRegistry(t, Config{Schemas: map[string][]byte{"t": []byte(tt.schema)}})
		if r.schemas["t"].prog != nil {
			t.Errorf("%s: has a program", tt.schema)
		}
		if _, err := r.Validate("t", []byte(tt.valid)); err != nil {
			t.Errorf("%s: %s: %v", tt.schema, tt.valid, err)
		}
		if _, err := r.Validate("t", []byte(tt.invalid)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %s: %v, want ErrInvalid", tt.schema, tt.invalid, err)
		}
	}
}

// TestLoopingSchema: $refs across files can make in-place applicators
// loop without the library's compiler noticing. The library stops the
// loop when validating, after evaluating every branch; a program would
// stop at the first branch that decides (here: true) and call the body
// valid. Such a schema gets no program, and Validate reports the
// library's failure as before.
func TestLoopingSchema(t *testing.T) {
	r := newRegistry(t, Config{Schemas: map[string][]byte{
		"t":  []byte(`{"allOf":[{"$ref":"_b.json"}]}`),
		"_b": []byte(`{"anyOf":[true,{"$ref":"t.json"}]}`),
	}})
	if r.schemas["t"].prog != nil {
		t.Error("looping schema has a program")
	}
	if _, err := r.Validate("t", []byte(`{}`)); !errors.Is(err, errValidator) {
		t.Errorf("Validate = %v, want errValidator", err)
	}
}

// TestProgramsCompiled checks that the schemas shipped with the package
// and the benchmark get programs, so that their bodies take the fast
// way.
func TestProgramsCompiled(t *testing.T) {
	for _, dir := range []string{"examples", "testdata/stripe", "../bench/schemas"} {
		r := newRegistry(t, Config{Dir: dir})
		for typ, c := range r.schemas {
			if c.prog == nil {
				t.Errorf("%s: %s has no program", dir, typ)
			}
		}
	}
}

// agree fails t when the program for typ in r calls body valid and the
// library does not, or the other way round, unless the program was
// unsure.
func agree(t *testing.T, r *Registry, typ string, body []byte) {
	t.Helper()
	c := r.schemas[typ]
	if c == nil || c.prog == nil {
		return
	}
	tp := new(tape)
	if !tp.parse(body, r.maxDepth) {
		return
	}
	v := validator{body: body, toks: tp.toks, t: tp}
	prog := v.valid(c.prog.root, 0, 0)
	if v.unsure {
		return
	}
	doc, _ := tp.value(body, 0)
	err := r.check(c, typ, false, doc)
	if err != nil && !errors.Is(err, ErrInvalid) {
		t.Fatalf("%q: library: %v (program: valid=%v)", body, err, prog)
	}
	if prog != (err == nil) {
		t.Fatalf("%q against %q: program valid=%v, library: %v", body, typ, prog, err)
	}
}

// FuzzProgram compares programs with the library on random bodies,
// against the schemas of the examples, the Stripe test data, the load
// benchmark, and fuzzSchema.
func FuzzProgram(f *testing.F) {
	var regs []*Registry
	for _, dir := range []string{"examples", "testdata/stripe", "../bench/schemas"} {
		regs = append(regs, newRegistry(f, Config{Dir: dir}))
	}
	regs = append(regs, newRegistry(f, Config{Schemas: map[string][]byte{"num": []byte(fuzzSchema)}}))
	f.Add([]byte(validInvoice))
	f.Add(stripeEvent(f, 1<<10))
	f.Add(benchcpu.Bodies(f, "testdata/bench")["1KiB"])
	f.Add([]byte(`{"type":"num","n":4.5,"u":[1,2.0,"a"],"c":{"a":[1,2,{"b":1e10}]},"f":"2026-11-05T10:00:00Z"}`))
	f.Add([]byte(`{"type":"num","p":{"xy":"ab","x":"a"},"d":{"a":1,"b":2,"c":3,"d":4},"i":[1,"a"],"zz":"s","zy":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, r := range regs {
			for _, typ := range r.types {
				agree(t, r, typ, body)
			}
		}
	})
}

// FuzzProgramSchema compares programs with the library on random
// schemas and bodies.
func FuzzProgramSchema(f *testing.F) {
	seeds := []struct{ schema, body string }{
		{fuzzSchema, `{"n":2,"u":[1,"a"],"c":{"a":[1,2,{"b":1e10}]}}`},
		{`{"type":["integer","string"],"minimum":2,"maxLength":3}`, `"abc"`},
		{`{"properties":{"a":{"const":[1,{"b":null}]}},"required":["a"],"additionalProperties":false}`, `{"a":[1,{"b":null}]}`},
		{`{"patternProperties":{"^a":{"type":"integer"}},"propertyNames":{"maxLength":2},"minProperties":1}`, `{"ab":1,"b":"x"}`},
		{`{"prefixItems":[{"enum":[1,"x"]}],"items":{"type":"boolean"},"contains":{"const":true},"maxContains":1,"uniqueItems":true}`, `[1,true,false]`},
		{`{"oneOf":[{"multipleOf":0.5},{"exclusiveMaximum":-1}],"not":{"const":0}}`, `1.5`},
		{`{"if":{"required":["a"]},"then":{"dependentRequired":{"a":["b"]}},"else":{"dependentSchemas":{"c":false}}}`, `{"a":1,"b":2}`},
		{`{"$defs":{"p":{"type":"object","properties":{"n":{"$ref":"#/$defs/p"}},"maxProperties":2}},"$ref":"#/$defs/p"}`, `{"n":{"n":{}}}`},
		{`{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"format":"ipv4"}],"additionalItems":{"format":"email"},"dependencies":{"a":["b"]}}`, `["1.2.3.4","a@b.c"]`},
		{`{"$schema":"http://json-schema.org/draft-04/schema#","maximum":5,"exclusiveMaximum":true,"type":"integer"}`, `5`},
	}
	for _, s := range seeds {
		f.Add([]byte(s.schema), []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, schema, body []byte) {
		r, err := New(Config{Schemas: map[string][]byte{"t": schema}})
		if err != nil {
			return
		}
		agree(t, r, "t", body)
	})
}

// TestQuickValid checks the shortcut for leaf schemas at its edges: it
// may only say valid when the general path does.
func TestQuickValid(t *testing.T) {
	tests := []struct {
		schema string
		quick  uint8
		values []string
	}{
		{`{"type":"string","minLength":2,"maxLength":3}`, qString, []string{`"a"`, `"ab"`, `"abc"`, `"abcd"`, `"é"`, `"éé"`, `"a\u00e9"`, `1`, `null`}},
		{`{"type":"string"}`, qString, []string{`""`, `"x"`, `1`}},
		{`{"type":"integer","minimum":-3,"exclusiveMaximum":5}`, qInt, []string{`-4`, `-3`, `4`, `5`, `4.0`, `-3e0`, `"4"`, `""`, `null`, `[]`, `123456789012345678`, `-12345678901234567`, `1234567890123456789`}},
		{`{"type":"integer","exclusiveMinimum":-9223372036854775808,"maximum":9223372036854775807}`, qInt, []string{`-9223372036854775808`, `-9223372036854775807`, `9223372036854775807`, `0`}},
		{`{"type":"integer","exclusiveMinimum":9223372036854775807}`, qNone, []string{`1`}},
		{`{"type":"integer","minimum":0.5}`, qNone, []string{`0`, `1`}},
		{`{"type":"integer","multipleOf":2}`, qNone, []string{`2`, `3`}},
		{`{"type":"string","pattern":"^a"}`, qNone, []string{`"a"`, `"b"`}},
		{`{"type":["string","null"],"maxLength":1}`, qNone, []string{`"a"`, `null`}},
	}
	for _, tt := range tests {
		r := newRegistry(t, Config{Schemas: map[string][]byte{"t": []byte(`{"properties":{"p":` + tt.schema + `}}`)}})
		n := r.schemas["t"].prog.root.slots[0].prop
		if n.quick != tt.quick {
			t.Errorf("%s: quick = %d, want %d", tt.schema, n.quick, tt.quick)
		}
		for _, val := range tt.values {
			body := []byte(`{"p":` + val + `}`)
			tp := new(tape)
			if !tp.parse(body, defaultMaxDepth) {
				t.Fatalf("parse %s", body)
			}
			v := validator{body: body, toks: tp.toks, t: tp}
			if v.quickValid(n, &tp.toks[2]) && !v.valid(n, 2, 0) {
				t.Errorf("%s: %s: quick says valid, valid does not", tt.schema, val)
			}
			agree(t, r, "t", body)
		}
	}
}
