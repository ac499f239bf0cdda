package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// newRegistry returns a registry for cfg or fails the test.
func newRegistry(t testing.TB, cfg Config) *Registry {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// writeFiles writes name → content under a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validInvoice = `{
  "type": "invoice.paid",
  "timestamp": "2026-11-05T10:00:00Z",
  "data": {
    "id": "in_1Nv0aZ",
    "customer": "cus_42",
    "amount_paid": {"value": 4200, "currency": "EUR"},
    "status": "paid",
    "lines": [{"description": "Pro plan", "quantity": 1, "amount": {"value": 4200, "currency": "EUR"}}],
    "metadata": {"order": "A-17"}
  }
}`

func TestExamples(t *testing.T) {
	r := newRegistry(t, Config{Dir: "examples"})
	if got, want := r.Types(), []string{"invoice.paid"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Types() = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		body string
		want []Violation // nil: valid
	}{
		{"valid", validInvoice, nil},
		{
			"missing data",
			`{"type":"invoice.paid","timestamp":"2026-11-05T10:00:00Z"}`,
			[]Violation{{"", "required", "missing properties: 'data'"}},
		},
		{
			"bad shared definition",
			strings.Replace(validInvoice, `"amount_paid": {"value": 4200, "currency": "EUR"}`, `"amount_paid": {"value": -1, "currency": "eur", "x": 1}`, 1),
			[]Violation{
				{"/data/amount_paid", "additionalProperties", "additional properties not allowed"},
				{"/data/amount_paid/currency", "pattern", "does not match pattern '^[A-Z]{3}$'"},
				{"/data/amount_paid/value", "minimum", "must be >= 0"},
			},
		},
		{
			"bad timestamp format",
			strings.Replace(validInvoice, "2026-11-05T10:00:00Z", "yesterday", 1),
			[]Violation{{"/timestamp", "format", "is not valid 'date-time'"}},
		},
		{
			"wrong type constant and line item",
			strings.Replace(strings.Replace(validInvoice, `"quantity": 1`, `"quantity": 0.5`, 1), `"status": "paid"`, `"status": "open"`, 1),
			[]Violation{
				{"/data/lines/0/quantity", "type", "expected integer, but got number"},
				{"/data/status", "const", `value must be "paid"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := r.Validate("", []byte(tt.body))
			if typ != "invoice.paid" {
				t.Errorf("type = %q, want invoice.paid", typ)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(ve.Violations, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", ve.Violations, tt.want)
			}
		})
	}
}

// registry is a small registry from Go values used by several tests.
func registry(t testing.TB, mod func(*Config)) *Registry {
	t.Helper()
	cfg := Config{Schemas: map[string][]byte{
		"order.created": []byte(`{
			"type": "object",
			"required": ["type", "order"],
			"properties": {"order": {"$ref": "_defs.json#/$defs/order"}}
		}`),
		"_defs": []byte(`{"$defs": {"order": {
			"type": "object",
			"required": ["id", "total"],
			"properties": {"id": {"type": "string"}, "total": {"type": "integer", "minimum": 1}}
		}}}`),
		"ping": []byte(`true`),
	}}
	if mod != nil {
		mod(&cfg)
	}
	return newRegistry(t, cfg)
}

func TestValidate(t *testing.T) {
	r := registry(t, func(c *Config) { c.MaxBytes = 200; c.MaxDepth = 4 })
	tests := []struct {
		name      string
		eventType string
		body      string
		wantType  string
		wantErr   error
	}{
		{"valid, type from body", "", `{"type":"order.created","order":{"id":"o1","total":5}}`, "order.created", nil},
		{"valid, type given", "order.created", `{"type":"x","order":{"id":"o1","total":5}}`, "order.created", nil},
		{"invalid", "", `{"type":"order.created","order":{"id":"o1","total":0}}`, "order.created", ErrInvalid},
		{"boolean schema", "", `{"type":"ping"}`, "ping", nil},
		{"unknown type given: body not read", "refund.created", `not json`, "refund.created", nil},
		{"unknown type from body", "", `{"type":"refund.created"}`, "refund.created", nil},
		{"shared definition is no event type", "_defs", `not json`, "_defs", nil},
		{"no type field", "", `{"order":{}}`, "", ErrNoType},
		{"type not a string", "", `{"type":7}`, "", ErrNoType},
		{"type empty", "", `{"type":""}`, "", ErrNoType},
		{"top level array", "", `[{"type":"ping"}]`, "", ErrNoType},
		{"not JSON", "", `{"type":`, "", ErrNotJSON},
		{"not JSON, type given", "ping", `nope`, "ping", ErrNotJSON},
		{"trailing data", "", `{"type":"ping"} {}`, "", ErrNotJSON},
		{"empty body", "", ``, "", ErrNotJSON},
		{"too deep", "", `{"type":"ping","a":[[[[1]]]]}`, "", ErrTooDeep},
		{"deep but within", "", `{"type":"ping","a":[[[1]]]}`, "ping", nil},
		{"too large", "", `{"type":"ping","pad":"` + strings.Repeat("x", 200) + `"}`, "", ErrTooLarge},
		{"huge exponent", "", `{"type":"order.created","order":{"id":"o","total":1e999999}}`, "", ErrTooLarge},
		{"long number", "", `{"type":"ping","n":` + strings.Repeat("1", 101) + `}`, "", ErrTooLarge},
		{"exponent within bounds", "", `{"type":"order.created","order":{"id":"o","total":1e400}}`, "order.created", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := r.Validate(tt.eventType, []byte(tt.body))
			if typ != tt.wantType {
				t.Errorf("type = %q, want %q", typ, tt.wantType)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnknownTypePolicy(t *testing.T) {
	catchAll := func(c *Config) {
		c.Schemas["_default"] = []byte(`{"type":"object","required":["type","id"]}`)
		c.CatchAll = "_default"
	}
	tests := []struct {
		name      string
		mod       func(*Config)
		eventType string
		body      string
		wantErr   error
	}{
		{"allow, given", nil, "refund.created", `{}`, nil},
		{"allow, from body", nil, "", `{"type":"refund.created"}`, nil},
		{"reject, given", func(c *Config) { c.RejectUnknown = true }, "refund.created", `{}`, ErrUnknownType},
		{"reject, from body", func(c *Config) { c.RejectUnknown = true }, "", `{"type":"refund.created"}`, ErrUnknownType},
		{"reject, known type passes", func(c *Config) { c.RejectUnknown = true }, "ping", `{}`, nil},
		{"catch-all valid", catchAll, "", `{"type":"refund.created","id":"r1"}`, nil},
		{"catch-all invalid", catchAll, "refund.created", `{"type":"refund.created"}`, ErrInvalid},
		{"catch-all wins over reject", func(c *Config) { catchAll(c); c.RejectUnknown = true }, "x", `{"type":"x","id":"1"}`, nil},
		{"catch-all not used for known type", catchAll, "ping", `{}`, nil},
		{"catch-all names an event type", func(c *Config) { c.CatchAll = "ping" }, "x", `[]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registry(t, tt.mod)
			_, err := r.Validate(tt.eventType, []byte(tt.body))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCatchAllError(t *testing.T) {
	r := registry(t, func(c *Config) {
		c.Schemas["_default"] = []byte(`{"required":["id"]}`)
		c.CatchAll = "_default"
	})
	_, err := r.Validate("refund.created", []byte(`{}`))
	if got, want := err.Error(), `schemas: payload does not match schema (catch-all): "" required: missing properties: 'id'`; got != want {
		t.Errorf("Error() = %q\nwant %q", got, want)
	}
}

func TestTypeField(t *testing.T) {
	r := registry(t, func(c *Config) { c.TypeField = "event.kind" })
	typ, err := r.Validate("", []byte(`{"event":{"kind":"order.created"},"order":{"id":"o","total":1}}`))
	if typ != "order.created" || !errors.Is(err, ErrInvalid) { // the schema requires "type"
		t.Errorf("Validate = %q, %v; want order.created, ErrInvalid", typ, err)
	}
}

func TestMaxViolations(t *testing.T) {
	r := newRegistry(t, Config{
		MaxViolations: 3,
		Schemas:       map[string][]byte{"t": []byte(`{"items":{"type":"string"}}`)},
	})
	_, err := r.Validate("t", []byte(`[1,2,3,4,5,6,7,8,9,10,11,12]`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []Violation{
		{"/0", "type", "expected string, but got number"},
		{"/1", "type", "expected string, but got number"},
		{"/10", "type", "expected string, but got number"},
	}
	if !ve.Truncated || !reflect.DeepEqual(ve.Violations, want) {
		t.Errorf("got %q truncated=%v, want %q truncated", ve.Violations, ve.Truncated, want)
	}
	if !strings.HasSuffix(err.Error(), "; and more") {
		t.Errorf("Error() = %q, want it to say more were left out", err)
	}
}

// TestViolationsStable checks that the library's random map order does
// not leak into which violations are reported.
func TestViolationsStable(t *testing.T) {
	r := newRegistry(t, Config{
		MaxViolations: 2,
		Schemas: map[string][]byte{"t": []byte(`{"properties":{
			"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"},"d":{"type":"string"},
			"e":{"type":"string"},"f":{"type":"string"},"g":{"type":"string"},"h":{"type":"string"}}}`)},
	})
	body := []byte(`{"h":1,"g":1,"f":1,"e":1,"d":1,"c":1,"b":1,"a":1}`)
	_, first := r.Validate("t", body)
	for range 20 {
		if _, err := r.Validate("t", body); err.Error() != first.Error() {
			t.Fatalf("Error() changed between runs:\n%v\n%v", first, err)
		}
	}
}

// TestMessagesOmitBodyValues checks that no failing value from the body
// appears in the error: a leaked secret must not reach the logs.
func TestMessagesOmitBodyValues(t *testing.T) {
	r := newRegistry(t, Config{MaxViolations: 100, Schemas: map[string][]byte{"t": []byte(`{
		"$schema": "http://json-schema.org/draft-07/schema#",
		"additionalProperties": false,
		"properties": {
			"email": {"format": "email"},
			"when": {"format": "date-time"},
			"n": {"minimum": 1000000, "multipleOf": 7},
			"m": {"exclusiveMaximum": 0},
			"s": {"maxLength": 2, "pattern": "^a"},
			"e": {"enum": ["x", "y"]},
			"c": {"const": "z"},
			"i": {"type": "integer"}
		}
	}`)}})
	body := `{"email":"SECRET1","when":"SECRET2","n":424242,"m":313131,"s":"SECRET3",
		"e":"SECRET4","c":"SECRET5","i":"SECRET6","SECRET7":1}`
	_, err := r.Validate("t", []byte(body))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, leak := range []string{"SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5", "SECRET6", "SECRET7", "424242", "313131"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error repeats body value %q: %s", leak, msg)
		}
	}
	if len(ve.Violations) < 10 {
		t.Errorf("want a violation per failing keyword, got %q", ve.Violations)
	}
}

func TestPointerEscaping(t *testing.T) {
	r := newRegistry(t, Config{Schemas: map[string][]byte{
		"t": []byte(`{"additionalProperties":{"type":"string"}}`),
	}})
	_, err := r.Validate("t", []byte(`{"a b/c~d%":1}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 {
		t.Fatalf("err = %v", err)
	}
	if got, want := ve.Violations[0].Pointer, "/a b~1c~0d%"; got != want {
		t.Errorf("Pointer = %q, want %q", got, want)
	}
}

func TestKeyword(t *testing.T) {
	tests := []struct{ loc, want string }{
		{"", "false"},
		{"/type", "type"},
		{"/properties/type", "false"},
		{"/properties/type/type", "type"},
		{"/properties/data/$ref/required", "required"},
		{"/properties/data/$ref", "false"},
		{"/allOf/1", "false"},
		{"/allOf/1/minimum", "minimum"},
		{"/items/0/enum", "enum"},
		{"/dependentRequired/a/0", "dependentRequired"},
		{"/dependencies/a/1", "dependencies"},
		{"/patternProperties/^x$/maxLength", "maxLength"},
		{"/properties/123/const", "const"},
		{"/$defs/properties/additionalProperties", "additionalProperties"},
		{"/unevaluatedProperties", "unevaluatedProperties"},
	}
	for _, tt := range tests {
		if got := keyword(tt.loc); got != tt.want {
			t.Errorf("keyword(%q) = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestLoadFromFS(t *testing.T) {
	fsys := fstest.MapFS{
		"hooks/order.created.json":  {Data: []byte(`{"properties":{"total":{"$ref":"defs/money.json"}}}`)},
		"hooks/defs/money.json":     {Data: []byte(`{"$ref":"units.json#/$defs/cents"}`)},
		"hooks/defs/units.json":     {Data: []byte(`{"$defs":{"cents":{"$ref":"../_int.json"}}}`)},
		"hooks/_int.json":           {Data: []byte(`{"type":"integer"}`)},
		"hooks/README.md":           {Data: []byte(`not a schema`)},
		"hooks/.draft.json":         {Data: []byte(`{`)},
		"hooks/.git/config.json":    {Data: []byte(`{`)},
		"elsewhere/ignored.json":    {Data: []byte(`{`)},
		"hooks/nested/deep/ok.json": {Data: []byte(`{}`)},
	}
	r := newRegistry(t, Config{FS: fsys, Dir: "hooks"})
	if got, want := r.Types(), []string{"order.created"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Types() = %q, want %q", got, want)
	}
	if _, err := r.Validate("order.created", []byte(`{"total":1}`)); err != nil {
		t.Errorf("valid: %v", err)
	}
	if _, err := r.Validate("order.created", []byte(`{"total":"1"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid through three files: %v", err)
	}
}

func TestLoadDirAndValues(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.json":         `{"$ref":"defs/x.json"}`,
		"defs/x.json":    `{"type":"object"}`,
		"_shared.json":   `{"$defs":{"s":{"type":"string"}}}`,
		"notes.txt":      `ignored`,
		"sub/b.c.json":   `{}`,
		"b.json.bak":     `{`,
		".hidden/x.json": `{`,
	})
	r := newRegistry(t, Config{Dir: dir, Schemas: map[string][]byte{
		"b": []byte(`{"properties":{"name":{"$ref":"_shared.json#/$defs/s"}},"allOf":[{"$ref":"a.json"}]}`),
	}})
	if got, want := r.Types(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Types() = %q, want %q", got, want)
	}
	if _, err := r.Validate("b", []byte(`{"name":1}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("value referencing files: %v", err)
	}
	if _, err := r.Validate("b", []byte(`[]`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("value referencing files: %v", err)
	}
	types := r.Types()
	types[0] = "changed"
	if r.Types()[0] != "a" {
		t.Error("Types returned the registry's own slice")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		cfg   Config
		want  []string // substrings of the error
	}{
		{"not JSON", map[string]string{"a.json": `{"type":`}, Config{}, []string{"a.json", "not JSON"}},
		{"not a schema", map[string]string{"a.json": `{"type":12}`}, Config{}, []string{"a.json", "not a valid schema", `"/type"`}},
		{"broken shared definition", map[string]string{"a.json": `{}`, "defs/b.json": `{"minimum":"x"}`}, Config{}, []string{"b.json", "not a valid schema"}},
		{"unresolved ref", map[string]string{"a.json": `{"$ref":"defs/missing.json"}`}, Config{}, []string{"a.json", "defs/missing.json", "not among the loaded schemas"}},
		{"unresolved fragment", map[string]string{"a.json": `{"$ref":"#/$defs/nope"}`}, Config{}, []string{"a.json", "not found"}},
		{"remote ref is not fetched", map[string]string{"a.json": `{"$ref":"https://example.com/s.json"}`}, Config{}, []string{"a.json", "https://example.com/s.json", "nothing is fetched"}},
		{"file ref is not read", map[string]string{"a.json": `{"$ref":"file:///etc/passwd"}`}, Config{}, []string{"a.json", "file:///etc/passwd"}},
		{"unknown draft", map[string]string{"a.json": `{"$schema":"https://example.com/draft/9"}`}, Config{}, []string{"a.json"}},
		{"bad regex", map[string]string{"a.json": `{"pattern":"("}`}, Config{}, []string{"a.json"}},
		{"defined twice", map[string]string{"a.json": `{}`}, Config{Schemas: map[string][]byte{"a": []byte(`{}`)}}, []string{`"a" is defined twice`, "a.json", `Schemas["a"]`}},
		{"value not JSON", nil, Config{Schemas: map[string][]byte{"v": []byte(`nope`)}}, []string{`Schemas["v"]`, "not JSON"}},
		{"value bad name", nil, Config{Schemas: map[string][]byte{"../v": []byte(`{}`)}}, []string{`Schemas["../v"]`}},
		{"value empty name", nil, Config{Schemas: map[string][]byte{"": []byte(`{}`)}}, []string{`Schemas[""]`}},
		{"missing dir", nil, Config{Dir: "/nonexistent/hookgate"}, []string{"/nonexistent/hookgate"}},
		{"catch-all missing", map[string]string{"a.json": `{}`}, Config{CatchAll: "_default"}, []string{"CatchAll", `"_default"`}},
		{"negative MaxViolations", nil, Config{MaxViolations: -1}, []string{"MaxViolations"}},
		{"negative MaxDepth", nil, Config{MaxDepth: -1}, []string{"MaxDepth"}},
		{"negative MaxBytes", nil, Config{MaxBytes: -1}, []string{"MaxBytes"}},
		{"bad TypeField", nil, Config{TypeField: "data..type"}, []string{"TypeField", "empty segment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if tt.files != nil {
				cfg.Dir = writeFiles(t, tt.files)
			}
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("error %q shows the internal base URI", err)
			}
		})
	}
}

func TestDrafts(t *testing.T) {
	for _, draft := range []string{
		"http://json-schema.org/draft-04/schema#",
		"http://json-schema.org/draft-06/schema#",
		"http://json-schema.org/draft-07/schema#",
		"https://json-schema.org/draft/2019-09/schema",
		"https://json-schema.org/draft/2020-12/schema",
	} {
		r := newRegistry(t, Config{Schemas: map[string][]byte{
			"t": []byte(`{"$schema":"` + draft + `","required":["id"],"properties":{"id":{"type":"string","format":"uuid"}}}`),
		}})
		if _, err := r.Validate("t", []byte(`{"id":"0b9d8a3e-1c1e-4a5e-8a57-3f0f7f6f6f6f"}`)); err != nil {
			t.Errorf("%s: valid: %v", draft, err)
		}
		if _, err := r.Validate("t", []byte(`{}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: missing id: %v", draft, err)
		}
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		body  string
		depth int
		want  error
	}{
		{`1`, 0, nil},
		{`[]`, 1, nil},
		{`[]`, 0, ErrTooDeep},
		{`{"a":[{"b":[1]}]}`, 4, nil},
		{`{"a":[{"b":[1]}]}`, 3, ErrTooDeep},
		{`[[],[],[],[]]`, 2, nil},
		{`["[[[[", "{{{{"]`, 1, nil},
		{`["\"[[[[", "\\", [1]]`, 2, nil},
		{`["\\\"[[["]`, 1, nil},
		{`["\\"]]]]]]`, 1, nil}, // unbalanced, left to the decoder
		{`"unterminated [[[[`, 0, nil},
		{`[-1.5e-300, 2E+400, 0.1]`, 1, nil},
		{`[1e401]`, 1, ErrTooLarge},
		{`[1e0000000000000000000000000000000000000000000000000000000000000000000005]`, 1, nil},
		{`[1e-99999]`, 1, ErrTooLarge},
		{`["1e99999"]`, 1, nil},
	}
	for _, tt := range tests {
		if err := scan([]byte(tt.body), tt.depth); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("scan(%s, %d) = %v, want %v", tt.body, tt.depth, err, tt.want)
		}
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct {
		body, path string
		want       string
		wantErr    error
	}{
		{`{"type":"a.b"}`, "", "a.b", nil},
		{`{"type":"a.b"}`, "type", "a.b", nil},
		{`{"type":"first","type":"last"}`, "", "last", nil},
		{`{"data":{"object":{"type":"x"}}}`, "data.object.type", "x", nil},
		{`{"ty\u0070e":"escaped"}`, "", "escaped", nil},
		{`{"type":"caf\u00e9"}`, "", "café", nil},
		{`{"data":[{"type":"x"}]}`, "data.type", "", ErrNoType},
		{`{"data":{"type":1}}`, "data.type", "", ErrNoType},
		{`{"type":null}`, "", "", ErrNoType},
		{`{"type":""}`, "", "", ErrNoType},
		{`{"Type":"x"}`, "", "", ErrNoType},
		{`[]`, "", "", ErrNoType},
		{`"type"`, "", "", ErrNoType},
		{`{"type":"x"`, "", "", ErrNotJSON},
		{`{"type":"x"} x`, "", "", ErrNotJSON},
		{`{"a":{"b":1},"type":"x",}`, "", "", ErrNotJSON},
		{strings.Repeat("[", 65) + strings.Repeat("]", 65), "", "", ErrTooDeep},
	}
	for _, tt := range tests {
		got, err := TypeOf([]byte(tt.body), tt.path)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("TypeOf(%s, %q) = %q, %v; want %q, %v", tt.body, tt.path, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := TypeOf([]byte(`{}`), "a."); err == nil || errors.Is(err, ErrNoType) {
		t.Errorf("bad path: err = %v, want a path error", err)
	}
}

func TestConcurrentValidate(t *testing.T) {
	r := newRegistry(t, Config{Dir: "examples"})
	bad := []byte(strings.Replace(validInvoice, `"status": "paid"`, `"status": "open"`, 1))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := r.Validate("", []byte(validInvoice)); err != nil {
					t.Error(err)
				}
				if _, err := r.Validate("", bad); !errors.Is(err, ErrInvalid) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// TestValidatorPanicRecovered shows why scan bounds number literals: the
// schema library dereferences nil on a number math/big cannot parse.
// Validate never lets such a number through; if one got past, the panic
// would still be turned into an error.
func TestValidatorPanicRecovered(t *testing.T) {
	r := newRegistry(t, Config{Schemas: map[string][]byte{"t": []byte(`{"type":"integer"}`)}})
	doc, err := decode([]byte(`1e1000001`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.check(r.schemas["t"], "t", false, doc); !errors.Is(err, errValidator) {
		t.Errorf("check = %v, want errValidator", err)
	}
	if _, err := r.Validate("t", []byte(`1e1000001`)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Validate = %v, want ErrTooLarge", err)
	}
}

func TestAbsoluteIDs(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"order.created.json": `{"properties":{"total":{"$ref":"https://schemas.example.com/money.json#/$defs/cents"}}}`,
		"defs/money.json":    `{"$id":"https://schemas.example.com/money.json","$defs":{"cents":{"$ref":"units.json"}}}`,
		"defs/units.json":    `{"$id":"https://schemas.example.com/units.json","type":"integer"}`,
	})
	r := newRegistry(t, Config{Dir: dir})
	if _, err := r.Validate("order.created", []byte(`{"total":1}`)); err != nil {
		t.Errorf("valid: %v", err)
	}
	if _, err := r.Validate("order.created", []byte(`{"total":1.5}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid: %v", err)
	}
	_, err := New(Config{Dir: writeFiles(t, map[string]string{
		"a.json": `{"$id":"https://x.example/s.json"}`,
		"b.json": `{"$id":"https://x.example/s.json#"}`,
	})})
	if err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate $id: %v", err)
	}
}
