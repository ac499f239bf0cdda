// Package schemas checks webhook payloads against JSON Schemas chosen by
// event type.
//
// A [Registry] maps each event type to a JSON Schema (drafts 4, 6, 7,
// 2019-09 and 2020-12), compiled once by [New] from a directory with one
// file per event type ("payment.succeeded.json") plus shared definitions
// reachable by $ref, and from documents given as Go values. Every schema
// error — bad JSON, an invalid schema, a $ref that does not resolve — is
// reported by New with the file's name, never while serving a request.
// Nothing is fetched from the network or read outside the configured
// files.
//
// The safe sequence is:
//
//	reg, err := schemas.New(schemas.Config{Dir: "schemas/examples"})
//	if err != nil {
//		return err // names the file and the reason
//	}
//	// per request, after the signature has been verified, with the body
//	// read under a size limit; eventType as the verifier reported it, or
//	// "" to read it from the body's "type" field:
//	typ, err := reg.Validate(eventType, body)
//	var ve *schemas.ValidationError
//	switch {
//	case errors.As(err, &ve):
//		// ve.Violations: JSON pointer, keyword and short reason of each
//	case errors.Is(err, schemas.ErrTooLarge), errors.Is(err, schemas.ErrTooDeep),
//		errors.Is(err, schemas.ErrNotJSON), errors.Is(err, schemas.ErrNoType),
//		errors.Is(err, schemas.ErrUnknownType):
//		// rejected, each for its own reason
//	case err != nil:
//		// an internal error; does not happen with a well-formed registry
//	}
//
// Untrusted bodies are checked before anything is decoded: length against
// Config.MaxBytes, then, in one pass over the bytes without recursion,
// JSON syntax, UTF-8, nesting depth against Config.MaxDepth, and number
// literals against fixed bounds that keep arbitrary-precision arithmetic
// cheap. Error messages name JSON pointers, keywords and schema values,
// never values from the body.
//
// Schemas are compiled by github.com/santhosh-tekuri/jsonschema/v5, and
// each is then translated into a program that validates the parsed bytes
// directly, without building a document: a valid body costs no
// allocation per value. A body the program refuses is decoded and
// validated by the library, which names the violations; so does every
// body of a schema using $dynamicRef, $recursiveRef, unevaluated*, or
// content keywords, which programs do not evaluate.
//
// Event types without a schema are accepted unchecked by default; set
// Config.RejectUnknown to refuse them, or Config.CatchAll to check them
// against one schema.
package schemas
