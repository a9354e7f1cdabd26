package history

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The model is a single key, since every operation touches exactly one key
// and linearizability is local: a history is linearizable if and only if
// each key's history is, so porcupine checks the keys apart (and in
// parallel), each from a missing key.
//
// An unknown operation may or may not have happened. Rather than make
// porcupine search for both, the model's state is the set of values the key
// may hold: an unknown write keeps the value it found and adds the one it
// would leave, and every answered operation keeps only the values that
// explain its answer. etcd's robustness tests model failed requests the
// same way (tests/robustness/model, the non-deterministic model).
var model = porcupine.Model{
	Partition: byKey,
	Init:      func() any { return possible{""} },
	Step: func(state, input, _ any) (bool, any) {
		next := state.(possible).step(input.(Operation))
		return len(next) > 0, next
	},
	Equal: func(a, b any) bool { return slices.Equal(a.(possible), b.(possible)) },
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		for _, v := range state.(possible) {
			_, _ = h.Write([]byte(v))
			_, _ = h.Write([]byte{0})
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, _ any) string { return input.(Operation).String() },
	DescribeState: func(state any) string {
		shown := make([]string, len(state.(possible)))
		for i, v := range state.(possible) {
			shown[i] = show(v)
		}
		return strings.Join(shown, " or ")
	},
}

// possible is the set of values a key may hold, sorted and without
// duplicates; "" is a missing key.
type possible []string

// step is the set of values the key may hold after op, given that it held
// one of s before; empty if no value explains op's answer.
func (s possible) step(op Operation) possible {
	next := make(possible, 0, len(s)+1)
	for _, v := range s {
		after, matches := apply(v, op)
		switch {
		case op.Status != OK:
			next = append(next, v, after)
		case matches:
			next = append(next, after)
		}
	}
	slices.Sort(next)
	return slices.Compact(next)
}

// apply runs op on a key holding v: the value it leaves, and whether etcd
// would have answered what op recorded.
func apply(v string, op Operation) (after string, matches bool) {
	switch op.Kind {
	case Get:
		return v, op.Read == v
	case Put:
		return op.Value, true
	case Delete:
		return "", op.Deleted == (v != "")
	case Txn:
		if v != "" && v == op.Compare {
			return op.Value, op.Succeeded
		}
		return v, !op.Succeeded && op.Read == v
	}
	return v, false
}

// byKey splits the history into one history per key.
func byKey(ops []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range ops {
		key := op.Input.(Operation).Key
		i, ok := index[key]
		if !ok {
			i = len(parts)
			index[key] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

// checked is the history as porcupine sees it. A failed operation had no
// effect and a get without an answer tells nothing, so both are left out.
// An unknown write may take effect at any time after its call, even after
// everything else: it never returns.
func checked(h *History) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, op := range h.Operations {
		if op.Status == Failed || (op.Status == Unknown && !op.writes()) {
			continue
		}
		ret := op.Return
		if op.Status == Unknown {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: op, Call: op.Call, Output: op, Return: ret})
	}
	return ops
}
