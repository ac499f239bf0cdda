// Package expr evaluates CEL expressions over a verified webhook: the
// webhook_expr matcher, a destination's filter and transform, the SDK
// dispatcher's per-subscription filter and transform. It knows neither Caddy
// nor the SDK.
//
// The safe sequence:
//
//	// At load, once per expression: compile, type-check, estimate the cost.
//	env, err := expr.NewEnv(expr.Limits{MaxBodyBytes: maxBody})
//	filter, err := env.Compile(`payload.data.priority == "HIGH"`, expr.Bool)
//	reshape, err := env.Compile(`{"ticket": {"subject": payload.data.subject}}`, expr.Value)
//	if err != nil {
//		return fmt.Errorf("deliver %q: transform %q: %w", name, src, err)
//	}
//
//	// Per event, once, after the signature was checked: one Input shared
//	// by every program, the body decoded at most once.
//	in := expr.NewInput(source, id, typ, r.Header, body, verified)
//
//	ok, err := filter.Match(ctx, in)   // err: no match, count it by kind
//	out, err := reshape.Transform(ctx, in) // err: a dead delivery; out is a whole JSON body or nil
//
// # Variables
//
// Every expression sees:
//
//	payload   dyn                  the body decoded as JSON; null when it is not JSON
//	type      string               the event type
//	id        string               the event id
//	source    string               where the event came from (route or provider)
//	headers   map(string, string)  lower-case header name to its first value
//	verified  bool                 whether the signature was verified
//
// Besides CEL's standard library, expressions may use optional values
// (payload.?data.?priority.orValue("LOW")), the string extensions
// (lowerAscii, upperAscii, split, join, replace, trim, substring, format…)
// and cel.bind.
//
// # Missing keys
//
// Selecting a key the payload does not have (payload.data.missing), a
// header that was not sent (headers["x-foo"]) or a list index past the end
// is an error wrapping ErrNoSuchKey, not false: a filter with a runtime
// error does not match. Test first, or use an optional:
//
//	has(payload.data.priority) && payload.data.priority == "HIGH"
//	"x-github-event" in headers
//	payload.?data.?priority.orValue("") == "HIGH"
//
// # Numbers
//
// The body is decoded as encoding/json decodes it (the last of repeated
// keys wins, invalid UTF-8 and lone surrogates become U+FFFD, a body
// nested more than 10,000 deep is null), in one pass straight into CEL
// values.
// Each number is read from its own text, so none goes through a float64
// unless it has to:
//
//   - an integer that fits in int64 (no fraction, no exponent) is a CEL int,
//     exact: payload.id == 9007199254740993 holds for that id, and
//     payload.count + 1 is an int;
//   - any other number (19.99, 1e3, an integer beyond int64) is a CEL
//     double, the nearest float64.
//
// Comparisons work across int and double (payload.amount > 100 for an
// amount of 100.5 or of 101). Arithmetic does too, where standard CEL
// refuses it: an int or uint beside a double is converted to double, so
// payload.amount + 1 is 101.5 for 100.5 and 102 for 101. int with int stays
// int: 7 / 2 is 3, and an overflow is an error; write double(payload.n) / 2
// for a fraction.
//
// A transform writes ints with all their digits and doubles in the shortest
// form that reads back as the same float64, as encoding/json does (0.1 stays
// 0.1, 19.99 stays 19.99, 1.10 becomes 1.1). A payload number a float64
// cannot hold (more than 17 significant digits, or beyond int64 and not a
// round float) keeps its original text when the transform passes it on,
// alone (payload.amount) or inside a map or list taken from the payload:
// 3.14159265358979323846 and 123456789012345678901234567890 come out as they
// came in. Arithmetic on such a number is float64 arithmetic.
//
// # Limits
//
// cel-go has no default cost estimator: with the payload's size unknown,
// any comprehension over it estimates to math.MaxUint64. Compile estimates
// with every value read from payload no larger than Limits.MaxBodyBytes
// (characters of a string, items of a list or map) and headers no larger
// than net/http's default header limit, using CEL's own cost units (about
// one per operation, 0.1 per character of string work, 30 to build a map).
// It refuses an expression whose worst case is over Limits.MaxCost. At the
// defaults (1 MiB, 100,000,000) a filter on fields costs a few units,
// payload.items.exists(i, i.sku == "X") about 6,300,000, building a map
// per item with map() about 46,000,000; a loop inside a loop over the
// payload is refused (every comparison of two payload values is priced as
// a string comparison, so it is cubic in the body size), unless
// MaxBodyBytes is a few hundred bytes.
//
// At run time:
//   - a program that reads payload refuses a body over MaxBodyBytes
//     (ErrCost), since its estimate would not hold;
//   - a program with a comprehension runs under Limits.Timeout (cel
//     ContextEval, looking at the deadline every 100 steps), and stops with
//     ErrDeadline; the payload is decoded before the clock starts;
//   - a transform's JSON may not exceed four times MaxBodyBytes (ErrCost).
//
// cel.CostLimit is not used: in cel-go v0.32.0 the runtime cost tracker
// makes a simple filter about five times slower (ten allocations where
// there were none), and it searches a stack that grows with every step of
// a comprehension, so a loop over n items costs O(n²) (2,000 items: ten
// times slower than untracked, and growing). BenchmarkCELCostTracking
// measures both.
//
// # Errors
//
// Compile returns a *CompileError (one line, "line:column: message") or an
// error wrapping ErrCost. Match and Transform return errors wrapping exactly
// one of ErrNoSuchKey, ErrCost, ErrDeadline, ErrResultType and ErrEval, with
// the position in the expression where CEL knows it. They never panic, and
// Transform returns either a whole body or none.
package expr
