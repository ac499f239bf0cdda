package verify

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
)

// partKind is one piece of a signed-content template.
type partKind uint8

const (
	partLiteral partKind = iota
	partID
	partTimestamp
	partBody
	partURL
	partMethod
	partForm
	partJSON
)

var placeholders = map[string]partKind{
	"{id}":        partID,
	"{timestamp}": partTimestamp,
	"{body}":      partBody,
	"{url}":       partURL,
	"{method}":    partMethod,
	"{form}":      partForm,
}

type part struct {
	kind partKind
	lit  string // the literal text, or a partJSON's path
	idx  int    // a partJSON's index into content.json
}

type template []part

// parseTemplate splits a Content template into literal and placeholder
// parts. Unknown placeholders are errors, so a typo cannot silently sign
// the literal text "{boddy}".
func parseTemplate(s string) (template, error) {
	if s == "" {
		return nil, errors.New("empty template")
	}
	var t template
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t = append(t, part{kind: partLiteral, lit: s})
			break
		}
		if i > 0 {
			t = append(t, part{kind: partLiteral, lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed placeholder in %q", s)
		}
		name := s[i : i+j+1]
		if path, ok := strings.CutPrefix(name[1:len(name)-1], "json:"); ok {
			if err := checkPath(path); err != nil {
				return nil, fmt.Errorf("placeholder %s: %v", name, err)
			}
			t = append(t, part{kind: partJSON, lit: path, idx: len(t.paths())})
			s = s[i+j+1:]
			continue
		}
		k, ok := placeholders[name]
		if !ok {
			return nil, fmt.Errorf("unknown placeholder %s (known: {id} {timestamp} {body} {url} {method} {form} {json:PATH})", name)
		}
		t = append(t, part{kind: k})
		s = s[i+j+1:]
	}
	return t, nil
}

func (t template) uses(k partKind) bool {
	return slices.ContainsFunc(t, func(p part) bool { return p.kind == k })
}

// paths returns the body field paths of the template's {json:PATH}
// placeholders, in order.
func (t template) paths() []string {
	var ps []string
	for _, p := range t {
		if p.kind == partJSON {
			ps = append(ps, p.lit)
		}
	}
	return ps
}

// checkPath checks a dotted JSON field path: non-empty segments, no
// braces.
func checkPath(path string) error {
	if path == "" || strings.ContainsAny(path, "{}") || slices.Contains(strings.Split(path, "."), "") {
		return fmt.Errorf("bad field path %q (want dotted names, as signature.token)", path)
	}
	return nil
}

// content holds the values a template is filled with for one request.
type content struct {
	id, timestamp, url, method, form string
	json                             []string // values of the {json:PATH} parts
	body                             []byte
}

// write streams the signed content into w, buffering the short parts in
// scratch so that strings are not converted to []byte one by one. The body
// is written as is, never copied. It returns scratch for reuse.
func (t template) write(w io.Writer, scratch []byte, c *content) []byte {
	scratch = scratch[:0]
	for _, p := range t {
		switch p.kind {
		case partLiteral:
			scratch = append(scratch, p.lit...)
		case partID:
			scratch = append(scratch, c.id...)
		case partTimestamp:
			scratch = append(scratch, c.timestamp...)
		case partURL:
			scratch = append(scratch, c.url...)
		case partMethod:
			scratch = append(scratch, c.method...)
		case partForm:
			scratch = append(scratch, c.form...)
		case partJSON:
			scratch = append(scratch, c.json[p.idx]...)
		case partBody:
			if len(scratch) > 0 {
				w.Write(scratch)
				scratch = scratch[:0]
			}
			w.Write(c.body)
		}
	}
	if len(scratch) > 0 {
		w.Write(scratch)
	}
	return scratch
}

// appendWriter collects written bytes, for schemes that need the whole
// signed message at once (Ed25519).
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// sortedForm renders form parameters the way Twilio signs them: names
// sorted, each name's distinct values sorted, each pair written as
// name+value with no separator.
func sortedForm(body []byte) (string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		vs := slices.Clone(vals[n])
		slices.Sort(vs)
		vs = slices.Compact(vs)
		for _, v := range vs {
			b.WriteString(n)
			b.WriteString(v)
		}
	}
	return b.String(), nil
}

// urlVariants returns the URL as given and, when asked, the same URL with
// its port dropped (when it has one) or with the default port added (when
// it has none), as Twilio's libraries try both.
func urlVariants(raw string, variants bool) []string {
	if !variants {
		return []string{raw}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	alt := *u
	if u.Port() != "" {
		alt.Host = u.Hostname()
	} else {
		port := map[string]string{"https": "443", "http": "80"}[u.Scheme]
		if port == "" {
			return []string{raw}
		}
		alt.Host = u.Host + ":" + port
	}
	return []string{raw, alt.String()}
}

// decodeReserved decodes the percent-encoded reserved characters that
// HubSpot's v3 signature signs in decoded form: : / ? @ ! $ ' ( ) * , ;
// Other escapes are left as they are.
func decodeReserved(u string) string {
	if !strings.Contains(u, "%") {
		return u
	}
	b := make([]byte, 0, len(u))
	for i := 0; i < len(u); i++ {
		if u[i] == '%' && i+2 < len(u) {
			if c, ok := unhex2(u[i+1], u[i+2]); ok && strings.IndexByte(":/?@!$'()*,;", c) >= 0 {
				b = append(b, c)
				i += 2
				continue
			}
		}
		b = append(b, u[i])
	}
	return string(b)
}

func unhex2(a, b byte) (byte, bool) {
	h, ok1 := unhex(a)
	l, ok2 := unhex(b)
	return h<<4 | l, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
