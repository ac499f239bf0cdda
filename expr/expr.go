package expr

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// Errors a caller can count. Compile returns ErrCost (wrapped) for an
// expression whose estimate is over the limit and a *CompileError for
// anything else it refuses; Match and Transform return one of these,
// wrapped, for every evaluation that fails.
var (
	// ErrNoSuchKey: the expression read a map key or a list index the
	// event does not have (guard with has(payload.x), "k" in headers,
	// or payload.?x.orValue(default)).
	ErrNoSuchKey = errors.New("expr: no such key")
	// ErrCost: an expression whose estimated cost is over the limit (at
	// load), a body larger than the one the estimate was made for, or a
	// transform whose JSON is over its size limit (at run time).
	ErrCost = errors.New("expr: cost limit exceeded")
	// ErrDeadline: the evaluation ran past its deadline (Limits.Timeout or
	// the context's), or the context was cancelled. The error also wraps
	// the context's error.
	ErrDeadline = errors.New("expr: deadline exceeded")
	// ErrResultType: a filter that did not give a bool, a transform that
	// did not give a map or a list, or a value JSON cannot hold (NaN, a
	// type, a map key that is not a string or an integer).
	ErrResultType = errors.New("expr: wrong result type")
	// ErrEval: any other evaluation error: no such overload (an operator
	// applied to the wrong types, a field selected on a string or null),
	// integer overflow, division by zero, a bad regular expression.
	ErrEval = errors.New("expr: evaluation error")
)

// Defaults for Limits.
const (
	// DefaultMaxBodyBytes is hookgate's default body limit.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxCost admits a pass or two over a DefaultMaxBodyBytes
	// payload (building a map per item costs about 46,000,000), and refuses
	// a comprehension nested in another over the payload.
	DefaultMaxCost = 100_000_000
	// DefaultTimeout bounds an evaluation that loops.
	DefaultTimeout = 20 * time.Millisecond
	// maxHeaderBytes bounds headers in the estimate: net/http's default.
	maxHeaderBytes = http.DefaultMaxHeaderBytes
)

// adapter turns the decoded payload into CEL values.
var adapter = types.DefaultTypeAdapter

// Kind says what a program produces.
type Kind uint8

const (
	// Bool programs decide: the webhook_expr matcher, a destination's
	// filter. They must give a bool.
	Bool Kind = iota + 1
	// Value programs build a body: a destination's transform. They must
	// give a map or a list, sent as JSON.
	Value
)

// String returns "bool" or "value".
func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Value:
		return "value"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Limits bound what an expression may cost. The zero value of each field
// means its default.
type Limits struct {
	// MaxBodyBytes is the largest body an event can have. The estimate
	// bounds every value read from payload by it, and a transform's JSON
	// by four times it. Default: DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// MaxCost is the cost budget of one evaluation, in CEL cost units
	// (about one per operation; string work costs 0.1 per character). An
	// expression whose worst case for a body of MaxBodyBytes is over it is
	// refused at load. At run time, a program that reads payload refuses
	// a larger body with ErrCost, since its estimate would not hold.
	// Default: DefaultMaxCost.
	MaxCost uint64
	// Timeout bounds one evaluation of an expression that loops (a
	// comprehension such as exists, all, map, filter); it stops with
	// ErrDeadline. Expressions without a loop are bounded by their
	// estimate. Default: DefaultTimeout (20ms).
	Timeout time.Duration
}

// Env compiles expressions under a set of limits. It is safe for
// concurrent use.
type Env struct {
	limits Limits
	sizes  sizeBound
}

// NewEnv returns an Env with the given limits, defaults filled in.
func NewEnv(l Limits) (*Env, error) {
	switch {
	case l.MaxBodyBytes < 0:
		return nil, fmt.Errorf("expr: Limits.MaxBodyBytes: negative (%d)", l.MaxBodyBytes)
	case l.Timeout < 0:
		return nil, fmt.Errorf("expr: Limits.Timeout: negative (%v)", l.Timeout)
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxCost == 0 {
		l.MaxCost = DefaultMaxCost
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if _, err := celEnv(); err != nil {
		return nil, fmt.Errorf("expr: CEL environment: %w", err)
	}
	return &Env{limits: l, sizes: sizeBound{body: uint64(l.MaxBodyBytes), header: maxHeaderBytes}}, nil
}

// Limits returns the limits in force, defaults filled in.
func (e *Env) Limits() Limits { return e.limits }

var defaultEnv = func() *Env {
	e, err := NewEnv(Limits{})
	if err != nil {
		panic(err) // the declarations are fixed: a test catches this
	}
	return e
}()

// Compile compiles src under the default limits. See Env.Compile.
func Compile(src string, kind Kind) (*Program, error) {
	return defaultEnv.Compile(src, kind)
}

// CompileError is an expression Compile refuses: a syntax error, an
// unknown name, operands of the wrong types, a result of the wrong kind.
// Its message is one line, position first ("1:9: undeclared reference to
// 'paylod'"), for the caller to prefix with where the expression came from.
type CompileError struct {
	// Line and Column locate the first problem, from 1; 0 when unknown.
	Line, Column int
	// Msg describes every problem found, joined with "; ".
	Msg string
}

func (e *CompileError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg)
}

// Compile parses and type-checks src, checks its kind, estimates its worst
// case cost and refuses it over Limits.MaxCost (the error wraps ErrCost),
// and plans it. The Program is safe for concurrent use.
func (e *Env) Compile(src string, kind Kind) (*Program, error) {
	if kind != Bool && kind != Value {
		return nil, fmt.Errorf("expr: compile: unknown kind %v", kind)
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("expr: CEL environment: %w", err)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, issuesError(iss.Errors())
	}
	native := checked.NativeRep()
	if err := checkKind(native, checked.OutputType(), kind); err != nil {
		return nil, err
	}
	est, err := env.EstimateCost(checked, e.sizes)
	if err != nil {
		return nil, fmt.Errorf("expr: estimating cost: %w", err)
	}
	if est.Max > e.limits.MaxCost {
		return nil, fmt.Errorf("%w: estimated cost up to %d for a %d-byte body, limit %d (a loop inside a loop over payload is the usual cause)",
			ErrCost, est.Max, e.limits.MaxBodyBytes, e.limits.MaxCost)
	}
	// No cel.CostLimit: in cel-go v0.32.0 its tracker makes a simple
	// filter about five times slower, and its stack search makes a
	// comprehension quadratic in its length (see the package doc). The
	// estimate, the body check and the deadline bound evaluation instead.
	prg, err := env.Program(checked,
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("expr: planning: %w", err)
	}
	root := celast.NavigateAST(native)
	loops := len(celast.MatchDescendants(root, celast.KindMatcher(celast.ComprehensionKind))) > 0
	readsPayload := len(celast.MatchDescendants(root, func(e celast.NavigableExpr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == varPayload
	})) > 0
	return &Program{
		src:     src,
		kind:    kind,
		prg:     prg,
		info:    native.SourceInfo(),
		cost:    est.Max,
		maxBody: e.limits.MaxBodyBytes,
		loops:   loops,
		payload: readsPayload,
		timeout: e.limits.Timeout,
		maxOut:  int(min(e.limits.MaxBodyBytes, math.MaxInt/4) * 4),
	}, nil
}

// checkKind refuses an expression whose checked type cannot be what kind
// needs. dyn passes: its value is checked when it runs.
func checkKind(a *celast.AST, out *cel.Type, kind Kind) error {
	ok := out.Kind() == types.DynKind
	want := "a bool"
	switch kind {
	case Bool:
		ok = ok || out.Kind() == types.BoolKind
	case Value:
		ok = ok || out.Kind() == types.MapKind || out.Kind() == types.ListKind
		want = "a map or a list"
	}
	if ok {
		return nil
	}
	loc := a.SourceInfo().GetStartLocation(a.Expr().ID())
	ce := &CompileError{Msg: fmt.Sprintf("a %s expression must give %s, this one gives %s", kind, want, out)}
	if loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1
	}
	return ce
}

// issuesError folds CEL's issues into one line, the first position first.
func issuesError(errs []*cel.Error) error {
	ce := &CompileError{}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := strings.Join(strings.Fields(strings.TrimSuffix(e.Message, " (in container '')")), " ")
		if ce.Line == 0 && e.Location != nil && e.Location.Line() > 0 {
			ce.Line, ce.Column = e.Location.Line(), e.Location.Column()+1
			msgs = append(msgs, msg)
			continue
		}
		if e.Location != nil && e.Location.Line() > 0 {
			msg = fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, msg)
		}
		msgs = append(msgs, msg)
	}
	ce.Msg = strings.Join(msgs, "; ")
	return ce
}

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	src     string
	kind    Kind
	prg     cel.Program
	info    *celast.SourceInfo
	cost    uint64 // estimated
	maxBody int64  // the body size cost was estimated for
	loops   bool   // has a comprehension: runs under the deadline
	payload bool   // reads payload: decoded before the clock starts
	timeout time.Duration
	maxOut  int // the most bytes Transform returns
}

// String returns the expression's source.
func (p *Program) String() string { return p.src }

// Kind returns the kind the program was compiled for.
func (p *Program) Kind() Kind { return p.kind }

// Cost returns the estimated worst-case cost of one evaluation, in CEL cost
// units, for a body as large as Limits.MaxBodyBytes.
func (p *Program) Cost() uint64 { return p.cost }

// Match evaluates a Bool program for in. An error means no match: it wraps
// ErrNoSuchKey, ErrCost, ErrDeadline, ErrResultType or ErrEval.
func (p *Program) Match(ctx context.Context, in *Input) (bool, error) {
	if p.kind != Bool {
		return false, fmt.Errorf("%w: Match on a %s program", ErrResultType, p.kind)
	}
	out, err := p.eval(ctx, in)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%w: the expression gave %s, not bool", ErrResultType, typeName(out))
	}
	return bool(b), nil
}

// Transform evaluates a Value program for in and returns its value as a
// JSON body. Map keys come out sorted; numbers read from the payload are
// written with their digits (see the package doc). On error it returns no
// bytes at all, and the error wraps ErrNoSuchKey, ErrCost, ErrDeadline,
// ErrResultType or ErrEval.
func (p *Program) Transform(ctx context.Context, in *Input) ([]byte, error) {
	if p.kind != Value {
		return nil, fmt.Errorf("%w: Transform on a %s program", ErrResultType, p.kind)
	}
	out, err := p.eval(ctx, in)
	if err != nil {
		return nil, err
	}
	switch out.(type) {
	case traits.Mapper, traits.Lister:
	default:
		return nil, fmt.Errorf("%w: the expression gave %s, not a map or a list", ErrResultType, typeName(out))
	}
	enc := encoder{buf: make([]byte, 0, 256), limit: p.maxOut}
	if p.payload {
		enc.exact = in.exact // written before eval's payloadOnce.Do returned
	}
	if err := enc.value(out); err != nil {
		return nil, err
	}
	if len(enc.buf) > enc.limit {
		return nil, fmt.Errorf("%w (over %d bytes)", errTooLarge, enc.limit)
	}
	return enc.buf, nil
}

// eval runs the program, under a deadline if it loops, and sorts a failure
// into one of the package's errors.
func (p *Program) eval(ctx context.Context, in *Input) (out ref.Val, err error) {
	if in == nil {
		return nil, fmt.Errorf("%w: nil Input", ErrEval)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDeadline, err)
	}
	if p.payload {
		if int64(len(in.body)) > p.maxBody {
			return nil, fmt.Errorf("%w: a %d-byte body is over the %d bytes the expression was checked for", ErrCost, len(in.body), p.maxBody)
		}
		in.payloadOnce.Do(in.decode)
	}
	if p.loops {
		out, err = p.evalLoop(ctx, in)
	} else {
		out, _, err = p.prg.Eval((*activation)(in))
	}
	if err != nil {
		return nil, p.evalError(ctx, err)
	}
	return out, nil
}

// evalLoop runs a program with comprehensions under its deadline: only
// there does CEL look at the context.
func (p *Program) evalLoop(ctx context.Context, in *Input) (ref.Val, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, _, err := p.prg.ContextEval(ctx, (*activation)(in))
	return out, err
}

func (p *Program) evalError(ctx context.Context, err error) error {
	if errors.Is(err, interpreter.InterruptError{}) {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrDeadline, ctx.Err())
		}
		return fmt.Errorf("%w: %w (after %v)", ErrDeadline, context.DeadlineExceeded, p.timeout)
	}
	msg := err.Error()
	kind := ErrEval
	switch {
	case strings.HasPrefix(msg, "no such key: "):
		kind, msg = ErrNoSuchKey, strings.TrimPrefix(msg, "no such key: ")
	case strings.HasPrefix(msg, "index out of bounds: "):
		kind, msg = ErrNoSuchKey, "index "+strings.TrimPrefix(msg, "index out of bounds: ")
	}
	var celErr *types.Err
	if errors.As(err, &celErr) && celErr.NodeID() != 0 && p.info != nil {
		if loc := p.info.GetStartLocation(celErr.NodeID()); loc.Line() > 0 {
			return fmt.Errorf("%w: %s (at %d:%d)", kind, msg, loc.Line(), loc.Column()+1)
		}
	}
	return fmt.Errorf("%w: %s", kind, msg)
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}
