// Package jsonscan holds the byte-level pieces of JSON that hookgate's
// hand-written scanners share: the schemas tape, which validates a body
// and lays it out as tokens, and the expr decoder, which turns a body
// into CEL values in one pass.
//
// Each function works on a byte slice and an index into it, and never
// reads outside the slice: an index at or past the end is not an error,
// it is where a scan stops. Only AppendUnquote allocates, and only to
// grow the slice it appends to. What each one checks, and what it returns
// for bytes that are not JSON, is stated on it; the caller owns
// everything else (nesting, keys, where a value may start).
//
// The grammar is RFC 8259's, as encoding/json reads it: space is the four
// bytes ' ', '\t', '\n', '\r'; a string's escapes are \" \\ \/ \b \f \n
// \r \t and \uXXXX.
//
// A scanner reads a string as SkipPlain, then a look at the byte it
// stopped at; a value that needs decoding goes to AppendUnquote:
//
//	j := jsonscan.SkipPlain(b, i+1) // b[i] is the opening quote
//	if j < len(b) && b[j] == '"' {
//		return b[i+1 : j] // nothing to decode
//	}
//	out, n, ok := jsonscan.AppendUnquote(buf, b[i+1:])
//	// ok and i+1+n < len(b): the string ends at b[i+1+n], a quote
package jsonscan
