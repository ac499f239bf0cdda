package schemas

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// A program is a schema compiled by the jsonschema library, translated
// into a form that validates a tape without decoding it: property names
// looked up among precomputed slots, number bounds held as int64 when
// they are integers, enums of strings compared as bytes. It answers
// whether a body is valid, and nothing else; the library still produces
// the violations of an invalid body (see Registry.Validate). So a program
// must never call valid what the library calls invalid: the tests check
// every keyword both ways, and the fuzz tests random bodies and schemas.
//
// A program holds only what the library compiled: the library resolves
// $refs, drafts and vocabularies, and the translation reads its exported
// fields. A schema using a keyword that programs do not evaluate
// ($dynamicRef, $recursiveRef, unevaluatedProperties, unevaluatedItems,
// content keywords, extensions), or whose in-place applicators form a
// loop, gets no program, and all its bodies go to the library.
type program struct {
	root *pnode
}

// pnode is one compiled schema.
type pnode struct {
	// kinds has bit 1<<k set for each token kind k the "type" keyword
	// allows (every kind when there is none; none for the schema false).
	// integer: numbers are allowed when their value is an integer.
	kinds   uint8
	integer bool
	// checks has a bit per group of keywords n has, so that a value skips
	// the groups that do not apply to it.
	checks uint8
	// quick, qMin and qMax describe a shortcut for the commonest values
	// of leaf schemas; see quickValid.
	quick      uint8
	qMin, qMax int64

	constant []any // one element, the constant, when "const" is set
	enum     []any
	enumStr  [][]byte // the enum's strings, when every member is one
	format   func(any) bool

	// objects
	minProps      int
	maxProps      int
	slots         []slot // properties, then other names the keywords look for
	slotIndex     map[string]int
	required      []int // slot indexes
	propertyNames *pnode
	patternProps  []patternProp
	additional    *pnode // additionalProperties as a schema
	noAdditional  bool   // additionalProperties: false
	depRequired   []depRequired
	depSchemas    []depSchema

	// arrays
	minItems      int
	maxItems      int
	uniqueItems   bool
	prefix        []*pnode // prefixItems, or items as an array (drafts before 2020-12)
	items         *pnode   // items as one schema (drafts before 2020-12)
	afterPrefix   *pnode   // items (2020-12) or additionalItems: elements after prefix
	noAfterPrefix bool     // additionalItems: false
	contains      *pnode
	minContains   int
	maxContains   int

	// strings
	minLength int
	maxLength int
	pattern   *regexp.Regexp

	// numbers
	minimum, exclusiveMinimum, maximum, exclusiveMaximum, multipleOf *bound

	// in place
	ref                 *pnode
	not                 *pnode
	allOf, anyOf, oneOf []*pnode
	ifS, thenS, elseS   *pnode
}

// Kinds of pnode.quick.
const (
	qNone   = iota
	qString // type string, at most length bounds: qMin <= length <= qMax
	qInt    // type integer, at most integer bounds: qMin <= value <= qMax
)

// Bits of pnode.checks.
const (
	cObject  = 1 << kObject
	cArray   = 1 << kArray
	cString  = 1 << kString
	cNumber  = 1 << kNumber
	cValue   = 1 << 0 // const, enum, format (kNull's bit: null has no checks of its own)
	cInPlace = 1 << 1 // $ref, not, allOf, anyOf, oneOf, if (kFalse's bit, likewise)
)

const allKinds = 1<<kNull | 1<<kFalse | 1<<kTrue | 1<<kNumber | 1<<kString | 1<<kArray | 1<<kObject

var kindsOfType = map[string]uint8{
	"null": 1 << kNull, "boolean": 1<<kFalse | 1<<kTrue, "number": 1 << kNumber,
	"string": 1 << kString, "array": 1 << kArray, "object": 1 << kObject,
}

// slot is a property name that a schema's keywords look for.
type slot struct {
	name string
	head uint64 // the name's first eight bytes, as keyHead reads them
	prop *pnode // its "properties" schema, or nil
}

type patternProp struct {
	re *regexp.Regexp
	n  *pnode
}

type depRequired struct {
	if_  int   // slot present
	then []int // slots required
}

type depSchema struct {
	if_ int
	n   *pnode
}

// bound is a number from a schema keyword.
type bound struct {
	rat   *big.Rat
	isInt bool // rat is an integer that fits i
	i     int64
}

func newBound(r *big.Rat) *bound {
	if r == nil {
		return nil
	}
	b := &bound{rat: r}
	if r.IsInt() && r.Num().IsInt64() {
		b.isInt, b.i = true, r.Num().Int64()
	}
	return b
}

// compileProgram translates s, or returns nil when a keyword it uses is
// not evaluated by programs.
func compileProgram(s *jsonschema.Schema) *program {
	c := &progCompiler{nodes: make(map[*jsonschema.Schema]*pnode)}
	root := c.node(s)
	if c.unsupported || c.loops() {
		return nil
	}
	return &program{root: root}
}

type progCompiler struct {
	nodes       map[*jsonschema.Schema]*pnode
	unsupported bool
}

func (c *progCompiler) node(s *jsonschema.Schema) *pnode {
	if s == nil {
		return nil
	}
	if n, ok := c.nodes[s]; ok {
		return n
	}
	n := &pnode{kinds: allKinds}
	c.nodes[s] = n
	if s.RecursiveRef != nil || s.DynamicRef != nil || s.UnevaluatedProperties != nil ||
		s.UnevaluatedItems != nil || s.RegexProperties || len(s.Extensions) > 0 ||
		s.ContentEncoding != "" || s.ContentMediaType != "" || s.ContentSchema != nil {
		c.unsupported = true
		return n
	}
	if s.Always != nil {
		// A boolean schema has no other keyword.
		if !*s.Always {
			n.kinds = 0
		}
		return n
	}
	if len(s.Types) > 0 {
		n.kinds = 0
		for _, t := range s.Types {
			if t == "integer" {
				n.integer = true
				continue
			}
			k, ok := kindsOfType[t]
			if !ok {
				c.unsupported = true
			}
			n.kinds |= k
		}
	}
	if len(s.Constant) > 0 {
		n.constant = s.Constant
	}
	if len(s.Enum) > 0 {
		n.enum = s.Enum
		strs := make([][]byte, 0, len(n.enum))
		for _, e := range n.enum {
			if s, ok := e.(string); ok {
				strs = append(strs, []byte(s))
			}
		}
		if len(strs) == len(n.enum) {
			n.enumStr = strs
		}
	}
	if s.Format != "" {
		// The registry's compiler asserts formats in every draft and has
		// no formats of its own, so the library checks the package-level
		// one of that name, if any (jsonschema compiler.go).
		n.format = jsonschema.Formats[s.Format]
	}

	// objects
	n.minProps, n.maxProps = s.MinProperties, s.MaxProperties
	for _, name := range sortedKeys(s.Properties) {
		n.slots[n.slotOf(name)].prop = c.node(s.Properties[name])
	}
	for _, name := range s.Required {
		n.required = append(n.required, n.slotOf(name))
	}
	n.propertyNames = c.node(s.PropertyNames)
	patterns := make([]*regexp.Regexp, 0, len(s.PatternProperties))
	for re := range s.PatternProperties {
		patterns = append(patterns, re)
	}
	slices.SortFunc(patterns, func(a, b *regexp.Regexp) int { return strings.Compare(a.String(), b.String()) })
	for _, re := range patterns {
		n.patternProps = append(n.patternProps, patternProp{re, c.node(s.PatternProperties[re])})
	}
	n.additional, n.noAdditional = c.schemaOrFalse(s.AdditionalProperties)
	for _, name := range sortedKeys(s.Dependencies) {
		switch d := s.Dependencies[name].(type) {
		case []string:
			n.depRequired = append(n.depRequired, depRequired{n.slotOf(name), n.slotsOf(d)})
		case *jsonschema.Schema:
			n.depSchemas = append(n.depSchemas, depSchema{n.slotOf(name), c.node(d)})
		default:
			c.unsupported = true
		}
	}
	for _, name := range sortedKeys(s.DependentRequired) {
		n.depRequired = append(n.depRequired, depRequired{n.slotOf(name), n.slotsOf(s.DependentRequired[name])})
	}
	for _, name := range sortedKeys(s.DependentSchemas) {
		n.depSchemas = append(n.depSchemas, depSchema{n.slotOf(name), c.node(s.DependentSchemas[name])})
	}
	if len(n.slots) > 8 {
		n.slotIndex = make(map[string]int, len(n.slots))
		for i, sl := range n.slots {
			n.slotIndex[sl.name] = i
		}
	}

	// arrays
	n.minItems, n.maxItems, n.uniqueItems = s.MinItems, s.MaxItems, s.UniqueItems
	switch items := s.Items.(type) {
	case nil:
	case *jsonschema.Schema:
		n.items = c.node(items)
	case []*jsonschema.Schema:
		for _, it := range items {
			n.prefix = append(n.prefix, c.node(it))
		}
		n.afterPrefix, n.noAfterPrefix = c.schemaOrFalse(s.AdditionalItems)
	default:
		c.unsupported = true
	}
	if len(s.PrefixItems) > 0 || s.Items2020 != nil {
		if n.prefix != nil || n.afterPrefix != nil || n.noAfterPrefix {
			c.unsupported = true // both forms at once: the library never compiles this
		}
		for _, it := range s.PrefixItems {
			n.prefix = append(n.prefix, c.node(it))
		}
		n.afterPrefix = c.node(s.Items2020)
	}
	if s.Contains != nil && (s.MinContains != -1 || s.MaxContains != -1) {
		n.contains = c.node(s.Contains)
	}
	n.minContains, n.maxContains = s.MinContains, s.MaxContains

	// strings
	n.minLength, n.maxLength, n.pattern = s.MinLength, s.MaxLength, s.Pattern

	// numbers
	n.minimum, n.exclusiveMinimum = newBound(s.Minimum), newBound(s.ExclusiveMinimum)
	n.maximum, n.exclusiveMaximum = newBound(s.Maximum), newBound(s.ExclusiveMaximum)
	n.multipleOf = newBound(s.MultipleOf)

	// in place
	n.ref = c.node(s.Ref)
	n.not = c.node(s.Not)
	for _, a := range s.AllOf {
		n.allOf = append(n.allOf, c.node(a))
	}
	for _, a := range s.AnyOf {
		n.anyOf = append(n.anyOf, c.node(a))
	}
	for _, a := range s.OneOf {
		n.oneOf = append(n.oneOf, c.node(a))
	}
	n.ifS, n.thenS, n.elseS = c.node(s.If), c.node(s.Then), c.node(s.Else)

	if n.constant != nil || n.enum != nil || n.format != nil {
		n.checks |= cValue
	}
	if n.minProps >= 0 || n.maxProps >= 0 || len(n.slots) > 0 || n.propertyNames != nil ||
		len(n.patternProps) > 0 || n.additional != nil || n.noAdditional {
		n.checks |= cObject
	}
	if n.minItems >= 0 || n.maxItems >= 0 || n.uniqueItems || n.prefix != nil ||
		n.items != nil || n.afterPrefix != nil || n.noAfterPrefix || n.contains != nil {
		n.checks |= cArray
	}
	if n.minLength >= 0 || n.maxLength >= 0 || n.pattern != nil {
		n.checks |= cString
	}
	if n.minimum != nil || n.exclusiveMinimum != nil || n.maximum != nil ||
		n.exclusiveMaximum != nil || n.multipleOf != nil {
		n.checks |= cNumber
	}
	if n.ref != nil || n.not != nil || len(n.allOf) > 0 || len(n.anyOf) > 0 ||
		len(n.oneOf) > 0 || n.ifS != nil {
		n.checks |= cInPlace
	}
	n.setQuick()
	return n
}

// setQuick sets the shortcut of quickValid for a schema that is "type":
// "string" with at most minLength and maxLength, or "type": "integer"
// with at most bounds that are integers.
func (n *pnode) setQuick() {
	switch {
	case n.kinds == 1<<kString && !n.integer && n.checks&^cString == 0 && n.pattern == nil:
		n.quick, n.qMin, n.qMax = qString, 0, math.MaxInt64
		if n.minLength >= 0 {
			n.qMin = int64(n.minLength)
		}
		if n.maxLength >= 0 {
			n.qMax = int64(n.maxLength)
		}
	case n.kinds == 0 && n.integer && n.checks&^cNumber == 0 && n.multipleOf == nil:
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		for _, b := range []struct {
			b        *bound
			low, exc bool
		}{{n.minimum, true, false}, {n.exclusiveMinimum, true, true}, {n.maximum, false, false}, {n.exclusiveMaximum, false, true}} {
			switch {
			case b.b == nil:
				continue
			case !b.b.isInt, b.exc && b.b.i == math.MaxInt64 && b.low, b.exc && b.b.i == math.MinInt64 && !b.low:
				return // no shortcut: the general path decides
			}
			x := b.b.i
			if b.exc && b.low {
				x++
			} else if b.exc {
				x--
			}
			if b.low {
				lo = max(lo, x)
			} else {
				hi = min(hi, x)
			}
		}
		n.quick, n.qMin, n.qMax = qInt, lo, hi
	}
}

// quickValid reports true when the value at tk surely matches n: an
// ASCII string without escapes within n's length bounds, or a plain
// integer literal of at most 18 characters within n's bounds. When it
// reports false, valid decides.
func (v *validator) quickValid(n *pnode, tk *tok) bool {
	switch n.quick {
	case qString:
		l := int64(tk.end - tk.off)
		return tk.info == uint8(kString) && l >= n.qMin && l <= n.qMax
	case qInt:
		if tk.kind() != kNumber {
			return false
		}
		x, ok := v.plainInt(tk)
		return ok && x >= n.qMin && x <= n.qMax
	}
	return false
}

// schemaOrFalse compiles a keyword the library holds as nil, a bool or
// a schema (additionalProperties, additionalItems): it returns the
// schema, or whether the keyword is false.
func (c *progCompiler) schemaOrFalse(x any) (*pnode, bool) {
	switch x := x.(type) {
	case nil:
		return nil, false
	case bool:
		return nil, !x
	case *jsonschema.Schema:
		return c.node(x), false
	}
	c.unsupported = true
	return nil, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// slotOf returns the slot of name, adding it if needed.
func (n *pnode) slotOf(name string) int {
	for i := range n.slots {
		if n.slots[i].name == name {
			return i
		}
	}
	n.slots = append(n.slots, slot{name: name, head: keyHead([]byte(name), 0, uint32(len(name)))})
	return len(n.slots) - 1
}

func (n *pnode) slotsOf(names []string) []int {
	out := make([]int, len(names))
	for i, name := range names {
		out[i] = n.slotOf(name)
	}
	return out
}

// keyHead returns the first eight bytes of b[off:end] (fewer when it is
// shorter) as a little-endian number, zero above the name's end.
func keyHead(b []byte, off, end uint32) uint64 {
	n := end - off
	if n > 8 {
		n = 8
	}
	if int(off)+8 <= len(b) {
		return binary.LittleEndian.Uint64(b[off:]) & (1<<(8*n) - 1)
	}
	var h uint64
	for k := range n {
		h |= uint64(b[off+k]) << (8 * k)
	}
	return h
}

// loops reports whether a chain of in-place applicators ($ref, allOf,
// anyOf, oneOf, not, if/then/else, dependent schemas) leads from a
// schema back to itself. The library stops such a loop with an error
// when it reaches it, and it evaluates every branch, so it reaches
// loops that a program, stopping at the first branch that decides, would
// not. Such schemas are left to the library.
func (c *progCompiler) loops() bool {
	const (
		unseen = iota
		active
		done
	)
	state := make(map[*jsonschema.Schema]int)
	var visit func(s *jsonschema.Schema) bool
	visit = func(s *jsonschema.Schema) bool {
		if s == nil {
			return false
		}
		switch state[s] {
		case active:
			return true
		case done:
			return false
		}
		state[s] = active
		next := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
		next = append(next, s.AllOf...)
		next = append(next, s.AnyOf...)
		next = append(next, s.OneOf...)
		for _, d := range s.DependentSchemas {
			next = append(next, d)
		}
		for _, d := range s.Dependencies {
			if d, ok := d.(*jsonschema.Schema); ok {
				next = append(next, d)
			}
		}
		for _, t := range next {
			if visit(t) {
				return true
			}
		}
		state[s] = done
		return false
	}
	// Schemas applied to members and elements start new chains (the
	// library's loop check is per instance location), so every schema
	// reachable from the root is a start.
	for s := range c.nodes {
		if visit(s) {
			return true
		}
	}
	return false
}

// validate reports whether the body parsed into t is valid against p.
// It reports false also when it cannot tell; the library decides then.
func (p *program) validate(body []byte, t *tape) (ok bool) {
	v := validator{body: body, toks: t.toks, t: t}
	defer func() {
		// A bug here must not take the request down: the library decides.
		if recover() != nil {
			ok = false
		}
	}()
	return v.valid(p.root, 0, 0) && !v.unsure
}

// validator evaluates a program over one tape. unsure is set when it
// meets a body it cannot judge exactly (duplicate or escaped names in an
// object under object keywords, a long array under uniqueItems, a long
// chain of in-place applicators); the caller then asks the library.
// Once unsure is set, what valid returns does not matter.
type validator struct {
	body   []byte
	toks   []tok
	t      *tape
	unsure bool
}

// maxInPlace bounds a chain of in-place applicators on one value.
const maxInPlace = 64

// valid reports whether the value at token i matches n.
func (v *validator) valid(n *pnode, i int, inPlace int) bool {
	tk := &v.toks[i]
	if n.kinds&(1<<tk.kind()) == 0 && !(tk.kind() == kNumber && n.integer && v.isInteger(i)) {
		return false
	}
	if n.checks == 0 {
		return true
	}
	if n.checks&cValue != 0 && !v.validValue(n, i) {
		return false
	}
	if n.checks&(1<<tk.kind()) != 0 {
		switch tk.kind() {
		case kObject:
			if !v.validObject(n, i, inPlace) {
				return false
			}
		case kArray:
			if !v.validArray(n, i) {
				return false
			}
		case kString:
			if !v.validString(n, i) {
				return false
			}
		case kNumber:
			if !v.validNumber(n, i) {
				return false
			}
		}
	}
	return n.checks&cInPlace == 0 || v.validInPlace(n, i, inPlace)
}

func (v *validator) validValue(n *pnode, i int) bool {
	if n.constant != nil && !v.equalsValue(i, n.constant[0]) {
		return false
	}
	if n.enum != nil && !v.inEnum(n, i) {
		return false
	}
	return n.format == nil || v.formatOK(n.format, i)
}

// validInPlace applies the schemas that n applies to the value itself.
func (v *validator) validInPlace(n *pnode, i int, inPlace int) bool {
	if inPlace++; inPlace > maxInPlace {
		v.unsure = true
		return false
	}
	if n.ref != nil && !v.valid(n.ref, i, inPlace) {
		return false
	}
	if n.not != nil && v.valid(n.not, i, inPlace) {
		return false
	}
	for _, a := range n.allOf {
		if !v.valid(a, i, inPlace) {
			return false
		}
	}
	if len(n.anyOf) > 0 {
		ok := false
		for _, a := range n.anyOf {
			if v.valid(a, i, inPlace) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(n.oneOf) > 0 {
		matched := 0
		for _, a := range n.oneOf {
			if v.valid(a, i, inPlace) {
				if matched++; matched > 1 {
					return false
				}
			}
		}
		if matched != 1 {
			return false
		}
	}
	if n.ifS != nil {
		if v.valid(n.ifS, i, inPlace) {
			return n.thenS == nil || v.valid(n.thenS, i, inPlace)
		}
		return n.elseS == nil || v.valid(n.elseS, i, inPlace)
	}
	return true
}

// isInteger reports whether the number at i has an integer value, as the
// library decides it: 1.0 and 1e2 are integers.
func (v *validator) isInteger(i int) bool {
	return !v.toks[i].esc() || v.rat(i).IsInt()
}

// rat returns the number at i as a big.Rat. The tape's bounds on
// literals keep this cheap; it runs only for numbers that are not plain
// integers that fit an int64.
func (v *validator) rat(i int) *big.Rat {
	tk := &v.toks[i]
	r, ok := new(big.Rat).SetString(string(v.body[tk.off:tk.end]))
	if !ok {
		panic("schemas: tape accepted a number big.Rat refuses")
	}
	return r
}

// int64At returns the number at i when it is a plain integer literal
// that surely fits an int64.
func (v *validator) int64At(i int) (int64, bool) {
	return v.plainInt(&v.toks[i])
}

// plainInt returns the value of the number token tk when it is a plain
// integer literal that surely fits an int64 (at most 18 characters).
// tk must be a number.
func (v *validator) plainInt(tk *tok) (int64, bool) {
	if tk.esc() || tk.end-tk.off > 18 {
		return 0, false
	}
	lit := v.body[tk.off:tk.end]
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var n int64
	for _, c := range lit {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// cmp compares the number at i with b.
func (v *validator) cmp(i int, b *bound) int {
	if b.isInt {
		if n, ok := v.int64At(i); ok {
			switch {
			case n < b.i:
				return -1
			case n > b.i:
				return 1
			}
			return 0
		}
	}
	return v.rat(i).Cmp(b.rat)
}

func (v *validator) validNumber(n *pnode, i int) bool {
	if n.minimum != nil && v.cmp(i, n.minimum) < 0 {
		return false
	}
	if n.exclusiveMinimum != nil && v.cmp(i, n.exclusiveMinimum) <= 0 {
		return false
	}
	if n.maximum != nil && v.cmp(i, n.maximum) > 0 {
		return false
	}
	if n.exclusiveMaximum != nil && v.cmp(i, n.exclusiveMaximum) >= 0 {
		return false
	}
	if m := n.multipleOf; m != nil {
		if x, ok := v.int64At(i); ok && m.isInt && m.i > 0 {
			return x%m.i == 0
		}
		return new(big.Rat).Quo(v.rat(i), m.rat).IsInt()
	}
	return true
}

func (v *validator) validString(n *pnode, i int) bool {
	tk := &v.toks[i]
	s := v.body[tk.off:tk.end]
	if tk.esc() {
		s = unescape(s)
	}
	if n.minLength >= 0 || n.maxLength >= 0 {
		l := len(s)
		if tk.wide() || tk.esc() {
			l = utf8.RuneCount(s)
		}
		if n.minLength >= 0 && l < n.minLength || n.maxLength >= 0 && l > n.maxLength {
			return false
		}
	}
	return n.pattern == nil || n.pattern.Match(s)
}

func (v *validator) formatOK(f func(any) bool, i int) bool {
	if v.toks[i].kind() == kString {
		return f(string(v.t.str(v.body, i)))
	}
	doc, _ := v.t.value(v.body, i)
	return f(doc)
}

func (v *validator) inEnum(n *pnode, i int) bool {
	if n.enumStr != nil {
		if v.toks[i].kind() != kString {
			return false
		}
		s := v.t.str(v.body, i)
		for _, e := range n.enumStr {
			if string(e) == string(s) {
				return true
			}
		}
		return false
	}
	for _, e := range n.enum {
		if v.equalsValue(i, e) {
			return true
		}
	}
	return false
}

// equalsValue reports whether the value at token i equals the schema
// value x (decoded with json.Number), as the library compares them:
// numbers by value, objects regardless of member order.
func (v *validator) equalsValue(i int, x any) bool {
	tk := &v.toks[i]
	switch x := x.(type) {
	case nil:
		return tk.kind() == kNull
	case bool:
		return x && tk.kind() == kTrue || !x && tk.kind() == kFalse
	case string:
		return tk.kind() == kString && string(v.t.str(v.body, i)) == x
	case json.Number:
		if tk.kind() != kNumber {
			return false
		}
		if string(v.body[tk.off:tk.end]) == string(x) {
			return true
		}
		r, ok := new(big.Rat).SetString(string(x))
		return ok && v.rat(i).Cmp(r) == 0
	case []any:
		if tk.kind() != kArray || int(tk.n) != len(x) {
			return false
		}
		j := i + 1
		for _, e := range x {
			if !v.equalsValue(j, e) {
				return false
			}
			j = v.t.next(j)
		}
		return true
	case map[string]any:
		if tk.kind() != kObject || !v.distinctKeys(i) || int(tk.n) != len(x) {
			return false
		}
		for j := i + 1; j < int(tk.end); j = v.t.next(j + 1) {
			e, ok := x[string(v.t.str(v.body, j))]
			if !ok || !v.equalsValue(j+1, e) {
				return false
			}
		}
		return true
	}
	v.unsure = true // a Go type the library never compiles
	return false
}

// equalTokens reports whether the values at tokens i and j are equal, as
// the library compares them.
func (v *validator) equalTokens(i, j int) bool {
	a, b := &v.toks[i], &v.toks[j]
	if a.kind() != b.kind() {
		return false
	}
	switch a.kind() {
	case kNull, kFalse, kTrue:
		return true
	case kString:
		return string(v.t.str(v.body, i)) == string(v.t.str(v.body, j))
	case kNumber:
		x, okx := v.int64At(i)
		y, oky := v.int64At(j)
		if okx && oky {
			return x == y
		}
		return v.rat(i).Cmp(v.rat(j)) == 0
	case kArray:
		if a.n != b.n {
			return false
		}
		for x, y := i+1, j+1; x < int(a.end); x, y = v.t.next(x), v.t.next(y) {
			if !v.equalTokens(x, y) {
				return false
			}
		}
		return true
	default:
		if !v.distinctKeys(i) || !v.distinctKeys(j) || a.n != b.n {
			return false
		}
		// As many distinct names on each side: equal when every member of
		// a has an equal member of the same name in b.
		for x := i + 1; x < int(a.end); x = v.t.next(x + 1) {
			name := v.t.str(v.body, x)
			found := false
			for y := j + 1; y < int(b.end); y = v.t.next(y + 1) {
				if string(v.t.str(v.body, y)) == string(name) {
					if !v.equalTokens(x+1, y+1) {
						return false
					}
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// distinctKeys reports whether the object at i has no name twice. When
// it has, the library sees only the last member of each name (as
// encoding/json decodes it), and counts names rather than members, so
// the tape does not describe its document member by member: unsure is
// set. So it is for escaped names, which could equal a name spelled
// plainly.
func (v *validator) distinctKeys(i int) bool {
	tk := &v.toks[i]
	if tk.n < 2 {
		return true
	}
	end := int(tk.end)
	for x := i + 1; x < end; x = v.t.next(x + 1) {
		if v.toks[x].esc() {
			v.unsure = true
			return false
		}
	}
	if tk.n > 32 {
		names := make(map[string]struct{}, tk.n)
		for x := i + 1; x < end; x = v.t.next(x + 1) {
			kx := &v.toks[x]
			name := string(v.body[kx.off:kx.end])
			if _, dup := names[name]; dup {
				v.unsure = true
				return false
			}
			names[name] = struct{}{}
		}
		return true
	}
	for x := i + 1; x < end; x = v.t.next(x + 1) {
		kx := &v.toks[x]
		nx := v.body[kx.off:kx.end]
		for y := v.t.next(x + 1); y < end; y = v.t.next(y + 1) {
			ky := &v.toks[y]
			if string(v.body[ky.off:ky.end]) == string(nx) {
				v.unsure = true
				return false
			}
		}
	}
	return true
}

func (v *validator) validObject(n *pnode, i int, inPlace int) bool {
	if v.members(n, i, inPlace) {
		return true
	}
	// The object fails n; that holds if its names are distinct, as the
	// library sees the last member of each name and counts names, not
	// members. distinctKeys sets unsure when they are not.
	v.distinctKeys(i)
	return false
}

// members checks the object at i against the object keywords of n. When
// it reports true, the object's names are distinct.
func (v *validator) members(n *pnode, i int, inPlace int) bool {
	tk := &v.toks[i]
	if n.minProps >= 0 && int(tk.n) < n.minProps {
		return false
	}
	// seen has a bit per slot whose name the object has: slots 0-63 in
	// seen0, the rest (rare) in more.
	var seen0 uint64
	var more []uint64
	if len(n.slots) > 64 {
		more = make([]uint64, (len(n.slots)-1)/64)
	}
	// unnamed counts the members found in no slot; duplicates among them
	// are found by comparing names. A name in a slot repeats when its
	// slot is seen twice.
	unnamed := 0
	end := int(tk.end)
	for k := i + 1; k < end; {
		kt := &v.toks[k]
		val := k + 1
		if kt.esc() {
			v.unsure = true
			return false
		}
		// The slot of the name, if any.
		s := -1
		if n.slotIndex != nil {
			if x, ok := n.slotIndex[string(v.body[kt.off:kt.end])]; ok {
				s = x
			}
		} else if len(n.slots) > 0 {
			l := int(kt.end - kt.off)
			head := keyHead(v.body, kt.off, kt.end)
			for x := range n.slots {
				sl := &n.slots[x]
				if sl.head == head && len(sl.name) == l && (l <= 8 || sl.name[8:] == string(v.body[kt.off+8:kt.end])) {
					s = x
					break
				}
			}
		}
		switch {
		case s < 0:
			unnamed++
		case s < 64:
			if seen0&(1<<s) != 0 {
				v.unsure = true
				return false
			}
			seen0 |= 1 << s
		default:
			w, bit := (s-64)>>6, uint64(1)<<(s&63)
			if more[w]&bit != 0 {
				v.unsure = true
				return false
			}
			more[w] |= bit
		}
		if n.propertyNames != nil && !v.valid(n.propertyNames, k, 0) {
			return false
		}
		evaluated := false
		if s >= 0 && n.slots[s].prop != nil {
			evaluated = true
			p := n.slots[s].prop
			if !v.quickValid(p, &v.toks[val]) && !v.valid(p, val, 0) {
				return false
			}
		}
		if len(n.patternProps) > 0 {
			name := v.body[kt.off:kt.end]
			for _, pp := range n.patternProps {
				if pp.re.Match(name) {
					evaluated = true
					if !v.valid(pp.n, val, 0) {
						return false
					}
				}
			}
		}
		if !evaluated {
			if n.noAdditional {
				return false
			}
			if n.additional != nil && !v.valid(n.additional, val, 0) {
				return false
			}
		}
		if vt := &v.toks[val]; vt.kind() >= kArray {
			k = int(vt.end)
		} else {
			k = val + 1
		}
	}
	if unnamed > 1 && !v.distinctKeys(i) {
		return false
	}
	if n.maxProps >= 0 && int(tk.n) > n.maxProps {
		return false
	}
	has := func(s int) bool {
		if s < 64 {
			return seen0&(1<<s) != 0
		}
		return more[(s-64)>>6]&(1<<(s&63)) != 0
	}
	for _, s := range n.required {
		if !has(s) {
			return false
		}
	}
	for _, d := range n.depRequired {
		if has(d.if_) {
			for _, s := range d.then {
				if !has(s) {
					return false
				}
			}
		}
	}
	for _, d := range n.depSchemas {
		if has(d.if_) && !v.valid(d.n, i, inPlace+1) {
			return false
		}
	}
	return true
}

// maxUniqueItems bounds the arrays whose items are compared pairwise;
// longer ones under uniqueItems go to the library.
const maxUniqueItems = 128

func (v *validator) validArray(n *pnode, i int) bool {
	tk := &v.toks[i]
	count := int(tk.n)
	if n.minItems >= 0 && count < n.minItems || n.maxItems >= 0 && count > n.maxItems {
		return false
	}
	if n.noAfterPrefix && count > len(n.prefix) {
		return false
	}
	end := int(tk.end)
	if n.uniqueItems && count > 1 {
		if count > maxUniqueItems {
			v.unsure = true
			return false
		}
		for x := i + 1; x < end; x = v.t.next(x) {
			for y := v.t.next(x); y < end; y = v.t.next(y) {
				if v.equalTokens(x, y) {
					return false
				}
			}
		}
	}
	matched := 0
	idx := 0
	for e := i + 1; e < end; idx++ {
		if n.items != nil && !v.valid(n.items, e, 0) {
			return false
		}
		if idx < len(n.prefix) {
			if !v.valid(n.prefix[idx], e, 0) {
				return false
			}
		} else if n.afterPrefix != nil && !v.valid(n.afterPrefix, e, 0) {
			return false
		}
		if n.contains != nil && v.valid(n.contains, e, 0) {
			matched++
		}
		if et := &v.toks[e]; et.kind() == kObject || et.kind() == kArray {
			e = int(et.end)
		} else {
			e++
		}
	}
	if n.contains != nil {
		if n.minContains != -1 && matched < n.minContains || n.maxContains != -1 && matched > n.maxContains {
			return false
		}
	}
	return true
}
