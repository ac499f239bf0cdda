package schemas

import (
	"errors"
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
