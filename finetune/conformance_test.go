package finetune

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// nodeTestDir is where Debian's libonnx-testdata keeps ONNX's backend node
// tests: one folder per case with model.onnx and test_data_set_*/.
const nodeTestDir = "/usr/share/libonnx-testdata/data/node"

// Tolerances of the conformance comparison (onnx-simplifier's check).
const (
	confRTol = 1e-4
	confATol = 1e-5
)

// conformanceCases are the backend node tests the engine must pass, run
// forward in inference mode. The test fails when one of them does not run,
// so a case cannot silently drop out (gonnx's conformance test style).
var conformanceCases = []string{
	"test_add", "test_add_bcast",
	"test_averagepool_1d_default", "test_averagepool_2d_ceil", "test_averagepool_2d_default",
	"test_averagepool_2d_pads", "test_averagepool_2d_pads_count_include_pad",
	"test_averagepool_2d_precomputed_pads", "test_averagepool_2d_precomputed_pads_count_include_pad",
	"test_averagepool_2d_precomputed_same_upper", "test_averagepool_2d_precomputed_strides",
	"test_averagepool_2d_same_lower", "test_averagepool_2d_same_upper", "test_averagepool_2d_strides",
	"test_basic_conv_with_padding", "test_basic_conv_without_padding",
	"test_batchnorm_epsilon", "test_batchnorm_epsilon_training_mode",
	"test_batchnorm_example", "test_batchnorm_example_training_mode",
	"test_clip", "test_clip_default_inbounds", "test_clip_default_max", "test_clip_default_min",
	"test_clip_example", "test_clip_inbounds", "test_clip_outbounds", "test_clip_splitbounds",
	"test_concat_1d_axis_0", "test_concat_1d_axis_negative_1", "test_concat_2d_axis_0", "test_concat_2d_axis_1",
	"test_concat_2d_axis_negative_1", "test_concat_2d_axis_negative_2", "test_concat_3d_axis_0",
	"test_concat_3d_axis_1", "test_concat_3d_axis_2", "test_concat_3d_axis_negative_1",
	"test_concat_3d_axis_negative_2", "test_concat_3d_axis_negative_3",
	"test_constant", "test_constant_pad",
	"test_conv_with_autopad_same", "test_conv_with_strides_and_asymmetric_padding",
	"test_conv_with_strides_no_padding", "test_conv_with_strides_padding",
	"test_dropout_default", "test_dropout_default_old", "test_dropout_default_ratio", "test_dropout_random_old",
	"test_flatten_axis0", "test_flatten_axis1", "test_flatten_axis2", "test_flatten_axis3",
	"test_flatten_default_axis", "test_flatten_negative_axis1", "test_flatten_negative_axis2",
	"test_flatten_negative_axis3", "test_flatten_negative_axis4",
	"test_gemm_all_attributes", "test_gemm_alpha", "test_gemm_beta", "test_gemm_default_matrix_bias",
	"test_gemm_default_no_bias", "test_gemm_default_scalar_bias", "test_gemm_default_single_elem_vector_bias",
	"test_gemm_default_vector_bias", "test_gemm_default_zero_bias", "test_gemm_transposeA", "test_gemm_transposeB",
	"test_globalaveragepool", "test_globalaveragepool_precomputed",
	"test_hardsigmoid", "test_hardsigmoid_default", "test_hardsigmoid_example",
	"test_hardswish",
	"test_identity",
	"test_matmul_2d", "test_matmul_3d", "test_matmul_4d",
	"test_maxpool_1d_default", "test_maxpool_2d_ceil", "test_maxpool_2d_default", "test_maxpool_2d_dilations",
	"test_maxpool_2d_pads", "test_maxpool_2d_precomputed_pads", "test_maxpool_2d_precomputed_same_upper",
	"test_maxpool_2d_precomputed_strides", "test_maxpool_2d_same_lower", "test_maxpool_2d_same_upper",
	"test_maxpool_2d_strides",
	"test_mul", "test_mul_bcast", "test_mul_example",
	"test_relu",
	"test_reshape_allowzero_reordered", "test_reshape_extended_dims", "test_reshape_negative_dim", "test_reshape_negative_extended_dims",
	"test_reshape_one_dim", "test_reshape_reduced_dims", "test_reshape_reordered_all_dims",
	"test_reshape_reordered_last_dims", "test_reshape_zero_and_negative_dim", "test_reshape_zero_dim",
	"test_sigmoid", "test_sigmoid_example",
	"test_softmax_axis_0", "test_softmax_axis_1", "test_softmax_axis_2", "test_softmax_default_axis",
	"test_softmax_example", "test_softmax_large_number", "test_softmax_negative_axis",
	"test_logsoftmax_axis_0", "test_logsoftmax_axis_1", "test_logsoftmax_axis_2", "test_logsoftmax_default_axis",
	"test_logsoftmax_example_1", "test_logsoftmax_large_number", "test_logsoftmax_negative_axis",
	"test_squeeze", "test_squeeze_negative_axes",
	"test_transpose_all_permutations_0", "test_transpose_all_permutations_1", "test_transpose_all_permutations_2",
	"test_transpose_all_permutations_3", "test_transpose_all_permutations_4", "test_transpose_all_permutations_5",
	"test_transpose_default",
	"test_unsqueeze_axis_0", "test_unsqueeze_axis_1", "test_unsqueeze_axis_2", "test_unsqueeze_axis_3",
	"test_unsqueeze_negative_axes", "test_unsqueeze_three_axes", "test_unsqueeze_two_axes",
	"test_unsqueeze_unsorted_axes",
}

// conformanceSkipped are node tests of supported op types that the engine
// does not run, with the reason. Every test of a supported op type must be
// in one of the two lists.
var conformanceSkipped = map[string]string{
	"test_add_uint8":                                  "integer tensors: the engine computes in float32",
	"test_mul_uint8":                                  "integer tensors: the engine computes in float32",
	"test_sub_uint8":                                  "integer tensors: the engine computes in float32",
	"test_div_uint8":                                  "integer tensors: the engine computes in float32",
	"test_maxpool_2d_uint8":                           "integer tensors: the engine computes in float32",
	"test_clip_default_int8_inbounds":                 "integer tensors: the engine computes in float32",
	"test_clip_default_int8_max":                      "integer tensors: the engine computes in float32",
	"test_clip_default_int8_min":                      "integer tensors: the engine computes in float32",
	"test_sub":                                        "Sub of two run-time tensors: only Sub by a constant is supported",
	"test_sub_bcast":                                  "Sub of two run-time tensors: only Sub by a constant is supported",
	"test_sub_example":                                "Sub of two run-time tensors: only Sub by a constant is supported",
	"test_div":                                        "Div of two run-time tensors: only Div by a constant is supported",
	"test_div_bcast":                                  "Div of two run-time tensors: only Div by a constant is supported",
	"test_div_example":                                "Div of two run-time tensors: only Div by a constant is supported",
	"test_averagepool_3d_default":                     "3-D pooling: only 1-D and 2-D",
	"test_maxpool_3d_default":                         "3-D pooling: only 1-D and 2-D",
	"test_maxpool_with_argmax_2d_precomputed_pads":    "MaxPool's Indices output is not computed",
	"test_maxpool_with_argmax_2d_precomputed_strides": "MaxPool's Indices output is not computed",
	"test_dropout_default_mask":                       "Dropout's mask output (bool) is not computed",
	"test_dropout_default_mask_ratio":                 "Dropout's mask output (bool) is not computed",
	"test_training_dropout":                           "training_mode input: the engine decides the mode; NumPy's random mask is not reproducible",
	"test_training_dropout_default":                   "training_mode input: the engine decides the mode; NumPy's random mask is not reproducible",
	"test_training_dropout_default_mask":              "training_mode input: the engine decides the mode; NumPy's random mask is not reproducible",
	"test_training_dropout_mask":                      "training_mode input: the engine decides the mode; NumPy's random mask is not reproducible",
	"test_training_dropout_zero_ratio":                "training_mode input: the engine decides the mode",
	"test_training_dropout_zero_ratio_mask":           "training_mode input: the engine decides the mode",
	"test_edge_pad":                                   "Pad mode edge (and int32 data): only constant padding",
	"test_reflect_pad":                                "Pad mode reflect (and int32 data): only constant padding",
	"test_identity_opt":                               "optional type, which onnxio does not decode",
	"test_identity_sequence":                          "sequence type, which onnxio does not decode",
}

// confCase is one loaded backend node test.
type confCase struct {
	model   *onnxio.Model
	inputs  []*onnxio.Tensor
	outputs []*onnxio.Tensor
}

func loadConfCase(dir string) ([]confCase, error) {
	m, err := onnxio.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return nil, err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return nil, errors.New("no test data sets")
	}
	var out []confCase
	for _, set := range sets {
		c := confCase{model: m}
		for _, kind := range []string{"input", "output"} {
			for i := 0; ; i++ {
				data, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("%s_%d.pb", kind, i)))
				if errors.Is(err, os.ErrNotExist) {
					break
				}
				if err != nil {
					return nil, err
				}
				t, err := onnxio.DecodeTensor(data)
				if err != nil {
					return nil, err
				}
				if kind == "input" {
					c.inputs = append(c.inputs, t)
				} else {
					c.outputs = append(c.outputs, t)
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// runConfCase runs one data set through the engine (float32, inference)
// and compares every output.
func runConfCase(c confCase) error {
	e, err := compileConfCase(c)
	if err != nil {
		return err
	}
	return e.check(c)
}

// confEngine is a case compiled for the engine, with its data inputs.
type confEngine struct {
	*Engine[float32]
	data  []*onnxio.Value
	dataT []*onnxio.Tensor
}

// compileConfCase compiles a case's model for its data set.
//
// Inputs that the node reads at compile time (Reshape's shape,
// Squeeze/Unsqueeze axes, Clip bounds, Dropout's ratio), which real models
// carry as constants, are folded into the model as initializers first.
func compileConfCase(c confCase) (*confEngine, error) {
	m := c.model.Clone()
	g := m.Graph
	var graphIn []*onnxio.Value
	for _, in := range g.Inputs {
		if in.Const == nil {
			graphIn = append(graphIn, in)
		}
	}
	if len(graphIn) != len(c.inputs) {
		return nil, fmt.Errorf("%d data inputs, %d input files", len(graphIn), len(c.inputs))
	}
	runtime := map[*onnxio.Value]bool{}
	for _, n := range g.Nodes {
		for _, j := range runtimeInputs(n) {
			runtime[n.Input(j)] = true
		}
	}
	ce := &confEngine{}
	for i, v := range graphIn {
		if !runtime[v] {
			if err := g.InputToConst(v.Name, c.inputs[i]); err != nil {
				return nil, err
			}
			continue
		}
		ce.data, ce.dataT = append(ce.data, v), append(ce.dataT, c.inputs[i])
	}
	shapes := map[string][]int64{}
	for i, v := range ce.data {
		if ce.dataT[i].DataType != onnxio.Float {
			return nil, fmt.Errorf("input %q is %v", v.Name, ce.dataT[i].DataType)
		}
		shapes[v.Name] = ce.dataT[i].Dims
	}
	var err error
	if ce.Engine, err = Compile[float32](m, Options{InputShapes: shapes}); err != nil {
		return nil, err
	}
	return ce, nil
}

// check runs the compiled case on its inputs and compares every output
// with the data set's.
func (ce *confEngine) check(c confCase) error {
	e, data, dataT := ce.Engine, ce.data, ce.dataT
	for i := range e.inputs {
		idx := slices.IndexFunc(data, func(v *onnxio.Value) bool { return v.Name == e.inputs[i].name })
		f, err := dataT[idx].Float32()
		if err != nil {
			return err
		}
		copy(e.Input(i), f)
	}
	e.Forward(false)
	if len(e.outputs) != len(c.outputs) {
		return fmt.Errorf("%d outputs, %d expected", len(e.outputs), len(c.outputs))
	}
	for i := range e.outputs {
		want, err := c.outputs[i].Float32()
		if err != nil {
			return fmt.Errorf("output %d: %w", i, err)
		}
		got := e.Output(i)
		if len(got) != len(want) {
			return fmt.Errorf("output %d: %d values, want %d", i, len(got), len(want))
		}
		wantShape := make([]int, len(c.outputs[i].Dims))
		for j, d := range c.outputs[i].Dims {
			wantShape[j] = int(d)
		}
		if s := e.OutputShape(i); !slices.Equal(s, wantShape) {
			return fmt.Errorf("output %d: shape %v, want %v", i, s, wantShape)
		}
		for j := range got {
			g, w := float64(got[j]), float64(want[j])
			if math.IsNaN(g) || math.Abs(g-w) > confATol+confRTol*math.Abs(w) {
				return fmt.Errorf("output %d[%d] = %v, want %v", i, j, g, w)
			}
		}
	}
	return nil
}

func TestConformance(t *testing.T) {
	if _, err := os.Stat(nodeTestDir); err != nil {
		t.Skipf("libonnx-testdata is not installed (%v); run ./scripts/setup", err)
	}
	ran := map[string]bool{}
	for _, name := range conformanceCases {
		t.Run(name, func(t *testing.T) {
			cases, err := loadConfCase(filepath.Join(nodeTestDir, name))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			for i, c := range cases {
				if err := runConfCase(c); err != nil {
					t.Fatalf("data set %d: %v", i, err)
				}
			}
			ran[name] = true
		})
	}
	for _, name := range conformanceCases {
		if !ran[name] {
			t.Errorf("expected case %s did not run", name)
		}
	}
	// Every test of a supported op type is listed.
	dirs, err := os.ReadDir(nodeTestDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		name := d.Name()
		if slices.Contains(conformanceCases, name) {
			continue
		}
		m, err := onnxio.Load(filepath.Join(nodeTestDir, name, "model.onnx"))
		if err != nil {
			continue
		}
		if len(m.Graph.Nodes) != 1 || !slices.Contains(supported, m.Graph.Nodes[0].Op) {
			continue
		}
		if _, ok := conformanceSkipped[name]; !ok {
			t.Errorf("%s tests supported op %s but is in neither conformanceCases nor conformanceSkipped", name, m.Graph.Nodes[0].Op)
		}
	}
}

// TestConformanceSkipped keeps conformanceSkipped honest: every case it
// lists exists, and the engine refuses it (onnxio cannot load it, a data
// input is not float32, or Compile fails) instead of running it. A skipped
// case that now compiles fails the test, whether it then passes (move it to
// conformanceCases) or computes wrong values (the engine must refuse what
// it cannot run).
func TestConformanceSkipped(t *testing.T) {
	if _, err := os.Stat(nodeTestDir); err != nil {
		t.Skipf("libonnx-testdata is not installed (%v); run ./scripts/setup", err)
	}
	names := slices.Sorted(maps.Keys(conformanceSkipped))
	for _, name := range names {
		dir := filepath.Join(nodeTestDir, name)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: no such node test (%v)", name, err)
			continue
		}
		cases, err := loadConfCase(dir)
		if err != nil {
			continue // refused at load
		}
		for i, c := range cases {
			e, err := compileConfCase(c)
			if err != nil {
				continue
			}
			if err := e.check(c); err != nil {
				t.Errorf("%s (data set %d): compiles and computes wrong values (%v); it is skipped because %s, so the engine must refuse it",
					name, i, err, conformanceSkipped[name])
			} else {
				t.Errorf("%s (data set %d): passes now; move it from conformanceSkipped to conformanceCases", name, i)
			}
		}
	}
}
