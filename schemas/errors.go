package schemas

import (
	"errors"
	"strconv"
	"strings"
)

// Errors returned by [Registry.Validate] and [TypeOf]. They are wrapped
// with detail; match them with [errors.Is]. None of their messages quotes
// a value from the body.
var (
	// ErrNotJSON reports a body that is not one well-formed JSON value.
	ErrNotJSON = errors.New("schemas: body is not valid JSON")
	// ErrTooDeep reports a body whose arrays and objects nest deeper than
	// Config.MaxDepth.
	ErrTooDeep = errors.New("schemas: JSON nesting too deep")
	// ErrTooLarge reports a body longer than Config.MaxBytes, or one holding
	// a number literal too large to validate (see [Registry.Validate]).
	ErrTooLarge = errors.New("schemas: body too large to validate")
	// ErrUnknownType reports an event type that has no schema, when
	// Config.RejectUnknown is set and there is no catch-all schema.
	ErrUnknownType = errors.New("schemas: no schema for event type")
	// ErrNoType reports that the event type was needed from the body and
	// the type field is missing, not a string, or empty.
	ErrNoType = errors.New("schemas: event type not found")
	// ErrInvalid reports a body that does not match its schema. The error
	// returned is a *[ValidationError], which lists the violations.
	ErrInvalid = errors.New("schemas: payload does not match schema")
)

// Violation is one way in which a body fails its schema.
type Violation struct {
	// Pointer is the RFC 6901 JSON pointer to the failing value in the
	// body, such as "/data/object/amount"; "" is the whole body.
	Pointer string
	// Keyword is the schema keyword that failed, such as "required",
	// "type" or "additionalProperties", or "false" for a schema that is
	// the boolean false.
	Keyword string
	// Message is a short reason, such as "missing properties: id" or
	// "expected integer, but got string". It quotes the schema, never a
	// value from the body.
	Message string
}

// ValidationError is the error returned when a body does not match its
// schema. errors.Is(err, ErrInvalid) reports true for it.
type ValidationError struct {
	// Type is the event type of the body. When it has no schema of its
	// own, the body was checked against the catch-all schema.
	Type string
	// Violations lists the failures, sorted by Pointer then Keyword, at
	// most Config.MaxViolations of them.
	Violations []Violation
	// Truncated reports whether violations beyond Config.MaxViolations
	// were left out.
	Truncated bool

	catchAll bool // validated against the catch-all schema
}

// maxPointerInMessage bounds how much of a pointer Error repeats, so that
// a body with huge keys cannot produce a huge log line.
const maxPointerInMessage = 128

// Error lists the violations on one line. Pointers are quoted (so control
// characters in keys are escaped) and shortened when very long.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	if e.catchAll {
		b.WriteString(" (catch-all)")
	} else {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.Type))
	}
	for i, v := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		p := v.Pointer
		if len(p) > maxPointerInMessage {
			p = p[:maxPointerInMessage] + "..."
		}
		b.WriteString(strconv.Quote(p))
		b.WriteString(" ")
		b.WriteString(v.Keyword)
		b.WriteString(": ")
		b.WriteString(v.Message)
	}
	if e.Truncated {
		b.WriteString("; and more")
	}
	return b.String()
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }
