package expr

import (
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/types"
)

// sizeBound is the checker.CostEstimator used at load. cel-go has none of
// its own: without one every value of type dyn (payload and all below it)
// has an unknown size, and the estimate of any comprehension over it, of
// any string function on it, is math.MaxUint64.
//
// It bounds sizes (characters of a string, items of a list, entries of a
// map) by the bytes they are decoded from:
//   - payload and every value reached from it: the body's limit, since a
//     JSON body of n bytes holds no string longer than n characters and no
//     list or map with more than n items;
//   - headers and its values: the header limit, for the same reason;
//   - type, id, source, and every value the expression builds whose size
//     CEL cannot derive itself (a conversion, an accumulator): the larger
//     of the two. This one is an assumption, not a proof; the runtime cost
//     limit and the deadline hold where it is wrong.
//
// Call costs are left to CEL's own tables (and to ext.Strings' estimators),
// which price string work per character and comprehensions per step.
type sizeBound struct {
	body, header uint64
}

var _ checker.CostEstimator = sizeBound{}

// EstimateSize implements checker.CostEstimator.
func (e sizeBound) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	switch n.Type().Kind() {
	case types.BoolKind, types.IntKind, types.UintKind, types.DoubleKind,
		types.DurationKind, types.TimestampKind, types.NullTypeKind:
		return nil // CEL sizes scalars as 1
	}
	limit := max(e.body, e.header)
	if path := n.Path(); len(path) > 0 {
		switch path[0] {
		case varPayload:
			limit = e.body
		case varHeaders:
			limit = e.header
		}
	}
	return &checker.SizeEstimate{Min: 0, Max: limit}
}

// EstimateCallCost implements checker.CostEstimator: no opinion, CEL's own
// call costs apply.
func (sizeBound) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}
