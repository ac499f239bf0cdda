// Package libcompare measures, in one run, the candidates for schema
// validation in hookgate: jsonschema v5 (which hookgate compiles schemas
// with) and v6, each fed by encoding/json and by a faster decoder
// (goccy/go-json), next to decoding alone and to hookgate's
// schemas.Registry, on the load benchmark's schema and bodies
// (bench/schemas; schemas/testdata/bench holds bench/loadgen's Body).
//
//	cd schemas/internal/libcompare && go test -run '^$' -bench . -count 6
//
// cpu-ns/op is the process's CPU time per operation, garbage collection
// included; on a shared machine it moves less than ns/op.
package libcompare

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/hookgate/hookgate/schemas"
	"github.com/hookgate/hookgate/schemas/internal/benchcpu"
	jsonschema5 "github.com/santhosh-tekuri/jsonschema/v5"
	jsonschema6 "github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	schemaDir = "../../../bench/schemas"
	schemaURL = "hookgate:///bench.event.json"
)

func BenchmarkCandidates(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join(schemaDir, "bench.event.json"))
	if err != nil {
		b.Fatal(err)
	}
	// Compiled as the registry compiles them: formats asserted.
	c5 := jsonschema5.NewCompiler()
	c5.AssertFormat = true
	if err := c5.AddResource(schemaURL, bytes.NewReader(doc)); err != nil {
		b.Fatal(err)
	}
	s5, err := c5.Compile(schemaURL)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := jsonschema6.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		b.Fatal(err)
	}
	c6 := jsonschema6.NewCompiler()
	c6.AssertFormat()
	if err := c6.AddResource(schemaURL, parsed); err != nil {
		b.Fatal(err)
	}
	s6, err := c6.Compile(schemaURL)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := schemas.New(schemas.Config{Dir: schemaDir})
	if err != nil {
		b.Fatal(err)
	}

	decoders := []struct {
		name   string
		decode func([]byte) (any, error)
	}{
		{"encoding-json", func(body []byte) (any, error) {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var v any
			return v, dec.Decode(&v)
		}},
		{"go-json", func(body []byte) (any, error) {
			dec := gojson.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var v any
			err := dec.Decode(&v)
			// Both libraries want encoding/json's numbers.
			return stdNumbers(v), err
		}},
	}
	validators := []struct {
		name     string
		validate func(any) error
	}{
		{"decode-only", func(any) error { return nil }},
		{"v5", s5.Validate},
		{"v6", s6.Validate},
	}
	type candidate struct {
		name     string
		validate func([]byte) error
	}
	var candidates []candidate
	for _, v := range validators {
		for _, d := range decoders {
			candidates = append(candidates, candidate{v.name + "+" + d.name, func(body []byte) error {
				doc, err := d.decode(body)
				if err != nil {
					return err
				}
				return v.validate(doc)
			}})
		}
	}
	candidates = append(candidates, candidate{"hookgate-registry", func(body []byte) error {
		_, err := reg.Validate("", body)
		return err
	}})

	bodies := benchcpu.Bodies(b, "../../testdata/bench")
	for _, size := range []string{"1KiB", "64KiB"} {
		body := bodies[size]
		for _, c := range candidates {
			if err := c.validate(body); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Run(size+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				benchcpu.Loop(b, func() {
					if err := c.validate(body); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// stdNumbers turns goccy/go-json's numbers into encoding/json's.
func stdNumbers(v any) any {
	switch v := v.(type) {
	case gojson.Number:
		return json.Number(v)
	case []any:
		for i, e := range v {
			v[i] = stdNumbers(e)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = stdNumbers(e)
		}
	}
	return v
}
