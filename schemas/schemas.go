package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

const (
	defaultTypeField     = "type"
	defaultMaxViolations = 10
	defaultMaxDepth      = 64
	defaultMaxBytes      = 1 << 20
)

// root is the base URI of every schema in a registry. Files and Go values
// live under it at their relative path, so relative $refs resolve between
// them and nothing outside the registry can be named by a relative $ref.
const root = "hookgate:///"

// Config says where the schemas come from and how bodies are checked.
// The zero value of every field but the sources is a sensible default.
type Config struct {
	// Dir is a directory of schema files, each a JSON Schema document
	// (draft 4, 6, 7, 2019-09 or 2020-12, chosen by its "$schema"; 2020-12
	// when absent). Every *.json file directly in Dir is the schema of the
	// event type named by the file name without ".json":
	// "payment.succeeded.json" is the schema of "payment.succeeded".
	// Files in subdirectories (such as "defs/money.json") and files whose
	// name starts with "_" (such as "_common.json") are shared definitions:
	// they are compiled too, and reachable by $ref, but are no event type.
	// Relative $refs resolve between files as paths do: from
	// "payment.succeeded.json", {"$ref": "defs/money.json#/$defs/amount"}.
	// A document whose "$id" is an absolute URI is also reachable by it.
	// Names starting with "." and files not ending in ".json" are ignored,
	// and symbolic links to directories are not followed.
	// A $ref to anything outside the loaded files fails at load: nothing is
	// fetched over the network or read from elsewhere on disk.
	Dir string

	// FS, when set, is read instead of the operating system's files, and
	// Dir is a slash-separated path inside it ("" or "." for its root).
	// Use it with embed.FS to compile schemas into the binary.
	FS fs.FS

	// Schemas maps names to schema documents given as Go values. It is
	// merged with Dir and follows the same naming: a name is an event type,
	// unless it starts with "_" or contains "/", in which case it is a
	// shared definition. The document named n is reachable by $ref as
	// "n.json", from files and from other documents alike. A name that is
	// also a file in Dir is an error.
	Schemas map[string][]byte

	// CatchAll names the schema that validates bodies of event types with
	// no schema of their own: an event type, or a shared definition by its
	// path without ".json" (for a file "_default.json" in Dir, or for
	// Schemas["_default"], CatchAll is "_default"). When CatchAll is set,
	// every event type has a schema and RejectUnknown has no effect.
	// default: "" (no catch-all)
	CatchAll string

	// RejectUnknown makes an event type with no schema fail with
	// ErrUnknownType. When false, such events are accepted unchecked.
	// default: false
	RejectUnknown bool

	// TypeField is the dot-separated path of the event type in the body,
	// used when the caller passes no event type (see [TypeOf]).
	// default: "type"
	TypeField string

	// MaxViolations caps how many violations a ValidationError lists.
	// default: 10
	MaxViolations int

	// MaxDepth caps how deeply arrays and objects may nest in a body.
	// default: 64
	MaxDepth int

	// MaxBytes caps the length of a body; longer bodies fail with
	// ErrTooLarge before they are parsed.
	// default: 1 MiB
	MaxBytes int64
}

// Registry maps event types to compiled JSON Schemas and validates bodies
// against them. Create one with [New]; it is immutable afterwards and safe
// for concurrent use.
type Registry struct {
	schemas       map[string]*compiled
	types         []string
	catchAll      *compiled
	rejectUnknown bool
	typePath      []string
	errNoType     error
	maxViolations int
	maxDepth      int
	maxBytes      int64
}

// compiled is the schema of an event type (or the catch-all).
type compiled struct {
	name string // the event type, or the catch-all's name
	sch  *jsonschema.Schema
	prog *program // nil: the library validates every body
}

// source is one schema document before compilation.
type source struct {
	name string // for error messages: a file path or Schemas["name"]
	key  string // name in the registry: relative path without ".json"
	url  string
	doc  []byte
}

// New loads and compiles every schema of cfg. Any document that is not
// JSON, is not a valid schema, or has a $ref that does not resolve fails
// here, with an error naming the file (or Schemas entry) and the reason,
// so that no schema error can surface while validating a request.
func New(cfg Config) (*Registry, error) {
	r := &Registry{
		schemas:       make(map[string]*compiled),
		rejectUnknown: cfg.RejectUnknown,
		maxViolations: cfg.MaxViolations,
		maxDepth:      cfg.MaxDepth,
		maxBytes:      cfg.MaxBytes,
	}
	switch {
	case r.maxViolations < 0:
		return nil, fmt.Errorf("schemas: MaxViolations is negative (%d)", r.maxViolations)
	case r.maxViolations == 0:
		r.maxViolations = defaultMaxViolations
	}
	switch {
	case r.maxDepth < 0:
		return nil, fmt.Errorf("schemas: MaxDepth is negative (%d)", r.maxDepth)
	case r.maxDepth == 0:
		r.maxDepth = defaultMaxDepth
	}
	switch {
	case r.maxBytes < 0:
		return nil, fmt.Errorf("schemas: MaxBytes is negative (%d)", r.maxBytes)
	case r.maxBytes == 0:
		r.maxBytes = defaultMaxBytes
	}
	var err error
	if r.typePath, err = fieldPath(cfg.TypeField); err != nil {
		return nil, fmt.Errorf("schemas: TypeField: %w", err)
	}
	r.errNoType = noType(cfg.TypeField)

	srcs, err := collect(cfg)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat = true // "format" is checked in every draft, not only up to draft 7
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s is not among the loaded schemas (nothing is fetched)", strings.TrimPrefix(u, root))
	}
	ids := make(map[string]string) // absolute $id → name
	for _, s := range srcs {
		if err := c.AddResource(s.url, bytes.NewReader(s.doc)); err != nil {
			msg := strings.TrimPrefix(err.Error(), "jsonschema: invalid json "+s.url+": ")
			return nil, fmt.Errorf("schemas: %s: not JSON: %s", s.name, msg)
		}
		// A document with an absolute $id is also reachable by it, as if it
		// had been published there.
		if id := absoluteID(s.doc); id != "" {
			if prev, ok := ids[id]; ok {
				return nil, fmt.Errorf("schemas: $id %q is used twice: by %s and by %s", id, prev, s.name)
			}
			ids[id] = s.name
			if err := c.AddResource(id, bytes.NewReader(s.doc)); err != nil {
				return nil, fmt.Errorf("schemas: %s: %v", s.name, reason(err))
			}
		}
	}
	byKey := make(map[string]*compiled, len(srcs))
	for _, s := range srcs {
		sch, err := c.Compile(s.url)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %v", s.name, reason(err))
		}
		cs := &compiled{name: s.key, sch: sch, prog: compileProgram(sch)}
		byKey[s.key] = cs
		if isEventType(s.key) {
			r.schemas[s.key] = cs
			r.types = append(r.types, s.key)
		}
	}
	sort.Strings(r.types)
	if cfg.CatchAll != "" {
		if r.catchAll = byKey[cfg.CatchAll]; r.catchAll == nil {
			return nil, fmt.Errorf("schemas: CatchAll: no schema named %q", cfg.CatchAll)
		}
	}
	return r, nil
}

// absoluteID returns the document's top-level "$id" without its empty
// fragment, if it is an absolute URI; else "".
func absoluteID(doc []byte) string {
	var d struct {
		ID string `json:"$id"`
	}
	if json.Unmarshal(doc, &d) != nil || d.ID == "" {
		return ""
	}
	id := strings.TrimSuffix(d.ID, "#")
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.HasPrefix(id, root) {
		return ""
	}
	return id
}

// isEventType reports whether a registry name is an event type rather
// than a shared definition.
func isEventType(key string) bool {
	return !strings.HasPrefix(key, "_") && !strings.Contains(key, "/")
}

// collect reads the documents of cfg.Dir and cfg.Schemas, sorted by key.
func collect(cfg Config) ([]source, error) {
	var srcs []source
	seen := make(map[string]string) // key → name
	add := func(s source) error {
		if prev, ok := seen[s.key]; ok {
			return fmt.Errorf("schemas: %q is defined twice: by %s and by %s", s.key, prev, s.name)
		}
		seen[s.key] = s.name
		s.url = root + escapePath(s.key) + ".json"
		srcs = append(srcs, s)
		return nil
	}

	if cfg.Dir != "" || cfg.FS != nil {
		fsys, dir, display := cfg.FS, cfg.Dir, func(p string) string { return p }
		if fsys == nil {
			fsys, dir = os.DirFS(cfg.Dir), "."
			display = func(p string) string { return filepath.Join(cfg.Dir, filepath.FromSlash(p)) }
		} else if dir == "" {
			dir = "."
		}
		err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("schemas: %s: %w", display(p), err)
			}
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), ".json") {
				return nil
			}
			doc, err := fs.ReadFile(fsys, p)
			if err != nil {
				return fmt.Errorf("schemas: %w", err)
			}
			rel := p
			if dir != "." {
				rel = strings.TrimPrefix(p, dir+"/")
			}
			return add(source{name: display(p), key: strings.TrimSuffix(rel, ".json"), doc: doc})
		})
		if err != nil {
			return nil, err
		}
	}

	names := make([]string, 0, len(cfg.Schemas))
	for n := range cfg.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" || path.Clean(n) != n || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "../") || n == ".." {
			return nil, fmt.Errorf("schemas: Schemas[%q]: name must be a non-empty relative path", n)
		}
		if err := add(source{name: fmt.Sprintf("Schemas[%q]", n), key: n, doc: cfg.Schemas[n]}); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(srcs, func(a, b source) int { return strings.Compare(a.key, b.key) })
	return srcs, nil
}

// escapePath escapes each segment of a slash-separated name for use in a
// URI path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// reason renders a load error without the library's prefixes and with
// names relative to the registry root.
func reason(err error) string {
	var se *jsonschema.SchemaError
	if errors.As(err, &se) && se.Err != nil {
		err = se.Err
	}
	var msg string
	if ve, ok := err.(*jsonschema.ValidationError); ok {
		// The document does not match its meta-schema: name the deepest
		// failure, which is where the mistake is.
		leaf := ve
		for len(leaf.Causes) > 0 {
			leaf = leaf.Causes[0]
		}
		msg = fmt.Sprintf("not a valid schema: at %q: %s", unescapePointer(leaf.InstanceLocation), leaf.Message)
	} else {
		msg = strings.TrimPrefix(err.Error(), "jsonschema: ")
	}
	return strings.ReplaceAll(msg, root, "")
}

// Types returns the event types that have a schema, sorted. Shared
// definitions are not event types and are not listed.
func (r *Registry) Types() []string { return slices.Clone(r.types) }

// Validate checks body against the schema of its event type and returns
// the event type it used.
//
// When eventType is "", the type is read from the body at
// Config.TypeField; if it is missing, not a string or empty, Validate
// fails with [ErrNoType]. When the type has no schema: with a catch-all
// schema the body is checked against it; else with Config.RejectUnknown
// Validate fails with [ErrUnknownType]; else it returns nil without
// looking at the body (when eventType was given) or after parsing it
// (when the type came from the body).
//
// A body is checked before it is parsed: longer than Config.MaxBytes, or
// holding a number literal longer than 100 bytes or with an exponent
// beyond ±400, fails with [ErrTooLarge]; nested deeper than
// Config.MaxDepth fails with [ErrTooDeep]. A body that is not one JSON
// value fails with [ErrNotJSON]. A body that does not match fails with a
// *[ValidationError], which matches [ErrInvalid].
//
// Validate returns nil when the body is valid.
func (r *Registry) Validate(eventType string, body []byte) (typ string, err error) {
	sch, catchAll := r.schemaFor(eventType)
	if eventType != "" && sch == nil {
		if r.rejectUnknown {
			return eventType, ErrUnknownType
		}
		return eventType, nil
	}
	if int64(len(body)) > r.maxBytes {
		return eventType, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), r.maxBytes)
	}
	// One pass over the body checks it (JSON, UTF-8, depth, numbers) and
	// lays it out as a tape. A body it refuses takes the slow way, which
	// says why.
	t := getTape()
	defer putTape(t)
	if !t.parse(body, r.maxDepth) {
		return r.validateSlow(eventType, body)
	}
	if eventType == "" {
		s, ok := t.lookup(body, r.typePath)
		if !ok {
			return "", r.errNoType
		}
		if sch, catchAll = r.schemaFor(string(s)); sch == nil {
			if r.rejectUnknown {
				return string(s), ErrUnknownType
			}
			return string(s), nil
		}
		eventType = sch.name
		if catchAll {
			eventType = string(s)
		}
	}
	// A program answers for valid bodies without building the document.
	// An invalid body, or one a program cannot judge, goes to the library,
	// which decides and names the violations.
	if sch.prog != nil && sch.prog.validate(body, t) {
		return eventType, nil
	}
	doc, _ := t.value(body, 0)
	return eventType, r.check(sch, eventType, catchAll, doc)
}

// validateSlow validates a body that the tape refused, as the registry
// did before it had one: each check in turn, so that the error names the
// first problem, then decoding with encoding/json.
func (r *Registry) validateSlow(eventType string, body []byte) (string, error) {
	if err := checkRaw(body, r.maxDepth); err != nil {
		return eventType, err
	}
	doc, err := decode(body)
	if err != nil {
		return eventType, err
	}
	sch, catchAll := r.schemaFor(eventType)
	if eventType == "" {
		var ok bool
		if eventType, ok = lookup(doc, r.typePath); !ok {
			return "", r.errNoType
		}
		if sch, catchAll = r.schemaFor(eventType); sch == nil {
			if r.rejectUnknown {
				return eventType, ErrUnknownType
			}
			return eventType, nil
		}
	}
	return eventType, r.check(sch, eventType, catchAll, doc)
}

// checkRaw runs the checks that come before decoding, in order: an
// encoded body, depth and number literals (scan), then UTF-8.
func checkRaw(body []byte, maxDepth int) error {
	if isGzip(body) {
		// No JSON text starts with these bytes.
		return fmt.Errorf("%w: body is gzip-encoded (content-encoded bodies are not decoded)", ErrNotJSON)
	}
	if err := scan(body, maxDepth); err != nil {
		return err
	}
	// JSON text is UTF-8 (RFC 8259 section 8.1). encoding/json would
	// replace invalid bytes while decoding, so the schema would check a
	// document other than the bytes forwarded.
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: not valid UTF-8", ErrNotJSON)
	}
	return nil
}

// isGzip reports whether body starts with the gzip magic number.
func isGzip(body []byte) bool {
	return len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b
}

// schemaFor returns the schema for an event type, and whether it is the
// catch-all.
func (r *Registry) schemaFor(eventType string) (*compiled, bool) {
	if eventType == "" {
		return nil, false
	}
	if s := r.schemas[eventType]; s != nil {
		return s, false
	}
	return r.catchAll, r.catchAll != nil
}

// errValidator marks a failure inside the schema library (a panic it did
// not recover). The checks in scan exist so that this never happens; the
// fuzz tests look for it.
var errValidator = errors.New("schemas: internal validator error")

func (r *Registry) check(sch *compiled, typ string, catchAll bool, doc any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w validating %q", errValidator, typ)
		}
	}()
	verr := sch.sch.Validate(doc)
	if verr == nil {
		return nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		// InfiniteLoopError: a schema whose $refs loop without consuming
		// the instance; compiling does not catch every such loop.
		return fmt.Errorf("%w validating %q: %v", errValidator, typ, reason(verr))
	}
	vs := violations(ve)
	out := &ValidationError{Type: typ, catchAll: catchAll}
	if len(vs) > r.maxViolations {
		vs, out.Truncated = vs[:r.maxViolations], true
	}
	out.Violations = vs
	return out
}
