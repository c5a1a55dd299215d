package finetune

import (
	"errors"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestPlannerNoConflicts: buffers whose lifetimes overlap never share
// memory, on random lifetimes and merges.
func TestPlannerNoConflicts(t *testing.T) {
	r := newRNG(1)
	for trial := range 200 {
		p := &planner{}
		n := 2 + r.IntN(40)
		for range n {
			id := p.newBuf(1 + r.IntN(100))
			a := r.IntN(50)
			p.use(id, a)
			p.use(id, a+r.IntN(10))
		}
		for range r.IntN(5) { // merges, as in-place execution makes
			p.merge(r.IntN(n), r.IntN(n))
		}
		if r.IntN(4) == 0 {
			p.pin(r.IntN(n))
		}
		total := p.assign(60)
		roots := map[int]bool{}
		for i := range p.bufs {
			roots[p.find(i)] = true
		}
		for a := range roots {
			A := p.bufs[a]
			if A.offset+A.size > total {
				t.Fatalf("trial %d: buffer %d [%d,%d) past the arena end %d", trial, a, A.offset, A.offset+A.size, total)
			}
			for b := range roots {
				B := p.bufs[b]
				if a >= b || A.start > B.end || B.start > A.end {
					continue
				}
				if A.offset < B.offset+B.size && B.offset < A.offset+A.size {
					t.Fatalf("trial %d: buffers %d %+v and %d %+v are live together and overlap", trial, a, A, b, B)
				}
			}
		}
	}
}

// TestArenaShares: the arena is much smaller than one buffer per value.
func TestArenaShares(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 1, Resolution: 64, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, train := range []bool{false, true} {
		e := mustCompile[float32](t, m, Options{Batch: 4, Train: train})
		naive := 0
		for _, st := range e.steps {
			for _, o := range st.base().out {
				if o != nil {
					naive += o.n
					if train {
						naive += o.n // and its gradient
					}
				}
			}
		}
		t.Logf("train %v: arena %d elements, one buffer per value would take %d (%.0f%%)", train, e.ArenaLen(), naive, 100*float64(e.ArenaLen())/float64(naive))
		limit := 0.25
		if train {
			limit = 0.6
		}
		if float64(e.ArenaLen()) > limit*float64(naive) {
			t.Errorf("train %v: arena %d is more than %.0f%% of %d", train, e.ArenaLen(), 100*limit, naive)
		}
	}
}

// TestUnsupportedOpRefused: an op the engine cannot run is refused at
// compile time, naming the op and the node; shape-only chains are not.
func TestUnsupportedOpRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *gb)
		op    string // "" for no error
	}{
		{"leakyrelu", func(b *gb) {
			x := b.input("x", 2, 3)
			b.output(b.node("LeakyRelu", vals(b.node("Relu", vals(x)))))
		}, "LeakyRelu"},
		{"int-constant-into-unsupported-op", func(b *gb) {
			x := b.input("x", 2, 3, 4, 4)
			b.output(b.node("Resize", vals(x, nil, b.initVals("scales", []int64{4}, []float32{1, 1, 2, 2}))))
		}, "Resize"},
		{"other-domain", func(b *gb) {
			x := b.input("x", 2, 3)
			y := b.node("Relu", vals(x))
			y.Producer().Domain = "com.microsoft"
			b.output(y)
		}, "Relu"},
		{"shape-chain-is-not-run", func(b *gb) {
			x := b.input("x", 2, 3, 2, 2)
			sh := b.node("Shape", vals(x))
			n0 := b.node("Gather", vals(sh, b.g.AddInitializer("zero", must(onnxio.NewInt64Tensor(nil, []int64{0})))), aInt("axis", 0))
			u := b.node("Unsqueeze", vals(n0, b.initInts("axes", 0)))
			target := b.node("Concat", vals(u, b.initInts("minus1", -1)), aInt("axis", 0))
			b.output(b.node("Reshape", vals(x, target)))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(17, 1)
			tc.build(b)
			for _, train := range []bool{false, true} {
				_, err := Compile[float32](b.m, Options{Train: train})
				if tc.op == "" {
					if err != nil {
						t.Fatalf("train %v: %v", train, err)
					}
					continue
				}
				var ue *UnsupportedError
				if !errors.As(err, &ue) {
					t.Fatalf("train %v: got %v, want an *UnsupportedError", train, err)
				}
				if ue.Op != tc.op || ue.Node == "" || !strings.Contains(err.Error(), tc.op) {
					t.Errorf("train %v: %v (op %q node %q), want op %s named with its node", train, err, ue.Op, ue.Node, tc.op)
				}
				if err := CheckSupported(b.m); err == nil {
					t.Error("CheckSupported accepted it")
				}
			}
		})
	}
}

// TestInputsNotMutated: compiling, training and writing back to a clone
// leave the original model's tensors alone.
func TestInputsNotMutated(t *testing.T) {
	m, err := models.MobileNetV2(models.Config{Width: 0.35, Resolution: 32, Classes: 10, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	before, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	e := mustCompile[float32](t, c, Options{Batch: 2, Train: true})
	opt, _ := NewSGD(e.Params(), 0.9, 0, false)
	e.Forward(true)
	LossGrad(&Loss{Classes: 10}, 2, e.Logits(), []int32{1, 2}, nil, e.LogitsGrad())
	e.Backward()
	opt.Step(0.1)
	if err := e.WriteBack(c.Graph); err != nil {
		t.Fatal(err)
	}
	after, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("the original model changed")
	}
	changed, err := onnxio.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(changed) == string(before) {
		t.Error("the clone did not change")
	}
}
