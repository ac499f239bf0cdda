package schemas

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// violations flattens the library's error tree into its leaves, which
// are the keywords that failed, sorted so that the same body always
// reports the same violations first (the library walks maps in random
// order).
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		kw := keyword(e.KeywordLocation)
		out = append(out, Violation{
			Pointer: unescapePointer(e.InstanceLocation),
			Keyword: kw,
			Message: message(kw, e.Message),
		})
	}
	walk(ve)
	slices.SortFunc(out, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Pointer, b.Pointer),
			strings.Compare(a.Keyword, b.Keyword),
			strings.Compare(a.Message, b.Message))
	})
	return slices.Compact(out)
}

// namedKeywords are followed, in a keyword location, by a name that is
// not a keyword: a property name, a definition name.
var namedKeywords = map[string]bool{
	"properties": true, "patternProperties": true, "dependentSchemas": true,
	"dependencies": true, "dependentRequired": true, "$defs": true, "definitions": true,
}

// keyword returns the keyword that failed, given the keyword location of
// a leaf error such as "/properties/data/$ref/required". Names after
// namedKeywords and array indexes are skipped. A location that ends on a
// subschema (after a name, an index or a reference) is a schema that is
// the boolean false.
func keyword(loc string) string {
	segs := strings.Split(loc, "/")
	kw, atSchema := "", true // "" is the root schema
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		switch {
		case s == "":
		case isIndex(s):
			atSchema = true
		default:
			kw, atSchema = s, false
			if namedKeywords[s] && i+1 < len(segs) {
				i++
				atSchema = true
			}
		}
	}
	switch {
	case kw == "dependencies" || kw == "dependentRequired":
		// "dependentRequired/a/0": a property required by another.
		return kw
	case atSchema, kw == "$ref", kw == "$dynamicRef", kw == "$recursiveRef":
		return "false"
	}
	return kw
}

func isIndex(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// message shortens the library's message for a keyword, dropping any
// part that repeats a value from the body.
func message(kw, msg string) string {
	switch kw {
	case "false":
		return "not allowed"
	case "format":
		// "<value> is not valid 'date-time'": the value comes first.
		if i := strings.LastIndex(msg, " is not valid "); i >= 0 {
			return msg[i+1:]
		}
		return "invalid format"
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		// "must be >= 1 but found <value>"
		if i := strings.Index(msg, " but found "); i >= 0 {
			return msg[:i]
		}
	case "multipleOf":
		// "<value> not multipleOf 2"
		if i := strings.LastIndex(msg, " not multipleOf "); i >= 0 {
			return msg[i+1:]
		}
	case "additionalProperties":
		// "additionalProperties 'a', 'b' not allowed": names from the body.
		return "additional properties not allowed"
	}
	return msg
}

// unescapePointer turns the library's URI-fragment form of a JSON
// pointer ("/a%20b") into the plain RFC 6901 form ("/a b").
func unescapePointer(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
