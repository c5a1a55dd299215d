package finetune

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"unsafe"

	"github.com/onnx-adapt/onnx-adapt/internal/kernels"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Float is the element type of an Engine: float32 for training, float64 for
// finite-difference gradient checks.
type Float interface{ ~float32 | ~float64 }

// Options configure Compile.
type Options struct {
	// Batch is the batch size the engine is compiled for: it replaces the
	// first dimension of every data input that InputShapes does not fix.
	// 0 keeps the declared shapes, which must then be fully known.
	Batch int
	// InputShapes fixes the shapes of data inputs by name.
	InputShapes map[string][]int64
	// Train compiles the backward pass too: BatchNormalization runs on
	// batch statistics and updates its running statistics (unless
	// FreezeBN), Dropout drops, and the trainable initializers become
	// parameters with gradients.
	Train bool
	// FreezeBN keeps BatchNormalization on its running statistics during
	// training (they are not updated); its scale and bias still train.
	FreezeBN bool
	// BiasedRunningVar updates running variances with the biased batch
	// variance, as ONNX's reference training-mode BatchNormalization does.
	// By default the unbiased one is used, as PyTorch does (the models come
	// from PyTorch). Nodes whose own training_mode attribute is 1 always
	// follow ONNX.
	BiasedRunningVar bool
	// InputGrad also computes gradients with respect to the data inputs
	// (gradient checks).
	InputGrad bool
	// Outputs names the values the engine exposes after Forward; nil means
	// the graph outputs. In training, the loss is taken at the logits: the
	// first of these, or, when it is the output of a final Softmax or
	// LogSoftmax, that node's input (the softmax is then not computed).
	Outputs []string
	// Frozen names initializers that must not train.
	Frozen []string
	// NoFusion runs BatchNormalization and its activation as two steps
	// instead of one fused step (for comparisons and debugging).
	NoFusion bool
	// ProfileLabels tags the goroutines running each step with pprof
	// labels op=<op type> (Conv, BatchNormalization+Relu, ...) and
	// pass=forward|backward, so that a CPU profile breaks down by op
	// ("go tool pprof -tags"). The labels are made at compile time; setting
	// them costs nothing per step.
	ProfileLabels bool
	// Seed seeds Dropout.
	Seed uint64
}

// UnsupportedError reports a node the engine cannot run.
type UnsupportedError struct {
	Op, Node string
	Reason   string
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("finetune: unsupported op %s (node %q)", e.Op, e.Node)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// ParamKind says what a trainable parameter is.
type ParamKind int

// The kinds of parameters.
const (
	Weight  ParamKind = iota // Conv, Gemm or MatMul weight (weight decay applies)
	Bias                     // Conv or Gemm bias, or a bias added after MatMul
	BNScale                  // BatchNormalization scale γ
	BNBias                   // BatchNormalization bias β
)

func (k ParamKind) String() string {
	return [...]string{"weight", "bias", "bn-scale", "bn-bias"}[k]
}

// Param is a trainable initializer: its current values and the gradient of
// the last Backward.
type Param[T Float] struct {
	Name  string
	Shape []int
	Kind  ParamKind
	Data  []T
	Grad  []T
	s     *slot[T]
}

// Decay reports whether weight decay applies: only to weights, never to
// biases or BatchNormalization parameters.
func (p *Param[T]) Decay() bool { return p.Kind == Weight }

type slotKind uint8

const (
	kAct    slotKind = iota // computed by a node
	kInput                  // a data input of the graph
	kConst                  // an initializer or Constant that does not train
	kParam                  // a trainable initializer
	kBuffer                 // a BatchNormalization running statistic (updated, written back)
)

// slot is the run-time storage of one IR value.
type slot[T Float] struct {
	name  string
	value *onnxio.Value
	shape []int
	n     int
	kind  slotKind
	data  []T
	grad  []T

	needGrad bool
	// viewOf is the slot whose data this one reinterprets (Reshape,
	// Flatten, ...), or nil.
	viewOf   *slot[T]
	buf      int // planner buffer of data (kAct only), -1 if none
	gbuf     int // planner buffer of grad, -1 if none
	prod     int // index of the producing step, -1 if none
	contribs int // gradient contributions planned so far
	param    *Param[T]
}

// gradMode says how a step delivers the gradient of one of its inputs.
type gradMode uint8

const (
	gradNone  gradMode = iota // the input needs no gradient
	gradWrite                 // write it into dst (the input's gradient)
	gradAccum                 // write it into dst (scratch), then add to sum
	gradSkip                  // already there: the input's gradient is the output's
)

type gradTarget[T Float] struct {
	mode    gradMode
	scratch int // planner buffer of the accumulation scratch, or -1
	dst     []T
	sum     []T
}

// finish adds an accumulated contribution into the input's gradient.
func (g *gradTarget[T]) finish() {
	if g.mode == gradAccum && g.dst != nil {
		addTo(g.sum, g.dst)
	}
}

// out returns where a kernel should write this gradient (nil: not needed).
func (g *gradTarget[T]) out() []T {
	if g.mode == gradWrite || g.mode == gradAccum {
		return g.dst
	}
	return nil
}

// identity delivers a gradient equal to dy (view ops, same-shape Add).
func (g *gradTarget[T]) identity(dy []T) {
	switch g.mode {
	case gradWrite:
		copy(g.dst, dy)
	case gradAccum:
		addTo(g.sum, dy)
	}
}

func addTo[T Float](dst, src []T) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// aliasKind says whether the gradient of an input may share the memory of
// the output's gradient.
type aliasKind uint8

const (
	aliasNone     aliasKind = iota
	aliasIdentity           // the input's gradient equals dy: share it, no kernel
	aliasInPlace            // the kernel may write dx over dy
)

// step is one compiled node.
type step[T Float] interface {
	base() *node[T]
	forward(e *Engine[T], train bool)
	backward(e *Engine[T])
}

// node is what every step shares: the IR node, its input and output slots
// and how gradients flow.
type node[T Float] struct {
	n   *onnxio.Node
	in  []*slot[T] // run-time inputs; nil for absent or compile-time ones
	out []*slot[T] // outputs; nil for absent or unused ones
	// diff[i]: the step can give a gradient for in[i].
	diff []bool
	// alias[i]: how in[i]'s gradient may share dy.
	alias []aliasKind
	// inplace lists inputs whose buffer output 0 may take over when the
	// input is not used afterwards.
	inplace []int
	// view: output 0 is input 0's data reinterpreted.
	view bool
	// noBackward: the op has no backward pass.
	noBackward bool
	gin        []gradTarget[T]
	t          int // forward time (index in the step list)
	active     bool
}

func (nd *node[T]) base() *node[T] { return nd }

// saver is implemented by steps whose backward reads activations.
type saver interface {
	// saved reports which inputs and outputs the backward reads, given
	// which inputs need gradients.
	saved() (ins, outs []int)
}

// Engine is an ONNX graph compiled into a training (or inference) program
// for one batch size. Its activations and gradients live in one arena laid
// out at compile time, so running it allocates nothing that grows.
//
// An Engine is not safe for concurrent use.
type Engine[T Float] struct {
	opts    Options
	model   *onnxio.Model // the compiled clone
	steps   []step[T]
	slots   map[*onnxio.Value]*slot[T]
	inputs  []*slot[T]
	outputs []*slot[T]
	logits  *slot[T]
	params  []*Param[T]
	buffers []*slot[T]
	arena   []T
	ws      *kernels.Workspace[T]
	train   bool
	calls   uint64 // training forward passes, for Dropout seeds
	batch   int
	// labels[k] are the pprof label contexts of step k's forward and
	// backward passes (Options.ProfileLabels).
	labels [][2]context.Context
}

// Compile compiles m's main graph for the options' batch size. The model
// is not modified; WriteBack copies trained values into a graph.
func Compile[T Float](m *onnxio.Model, opts Options) (*Engine[T], error) {
	c := m.Clone()
	g := c.Graph
	e := &Engine[T]{opts: opts, model: c, slots: map[*onnxio.Value]*slot[T]{}, ws: kernels.NewWorkspace[T](0), train: opts.Train}
	if opts.Batch < 0 {
		return nil, fmt.Errorf("finetune: batch %d is negative", opts.Batch)
	}
	order, err := g.Topo()
	if err != nil {
		return nil, err
	}
	outs, err := compiledOutputs(g, opts)
	if err != nil {
		return nil, err
	}
	needed, neededNode := neededBy(order, outs)
	// Refuse what cannot run before anything else (shape inference would
	// stop at an unknown op with a less useful message).
	for _, n := range order {
		if !neededNode[n] || (n.Op == "Constant" && n.DefaultDomain()) {
			continue
		}
		if err := checkNode(n); err != nil {
			return nil, err
		}
	}
	dataInputs, err := fixInputShapes(g, opts)
	if err != nil {
		return nil, err
	}
	if err := g.InferShapes(); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if order, err = g.Topo(); err != nil {
		return nil, err
	}
	frozen := map[string]bool{}
	for _, f := range opts.Frozen {
		frozen[f] = true
	}
	b := &builder[T]{e: e, frozen: frozen, opset: c.Opset(""), fused: map[*onnxio.Node]bool{}, outputs: map[*onnxio.Value]bool{}}
	for _, v := range outs {
		b.outputs[v] = true
	}
	for _, in := range dataInputs {
		if !needed[in] {
			continue
		}
		if _, err := b.slot(in); err != nil {
			return nil, err
		}
	}
	if err := b.buildSteps(order, neededNode); err != nil {
		return nil, err
	}
	if err := b.bindIO(dataInputs, outs); err != nil {
		return nil, err
	}
	if err := e.plan(); err != nil {
		return nil, err
	}
	if opts.ProfileLabels {
		e.setProfileLabels()
	}
	return e, nil
}

// compiledOutputs returns the values the engine computes: the graph outputs
// or Options.Outputs; in training only the logits (the input of a final
// Softmax or LogSoftmax, which is then not computed).
func compiledOutputs(g *onnxio.Graph, opts Options) ([]*onnxio.Value, error) {
	var outs []*onnxio.Value
	if opts.Outputs == nil {
		outs = g.Outputs
	} else {
		for _, name := range opts.Outputs {
			v := g.Value(name)
			if v == nil {
				return nil, fmt.Errorf("finetune: model has no value named %q", name)
			}
			outs = append(outs, v)
		}
	}
	if len(outs) == 0 {
		return nil, errors.New("finetune: model has no outputs")
	}
	if opts.Train {
		logits := outs[0]
		if p := logits.Producer(); p != nil && (p.Op == "Softmax" || p.Op == "LogSoftmax") && p.Input(0) != nil {
			logits = p.Input(0)
		}
		outs = []*onnxio.Value{logits}
	}
	return outs, nil
}

// neededBy walks back from outs through run-time inputs only and returns
// the values and nodes the engine needs. The integer chains that compute
// Reshape targets are not needed: the engine uses the shapes inference
// computed.
func neededBy(order []*onnxio.Node, outs []*onnxio.Value) (map[*onnxio.Value]bool, map[*onnxio.Node]bool) {
	needed := map[*onnxio.Value]bool{}
	for _, v := range outs {
		needed[v] = true
	}
	neededNode := map[*onnxio.Node]bool{}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		use := false
		for _, o := range n.Outputs() {
			if o != nil && needed[o] {
				use = true
			}
		}
		if !use {
			continue
		}
		neededNode[n] = true
		for _, j := range runtimeInputs(n) {
			if v := n.Input(j); v != nil {
				needed[v] = true
			}
		}
	}
	return needed, neededNode
}

// fixInputShapes gives every data input of g a fully known shape: from
// Options.InputShapes, else its declared shape with the batch dimension set
// to Options.Batch. It returns the data inputs in graph order.
func fixInputShapes(g *onnxio.Graph, opts Options) ([]*onnxio.Value, error) {
	var dataInputs []*onnxio.Value
	for _, in := range g.Inputs {
		if in.Const != nil {
			continue
		}
		dataInputs = append(dataInputs, in)
		if s, ok := opts.InputShapes[in.Name]; ok {
			if err := g.SetInputShape(in.Name, s); err != nil {
				return nil, err
			}
			continue
		}
		if !in.Type.HasShape || len(in.Type.Shape) == 0 {
			return nil, fmt.Errorf("finetune: input %q has no declared shape; fix it with an input shape", in.Name)
		}
		dims := in.Type.Shape.Ints()
		if opts.Batch > 0 {
			dims[0] = int64(opts.Batch)
		}
		for i, d := range dims {
			if d <= 0 {
				return nil, fmt.Errorf("finetune: input %q has shape %v: dimension %d is not known (set a batch size or an input shape)", in.Name, in.Type.Shape, i)
			}
		}
		if err := g.SetInputShape(in.Name, dims); err != nil {
			return nil, err
		}
	}
	return dataInputs, nil
}

// buildSteps compiles every needed node, in topological order, into the
// engine's step list.
func (b *builder[T]) buildSteps(order []*onnxio.Node, neededNode map[*onnxio.Node]bool) error {
	e := b.e
	for _, n := range order {
		if !neededNode[n] {
			continue
		}
		if n.Op == "Constant" && n.DefaultDomain() {
			continue // its output becomes a constant slot when read
		}
		if b.fused[n] {
			continue // run as part of an earlier step
		}
		st, err := b.build(n)
		if err != nil {
			return err
		}
		nd := st.base()
		nd.t = len(e.steps)
		for _, o := range nd.out {
			if o != nil {
				o.prod = nd.t
			}
		}
		e.steps = append(e.steps, st)
	}
	return nil
}

// bindIO sets the engine's input, output and logits slots and its batch.
func (b *builder[T]) bindIO(dataInputs, outs []*onnxio.Value) error {
	e := b.e
	for _, in := range dataInputs {
		if s := e.slots[in]; s != nil {
			e.inputs = append(e.inputs, s)
		}
	}
	for _, v := range outs {
		s, err := b.slot(v)
		if err != nil {
			return err
		}
		e.outputs = append(e.outputs, s)
	}
	if e.opts.Train {
		e.logits = e.outputs[0]
		if e.logits.kind != kAct {
			return fmt.Errorf("finetune: the logits %q are not computed by the graph", e.logits.name)
		}
		if len(e.logits.shape) < 1 {
			return fmt.Errorf("finetune: the logits %q have no batch dimension", e.logits.name)
		}
	}
	if len(e.inputs) > 0 && len(e.inputs[0].shape) > 0 {
		e.batch = e.inputs[0].shape[0]
	}
	return nil
}

// setProfileLabels makes each step's pprof label contexts
// (Options.ProfileLabels): op=<op type, kernel, fused activation>.
func (e *Engine[T]) setProfileLabels() {
	for _, st := range e.steps {
		op := st.base().n.Op
		if c, ok := st.(*convStep[T]); ok {
			switch {
			case c.s.IsDepthwise():
				op += " depthwise"
			case c.s.KH == 1 && c.s.KW == 1:
				op += " 1×1"
			default:
				op += fmt.Sprintf(" %d×%d", c.s.KH, c.s.KW)
			}
		}
		if f, ok := st.(*bnActStep[T]); ok && !f.identity {
			op += "+" + [...]string{uRelu: "Relu", uSigmoid: "Sigmoid", uHardSigmoid: "HardSigmoid", uHardSwish: "HardSwish", uClip: "Clip"}[f.act]
		}
		e.labels = append(e.labels, [2]context.Context{
			pprof.WithLabels(context.Background(), pprof.Labels("op", op, "pass", "forward")),
			pprof.WithLabels(context.Background(), pprof.Labels("op", op, "pass", "backward")),
		})
	}
}

// runtimeInputs lists the inputs of n that the engine reads while running;
// other inputs (Reshape's target shape, Clip's bounds, Dropout's ratio) are
// read at compile time or not at all.
func runtimeInputs(n *onnxio.Node) []int {
	switch n.Op {
	case "Reshape", "Squeeze", "Unsqueeze", "Clip", "Dropout", "Flatten", "Identity", "Pad":
		return []int{0}
	}
	idx := make([]int, len(n.Inputs()))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// builder turns IR values and nodes into slots and steps.
type builder[T Float] struct {
	e       *Engine[T]
	frozen  map[string]bool
	opset   int64
	fused   map[*onnxio.Node]bool  // nodes run inside another node's step
	outputs map[*onnxio.Value]bool // values the engine exposes
}

// constTensor returns the tensor of v when the engine holds v in a constant
// slot: an initializer, or the output of a Constant node. (An Identity of a
// constant runs as a view step.)
func constTensor(v *onnxio.Value) *onnxio.Tensor {
	if v == nil {
		return nil
	}
	if v.Const != nil {
		return v.Const
	}
	return onnxio.ConstantValue(v.Producer())
}

func shapeInts(s onnxio.Shape) ([]int, bool) {
	out := make([]int, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil, false
		}
		out[i] = int(d.Value)
	}
	return out, true
}

func prod(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// slot returns the slot of v, making it on first use.
func (b *builder[T]) slot(v *onnxio.Value) (*slot[T], error) {
	if s, ok := b.e.slots[v]; ok {
		return s, nil
	}
	s := &slot[T]{name: v.Name, value: v, buf: -1, gbuf: -1, prod: -1}
	if t := constTensor(v); t != nil {
		if t.DataType != onnxio.Float {
			return nil, fmt.Errorf("finetune: constant %q is %v; the engine computes in float32 only", v.Name, t.DataType)
		}
		f, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("finetune: constant %q: %w", v.Name, err)
		}
		s.kind = kConst
		s.shape = make([]int, len(t.Dims))
		for i, d := range t.Dims {
			s.shape[i] = int(d)
		}
		s.n = len(f)
		s.data = make([]T, len(f))
		for i, x := range f {
			s.data[i] = T(x)
		}
	} else {
		if v.Type.Elem != onnxio.Float || !v.Type.HasShape {
			what := v.Type.Elem.String()
			if !v.Type.HasShape {
				what += " of unknown shape"
			}
			return nil, fmt.Errorf("finetune: value %q is %s; the engine computes on float32 tensors only", v.Name, what)
		}
		shape, ok := shapeInts(v.Type.Shape)
		if !ok {
			return nil, fmt.Errorf("finetune: value %q has shape %v, not fully known", v.Name, v.Type.Shape)
		}
		s.shape, s.n = shape, prod(shape)
		if v.Producer() == nil {
			s.kind = kInput
			s.data = make([]T, s.n)
		} else {
			s.kind = kAct
		}
	}
	b.e.slots[v] = s
	return s, nil
}

// param marks an initializer slot as trainable (in training mode).
func (b *builder[T]) param(s *slot[T], kind ParamKind) {
	if s == nil || !b.e.train || s.kind != kConst || s.value.Const == nil || b.frozen[s.name] {
		return
	}
	s.kind = kParam
	p := &Param[T]{Name: s.name, Shape: s.shape, Kind: kind, Data: s.data, Grad: make([]T, s.n), s: s}
	s.param, s.grad = p, p.Grad
	b.e.params = append(b.e.params, p)
}

// buffer marks an initializer slot as a running statistic updated in
// training.
func (b *builder[T]) buffer(s *slot[T]) bool {
	if s == nil {
		return false
	}
	if s.kind == kBuffer {
		return true
	}
	if s.kind != kConst || s.value.Const == nil {
		return false
	}
	s.kind = kBuffer
	b.e.buffers = append(b.e.buffers, s)
	return true
}

func unsupported(n *onnxio.Node, format string, args ...any) error {
	return &UnsupportedError{Op: n.Op, Node: nodeName(n), Reason: fmt.Sprintf(format, args...)}
}

func nodeName(n *onnxio.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if o := n.Output(0); o != nil {
		return "output " + o.Name
	}
	return ""
}

// SupportedOps lists the operators the engine runs (default ONNX domain).
func SupportedOps() []string { return slices.Clone(supported) }

var supported = []string{
	"Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "Conv", "Div",
	"Dropout", "Flatten", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity",
	"LogSoftmax", "MatMul", "MaxPool", "Mul", "Pad", "Relu", "Reshape", "Sigmoid", "Softmax",
	"Squeeze", "Sub", "Transpose", "Unsqueeze",
}

// CheckSupported reports the first node of m's graph that the engine
// cannot run, or nil. Nodes that only compute shapes (Shape, Gather, Concat
// of integers, ...) for a Reshape are not run and are not reported.
func CheckSupported(m *onnxio.Model) error {
	_, err := Compile[float32](m, Options{Batch: 1})
	var ue *UnsupportedError
	if errors.As(err, &ue) {
		return err
	}
	return nil
}

// checkNode refuses a node whose op the engine does not know.
func checkNode(n *onnxio.Node) error {
	if !n.DefaultDomain() {
		return unsupported(n, "domain %q", n.Domain)
	}
	if n.HasSubgraph() {
		return unsupported(n, "subgraphs")
	}
	if !slices.Contains(supported, n.Op) {
		return unsupported(n, "")
	}
	return nil
}

// build compiles one node.
func (b *builder[T]) build(n *onnxio.Node) (step[T], error) {
	if err := checkNode(n); err != nil {
		return nil, err
	}
	nd := &node[T]{n: n}
	for _, j := range runtimeInputs(n) {
		for len(nd.in) <= j {
			nd.in = append(nd.in, nil)
		}
		if v := n.Input(j); v != nil {
			s, err := b.slot(v)
			if err != nil {
				return nil, fmt.Errorf("%w (input %d of %v)", err, j, n)
			}
			nd.in[j] = s
		}
	}
	for _, o := range n.Outputs() {
		if o == nil {
			nd.out = append(nd.out, nil)
			continue
		}
		if o.Type.Elem != onnxio.Float {
			nd.out = append(nd.out, nil) // e.g. Dropout's mask: only float outputs are computed
			continue
		}
		s, err := b.slot(o)
		if err != nil {
			return nil, err
		}
		nd.out = append(nd.out, s)
	}
	if len(nd.out) == 0 || nd.out[0] == nil {
		return nil, unsupported(n, "output 0 is not a float32 tensor")
	}
	nd.diff = make([]bool, len(nd.in))
	nd.alias = make([]aliasKind, len(nd.in))
	return makeStep(b, nd)
}

// plan decides gradient flow, lays out the arena and binds every slice.
// On the planner's clock, forward step k runs at time k, the loss at S (the
// number of steps) and backward step k at 2S−k.
func (e *Engine[T]) plan() error {
	if err := e.planGradients(); err != nil {
		return err
	}
	p := &planner{}
	e.planActivations(p)
	e.planInPlace(p)
	if e.train {
		e.planBackward(p)
	}
	e.bindArena(p, 2*len(e.steps)+1)
	return nil
}

// lossTime and bwdTime are the planner times of the loss and of step k's
// backward pass.
func (e *Engine[T]) lossTime() int     { return len(e.steps) }
func (e *Engine[T]) bwdTime(k int) int { return 2*len(e.steps) - k }

// planGradients marks, forward, the slots that need gradients and the
// steps whose backward pass runs.
func (e *Engine[T]) planGradients() error {
	for _, s := range e.inputs {
		s.needGrad = e.opts.InputGrad && e.train
	}
	for _, st := range e.steps {
		nd := st.base()
		any := false
		for i, in := range nd.in {
			if in != nil && in.kind == kParam {
				in.needGrad = true
			}
			if in != nil && nd.diff[i] && in.needGrad {
				any = true
			}
		}
		if any && e.train {
			if nd.noBackward {
				return unsupported(nd.n, "no backward pass (it cannot be trained through)")
			}
			nd.out[0].needGrad = true
			nd.active = true
		}
	}
	return nil
}

// planActivations gives every output a buffer (views share their source's)
// and records when each buffer is read and written, backward reads
// included.
func (e *Engine[T]) planActivations(p *planner) {
	for _, st := range e.steps {
		nd := st.base()
		for j, o := range nd.out {
			if o == nil {
				continue
			}
			if j == 0 && nd.view {
				src := nd.in[0]
				o.viewOf = src
				o.buf = src.buf
				continue
			}
			o.buf = p.newBuf(o.n)
		}
	}
	useData := func(s *slot[T], t int) {
		if s != nil && s.buf >= 0 {
			p.use(s.buf, t)
		}
	}
	for _, st := range e.steps {
		nd := st.base()
		for _, in := range nd.in {
			useData(in, nd.t)
		}
		for _, o := range nd.out {
			useData(o, nd.t)
		}
		if sv, ok := st.(saver); ok && nd.active {
			ins, outs := sv.saved()
			for _, i := range ins {
				useData(nd.in[i], e.bwdTime(nd.t))
			}
			for _, j := range outs {
				useData(nd.out[j], e.bwdTime(nd.t))
			}
		}
	}
	for _, o := range e.outputs {
		if o.buf >= 0 {
			if e.train {
				p.use(o.buf, e.lossTime())
			} else {
				p.pin(o.buf)
			}
		}
	}
}

// planInPlace lets an output take over an input's buffer when that buffer
// is not read afterwards (in-place forward execution).
func (e *Engine[T]) planInPlace(p *planner) {
	for _, st := range e.steps {
		nd := st.base()
		o := nd.out[0]
		if nd.view || o.buf < 0 {
			continue
		}
		for _, i := range nd.inplace {
			in := nd.in[i]
			if in == nil || in.buf < 0 || in.n != o.n || p.pinned(in.buf) || p.end(in.buf) != nd.t {
				continue
			}
			o.buf = p.merge(in.buf, o.buf)
			// Views of the output share the merged buffer through find.
			break
		}
	}
}

// planBackward decides, step by step in reverse, how each input's gradient
// is delivered (written, accumulated, or shared with the output's) and
// gives gradients and accumulation scratch their buffers.
func (e *Engine[T]) planBackward(p *planner) {
	if e.logits.needGrad {
		e.logits.gbuf = p.newBuf(e.logits.n)
		p.use(e.logits.gbuf, e.lossTime())
		e.logits.contribs = 1
	}
	for k := len(e.steps) - 1; k >= 0; k-- {
		nd := e.steps[k].base()
		nd.gin = make([]gradTarget[T], len(nd.in))
		for i := range nd.gin {
			nd.gin[i].scratch = -1
		}
		o := nd.out[0]
		if !nd.active || o.contribs == 0 {
			nd.active = false
			continue
		}
		t := e.bwdTime(k)
		p.use(o.gbuf, t)
		aliased := false
		for i, in := range nd.in {
			if in == nil || !nd.diff[i] || !in.needGrad {
				continue
			}
			aliased = planInputGrad(p, nd, i, t, aliased)
			in.contribs++
		}
	}
	// An activation's gradient lives until its producer has read it.
	for _, st := range e.steps {
		nd := st.base()
		if nd.out[0].gbuf >= 0 {
			p.use(nd.out[0].gbuf, e.bwdTime(nd.t))
		}
	}
	for _, s := range e.inputs {
		if s.needGrad {
			s.grad = make([]T, s.n)
		}
	}
}

// planInputGrad plans how step nd delivers the gradient of its input i at
// time t. aliased says whether an input already shares the output's
// gradient buffer; it returns the new value.
func planInputGrad[T Float](p *planner, nd *node[T], i, t int, aliased bool) bool {
	in, o, g := nd.in[i], nd.out[0], &nd.gin[i]
	if in.contribs > 0 {
		g.mode = gradAccum
		if nd.alias[i] != aliasIdentity || in.n != o.n {
			g.scratch = p.newBuf(in.n)
			p.use(g.scratch, t)
		}
		if in.gbuf >= 0 {
			p.use(in.gbuf, t)
		}
		return aliased
	}
	g.mode = gradWrite
	if in.kind != kAct {
		return aliased
	}
	if nd.alias[i] != aliasNone && !aliased && in.n == o.n {
		in.gbuf = o.gbuf
		aliased = true
		if nd.alias[i] == aliasIdentity {
			g.mode = gradSkip
		}
	} else {
		in.gbuf = p.newBuf(in.n)
	}
	p.use(in.gbuf, t)
	return aliased
}

// bindArena lays the buffers out in one arena and binds every slot's data
// and gradient, every gradient target and every step to it.
func (e *Engine[T]) bindArena(p *planner, horizon int) {
	n := p.assign(horizon)
	e.arena = make([]T, n)
	at := func(id, size int) []T {
		off := p.offset(id)
		return e.arena[off : off+size : off+size]
	}
	// Bind data in step order so that views find their source bound.
	for _, st := range e.steps {
		nd := st.base()
		for _, o := range nd.out {
			if o == nil {
				continue
			}
			switch {
			case o.viewOf != nil && o.buf < 0:
				o.data = o.viewOf.data[:o.n]
			case o.buf >= 0:
				o.data = at(o.buf, o.n)
			}
		}
	}
	if e.train {
		for _, st := range e.steps {
			nd := st.base()
			for _, o := range nd.out {
				if o != nil && o.gbuf >= 0 {
					o.grad = at(o.gbuf, o.n)
				}
			}
		}
		for _, st := range e.steps {
			nd := st.base()
			for i := range nd.gin {
				g := &nd.gin[i]
				in := nd.in[i]
				switch g.mode {
				case gradWrite:
					g.dst = in.grad
				case gradAccum:
					g.sum = in.grad
					if g.scratch >= 0 {
						g.dst = at(g.scratch, in.n)
					}
				}
			}
		}
	}
	for _, st := range e.steps {
		if b, ok := st.(interface{ bind(e *Engine[T]) }); ok {
			b.bind(e)
		}
	}
}

// Inputs returns the names of the data inputs, in graph order.
func (e *Engine[T]) Inputs() []string {
	out := make([]string, len(e.inputs))
	for i, s := range e.inputs {
		out[i] = s.name
	}
	return out
}

// Input returns the storage of data input i, to be filled before Forward.
func (e *Engine[T]) Input(i int) []T { return e.inputs[i].data }

// InputShape returns the shape of data input i.
func (e *Engine[T]) InputShape(i int) []int { return slices.Clone(e.inputs[i].shape) }

// InputGrad returns the gradient of data input i (Options.InputGrad).
func (e *Engine[T]) InputGrad(i int) []T { return e.inputs[i].grad }

// Batch is the batch size the engine was compiled for (the first
// dimension of its first input).
func (e *Engine[T]) Batch() int { return e.batch }

// Outputs returns the names of the outputs.
func (e *Engine[T]) Outputs() []string {
	out := make([]string, len(e.outputs))
	for i, s := range e.outputs {
		out[i] = s.name
	}
	return out
}

// Output returns output i after Forward. The slice is the engine's.
func (e *Engine[T]) Output(i int) []T { return e.outputs[i].data }

// OutputShape returns the shape of output i.
func (e *Engine[T]) OutputShape(i int) []int { return slices.Clone(e.outputs[i].shape) }

// Logits returns the logits (training engines) after Forward, batch×classes.
func (e *Engine[T]) Logits() []T { return e.logits.data }

// Classes is the number of logits per sample.
func (e *Engine[T]) Classes() int {
	s := e.outputs[0]
	if len(s.shape) == 0 || s.shape[0] == 0 {
		return s.n
	}
	return s.n / s.shape[0]
}

// LogitsGrad is where the loss writes its gradient before Backward.
func (e *Engine[T]) LogitsGrad() []T { return e.logits.grad }

// Params returns the trainable parameters.
func (e *Engine[T]) Params() []*Param[T] { return e.params }

// ArenaLen is the number of elements of the activation and gradient arena.
func (e *Engine[T]) ArenaLen() int { return len(e.arena) }

// Forward runs the graph on the current inputs. With train (only on an
// engine compiled for training), BatchNormalization uses batch statistics
// and updates its running statistics, and Dropout drops; otherwise the
// engine computes what onnxruntime would.
func (e *Engine[T]) Forward(train bool) {
	if train && !e.train {
		panic("finetune: Forward(train) on an engine compiled for inference")
	}
	if train {
		e.calls++
	}
	if e.labels != nil {
		defer pprof.SetGoroutineLabels(context.Background())
	}
	for k, st := range e.steps {
		if e.labels != nil {
			pprof.SetGoroutineLabels(e.labels[k][0])
		}
		st.forward(e, train)
	}
}

// Backward propagates LogitsGrad back to every parameter's Grad (and, with
// Options.InputGrad, the inputs). It must follow Forward(true).
func (e *Engine[T]) Backward() {
	if !e.train {
		panic("finetune: Backward on an engine compiled for inference")
	}
	if e.labels != nil {
		defer pprof.SetGoroutineLabels(context.Background())
	}
	for k := len(e.steps) - 1; k >= 0; k-- {
		if e.steps[k].base().active {
			if e.labels != nil {
				pprof.SetGoroutineLabels(e.labels[k][1])
			}
			e.steps[k].backward(e)
		}
	}
}

// WriteBack stores the parameters and running statistics into the
// initializers of the same names in g (the graph the engine was compiled
// from, or a clone of it), as new float32 tensors.
func (e *Engine[T]) WriteBack(g *onnxio.Graph) error {
	write := func(s *slot[T]) error {
		v := g.Value(s.name)
		if v == nil || v.Const == nil {
			return fmt.Errorf("finetune: write back: graph has no initializer %q", s.name)
		}
		if v.Const.NumElements() != int64(s.n) {
			return fmt.Errorf("finetune: write back: initializer %q has %d elements, the engine %d", s.name, v.Const.NumElements(), s.n)
		}
		f := make([]float32, s.n)
		for i, x := range s.data {
			f[i] = float32(x)
		}
		t, err := onnxio.NewFloat32Tensor(v.Const.Dims, f)
		if err != nil {
			return err
		}
		v.Const = t
		return nil
	}
	for _, p := range e.params {
		if err := write(p.s); err != nil {
			return err
		}
	}
	for _, s := range e.buffers {
		if err := write(s); err != nil {
			return err
		}
	}
	return nil
}

// Describe lists the compiled steps, one per line (for debugging).
func (e *Engine[T]) Describe() string {
	var b strings.Builder
	for _, st := range e.steps {
		nd := st.base()
		fmt.Fprintf(&b, "%3d %-20s %-40s out %v", nd.t, nd.n.Op, nodeName(nd.n), nd.out[0].shape)
		if nd.active {
			b.WriteString(" (backward)")
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "arena %d elements (%.1f MiB)\n", len(e.arena), float64(len(e.arena))*float64(sizeOf[T]())/(1<<20))
	return b.String()
}

func sizeOf[T Float]() int {
	var z T
	return int(unsafe.Sizeof(z))
}
