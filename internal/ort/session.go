package ort

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	ortgo "github.com/yalue/onnxruntime_go"
)

// IOInfo describes one input or output of a model, as onnxruntime sees it.
type IOInfo struct {
	Name string
	// DataType is the ONNX element type number (see [Float]).
	DataType int32
	// Shape lists the dimensions; -1 stands for a symbolic or unknown one.
	Shape []int64
}

func (i IOInfo) String() string {
	return fmt.Sprintf("%s: %s%v", i.Name, DataTypeName(i.DataType), i.Shape)
}

// static reports whether every dimension is known.
func (i IOInfo) static() bool {
	for _, d := range i.Shape {
		if d < 0 {
			return false
		}
	}
	return true
}

// ErrClosed is returned by the methods of a closed [Session].
var ErrClosed = errors.New("ort: session is closed")

// Session is a model loaded into onnxruntime, ready to run.
//
// Run and Time may be called from several goroutines at once (onnxruntime's
// Run is thread-safe), though concurrent timings measure contention, not the
// model. Close waits for calls in flight, and later calls return ErrClosed.
type Session struct {
	mu      sync.RWMutex
	s       *ortgo.DynamicAdvancedSession // nil once closed
	inputs  []IOInfo
	outputs []IOInfo

	scalar []atomic.Bool // per output: proved to be a scalar (see runAllocating)
}

// NewSession loads a serialized ONNX model (the bytes of a .onnx file) into
// onnxruntime with the given options. It calls [Init] first. The caller must
// Close the session.
func NewSession(model []byte, opts Options) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(model) == 0 {
		return nil, errors.New("ort: empty model")
	}
	s := &Session{}
	// An ORT-format model (IsORTFormat) is FlatBuffers, not protobuf: its
	// inputs and outputs, like those of a model declaredIO cannot read, come
	// from a short-lived session with default options, since onnxruntime_go
	// exposes them no other way for a model held in memory. (onnxruntime
	// recognises the format from the bytes.)
	var ok bool
	if !IsORTFormat(model) {
		s.inputs, s.outputs, ok = declaredIO(model)
	}
	if !ok {
		ins, outs, err := ortgo.GetInputOutputInfoWithONNXData(model)
		if err != nil {
			return nil, wrap("loading model", err)
		}
		if s.inputs, err = ioInfos("input", ins); err != nil {
			return nil, err
		}
		if s.outputs, err = ioInfos("output", outs); err != nil {
			return nil, err
		}
	}
	s.scalar = make([]atomic.Bool, len(s.outputs))
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	s.s, err = ortgo.NewDynamicAdvancedSessionWithONNXData(model, names(s.inputs), names(s.outputs), so)
	if err != nil {
		return nil, wrap("creating session", err)
	}
	return s, nil
}

// sessionOptions builds onnxruntime session options; on failure it frees
// what it made.
func sessionOptions(opts Options) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, wrap("creating session options", err)
	}
	levels := map[OptLevel]ortgo.GraphOptimizationLevel{
		OptAll:      ortgo.GraphOptimizationLevelEnableAll,
		OptExtended: ortgo.GraphOptimizationLevelEnableExtended,
		OptBasic:    ortgo.GraphOptimizationLevelEnableBasic,
		OptDisable:  ortgo.GraphOptimizationLevelDisableAll,
	}
	type step struct {
		what string
		do   func() error
	}
	steps := []step{
		{"setting execution mode", func() error { return so.SetExecutionMode(ortgo.ExecutionModeSequential) }},
		{"setting optimization level", func() error { return so.SetGraphOptimizationLevel(levels[opts.OptLevel]) }},
		{"setting intra-op threads", func() error { return so.SetIntraOpNumThreads(opts.IntraOpThreads) }},
		{"setting inter-op threads", func() error { return so.SetInterOpNumThreads(opts.InterOpThreads) }},
		{"setting log level", func() error { return so.SetLogSeverityLevel(ortgo.LoggingLevelError) }},
	}
	if opts.NoSpinning {
		steps = append(steps, step{"disabling spinning", func() error { return so.AddSessionConfigEntry(allowSpinningKey, "0") }})
	}
	if len(opts.DisabledOptimizers) > 0 {
		steps = append(steps, step{"disabling optimizers", func() error {
			list, err := joinOptimizers(opts.DisabledOptimizers)
			if err != nil {
				return err
			}
			return so.AddSessionConfigEntry(disabledOptimizersKey, list)
		}})
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			so.Destroy()
			return nil, wrap(st.what, err)
		}
	}
	return so, nil
}

func ioInfos(kind string, in []ortgo.InputOutputInfo) ([]IOInfo, error) {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		if v.OrtValueType != ortgo.ONNXTypeTensor {
			return nil, fmt.Errorf("ort: %s %q is a %v; only tensors are supported", kind, v.Name, v.OrtValueType)
		}
		out[i] = IOInfo{Name: v.Name, DataType: int32(v.DataType), Shape: cloneShape(v.Dimensions)}
	}
	return out, nil
}

func names(infos []IOInfo) []string {
	n := make([]string, len(infos))
	for i, v := range infos {
		n[i] = v.Name
	}
	return n
}

// wrap converts an onnxruntime_go error into this package's form, saying
// what was being done; with ortErr, it is the one place such errors cross
// into ort's API.
func wrap(what string, err error) error {
	return fmt.Errorf("ort: %s: %w", what, ortErr(err))
}

// ortErr flattens an onnxruntime_go error (whose messages may span lines and
// wrap onnxruntime's C status text) into one line, for callers that add the
// "ort: " prefix and context themselves.
func ortErr(err error) error {
	return errors.New(oneLine(err.Error()))
}

// Inputs describes the model's inputs, in the order Run takes them.
func (s *Session) Inputs() []IOInfo { return cloneInfos(s.inputs) }

// Outputs describes the model's outputs, in the order Run returns them.
func (s *Session) Outputs() []IOInfo { return cloneInfos(s.outputs) }

func cloneInfos(in []IOInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		out[i] = IOInfo{Name: v.Name, DataType: v.DataType, Shape: cloneShape(v.Shape)}
	}
	return out
}

// Close frees the session. It waits for Run and Time calls in flight; it is
// safe to call more than once.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	if err != nil {
		return wrap("closing session", err)
	}
	return nil
}

// Run runs the model once. inputs are in the order of [Session.Inputs]; the
// outputs come back in the order of [Session.Outputs], copied into Go memory.
// The inputs are not modified.
func (s *Session) Run(inputs []Tensor) ([]Tensor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return nil, ErrClosed
	}
	if len(s.inputs) == 0 {
		// onnxruntime_go indexes its input slice unconditionally.
		return nil, errors.New("ort: models without inputs are not supported")
	}
	in, err := s.inputValues(inputs)
	if err != nil {
		return nil, err
	}
	defer destroyAll(in)
	out, err := s.runAllocating(in)
	if err != nil {
		return nil, err
	}
	defer destroyAll(out)
	return s.fromValues(out)
}

// runAllocating runs the session on prepared inputs, with outputs from
// outputValues, and returns them (the caller destroys them).
//
// onnxruntime reports an output of unknown rank with the same empty shape as
// a scalar, and onnxruntime_go fails to convert a scalar output that
// onnxruntime allocated, leaving a typed nil in its slot. So outputs reported
// with rank 0 are left to onnxruntime until such a failure shows that one is
// a scalar; the session then remembers to preallocate a scalar for it, and
// the run is repeated. Each repeat learns at least one output, so there are
// at most len(outputs) repeats.
// (On such a failure onnxruntime_go also drops the values of the outputs
// after the failing one without freeing them: a one-off leak per session.)
func (s *Session) runAllocating(in []ortgo.Value) ([]ortgo.Value, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.outputValues()
		if err != nil {
			return nil, err
		}
		err = s.s.Run(in, out)
		if err == nil {
			return out, nil
		}
		learned := false
		for i, v := range out {
			if isNil(v) && v != nil && len(s.outputs[i].Shape) == 0 && !s.scalar[i].Load() {
				s.scalar[i].Store(true)
				learned = true
			}
		}
		destroyAll(out)
		if !learned || attempt >= len(s.outputs) {
			return nil, wrap("run", err)
		}
	}
}

// inputValues checks inputs against the model and wraps them as onnxruntime
// values; on failure it frees what it made.
func (s *Session) inputValues(inputs []Tensor) ([]ortgo.Value, error) {
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("ort: model has %d inputs %v, got %d tensors", len(s.inputs), names(s.inputs), len(inputs))
	}
	vals := make([]ortgo.Value, 0, len(inputs))
	for i, t := range inputs {
		info := s.inputs[i]
		if err := checkInput(info, t); err != nil {
			destroyAll(vals)
			return nil, err
		}
		v, err := toValue(t)
		if err != nil {
			destroyAll(vals)
			return nil, fmt.Errorf("ort: input %q: %w", info.Name, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

func checkInput(info IOInfo, t Tensor) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ort: input %q: %s", info.Name, trimPrefix(err))
	}
	if t.DataType != info.DataType {
		return fmt.Errorf("ort: input %q: got %s, model wants %s", info.Name, DataTypeName(t.DataType), DataTypeName(info.DataType))
	}
	mismatch := len(t.Shape) != len(info.Shape)
	for i := 0; !mismatch && i < len(t.Shape); i++ {
		mismatch = info.Shape[i] >= 0 && info.Shape[i] != t.Shape[i]
	}
	if mismatch {
		return fmt.Errorf("ort: input %q: shape %v does not fit the model's %v", info.Name, t.Shape, info.Shape)
	}
	return nil
}

func trimPrefix(err error) string {
	m := err.Error()
	if len(m) > 5 && m[:5] == "ort: " {
		return m[5:]
	}
	return m
}

// outputValues returns the output slots to hand to onnxruntime: nil (let
// onnxruntime allocate) for most, and a preallocated tensor where
// onnxruntime_go could not convert what onnxruntime allocates: outputs known
// to be scalars (see runAllocating), and outputs of element types without a
// Go counterpart (float16, bfloat16, complex: onnxruntime_go copies one byte
// per element of those), which therefore need a static shape.
func (s *Session) outputValues() ([]ortgo.Value, error) {
	out := make([]ortgo.Value, len(s.outputs))
	for i, info := range s.outputs {
		if native(info.DataType) && !s.scalar[i].Load() {
			continue
		}
		if !info.static() {
			destroyAll(out)
			return nil, fmt.Errorf("ort: output %q: %s outputs need a static shape, model has %v",
				info.Name, DataTypeName(info.DataType), info.Shape)
		}
		z, err := Zeros(info.DataType, info.Shape)
		if err == nil {
			out[i], err = toValue(z)
		}
		if err != nil {
			destroyAll(out)
			return nil, fmt.Errorf("ort: output %q: %w", info.Name, err)
		}
	}
	return out, nil
}

func (s *Session) fromValues(vals []ortgo.Value) ([]Tensor, error) {
	out := make([]Tensor, len(vals))
	for i, v := range vals {
		t, err := fromValue(v)
		if err != nil {
			return nil, fmt.Errorf("ort: output %q: %w", s.outputs[i].Name, err)
		}
		out[i] = t
	}
	return out, nil
}

// destroyAll frees values, skipping nil ones (including typed nils, which
// onnxruntime_go leaves in an output slice when a conversion fails).
func destroyAll(vals []ortgo.Value) {
	for _, v := range vals {
		if !isNil(v) {
			v.Destroy()
		}
	}
}

// isNil reports whether v is nil or holds a nil pointer.
func isNil(v ortgo.Value) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// native reports whether onnxruntime_go has a Go type for the element type.
func native(dt int32) bool {
	switch dt {
	case Float, Double, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Bool:
		return true
	}
	return false
}

// toValue wraps a validated tensor as an onnxruntime value over Go memory:
// the tensor's own bytes when they are aligned for their element type (see
// inPlace), otherwise a copy. The caller must keep t alive and unmodified
// until the value is destroyed.
func toValue(t Tensor) (ortgo.Value, error) {
	switch t.DataType {
	case Float:
		return typedValue[float32](t)
	case Double:
		return typedValue[float64](t)
	case Int8:
		return typedValue[int8](t)
	case Int16:
		return typedValue[int16](t)
	case Int32:
		return typedValue[int32](t)
	case Int64:
		return typedValue[int64](t)
	case Uint8:
		return typedValue[uint8](t)
	case Uint16:
		return typedValue[uint16](t)
	case Uint32:
		return typedValue[uint32](t)
	case Uint64:
		return typedValue[uint64](t)
	case Bool:
		return typedValue[bool](t)
	}
	if len(t.Shape) == 0 || len(t.Data) == 0 {
		return nil, fmt.Errorf("%s scalars and empty %s tensors are not supported", DataTypeName(t.DataType), DataTypeName(t.DataType))
	}
	v, err := ortgo.NewCustomDataTensor(ortgo.Shape(cloneShape(t.Shape)), append([]byte(nil), t.Data...),
		ortgo.TensorElementDataType(t.DataType))
	if err != nil {
		return nil, ortErr(err)
	}
	return v, nil
}

func typedValue[T Elem](t Tensor) (ortgo.Value, error) {
	data, err := inPlace[T](t)
	if err != nil {
		return nil, errors.New(trimPrefix(err))
	}
	var v ortgo.Value
	if len(t.Shape) == 0 {
		v, err = ortgo.NewScalar(data[0])
	} else {
		v, err = ortgo.NewTensor(ortgo.Shape(cloneShape(t.Shape)), data)
	}
	if err != nil {
		return nil, ortErr(err)
	}
	return v, nil
}

// fromValue copies an onnxruntime output into a Tensor.
func fromValue(v ortgo.Value) (Tensor, error) {
	switch x := v.(type) {
	case *ortgo.Tensor[float32]:
		return typedTensor(x), nil
	case *ortgo.Tensor[float64]:
		return typedTensor(x), nil
	case *ortgo.Tensor[int8]:
		return typedTensor(x), nil
	case *ortgo.Tensor[int16]:
		return typedTensor(x), nil
	case *ortgo.Tensor[int32]:
		return typedTensor(x), nil
	case *ortgo.Tensor[int64]:
		return typedTensor(x), nil
	case *ortgo.Tensor[uint8]:
		return typedTensor(x), nil
	case *ortgo.Tensor[uint16]:
		return typedTensor(x), nil
	case *ortgo.Tensor[uint32]:
		return typedTensor(x), nil
	case *ortgo.Tensor[uint64]:
		return typedTensor(x), nil
	case *ortgo.Tensor[bool]:
		return typedTensor(x), nil
	case *ortgo.Scalar[float32]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[float64]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[int8]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[int16]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[int32]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[int64]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[uint8]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[uint16]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[uint32]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[uint64]:
		return scalarTensor(x), nil
	case *ortgo.Scalar[bool]:
		return scalarTensor(x), nil
	case *ortgo.CustomDataTensor:
		t := Tensor{DataType: int32(x.DataType()), Shape: cloneShape(x.GetShape()), Data: append([]byte(nil), x.GetData()...)}
		if err := t.Validate(); err != nil {
			return Tensor{}, errors.New(trimPrefix(err))
		}
		return t, nil
	}
	return Tensor{}, fmt.Errorf("values of type %T (%v) are not supported", v, v.GetONNXType())
}

// typedTensor returns an output as a Tensor. The output's data is a Go slice
// that onnxruntime_go filled with its own copy of onnxruntime's buffer, so
// it is handed on as bytes without another copy; Destroy only drops
// onnxruntime's view of it.
func typedTensor[T Elem](x *ortgo.Tensor[T]) Tensor {
	shape := x.GetShape()
	if shape == nil {
		shape = []int64{}
	}
	return Tensor{DataType: DataTypeOf[T](), Shape: cloneShape(shape), Data: toBytesView(x.GetData())}
}

// inPlace returns t's data as a []T sharing t.Data's memory when that is
// suitably aligned (as Go's allocator makes it), and a copy otherwise.
// onnxruntime only reads an input, so sharing is safe; bools are always
// copied, since only 0 and 1 are valid Go bools.
func inPlace[T Elem](t Tensor) ([]T, error) {
	var z T
	size := int(unsafe.Sizeof(z))
	if t.DataType != DataTypeOf[T]() || t.DataType == Bool || len(t.Data) == 0 ||
		uintptr(unsafe.Pointer(&t.Data[0]))%uintptr(unsafe.Alignof(z)) != 0 {
		return Values[T](t)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&t.Data[0])), len(t.Data)/size), nil
}

func scalarTensor[T Elem](x *ortgo.Scalar[T]) Tensor {
	return Tensor{DataType: DataTypeOf[T](), Shape: []int64{}, Data: toBytes([]T{x.GetData()})}
}
