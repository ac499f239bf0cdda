package expr

import (
	"sync"

	"cel.dev/cel-go/cel"
	celenv "cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
)

// The variables every expression sees. The names are a contract with the
// configuration users write; do not rename them.
const (
	varPayload  = "payload"
	varType     = "type"
	varID       = "id"
	varSource   = "source"
	varHeaders  = "headers"
	varVerified = "verified"
)

// interruptEvery is how many comprehension steps run between two looks at
// the evaluation's deadline.
const interruptEvery = 100

// celEnv is the one CEL environment all programs are compiled in. It holds
// declarations only: the limits live in Env and in each program.
var celEnv = sync.OnceValues(newCELEnv)

func newCELEnv() (*cel.Env, error) {
	// The standard +, -, * and / refuse an int beside a double. JSON has one
	// kind of number, so they are declared again below with the standard
	// overloads, the mixed ones, and a binding that promotes the int.
	arith := []string{operators.Add, operators.Subtract, operators.Multiply, operators.Divide}
	subset := celenv.NewLibrarySubset()
	for _, name := range arith {
		subset.AddExcludedFunctions(celenv.NewFunction(name))
	}
	opts := []cel.EnvOption{
		cel.StdLib(cel.StdLibSubset(subset)),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Bindings(),
		cel.Variable(varPayload, cel.DynType),
		cel.Variable(varType, cel.StringType),
		cel.Variable(varID, cel.StringType),
		cel.Variable(varSource, cel.StringType),
		cel.Variable(varHeaders, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varVerified, cel.BoolType),
	}
	return cel.NewCustomEnv(append(opts, arithmetic()...)...)
}

// arithmetic declares _+_, _-_, _*_ and _/_: every standard overload (the
// cost estimator and the runtime cost tracker key on their ids), plus an int
// or a uint beside a double, which gives a double.
func arithmetic() []cel.EnvOption {
	i, u, d, s := cel.IntType, cel.UintType, cel.DoubleType, cel.StringType
	b, du, ts := cel.BytesType, cel.DurationType, cel.TimestampType
	listA := cel.ListType(cel.TypeParamType("A"))
	sig := func(t ...*cel.Type) []*cel.Type { return t }
	function := func(name, prefix string, op func(l, r ref.Val) ref.Val, trait int, std ...cel.FunctionOpt) cel.EnvOption {
		opts := append(std, mixedOverloads(prefix)...)
		opts = append(opts, cel.SingletonBinaryBinding(promoted(op), trait))
		return cel.Function(name, opts...)
	}
	return []cel.EnvOption{
		function(operators.Add, "add", add, traits.AdderType,
			cel.Overload(overloads.AddBytes, sig(b, b), b),
			cel.Overload(overloads.AddDouble, sig(d, d), d),
			cel.Overload(overloads.AddDurationDuration, sig(du, du), du),
			cel.Overload(overloads.AddDurationTimestamp, sig(du, ts), ts),
			cel.Overload(overloads.AddTimestampDuration, sig(ts, du), ts),
			cel.Overload(overloads.AddInt64, sig(i, i), i),
			cel.Overload(overloads.AddList, sig(listA, listA), listA),
			cel.Overload(overloads.AddString, sig(s, s), s),
			cel.Overload(overloads.AddUint64, sig(u, u), u)),
		function(operators.Subtract, "subtract", subtract, traits.SubtractorType,
			cel.Overload(overloads.SubtractDouble, sig(d, d), d),
			cel.Overload(overloads.SubtractDurationDuration, sig(du, du), du),
			cel.Overload(overloads.SubtractInt64, sig(i, i), i),
			cel.Overload(overloads.SubtractTimestampDuration, sig(ts, du), ts),
			cel.Overload(overloads.SubtractTimestampTimestamp, sig(ts, ts), du),
			cel.Overload(overloads.SubtractUint64, sig(u, u), u)),
		function(operators.Multiply, "multiply", multiply, traits.MultiplierType,
			cel.Overload(overloads.MultiplyDouble, sig(d, d), d),
			cel.Overload(overloads.MultiplyInt64, sig(i, i), i),
			cel.Overload(overloads.MultiplyUint64, sig(u, u), u)),
		function(operators.Divide, "divide", divide, traits.DividerType,
			cel.Overload(overloads.DivideDouble, sig(d, d), d),
			cel.Overload(overloads.DivideInt64, sig(i, i), i),
			cel.Overload(overloads.DivideUint64, sig(u, u), u)),
	}
}

// mixedOverloads declares prefix_int64_double and the like: an int or a uint
// on either side of a double.
func mixedOverloads(prefix string) []cel.FunctionOpt {
	i, u, d := cel.IntType, cel.UintType, cel.DoubleType
	return []cel.FunctionOpt{
		cel.Overload(prefix+"_int64_double", []*cel.Type{i, d}, d),
		cel.Overload(prefix+"_double_int64", []*cel.Type{d, i}, d),
		cel.Overload(prefix+"_uint64_double", []*cel.Type{u, d}, d),
		cel.Overload(prefix+"_double_uint64", []*cel.Type{d, u}, d),
	}
}

// promoted wraps a binary operator so that an int or uint beside a double is
// first converted to a double. Other operands are left alone.
func promoted(op func(l, r ref.Val) ref.Val) func(l, r ref.Val) ref.Val {
	return func(l, r ref.Val) ref.Val {
		switch rv := r.(type) {
		case types.Double:
			switch lv := l.(type) {
			case types.Int:
				l = types.Double(lv)
			case types.Uint:
				l = types.Double(lv)
			}
		case types.Int:
			if _, ok := l.(types.Double); ok {
				r = types.Double(rv)
			}
		case types.Uint:
			if _, ok := l.(types.Double); ok {
				r = types.Double(rv)
			}
		}
		return op(l, r)
	}
}

func add(l, r ref.Val) ref.Val {
	if a, ok := l.(traits.Adder); ok {
		return a.Add(r)
	}
	return types.MaybeNoSuchOverloadErr(l)
}

func subtract(l, r ref.Val) ref.Val {
	if a, ok := l.(traits.Subtractor); ok {
		return a.Subtract(r)
	}
	return types.MaybeNoSuchOverloadErr(l)
}

func multiply(l, r ref.Val) ref.Val {
	if a, ok := l.(traits.Multiplier); ok {
		return a.Multiply(r)
	}
	return types.MaybeNoSuchOverloadErr(l)
}

func divide(l, r ref.Val) ref.Val {
	if a, ok := l.(traits.Divider); ok {
		return a.Divide(r)
	}
	return types.MaybeNoSuchOverloadErr(l)
}
