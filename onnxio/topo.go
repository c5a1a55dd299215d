package onnxio

import (
	"container/heap"
	"errors"
	"fmt"
	"strings"

	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
)

// CycleError reports nodes that depend on each other.
type CycleError struct {
	Cycles [][]*Node
}

func (e *CycleError) Error() string {
	var parts []string
	for _, c := range e.Cycles {
		var names []string
		for _, n := range c {
			names = append(names, n.String())
		}
		parts = append(parts, strings.Join(names, " → "))
	}
	return "onnxio: graph has a cycle: " + strings.Join(parts, "; ")
}

// Topo returns the nodes in topological order. Among nodes that are ready at
// the same time, file order wins, so a graph that is already sorted keeps its
// order exactly. A cyclic graph returns a *CycleError naming the cycles,
// found with gonum's topo package.
func (g *Graph) Topo() ([]*Node, error) {
	index := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n] = i
	}
	indeg := make([]int, len(g.Nodes))
	succ := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		seen := map[int]bool{}
		for _, in := range n.deps() {
			if in == nil {
				continue
			}
			if p := in.producer; p != nil {
				j, ok := index[p]
				if ok && !seen[j] {
					seen[j] = true
					indeg[i]++
					succ[j] = append(succ[j], i)
				}
			}
		}
	}
	ready := &intHeap{}
	for i, d := range indeg {
		if d == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	order := make([]*Node, 0, len(g.Nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, g.Nodes[i])
		for _, j := range succ[i] {
			if indeg[j]--; indeg[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(order) == len(g.Nodes) {
		return order, nil
	}
	return nil, g.cycleError(index, succ)
}

// deps returns the values n reads, explicit and implicit.
func (n *Node) deps() []*Value {
	if len(n.implicit) == 0 {
		return n.inputs
	}
	return append(append([]*Value(nil), n.inputs...), n.implicit...)
}

func (g *Graph) cycleError(index map[*Node]int, succ [][]int) error {
	dg := simple.NewDirectedGraph()
	for i := range g.Nodes {
		dg.AddNode(simple.Node(i))
	}
	selfLoops := &CycleError{}
	for i, ss := range succ {
		for _, j := range ss {
			if i == j {
				selfLoops.Cycles = append(selfLoops.Cycles, []*Node{g.Nodes[i]})
				continue
			}
			dg.SetEdge(dg.NewEdge(simple.Node(i), simple.Node(j)))
		}
	}
	_, err := topo.Sort(dg)
	var un topo.Unorderable
	if errors.As(err, &un) {
		for _, scc := range un {
			var c []*Node
			for _, gn := range scc {
				c = append(c, g.Nodes[gn.ID()])
			}
			selfLoops.Cycles = append(selfLoops.Cycles, c)
		}
	}
	if len(selfLoops.Cycles) == 0 {
		return fmt.Errorf("onnxio: graph cannot be ordered")
	}
	return selfLoops
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// SortNodes puts g.Nodes in topological order (file order where free).
func (g *Graph) SortNodes() error {
	order, err := g.Topo()
	if err != nil {
		return err
	}
	g.Nodes = order
	return nil
}
