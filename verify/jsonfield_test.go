package verify

import "testing"

// TestJSONFieldsSpacing: space between a value and its comma or the
// closing brace is not part of the value.
func TestJSONFieldsSpacing(t *testing.T) {
	for _, body := range []string{
		`{"type":"a.b" , "id":"x" }`,
		`{ "type" : "a.b"` + "\n\t" + `,"id":"x"}`,
		`{"n":[1 , 2] ,"type":"a.b","id":"x"   }`,
	} {
		id, typ := jsonFields([]byte(body), "id", "type")
		if id != "x" || typ != "a.b" {
			t.Errorf("jsonFields(%q) = %q, %q", body, id, typ)
		}
	}
}
