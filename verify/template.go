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
	lit  string
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
		k, ok := placeholders[name]
		if !ok {
			return nil, fmt.Errorf("unknown placeholder %s (known: {id} {timestamp} {body} {url} {method} {form})", name)
		}
		t = append(t, part{kind: k})
		s = s[i+j+1:]
	}
	return t, nil
}

func (t template) uses(k partKind) bool {
	return slices.ContainsFunc(t, func(p part) bool { return p.kind == k })
}

// content holds the values a template is filled with for one request.
type content struct {
	id, timestamp, url, method, form string
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
