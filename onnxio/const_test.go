package onnxio_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestConstValue checks ConstValue on every form ONNX gives a constant: an
// initializer, each value attribute of Constant, Identity chains of both,
// and the values that are not constants.
func TestConstValue(t *testing.T) {
	g := onnxio.NewGraph("g")
	w, _ := onnxio.NewFloat32Tensor([]int64{2}, []float32{1, 2})
	init := g.AddInitializer("w", w)
	x := g.AddInput("x", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(2), HasShape: true})
	c3, _ := onnxio.NewInt64Tensor([]int64{3}, []int64{4, 5, 6})
	constant := func(name string, domain string, value *onnxpb.AttributeProto) *onnxio.Value {
		n := g.AddNode("Constant", name, nil, []string{name}, value)
		n.Domain = domain
		return n.Output(0)
	}
	identity := func(v *onnxio.Value, domain string) *onnxio.Value {
		n := g.AddNode("Identity", "", []*onnxio.Value{v}, []string{v.Name + "_id"})
		n.Domain = domain
		return n.Output(0)
	}
	tests := []struct {
		name  string
		v     *onnxio.Value
		dtype onnxio.DataType
		dims  []int64
		vals  []float64 // nil: not a constant
	}{
		{"initializer", init, onnxio.Float, []int64{2}, []float64{1, 2}},
		{"value", constant("cv", "", onnxio.AttrTensor("value", c3)), onnxio.Int64, []int64{3}, []float64{4, 5, 6}},
		{"value ai.onnx", constant("cd", "ai.onnx", onnxio.AttrTensor("value", c3)), onnxio.Int64, []int64{3}, []float64{4, 5, 6}},
		{"value_float", constant("cf", "", onnxio.AttrFloat("value_float", 0.5)), onnxio.Float, nil, []float64{0.5}},
		{"value_floats", constant("cfs", "", onnxio.AttrFloats("value_floats", []float32{1.5, -2})), onnxio.Float, []int64{2}, []float64{1.5, -2}},
		{"value_int", constant("ci", "", onnxio.AttrInt("value_int", 7)), onnxio.Int64, nil, []float64{7}},
		{"value_ints", constant("cis", "", onnxio.AttrInts("value_ints", []int64{1, -1, 3})), onnxio.Int64, []int64{3}, []float64{1, -1, 3}},
		{"Identity of an initializer", identity(identity(init, ""), "ai.onnx"), onnxio.Float, []int64{2}, []float64{1, 2}},
		{"Identity of value_ints", identity(g.Value("cis"), ""), onnxio.Int64, []int64{3}, []float64{1, -1, 3}},
		{"value_string", constant("cs", "", onnxio.AttrString("value_string", "a")), 0, nil, nil},
		{"Constant of another domain", constant("cx", "com.example", onnxio.AttrTensor("value", c3)), 0, nil, nil},
		{"Identity of another domain", identity(init, "com.example"), 0, nil, nil},
		{"graph input", x, 0, nil, nil},
		{"computed", g.AddNode("Relu", "", []*onnxio.Value{init}, []string{"r"}).Output(0), 0, nil, nil},
		{"nil", nil, 0, nil, nil},
	}
	for _, tc := range tests {
		got := onnxio.ConstValue(tc.v)
		if tc.vals == nil {
			if got != nil {
				t.Errorf("%s: ConstValue = %v %v, want nil", tc.name, got.DataType, got.Dims)
			}
			continue
		}
		if got == nil {
			t.Errorf("%s: ConstValue = nil", tc.name)
			continue
		}
		vals, err := got.Float64s()
		if err != nil || got.DataType != tc.dtype || !slices.Equal(got.Dims, tc.dims) || !slices.Equal(vals, tc.vals) {
			t.Errorf("%s: ConstValue = %v %v %v (%v), want %v %v %v", tc.name, got.DataType, got.Dims, vals, err, tc.dtype, tc.dims, tc.vals)
		}
	}
	if src := onnxio.ConstSource(g.Value("w_id_id")); src != init {
		t.Errorf("ConstSource(Identity of Identity of w) = %v, want w", src)
	}
}

// TestSetConst checks that SetConst rewrites an initializer and any form of
// Constant into one value attribute, and refuses what is not a constant of
// its own.
func TestSetConst(t *testing.T) {
	g := onnxio.NewGraph("g")
	w, _ := onnxio.NewFloat32Tensor([]int64{2}, []float32{1, 2})
	init := g.AddInitializer("w", w)
	c := g.AddNode("Constant", "c", nil, []string{"c"}, onnxio.AttrInts("value_ints", []int64{1, 2, 3}), onnxio.AttrString("doc", "kept"))
	id := g.AddNode("Identity", "", []*onnxio.Value{init}, []string{"id"}).Output(0)
	nt, _ := onnxio.NewInt64Tensor([]int64{2}, []int64{8, 9})

	if !onnxio.SetConst(init, nt) || init.Const != nt || init.Type.Elem != onnxio.Int64 || init.Type.Shape.String() != "[2]" {
		t.Errorf("SetConst(initializer): Const %v, type %v", init.Const, init.Type)
	}
	if !onnxio.SetConst(c.Output(0), nt) {
		t.Fatal("SetConst(Constant value_ints) = false")
	}
	var names []string
	for _, a := range c.Attrs {
		names = append(names, a.GetName())
	}
	if fmt.Sprint(names) != "[value doc]" {
		t.Errorf("Constant attributes after SetConst = %v, want [value doc]", names)
	}
	if got, _ := onnxio.ConstValue(c.Output(0)).Int64s(); !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("ConstValue after SetConst = %v, want [8 9]", got)
	}
	if onnxio.SetConst(id, nt) {
		t.Error("SetConst(Identity output) = true, want false: the alias is not a constant of its own")
	}
}
