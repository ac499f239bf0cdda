package schemas

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

// TestInvalidUTF8IsNotJSON: a string with invalid UTF-8 is refused, not
// validated as the U+FFFD-replaced document encoding/json would decode.
func TestInvalidUTF8IsNotJSON(t *testing.T) {
	reg, err := New(Config{Schemas: map[string][]byte{"a": []byte(`{"type":"object"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Validate("a", []byte("{\"name\":\"\xff\xfe\"}")); !errors.Is(err, ErrNotJSON) {
		t.Fatalf("invalid UTF-8: err = %v, want ErrNotJSON", err)
	}
	if _, err := reg.Validate("a", []byte(`{"name":"é ✓"}`)); err != nil {
		t.Fatalf("valid UTF-8: %v", err)
	}
}

// TestTypeOfInvalidUTF8 (issue 13): TypeOf read a type from a body that
// Validate refuses, replacing the invalid byte with U+FFFD
// (FuzzTypeOf found {"type":"\x88"}). Both refuse it now.
func TestTypeOfInvalidUTF8(t *testing.T) {
	body := []byte("{\"type\":\"\x88\"}")
	if typ, err := TypeOf(body, ""); !errors.Is(err, ErrNotJSON) || typ != "" {
		t.Errorf("TypeOf = %q, %v; want ErrNotJSON", typ, err)
	}
	reg, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Validate("", body); !errors.Is(err, ErrNotJSON) {
		t.Errorf("Validate = %v, want ErrNotJSON", err)
	}
}

// TestGzipBody (issue 13): a gzip-encoded body is refused as not JSON,
// saying that it is encoded rather than that it is not UTF-8 (the
// reason stays payload_not_json).
func TestGzipBody(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(`{"type":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	reg, err := New(Config{Schemas: map[string][]byte{"a": []byte(`{"type":"object"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	_, verr := reg.Validate("a", buf.Bytes())
	_, terr := TypeOf(buf.Bytes(), "")
	for _, err := range []error{verr, terr} {
		if !errors.Is(err, ErrNotJSON) || !strings.Contains(err.Error(), "gzip-encoded") {
			t.Errorf("err = %v, want ErrNotJSON saying the body is gzip-encoded", err)
		}
	}
}
