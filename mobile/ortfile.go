package mobile

import (
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// ORT-format models are FlatBuffers files of onnxruntime's schema
// onnxruntime/core/flatbuffers/schema/ort.fbs. Only the fields the operator
// list needs are read; each constant is the field's position in its table
// (FlatBuffers stores field i at vtable offset 4+2i).
const (
	sessionModel = 1 // InferenceSession.model

	modelOpsetImport = 1 // Model.opset_import
	modelGraph       = 7 // Model.graph

	opsetDomain  = 0 // OperatorSetId.domain
	opsetVersion = 1 // OperatorSetId.version

	graphNodes = 2 // Graph.nodes

	nodeDomain     = 2  // Node.domain
	nodeOpType     = 5  // Node.op_type
	nodeAttributes = 10 // Node.attributes

	attrGraph  = 7  // Attribute.g
	attrGraphs = 12 // Attribute.graphs
)

// maxGraphDepth bounds the nesting of subgraphs read from an ORT file, so
// that a malformed file whose offsets loop cannot recurse without end.
const maxGraphDepth = 64

// ortNode is a node of an ORT-format model: its domain ("" for the default
// ONNX domain) and operator type.
type ortNode struct{ domain, op string }

// readORT returns the opset imports (domain → version, "" for the default
// ONNX domain) and the nodes, subgraphs included, of an ORT-format model.
// FlatBuffers accessors do not check bounds; a malformed file makes them
// panic, which readORT turns into an error.
func readORT(b []byte) (opsets map[string]int64, nodes []ortNode, err error) {
	if !ort.IsORTFormat(b) {
		return nil, nil, errors.New("mobile: not an ORT-format model (no ORTM identifier)")
	}
	defer func() {
		if r := recover(); r != nil {
			opsets, nodes, err = nil, nil, fmt.Errorf("mobile: malformed ORT-format model: %v", r)
		}
	}()
	sess := fbTable{flatbuffers.Table{Bytes: b, Pos: flatbuffers.GetUOffsetT(b)}}
	model, ok := sess.table(sessionModel)
	if !ok {
		return nil, nil, errors.New("mobile: ORT-format file holds no model")
	}
	opsets = map[string]int64{}
	for _, o := range model.tables(modelOpsetImport) {
		d := o.str(opsetDomain)
		if d == "ai.onnx" {
			d = ""
		}
		opsets[d] = o.i64(opsetVersion)
	}
	g, ok := model.table(modelGraph)
	if !ok {
		return nil, nil, errors.New("mobile: ORT-format model has no graph")
	}
	// Every table of a well-formed file has bytes of its own, so a file
	// holds fewer than len(b)/4 nodes and attributes; more means offsets
	// that point back into tables already read.
	r := &ortReader{budget: len(b) / 4}
	if err := r.graph(g, 0); err != nil {
		return nil, nil, err
	}
	return opsets, r.nodes, nil
}

// ortReader collects the nodes of a graph and its subgraphs, counting the
// tables it reads against a budget.
type ortReader struct {
	nodes  []ortNode
	budget int
}

func (r *ortReader) spend(n int) error {
	if r.budget -= n; r.budget < 0 {
		return errors.New("mobile: malformed ORT-format model: more nodes than the file has room for")
	}
	return nil
}

// graph appends the nodes of graph g and of its nodes' subgraphs.
func (r *ortReader) graph(g fbTable, depth int) error {
	if depth > maxGraphDepth {
		return fmt.Errorf("mobile: ORT-format model nests subgraphs more than %d deep", maxGraphDepth)
	}
	nodes := g.tables(graphNodes)
	if err := r.spend(len(nodes)); err != nil {
		return err
	}
	for _, n := range nodes {
		r.nodes = append(r.nodes, ortNode{domain: n.str(nodeDomain), op: n.str(nodeOpType)})
		attrs := n.tables(nodeAttributes)
		if err := r.spend(len(attrs)); err != nil {
			return err
		}
		for _, a := range attrs {
			subs := a.tables(attrGraphs)
			if sg, ok := a.table(attrGraph); ok {
				subs = append(subs, sg)
			}
			for _, sg := range subs {
				if err := r.graph(sg, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fbTable reads the fields of a FlatBuffers table by position.
type fbTable struct{ t flatbuffers.Table }

// offset returns field i's offset within the table, 0 when it is absent.
func (t fbTable) offset(i int) flatbuffers.UOffsetT {
	return flatbuffers.UOffsetT(t.t.Offset(flatbuffers.VOffsetT(4 + 2*i)))
}

func (t fbTable) str(i int) string {
	if o := t.offset(i); o != 0 {
		return t.t.String(o + t.t.Pos)
	}
	return ""
}

func (t fbTable) i64(i int) int64 {
	if o := t.offset(i); o != 0 {
		return t.t.GetInt64(o + t.t.Pos)
	}
	return 0
}

func (t fbTable) table(i int) (fbTable, bool) {
	o := t.offset(i)
	if o == 0 {
		return fbTable{}, false
	}
	return fbTable{flatbuffers.Table{Bytes: t.t.Bytes, Pos: t.t.Indirect(o + t.t.Pos)}}, true
}

// tables returns the elements of a vector of tables.
func (t fbTable) tables(i int) []fbTable {
	o := t.offset(i)
	if o == 0 {
		return nil
	}
	n := t.t.VectorLen(o)
	if n < 0 || n > len(t.t.Bytes)/4 {
		panic(fmt.Sprintf("vector of %d tables in a %d-byte file", n, len(t.t.Bytes)))
	}
	v := t.t.Vector(o)
	out := make([]fbTable, n)
	for j := range out {
		x := v + flatbuffers.UOffsetT(j)*flatbuffers.SizeUOffsetT
		out[j] = fbTable{flatbuffers.Table{Bytes: t.t.Bytes, Pos: t.t.Indirect(x)}}
	}
	return out
}
