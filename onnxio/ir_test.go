package onnxio_test

import (
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func TestEditHelpers(t *testing.T) {
	m := onnxio.NewModel(17)
	g := m.Graph
	x := g.AddInput("x", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 4), HasShape: true})
	n := g.AddNode("Relu", "r", []*onnxio.Value{x}, []string{"y"})
	g.Outputs = append(g.Outputs, n.Output(0))
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := g.Rename(n.Output(0), "x"); err == nil {
		t.Fatal("renamed onto a taken name")
	}
	if err := g.Rename(n.Output(0), "out"); err != nil {
		t.Fatal(err)
	}
	if g.Value("out") != n.Output(0) || g.Value("y") != nil {
		t.Fatal("rename did not update the name index")
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	// Clones are independent: editing one leaves the other alone.
	c := g.Clone()
	if err := c.Rename(c.Value("out"), "z"); err != nil {
		t.Fatal(err)
	}
	if g.Value("out") == nil || c.Value("out") != nil {
		t.Fatal("clone shares its name index")
	}
	m2 := onnxio.NewModel(17)
	other := m2.Graph.AddInput("q", onnxio.Type{})
	if err := g.Rename(other, "w"); err == nil {
		t.Fatal("renamed a value of another graph")
	}
	if nodes, inits := g.RemoveUnused(); nodes != 0 || inits != 0 {
		t.Fatalf("RemoveUnused removed %d nodes, %d initializers from a used graph", nodes, inits)
	}

	// Removing a node twice, or a used initializer, is an error.
	w, _ := onnxio.NewFloat32Tensor([]int64{4}, []float32{1, 2, 3, 4})
	wv := g.AddInitializer("w", w)
	add := g.AddNode("Add", "a", []*onnxio.Value{x, wv}, []string{"sum"})
	if err := g.RemoveInitializer(wv); err == nil {
		t.Fatal("removed an initializer still read by a node")
	}
	if err := g.RemoveNode(add); err != nil {
		t.Fatal(err)
	}
	if err := g.RemoveNode(add); err == nil {
		t.Fatal("removed a node twice")
	}
	if err := g.RemoveInitializer(wv); err != nil {
		t.Fatal(err)
	}
	if g.Value("w") != nil || len(g.Initializers()) != 0 {
		t.Fatal("initializer still registered")
	}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
}
