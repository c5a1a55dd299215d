package onnxio

import (
	"fmt"
)

// Verify checks the graph's structure and then re-infers every shape:
//   - every value a node reads is a graph input, an initializer or the
//     output of a node of this graph, and is registered under its name;
//   - every value has one producer, and producer/consumer links agree;
//   - graph outputs are defined; the graph is acyclic;
//   - shapes and channel counts agree across every node (InferShapes).
//
// Passes that edit the graph (surgery, training write-back) call it after
// every change, as the Go compiler runs checkFunc after each SSA pass.
func (g *Graph) Verify() error {
	if err := g.verifyLinks(); err != nil {
		return err
	}
	return g.InferShapes()
}

func (g *Graph) verifyLinks() error {
	inGraph := make(map[*Node]bool, len(g.Nodes))
	for _, n := range g.Nodes {
		if inGraph[n] {
			return fmt.Errorf("onnxio: verify: %v is listed twice", n)
		}
		inGraph[n] = true
	}
	sources := map[*Value]bool{}
	for _, v := range g.Inputs {
		sources[v] = true
	}
	for _, v := range g.inits {
		if v.Const == nil {
			return fmt.Errorf("onnxio: verify: initializer %q has no tensor", v.Name)
		}
		sources[v] = true
	}
	uses := map[*Value]int{}
	check := func(v *Value) error {
		if g.values[v.Name] != v {
			return fmt.Errorf("onnxio: verify: value %q is not registered in the graph", v.Name)
		}
		if v.producer == nil && !sources[v] {
			return fmt.Errorf("onnxio: verify: value %q has no producer and is neither an input nor an initializer", v.Name)
		}
		if v.producer != nil && !inGraph[v.producer] {
			return fmt.Errorf("onnxio: verify: value %q is produced by a node that is not in the graph", v.Name)
		}
		if v.producer != nil && sources[v] {
			return fmt.Errorf("onnxio: verify: value %q is both produced by %v and a graph input or initializer", v.Name, v.producer)
		}
		return nil
	}
	for _, n := range g.Nodes {
		if n.graph != g {
			return fmt.Errorf("onnxio: verify: %v belongs to another graph", n)
		}
		for _, v := range n.deps() {
			if v == nil {
				continue
			}
			if err := check(v); err != nil {
				return err
			}
			uses[v]++
		}
		for _, o := range n.outputs {
			if o != nil && o.producer != n {
				return fmt.Errorf("onnxio: verify: %v lists output %q, whose producer is %v", n, o.Name, o.producer)
			}
		}
	}
	for _, v := range g.Outputs {
		if err := check(v); err != nil {
			return err
		}
	}
	for _, v := range g.values {
		if len(v.consumers) != uses[v] {
			return fmt.Errorf("onnxio: verify: value %q records %d uses, the nodes make %d", v.Name, len(v.consumers), uses[v])
		}
		for _, c := range v.consumers {
			if !inGraph[c] {
				return fmt.Errorf("onnxio: verify: value %q is used by a node that is not in the graph", v.Name)
			}
		}
	}
	_, err := g.Topo()
	return err
}
