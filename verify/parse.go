package verify

import "strings"

// sigIter walks the signatures of one header without allocating.
type sigIter struct {
	rest   string
	sep    byte // FormatList: ' '; FormatPairs: the pair separator
	pairs  bool
	single bool
	done   bool
}

// atMost reports, without parsing, that the iterator yields at most n
// entries: each one but the last ends at a separator. False means "maybe
// more".
func (it *sigIter) atMost(n int) bool {
	return it.single || strings.Count(it.rest, string(it.sep)) < n
}

// tagged reports whether entries carry a version tag or key to filter on.
func (it *sigIter) tagged() bool { return !it.single }

// next returns the next entry's tag (version or pair key) and signature.
// FormatPairs entries under the timestamp key are skipped.
func (it *sigIter) next(s *Scheme) (tag, sig string, ok bool) {
	if it.done {
		return "", "", false
	}
	if it.single {
		it.done = true
		if it.rest == "" {
			return "", "", false
		}
		return "", it.rest, true
	}
	for {
		var tok string
		if it.sep == ' ' {
			tok, it.rest = nextField(it.rest)
		} else {
			tok, it.rest, _ = strings.Cut(it.rest, string(it.sep))
			tok = strings.TrimSpace(tok)
		}
		if tok == "" {
			if it.rest == "" {
				it.done = true
				return "", "", false
			}
			continue
		}
		if it.pairs {
			k, v, found := strings.Cut(tok, "=")
			k = strings.TrimSpace(k)
			if !found || k == s.TimestampKey {
				continue
			}
			return k, strings.TrimSpace(v), true
		}
		k, v, found := strings.Cut(tok, ",")
		if !found {
			return "", tok, true
		}
		return k, v, true
	}
}

// pairValue returns the value of the first pair with key, or "".
func (it *sigIter) pairValue(key string) string {
	rest := it.rest
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, string(it.sep))
		k, v, found := strings.Cut(tok, "=")
		if found && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// nextField returns the next run of non-space characters in s and what
// follows it. Spaces and tabs separate fields.
func nextField(s string) (field, rest string) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], s[j:]
}
