package onnxio

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/onnxpb"
)

// Model is an ONNX model: its main graph plus everything else the file holds
// (opset imports, metadata, functions, training info, unknown fields), which
// is kept as it was read and written back unchanged.
type Model struct {
	Graph *Graph

	// rest is the ModelProto without its graph.
	rest *onnxpb.ModelProto
}

// NewModel returns an empty model importing the default ONNX domain at the
// given opset version.
func NewModel(opset int64) *Model {
	return &Model{
		Graph: NewGraph("main"),
		rest: &onnxpb.ModelProto{
			IrVersion:    proto.Int64(irVersionFor(opset)),
			ProducerName: proto.String("onnx-adapt"),
			OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		},
	}
}

// irVersionFor returns the lowest IR version that supports an opset, per
// onnx/helper.py's VERSION_TABLE.
func irVersionFor(opset int64) int64 {
	switch {
	case opset <= 8:
		return 3
	case opset <= 10:
		return 5
	case opset <= 12:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	case opset <= 22:
		return 10
	default:
		return 11
	}
}

// Opset returns the opset version imported for domain ("" or "ai.onnx" for
// the default domain), or 0 when it is not imported.
func (m *Model) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.rest.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.GetVersion()
		}
	}
	return 0
}

// IRVersion returns the model's IR version.
func (m *Model) IRVersion() int64 { return m.rest.GetIrVersion() }

// Metadata returns the value of metadata_props[key] and whether it is set.
func (m *Model) Metadata(key string) (string, bool) {
	for _, e := range m.rest.GetMetadataProps() {
		if e.GetKey() == key {
			return e.GetValue(), true
		}
	}
	return "", false
}

// SetMetadata sets metadata_props[key], keeping the order of other entries.
func (m *Model) SetMetadata(key, value string) {
	for _, e := range m.rest.MetadataProps {
		if e.GetKey() == key {
			e.Value = proto.String(value)
			return
		}
	}
	m.rest.MetadataProps = append(m.rest.MetadataProps,
		&onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
}

// Clone returns a deep copy of m. Tensors are shared: they are immutable
// (see Tensor).
func (m *Model) Clone() *Model {
	return &Model{Graph: m.Graph.Clone(), rest: proto.Clone(m.rest).(*onnxpb.ModelProto)}
}

// Dim is one dimension of a shape: a known size, a symbolic name, or
// unknown (Value < 0 and Param empty).
type Dim struct {
	Value int64  // the size, or -1 when not known
	Param string // the symbolic name, when the size is not known
}

// Known reports whether the dimension has a concrete size.
func (d Dim) Known() bool { return d.Value >= 0 }

func (d Dim) String() string {
	switch {
	case d.Known():
		return fmt.Sprint(d.Value)
	case d.Param != "":
		return d.Param
	}
	return "?"
}

// Shape is a tensor shape. A nil Shape with Rank() == -1 means the rank is
// not known; use Type.HasShape.
type Shape []Dim

// Ints returns the shape as sizes, with -1 for every dimension not known.
func (s Shape) Ints() []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = d.Value
	}
	return out
}

// Known reports whether every dimension has a concrete size.
func (s Shape) Known() bool {
	for _, d := range s {
		if !d.Known() {
			return false
		}
	}
	return true
}

func (s Shape) String() string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += " "
		}
		out += d.String()
	}
	return out + "]"
}

// ShapeOf returns a Shape of known sizes.
func ShapeOf(dims ...int64) Shape {
	s := make(Shape, len(dims))
	for i, d := range dims {
		s[i] = Dim{Value: d}
	}
	return s
}

// Type is what the IR knows of a value's type: its element type and, when
// HasShape, its shape.
type Type struct {
	Elem     DataType
	Shape    Shape
	HasShape bool
	// NotTensor marks sequence, map and optional values, which the IR
	// passes through without a shape.
	NotTensor bool
}

// Value is a tensor flowing through the graph: a graph input, an
// initializer, or a node output. It knows its producer and its consumers.
type Value struct {
	Name string
	Type Type

	// Const is the value of an initializer; nil otherwise.
	Const *Tensor

	producer  *Node
	consumers []*Node // one entry per use; a node using v twice is listed twice

	// info is the declared ValueInfoProto from graph input/output lists.
	info *onnxpb.ValueInfoProto
}

// Producer returns the node that outputs v, or nil for graph inputs and
// initializers.
func (v *Value) Producer() *Node { return v.producer }

// Consumers returns the nodes that use v, one entry per use. The slice
// must not be modified.
func (v *Value) Consumers() []*Node { return v.consumers }

// IsConst reports whether v is an initializer.
func (v *Value) IsConst() bool { return v.Const != nil }

// Node is one operator application.
type Node struct {
	Name   string
	Op     string
	Domain string // "" for the default ONNX domain

	// Attrs are kept as protobuf messages so that every attribute kind
	// round-trips; see attr.go for typed access.
	Attrs []*onnxpb.AttributeProto

	inputs  []*Value // nil entries are omitted optional inputs
	outputs []*Value // nil entries are omitted optional outputs
	// implicit are outer-scope values read inside subgraph attributes.
	implicit []*Value

	graph *Graph
	// rest is the NodeProto without inputs, outputs and attributes.
	rest *onnxpb.NodeProto
}

// Inputs returns the node's inputs; nil entries are omitted optional
// inputs. The slice must not be modified: use SetInput.
func (n *Node) Inputs() []*Value { return n.inputs }

// Outputs returns the node's outputs. The slice must not be modified.
func (n *Node) Outputs() []*Value { return n.outputs }

// Input returns input i, or nil when it is absent.
func (n *Node) Input(i int) *Value {
	if i < len(n.inputs) {
		return n.inputs[i]
	}
	return nil
}

// Output returns output i, or nil when it is absent.
func (n *Node) Output(i int) *Value {
	if i < len(n.outputs) {
		return n.outputs[i]
	}
	return nil
}

// HasSubgraph reports whether the node carries graph attributes (If, Loop,
// Scan). The IR does not look inside them.
func (n *Node) HasSubgraph() bool {
	for _, a := range n.Attrs {
		if a.G != nil || len(a.Graphs) > 0 {
			return true
		}
	}
	return false
}

func (n *Node) String() string {
	if n.Name != "" {
		return fmt.Sprintf("%s node %q", n.Op, n.Name)
	}
	if len(n.outputs) > 0 && n.outputs[0] != nil {
		return fmt.Sprintf("%s node (output %q)", n.Op, n.outputs[0].Name)
	}
	return n.Op + " node"
}

// SetInput replaces input i (growing the input list with absent inputs if
// needed), keeping consumer links right. v may be nil to omit the input.
func (n *Node) SetInput(i int, v *Value) {
	for len(n.inputs) <= i {
		n.inputs = append(n.inputs, nil)
	}
	if old := n.inputs[i]; old != nil {
		old.removeConsumer(n)
	}
	n.inputs[i] = v
	if v != nil {
		v.consumers = append(v.consumers, n)
	}
}

func (v *Value) removeConsumer(n *Node) {
	if i := slices.Index(v.consumers, n); i >= 0 {
		v.consumers = slices.Delete(v.consumers, i, i+1)
	}
}

// Graph is a mutable ONNX graph with producer/consumer links.
//
// Nodes keep file order; Topo returns a topological order. Values are
// looked up by name; names are unique within the graph.
type Graph struct {
	Name    string
	Nodes   []*Node
	Inputs  []*Value
	Outputs []*Value

	values map[string]*Value
	// inits lists initializers in file order.
	inits []*Value
	// valueInfo keeps the value_info section as declared, by name, in order.
	valueInfo []*onnxpb.ValueInfoProto
	// rest is the GraphProto without nodes, inputs, outputs, initializers
	// and value_info.
	rest *onnxpb.GraphProto
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, values: map[string]*Value{}, rest: &onnxpb.GraphProto{}}
}

// Value returns the value named name, or nil.
func (g *Graph) Value(name string) *Value { return g.values[name] }

// Values returns every value of the graph, in no particular order.
func (g *Graph) Values() []*Value {
	out := make([]*Value, 0, len(g.values))
	for _, v := range g.values {
		out = append(out, v)
	}
	return out
}

// Initializers returns the initializers in file order.
func (g *Graph) Initializers() []*Value { return g.inits }

// NewValue adds a value with a name not used yet in the graph. An empty or
// taken name is made unique from the given base.
func (g *Graph) NewValue(name string) *Value {
	name = g.UniqueName(name)
	v := &Value{Name: name}
	g.values[name] = v
	return v
}

// UniqueName returns base if no value has that name, else base_1, base_2...
func (g *Graph) UniqueName(base string) string {
	if base == "" {
		base = "v"
	}
	if _, taken := g.values[base]; !taken {
		return base
	}
	for i := 1; ; i++ {
		n := fmt.Sprintf("%s_%d", base, i)
		if _, taken := g.values[n]; !taken {
			return n
		}
	}
}

// AddInitializer adds a new initializer value holding t.
func (g *Graph) AddInitializer(name string, t *Tensor) *Value {
	v := g.NewValue(name)
	v.Const = t
	v.Type = Type{Elem: t.DataType, Shape: ShapeOf(t.Dims...), HasShape: true}
	g.inits = append(g.inits, v)
	return v
}

// AddNode appends a node reading inputs (nil entries allowed) and producing
// fresh values named after outputs (made unique).
func (g *Graph) AddNode(op, name string, inputs []*Value, outputs []string, attrs ...*onnxpb.AttributeProto) *Node {
	n := &Node{Name: name, Op: op, Attrs: attrs, graph: g, rest: &onnxpb.NodeProto{}}
	for i, v := range inputs {
		n.SetInput(i, v)
	}
	for _, o := range outputs {
		v := g.NewValue(o)
		v.producer = n
		n.outputs = append(n.outputs, v)
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// RemoveNode deletes n from the graph. Its outputs must have no consumers
// and must not be graph outputs; they are deleted too.
func (g *Graph) RemoveNode(n *Node) error {
	if n.graph != g {
		return fmt.Errorf("onnxio: cannot remove %v: it is not in this graph", n)
	}
	for _, o := range n.outputs {
		if o == nil {
			continue
		}
		if len(o.consumers) > 0 || slices.Contains(g.Outputs, o) {
			return fmt.Errorf("onnxio: cannot remove %v: its output %q is still used", n, o.Name)
		}
	}
	for _, in := range n.inputs {
		if in != nil {
			in.removeConsumer(n)
		}
	}
	for _, in := range n.implicit {
		in.removeConsumer(n)
	}
	for _, o := range n.outputs {
		if o != nil {
			delete(g.values, o.Name)
		}
	}
	g.Nodes = slices.DeleteFunc(g.Nodes, func(m *Node) bool { return m == n })
	n.graph = nil
	return nil
}

// ReplaceUses makes every consumer of old (and the graph outputs) use repl
// instead.
func (g *Graph) ReplaceUses(old, repl *Value) {
	for len(old.consumers) > 0 {
		n := old.consumers[0]
		replaced := false
		for i, in := range n.inputs {
			if in == old {
				n.SetInput(i, repl)
				replaced = true
				break
			}
		}
		if !replaced { // an implicit (subgraph) use
			for i, in := range n.implicit {
				if in == old {
					n.implicit[i] = repl
					old.removeConsumer(n)
					repl.consumers = append(repl.consumers, n)
					break
				}
			}
		}
	}
	for i, o := range g.Outputs {
		if o == old {
			g.Outputs[i] = repl
		}
	}
}

// RemoveUnused deletes nodes whose outputs nobody uses and initializers
// nobody reads, repeatedly, and returns how many nodes and initializers it
// removed. Graph inputs are kept.
func (g *Graph) RemoveUnused() (nodes, inits int) {
	outputs := map[*Value]bool{}
	for _, o := range g.Outputs {
		outputs[o] = true
	}
	for changed := true; changed; {
		changed = false
		for i := len(g.Nodes) - 1; i >= 0; i-- {
			n := g.Nodes[i]
			used := false
			for _, o := range n.outputs {
				if o != nil && (len(o.consumers) > 0 || outputs[o]) {
					used = true
					break
				}
			}
			if !used && g.RemoveNode(n) == nil {
				nodes++
				changed = true
			}
		}
	}
	isInput := map[*Value]bool{}
	for _, in := range g.Inputs {
		isInput[in] = true
	}
	g.inits = slices.DeleteFunc(g.inits, func(v *Value) bool {
		if len(v.consumers) == 0 && !outputs[v] && !isInput[v] {
			delete(g.values, v.Name)
			inits++
			return true
		}
		return false
	})
	return nodes, inits
}

// Clone returns a deep copy of g. Tensors are shared (they are immutable).
func (g *Graph) Clone() *Graph {
	c := &Graph{
		Name:      g.Name,
		values:    make(map[string]*Value, len(g.values)),
		valueInfo: g.valueInfo, // read-only protos; encode clones before editing
		rest:      g.rest,      // read-only
	}
	vmap := make(map[*Value]*Value, len(g.values))
	cv := func(v *Value) *Value {
		if v == nil {
			return nil
		}
		if w, ok := vmap[v]; ok {
			return w
		}
		w := &Value{Name: v.Name, Type: cloneType(v.Type), Const: v.Const, info: v.info}
		vmap[v] = w
		c.values[w.Name] = w
		return w
	}
	for _, v := range g.values {
		cv(v)
	}
	nmap := make(map[*Node]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		m := &Node{Name: n.Name, Op: n.Op, Domain: n.Domain, graph: c, rest: n.rest,
			Attrs: slices.Clone(n.Attrs)}
		for _, in := range n.inputs {
			m.inputs = append(m.inputs, cv(in))
		}
		for _, o := range n.outputs {
			w := cv(o)
			if w != nil {
				w.producer = m
			}
			m.outputs = append(m.outputs, w)
		}
		for _, in := range n.implicit {
			m.implicit = append(m.implicit, cv(in))
		}
		nmap[n] = m
		c.Nodes = append(c.Nodes, m)
	}
	for v, w := range vmap {
		for _, n := range v.consumers {
			w.consumers = append(w.consumers, nmap[n])
		}
	}
	for _, v := range g.Inputs {
		c.Inputs = append(c.Inputs, cv(v))
	}
	for _, v := range g.Outputs {
		c.Outputs = append(c.Outputs, cv(v))
	}
	for _, v := range g.inits {
		c.inits = append(c.inits, cv(v))
	}
	return c
}

func cloneType(t Type) Type {
	t.Shape = slices.Clone(t.Shape)
	return t
}

// InputToConst turns the graph input named name into an initializer holding
// t (for example to fold a known input into the model).
func (g *Graph) InputToConst(name string, t *Tensor) error {
	i := slices.IndexFunc(g.Inputs, func(v *Value) bool { return v.Name == name })
	if i < 0 {
		return fmt.Errorf("onnxio: model has no input named %q", name)
	}
	v := g.Inputs[i]
	if v.Const == nil {
		g.inits = append(g.inits, v)
	}
	v.Const = t
	v.Type = Type{Elem: t.DataType, Shape: ShapeOf(t.Dims...), HasShape: true}
	g.Inputs = slices.Delete(g.Inputs, i, i+1)
	return nil
}

// AddInput appends a graph input named name (made unique) of type t.
func (g *Graph) AddInput(name string, t Type) *Value {
	v := g.NewValue(name)
	v.Type = cloneType(t)
	g.Inputs = append(g.Inputs, v)
	return v
}

// Rename gives v a new name, which must not be taken. Use it rather than
// assigning Value.Name, which would leave the graph's name index stale.
func (g *Graph) Rename(v *Value, name string) error {
	if g.values[v.Name] != v {
		return fmt.Errorf("onnxio: value %q is not in this graph", v.Name)
	}
	if name == v.Name {
		return nil
	}
	if name == "" {
		return fmt.Errorf("onnxio: cannot rename %q to an empty name", v.Name)
	}
	if _, taken := g.values[name]; taken {
		return fmt.Errorf("onnxio: cannot rename %q: %q is taken", v.Name, name)
	}
	delete(g.values, v.Name)
	v.Name = name
	g.values[name] = v
	return nil
}

// RemoveInitializer deletes an initializer nobody reads (nodes, graph
// outputs or inputs).
func (g *Graph) RemoveInitializer(v *Value) error {
	i := slices.Index(g.inits, v)
	switch {
	case i < 0:
		return fmt.Errorf("onnxio: %q is not an initializer of this graph", v.Name)
	case len(v.consumers) > 0 || slices.Contains(g.Outputs, v) || slices.Contains(g.Inputs, v):
		return fmt.Errorf("onnxio: initializer %q is still used", v.Name)
	}
	g.inits = slices.Delete(g.inits, i, i+1)
	delete(g.values, v.Name)
	return nil
}
