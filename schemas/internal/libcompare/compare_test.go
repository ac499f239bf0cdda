// Package libcompare measures, in one run, the candidates for schema
// validation in hookgate: jsonschema v5 (which hookgate compiles schemas
// with) and v6, each fed by encoding/json and by a faster decoder
// (goccy/go-json), against hookgate's schemas.Registry, on the load
// benchmark's schema and bodies (bench/schemas, bench/loadgen).
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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/hookgate/hookgate/schemas"
	jsonschema5 "github.com/santhosh-tekuri/jsonschema/v5"
	jsonschema6 "github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaDir = "../../../bench/schemas"

func BenchmarkCandidates(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join(schemaDir, "bench.event.json"))
	if err != nil {
		b.Fatal(err)
	}
	c5 := jsonschema5.NewCompiler()
	c5.AssertFormat = true
	if err := c5.AddResource("hookgate:///bench.event.json", bytes.NewReader(doc)); err != nil {
		b.Fatal(err)
	}
	s5, err := c5.Compile("hookgate:///bench.event.json")
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := jsonschema6.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		b.Fatal(err)
	}
	c6 := jsonschema6.NewCompiler()
	c6.AssertFormat()
	if err := c6.AddResource("hookgate:///bench.event.json", parsed); err != nil {
		b.Fatal(err)
	}
	s6, err := c6.Compile("hookgate:///bench.event.json")
	if err != nil {
		b.Fatal(err)
	}
	reg, err := schemas.New(schemas.Config{Dir: schemaDir})
	if err != nil {
		b.Fatal(err)
	}

	decodeStd := func(body []byte) (any, error) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v)
	}
	decodeFast := func(body []byte) (any, error) {
		dec := gojson.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v)
	}
	// jsonschema v6 wants json.Number too (jsonschema6.UnmarshalJSON
	// decodes that way); goccy/go-json's Number is its own type, so it is
	// turned into encoding/json's by walking the document.
	toStdNumbers := func(v any) any { return convert(v) }

	candidates := []struct {
		name     string
		validate func(body []byte) error
	}{
		{"v5-encoding-json", func(body []byte) error {
			v, err := decodeStd(body)
			if err != nil {
				return err
			}
			return s5.Validate(v)
		}},
		{"v5-go-json", func(body []byte) error {
			v, err := decodeFast(body)
			if err != nil {
				return err
			}
			return s5.Validate(convert(v))
		}},
		{"v6-encoding-json", func(body []byte) error {
			v, err := decodeStd(body)
			if err != nil {
				return err
			}
			return s6.Validate(v)
		}},
		{"v6-go-json", func(body []byte) error {
			v, err := decodeFast(body)
			if err != nil {
				return err
			}
			return s6.Validate(toStdNumbers(v))
		}},
		{"decode-only-encoding-json", func(body []byte) error { _, err := decodeStd(body); return err }},
		{"decode-only-go-json", func(body []byte) error { _, err := decodeFast(body); return err }},
		{"hookgate-registry", func(body []byte) error { _, err := reg.Validate("", body); return err }},
	}
	for _, size := range []int{1 << 10, 64 << 10} {
		body := benchBody(b, size)
		for _, c := range candidates {
			if err := c.validate(body); err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			b.Run(strconv.Itoa(size>>10)+"KiB/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				start, n := cpuTime(b), 0
				for b.Loop() {
					if err := c.validate(body); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(cpuTime(b)-start)/float64(n), "cpu-ns/op")
			})
		}
	}
}

// convert turns goccy/go-json's numbers into encoding/json's.
func convert(v any) any {
	switch v := v.(type) {
	case gojson.Number:
		return json.Number(v)
	case []any:
		for i, e := range v {
			v[i] = convert(e)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = convert(e)
		}
	}
	return v
}

// benchBody returns a body of exactly size bytes shaped like the load
// benchmark's (bench/loadgen Body).
func benchBody(tb testing.TB, size int) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"type":"bench.event","timestamp":"2026-11-22T10:00:00Z","data":{"id":"ord_1","amount":12000,"currency":"EUR","items":[`)
	const tail = `]},"pad":""}`
	for i := 0; ; i++ {
		item := `{"sku":"sku-` + strconv.Itoa(i) + `","qty":` + strconv.Itoa(i%9+1) + `,"note":"line item for the load benchmark"}`
		sep := ""
		if i > 0 {
			sep = ","
		}
		if b.Len()+len(sep)+len(item)+len(tail) > size {
			break
		}
		b.WriteString(sep)
		b.WriteString(item)
	}
	b.WriteString(`]},"pad":"`)
	for b.Len()+2 < size {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	if b.Len() != size {
		tb.Fatalf("benchBody(%d): %d bytes", size, b.Len())
	}
	return []byte(b.String())
}

func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
