package verify

import (
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// maxFieldDepth bounds how deeply nested values jsonFields skips before it
// gives up, so a hostile body costs linear time and constant memory.
const maxFieldDepth = 512

// jsonFields returns the values of two fields of a JSON object, as strings
// (a number is returned as written). A name that is "" is not looked for;
// a dotted name ("event.id") is a path into nested objects. For top-level
// names it scans the raw bytes once and stops as soon as both are found.
// It returns "" for anything it cannot read: it never fails, because a
// payload that is not JSON is for schema validation to reject.
func jsonFields(body []byte, name1, name2 string) (v1, v2 string) {
	return jsonFieldsInterned(body, name1, name2, nil)
}

// jsonFieldsInterned is jsonFields, with the second field's plain string
// values taken from (and added to) types when it is not nil.
func jsonFieldsInterned(body []byte, name1, name2 string, types *typeCache) (v1, v2 string) {
	if strings.IndexByte(name1, '.') >= 0 || strings.IndexByte(name2, '.') >= 0 {
		return jsonString(body, name1), jsonString(body, name2)
	}
	sc := scanner{b: body}
	sc.ws()
	if !sc.byte('{') {
		return "", ""
	}
	need := 0
	if name1 != "" {
		need++
	}
	if name2 != "" {
		need++
	}
	for need > 0 {
		sc.ws()
		ks, ke, esc, ok := sc.str()
		if !ok {
			return v1, v2
		}
		sc.ws()
		if !sc.byte(':') {
			return v1, v2
		}
		sc.ws()
		vs := sc.i
		kind := sc.peek()
		if !sc.skipValue() {
			return v1, v2
		}
		ve := sc.i
		key := body[ks:ke]
		if esc {
			var k string
			if json.Unmarshal(body[ks-1:ke+1], &k) != nil {
				return v1, v2
			}
			key = []byte(k)
		}
		if name1 != "" && v1 == "" && string(key) == name1 {
			v1 = scalar(body[vs:ve], kind)
			need--
		} else if name2 != "" && v2 == "" && string(key) == name2 {
			if raw := body[vs:ve]; types != nil && kind == '"' && plain(raw[1:len(raw)-1]) {
				v2 = types.get(raw[1 : len(raw)-1])
			} else {
				v2 = scalar(raw, kind)
			}
			need--
		}
		sc.ws()
		if !sc.byte(',') {
			return v1, v2
		}
	}
	return v1, v2
}

// jsonString returns the string or number at path in body, or "" when
// path is "" or the body has no such scalar.
func jsonString(body []byte, path string) string {
	if path == "" {
		return ""
	}
	start, end, ok := jsonLookup(body, path)
	if !ok {
		return ""
	}
	return scalar(body[start:end], body[start])
}

// jsonLookup finds the value at a dotted path of nested objects in body
// and returns its bounds. Where a key occurs twice, the first is used, as
// jsonFields does. It scans without building anything and gives up on
// anything that is not JSON.
func jsonLookup(body []byte, path string) (start, end int, ok bool) {
	sc := scanner{b: body}
	for {
		seg, rest, nested := strings.Cut(path, ".")
		sc.ws()
		if !sc.byte('{') {
			return 0, 0, false
		}
		for {
			sc.ws()
			ks, ke, esc, ok := sc.str()
			if !ok {
				return 0, 0, false
			}
			sc.ws()
			if !sc.byte(':') {
				return 0, 0, false
			}
			sc.ws()
			key := body[ks:ke]
			if esc {
				var k string
				if json.Unmarshal(body[ks-1:ke+1], &k) != nil {
					return 0, 0, false
				}
				key = []byte(k)
			}
			if string(key) == seg {
				if nested {
					break // descend into this value
				}
				vs := sc.i
				if !sc.skipValue() {
					return 0, 0, false
				}
				return vs, sc.i, true
			}
			if !sc.skipValue() {
				return 0, 0, false
			}
			sc.ws()
			if !sc.byte(',') {
				return 0, 0, false
			}
		}
		path = rest
	}
}

// scalar renders a JSON string (unescaped, invalid UTF-8 replaced as
// encoding/json does) or number as a Go string; other kinds give "".
func scalar(raw []byte, kind byte) string {
	switch {
	case kind == '"':
		if !plain(raw[1 : len(raw)-1]) {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return ""
			}
			return s
		}
		return string(raw[1 : len(raw)-1])
	case kind == '-' || (kind >= '0' && kind <= '9'):
		return string(raw)
	}
	return ""
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns the bounds of its contents and whether
// it holds escapes.
func (s *scanner) str() (start, end int, escaped, ok bool) {
	if !s.byte('"') {
		return 0, 0, false, false
	}
	start = s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '\\':
			escaped = true
			s.i += 2
		case c == '"':
			end = s.i
			s.i++
			return start, end, escaped, true
		case c < 0x20:
			return 0, 0, false, false
		default:
			s.i++
		}
	}
	return 0, 0, false, false
}

// skipValue consumes one value of any kind without building it. Nested
// containers are tracked with a depth counter, not recursion.
func (s *scanner) skipValue() bool {
	depth := 0
	for {
		s.ws()
		switch c := s.peek(); {
		case c == '"':
			if _, _, _, ok := s.str(); !ok {
				return false
			}
		case c == '{' || c == '[':
			if depth++; depth > maxFieldDepth {
				return false
			}
			s.i++
			continue
		case c == '}' || c == ']':
			if depth == 0 {
				return false
			}
			depth--
			s.i++
		case c == 0:
			return false
		default: // number, true, false, null
			st := s.i
			for s.i < len(s.b) {
				switch s.b[s.i] {
				case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
					goto done
				}
				s.i++
			}
		done:
			if s.i == st {
				return false
			}
		}
		// After a complete value: at the top, done (trailing space is not
		// part of the value); inside a container, a separator or the
		// container's end may follow.
		for {
			if depth == 0 {
				return true
			}
			s.ws()
			switch s.peek() {
			case ',', ':':
				s.i++
			case '}', ']':
				depth--
				s.i++
				continue
			}
			break
		}
		if depth == 0 {
			return true
		}
	}
}

// plain reports whether a JSON string's contents need no unescaping and
// are ASCII, so that they are the string's value as they are.
func plain(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// maxCachedTypes bounds a typeCache.
const maxCachedTypes = 512

// typeCache interns event types read from payloads: a provider sends a few
// dozen, and each webhook would otherwise allocate its own copy. Only
// verified payloads reach it, and it stops growing at maxCachedTypes.
type typeCache struct {
	m  atomic.Pointer[map[string]string] // read without locking; replaced whole
	mu sync.Mutex                        // serializes replacing m
}

func (c *typeCache) get(b []byte) string {
	if m := c.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
		if len(*m) >= maxCachedTypes {
			return string(b) // full: no lock taken for what will not be kept
		}
	}
	s := string(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil && len(*old) >= maxCachedTypes {
		return s
	}
	n := 0
	if old != nil {
		n = len(*old)
	}
	m := make(map[string]string, n+1)
	if old != nil {
		maps.Copy(m, *old)
	}
	m[s] = s
	c.m.Store(&m)
	return s
}
