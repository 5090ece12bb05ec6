package crashtest

import (
	"fmt"
	"hash/maphash"
	"slices"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The history is checked per distribution slot. A slot is one alias that
// one writer owns: over the run it holds a sequence of distributions (its
// incarnations, numbered by Gen), each with a sequence of configurations.
// Every configuration a writer sends has a Comment no other carries
// ("w3-s1-g2-v17"), and every version of a distribution has an ETag no
// other has, so within an incarnation the ETag and the Comment name the
// same version: an update with If-Match is a compare-and-set of the
// Comment, and a slot is a compare-and-set register whose value is the
// Comment of its live distribution, or nothing.
//
// The server keeps the slot's identity itself: the alias can be claimed by
// only one distribution at a time, so a create succeeds exactly when the
// slot is empty and fails with CNAMEAlreadyExists exactly when it is not.

// opKind is what a recorded request does to a slot.
type opKind uint8

const (
	opCreate opKind = iota // CreateDistribution with the slot's alias
	opUpdate               // UpdateDistribution of incarnation Gen, If-Match the version holding Expect
	opDelete               // DeleteDistribution of incarnation Gen, If-Match the version holding Expect
	opRead                 // GetDistributionConfig or GetDistribution of incarnation Gen
	opList                 // ListDistributions, seen through the slot's alias
)

func (k opKind) String() string {
	switch k {
	case opCreate:
		return "create"
	case opUpdate:
		return "update"
	case opDelete:
		return "delete"
	case opRead:
		return "read"
	case opList:
		return "list"
	}
	return fmt.Sprintf("opKind(%d)", k)
}

// outcome is how a request ended, as far as the client can tell.
type outcome uint8

const (
	outOK                 outcome = iota // 2xx
	outUnknown                           // no response (the kill cut it off) or a 5xx: it may or may not have taken effect
	outPreconditionFailed                // 412 PreconditionFailed
	outNoSuchDistribution                // 404 NoSuchDistribution
	outAliasTaken                        // 409 CNAMEAlreadyExists
	outNotDisabled                       // 409 DistributionNotDisabled: enabled, or disabled but not yet Deployed
)

func (o outcome) String() string {
	switch o {
	case outOK:
		return "ok"
	case outUnknown:
		return "unknown"
	case outPreconditionFailed:
		return "PreconditionFailed"
	case outNoSuchDistribution:
		return "NoSuchDistribution"
	case outAliasTaken:
		return "CNAMEAlreadyExists"
	case outNotDisabled:
		return "DistributionNotDisabled"
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// slotInput is a recorded request.
type slotInput struct {
	Slot   int    // the partition: writer*slotsPerWriter + index
	Kind   opKind //
	Gen    int    // the incarnation the request names by ID, or the one a create makes
	Expect string // update, delete: the Comment of the version If-Match names
	Value  string // create, update: the Comment sent
}

// slotOutput is what the request returned.
type slotOutput struct {
	Outcome outcome
	Value   string // read, list: the Comment seen; list: "" when no distribution has the alias
}

// slotState is one slot in the model: empty, or incarnation Gen with
// Comment.
type slotState struct {
	Present bool
	Gen     int
	Comment string
}

func (s slotState) String() string {
	if !s.Present {
		return "empty"
	}
	return s.Comment
}

// apply returns the state after write in takes effect in s, and whether its
// conditions hold there. Reads never take effect.
func apply(s slotState, in slotInput) (slotState, bool) {
	current := s.Present && s.Gen == in.Gen
	switch in.Kind {
	case opCreate:
		return slotState{Present: true, Gen: in.Gen, Comment: in.Value}, !s.Present
	case opUpdate:
		return slotState{Present: true, Gen: in.Gen, Comment: in.Value}, current && s.Comment == in.Expect
	case opDelete:
		return slotState{}, current && s.Comment == in.Expect
	}
	return s, false
}

// stepSlot returns every state the slot can be in after a request with
// input in returned out in state s; none if it could not have.
func stepSlot(s slotState, in slotInput, out slotOutput) []slotState {
	next, applies := apply(s, in)
	isWrite := in.Kind == opCreate || in.Kind == opUpdate || in.Kind == opDelete
	switch {
	case out.Outcome == outUnknown && applies:
		return []slotState{s, next} // it took effect, or it did not
	case out.Outcome == outUnknown:
		return []slotState{s}
	case out.Outcome == outOK && isWrite:
		if applies {
			return []slotState{next}
		}
		return nil
	}
	// Reads, and writes that were refused, leave the slot as it is, if s
	// allows their outcome at all.
	current := s.Present && s.Gen == in.Gen
	var legal bool
	switch out.Outcome {
	case outOK:
		switch in.Kind {
		case opRead:
			legal = current && s.Comment == out.Value
		case opList:
			legal = s.Present == (out.Value != "") && s.Comment == out.Value
		}
	case outAliasTaken:
		legal = in.Kind == opCreate && s.Present
	case outPreconditionFailed:
		legal = (in.Kind == opUpdate || in.Kind == opDelete) && current && s.Comment != in.Expect
	case outNoSuchDistribution:
		legal = in.Kind != opCreate && in.Kind != opList && !current
	case outNotDisabled:
		// The ETag is checked first: the request named the current
		// version.
		legal = in.Kind == opDelete && current && s.Comment == in.Expect
	}
	if !legal {
		return nil
	}
	return []slotState{s}
}

var slotHashSeed = maphash.MakeSeed()

// slotModel is the sequential specification the history is checked
// against: one compare-and-set register per slot.
var slotModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		bySlot := map[int][]porcupine.Operation{}
		for _, op := range history {
			slot := op.Input.(slotInput).Slot
			bySlot[slot] = append(bySlot[slot], op)
		}
		slots := make([]int, 0, len(bySlot))
		for slot := range bySlot {
			slots = append(slots, slot)
		}
		slices.Sort(slots)
		parts := make([][]porcupine.Operation, 0, len(slots))
		for _, slot := range slots {
			parts = append(parts, bySlot[slot])
		}
		return parts
	},
	Init: func() []any { return []any{slotState{}} },
	Step: func(state, input, output any) []any {
		next := stepSlot(state.(slotState), input.(slotInput), output.(slotOutput))
		states := make([]any, len(next))
		for i, s := range next {
			states[i] = s
		}
		return states
	},
	Equal: func(a, b any) bool { return a.(slotState) == b.(slotState) },
	Hash: func(state any) uint64 {
		return maphash.Comparable(slotHashSeed, state.(slotState))
	},
	DescribeOperation: func(input, output any) string {
		return describeOp(input.(slotInput), output.(slotOutput))
	},
	DescribeState: func(state any) string { return state.(slotState).String() },
}).ToModel()

// describeOp renders one request and its result, for failure messages and
// the visualisation.
func describeOp(in slotInput, out slotOutput) string {
	switch in.Kind {
	case opCreate:
		return fmt.Sprintf("create g%d → %s: %v", in.Gen, in.Value, out.Outcome)
	case opUpdate, opDelete:
		s := fmt.Sprintf("%v g%d if-match %s", in.Kind, in.Gen, in.Expect)
		if in.Kind == opUpdate {
			s += " → " + in.Value
		}
		return s + ": " + out.Outcome.String()
	case opRead:
		if out.Outcome == outOK {
			return fmt.Sprintf("read g%d: %s", in.Gen, out.Value)
		}
		return fmt.Sprintf("read g%d: %v", in.Gen, out.Outcome)
	case opList:
		if out.Value == "" {
			return "list: no distribution"
		}
		return "list: " + out.Value
	}
	return fmt.Sprintf("%+v → %+v", in, out)
}

// TestModelTellsLinearizableFromNot checks the model and porcupine on
// small histories of one slot whose verdict is known, so that a broken
// model cannot make TestHistoryIsLinearizable pass for nothing.
func TestModelTellsLinearizableFromNot(t *testing.T) {
	// op returns a recorded request of slot 0 called at call and returned
	// at ret (never: the kill cut it off; its bound is the kill, at 1000).
	op := func(call, ret int64, in slotInput, out slotOutput) porcupine.Operation {
		return porcupine.Operation{Input: in, Call: call, Output: out, Return: ret}
	}
	const killedAt = 1000
	create := func(gen int, v string) slotInput { return slotInput{Kind: opCreate, Gen: gen, Value: v} }
	update := func(gen int, from, to string) slotInput {
		return slotInput{Kind: opUpdate, Gen: gen, Expect: from, Value: to}
	}
	del := func(gen int, at string) slotInput { return slotInput{Kind: opDelete, Gen: gen, Expect: at} }
	read := func(gen int) slotInput { return slotInput{Kind: opRead, Gen: gen} }
	list := slotInput{Kind: opList}
	ok := slotOutput{Outcome: outOK}
	unknown := slotOutput{Outcome: outUnknown}
	saw := func(v string) slotOutput { return slotOutput{Outcome: outOK, Value: v} }
	failed := func(o outcome) slotOutput { return slotOutput{Outcome: o} }

	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"create, update, read in sequence", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, update(1, "a", "b"), ok),
			op(40, 50, read(1), saw("b")),
			op(60, 70, list, saw("b")),
		}, porcupine.Ok},
		{"acknowledged update lost", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, update(1, "a", "b"), ok),
			op(40, 50, read(1), saw("a")),
		}, porcupine.Illegal},
		{"acknowledged create lost", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, list, saw("")),
		}, porcupine.Illegal},
		{"acknowledged delete undone", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, del(1, "a"), ok),
			op(40, 50, read(1), saw("a")),
		}, porcupine.Illegal},
		{"reads during an update cannot flip back", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 50, update(1, "a", "b"), ok),
			op(25, 30, read(1), saw("b")),
			op(35, 40, read(1), saw("a")),
		}, porcupine.Illegal},
		{"reads during an update flip once", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 50, update(1, "a", "b"), ok),
			op(25, 30, read(1), saw("a")),
			op(35, 40, read(1), saw("b")),
		}, porcupine.Ok},
		{"read sees a write not yet called", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, read(1), saw("b")),
			op(40, 50, update(1, "a", "b"), ok),
		}, porcupine.Illegal},
		{"cut-off update that took effect", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, killedAt, update(1, "a", "b"), unknown),
			op(1100, 1110, read(1), saw("b")),
		}, porcupine.Ok},
		{"cut-off update that did not", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, killedAt, update(1, "a", "b"), unknown),
			op(1100, 1110, read(1), saw("a")),
			op(1120, 1130, update(1, "a", "c"), ok),
		}, porcupine.Ok},
		{"cut-off update cannot take effect after the kill", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, killedAt, update(1, "a", "b"), unknown),
			op(1100, 1110, read(1), saw("a")),
			op(1120, 1130, read(1), saw("b")),
		}, porcupine.Illegal},
		{"cut-off create that took effect", []porcupine.Operation{
			op(0, killedAt, create(1, "a"), unknown),
			op(1100, 1110, list, saw("a")),
			op(1120, 1130, create(2, "b"), failed(outAliasTaken)),
		}, porcupine.Ok},
		{"alias taken while the slot is empty", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, del(1, "a"), ok),
			op(40, 50, create(2, "b"), failed(outAliasTaken)),
		}, porcupine.Illegal},
		{"precondition failed on the current version", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, update(1, "a", "b"), failed(outPreconditionFailed)),
		}, porcupine.Illegal},
		{"precondition failed after a concurrent update", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 40, update(1, "a", "b"), ok),
			op(25, 45, update(1, "a", "c"), failed(outPreconditionFailed)),
			op(50, 60, read(1), saw("b")),
		}, porcupine.Ok},
		{"an old incarnation is gone", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, del(1, "a"), ok),
			op(40, 50, create(2, "b"), ok),
			op(60, 70, read(1), failed(outNoSuchDistribution)),
			op(80, 90, read(2), saw("b")),
		}, porcupine.Ok},
		{"delete refused while current and disabled-but-deploying", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, del(1, "a"), failed(outNotDisabled)),
			op(40, 50, read(1), saw("a")),
		}, porcupine.Ok},
		{"refused delete took effect", []porcupine.Operation{
			op(0, 10, create(1, "a"), ok),
			op(20, 30, del(1, "a"), failed(outNotDisabled)),
			op(40, 50, list, saw("")),
		}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := porcupine.CheckOperations(slotModel, tt.history)
			want := tt.want == porcupine.Ok
			if got != want {
				t.Errorf("linearizable = %v, want %v", got, want)
			}
		})
	}
}
