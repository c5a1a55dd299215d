package lut

import (
	"testing"
)

// FuzzParseCPUInfo: any /proc/cpuinfo text gives a non-empty model name.
func FuzzParseCPUInfo(f *testing.F) {
	f.Add([]byte("processor\t: 0\nmodel name\t: AMD EPYC 9R14\n"))
	f.Add([]byte("CPU implementer\t: 0x41\nCPU part\t: 0xd0b\n"))
	f.Add([]byte(":::\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		if parseCPUInfo(data) == "" {
			t.Fatal("empty CPU model")
		}
	})
}

// FuzzUnitModel: UnitModel parses a key's activation, element-wise,
// Gemm-option and Concat strings (keys come from table files); any key
// either builds a model or returns an error, never panics. Sizes are kept
// small so that each execution stays cheap.
func FuzzUnitModel(f *testing.F) {
	f.Add("conv", "dense", "Clip(0,6)", "", uint8(3), uint8(1), uint8(1), uint8(8), uint8(8), uint8(4), true, true)
	f.Add("conv", "dw", "HardSigmoid(0.2,0.5)", "", uint8(3), uint8(2), uint8(1), uint8(8), uint8(8), uint8(5), false, false)
	f.Add("gemm", "", "Relu", "flatten,matmul,bias", uint8(1), uint8(1), uint8(1), uint8(8), uint8(4), uint8(2), false, false)
	f.Add("mul", "", "", "Mul c11,chw", uint8(1), uint8(1), uint8(1), uint8(8), uint8(8), uint8(3), false, false)
	f.Add("concat", "", "", "4+4", uint8(1), uint8(1), uint8(1), uint8(8), uint8(8), uint8(3), false, false)
	f.Add("avgpool", "", "", "ceil,count_include_pad", uint8(2), uint8(2), uint8(1), uint8(8), uint8(8), uint8(4), false, false)
	f.Add("reorder_pair", "", "", "", uint8(1), uint8(1), uint8(1), uint8(8), uint8(8), uint8(4), false, false)
	f.Fuzz(func(t *testing.T, op, group, act, extra string, kernel, stride, dil, cin, cout, hw uint8, bn, add bool) {
		small := func(v uint8, hi int) int { return int(v) % hi }
		k := Key{Op: op, Group: group, Act: act, Extra: extra, BN: bn, Add: add, Batch: 1,
			Kernel: [2]int{small(kernel, 6), small(kernel, 6)}, Stride: [2]int{small(stride, 4), small(stride, 4)},
			Dilation: [2]int{small(dil, 3), small(dil, 3)}, Pads: [4]int{small(kernel, 3), 0, small(kernel, 3), 0},
			H: small(hw, 17), W: small(hw, 17), Cin: small(cin, 33), Cout: small(cout, 33)}
		if len(extra) > 64 || len(act) > 64 {
			return
		}
		UnitModel(k, nil) // an error is fine; a panic is not
	})
}
