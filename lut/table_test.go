package lut

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fakeHeader() Header {
	return Header{Format: FormatVersion, CPU: "Test CPU", Cores: 2, Arch: "linux/amd64", Runtime: "1.24.1",
		Threads: 1, OptLevel: "all", Provider: Provider, Step: 8}
}

var denseKey = Key{Op: OpConv, Kernel: [2]int{1, 1}, Stride: [2]int{1, 1}, Dilation: [2]int{1, 1},
	Group: GroupDense, Batch: 1, H: 14, W: 14, BN: true, Act: "Clip(0,6)"}

var dwKey = Key{Op: OpConv, Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pads: [4]int{1, 1, 1, 1}, Dilation: [2]int{1, 1},
	Group: GroupDepthwise, Batch: 1, H: 14, W: 14, BN: true, Act: "Clip(0,6)"}

// gridTable holds dense entries ms = 0.001·cin·cout + 0.01 on the 8-grid
// up to 64×64, and depthwise entries ms = 0.002·c² + 0.01 (convex).
func gridTable() *Table {
	t := New(fakeHeader(), nil)
	for ci := 8; ci <= 64; ci += 8 {
		for co := 8; co <= 64; co += 8 {
			t.Put(Entry{Key: denseKey.withChannels(ci, co), MS: 0.001*float64(ci*co) + 0.01, Runs: 5, NCHWcIn: []bool{true}, NCHWcOut: true})
		}
		t.Put(Entry{Key: dwKey.withChannels(ci, ci), MS: 0.002*float64(ci*ci) + 0.01, Runs: 5})
	}
	return t
}

func TestInterpolation(t *testing.T) {
	tab := gridTable()
	tests := []struct {
		name     string
		k        Key
		want     float64
		how      How
		tolerant bool
	}{
		{"dense grid point", denseKey.withChannels(16, 24), 0.001*16*24 + 0.01, HowExact, false},
		{"dense cout between", denseKey.withChannels(16, 20), 0.5*(0.001*16*16+0.01) + 0.5*(0.001*16*24+0.01), HowInterpolated, false},
		// Bilinear interpolation of a bilinear function is exact.
		{"dense both between", denseKey.withChannels(13, 30), 0.001*13*30 + 0.01, HowInterpolated, true},
		{"depthwise grid point", dwKey.withChannels(40, 40), 0.002*40*40 + 0.01, HowExact, false},
		{"depthwise between", dwKey.withChannels(42, 42), 0.75*(0.002*40*40+0.01) + 0.25*(0.002*48*48+0.01), HowInterpolated, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tab.Latency(tc.k, nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(v.MS-tc.want) > 1e-12 || (tc.tolerant && math.Abs(v.MS-tc.want) > 1e-9) {
				t.Errorf("Latency(%v) = %v, want %v", tc.k, v.MS, tc.want)
			}
			if v.How != tc.how {
				t.Errorf("How = %s, want %s", v.How, tc.how)
			}
		})
	}
	// Between two grid points the interpolant is monotone, and at grid
	// points it equals the entry.
	for _, line := range []struct {
		name string
		key  func(c int) Key
	}{
		{"dense cout at cin 24", func(c int) Key { return denseKey.withChannels(24, c) }},
		{"dense cin at cout 56", func(c int) Key { return denseKey.withChannels(c, 56) }},
		{"depthwise", func(c int) Key { return dwKey.withChannels(c, c) }},
	} {
		prev := -1.0
		for c := 8; c <= 64; c++ {
			v, err := tab.Latency(line.key(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.MS < prev {
				t.Errorf("%s: latency falls from %v to %v at %d channels", line.name, prev, v.MS, c)
			}
			if c%8 == 0 {
				e, _ := tab.Lookup(line.key(c))
				if v.MS != e.MS {
					t.Errorf("%s: at grid point %d got %v, entry %v", line.name, c, v.MS, e.MS)
				}
			}
			prev = v.MS
		}
	}
	// Layout flags come from the nearest grid point.
	v, _ := tab.Latency(denseKey.withChannels(16, 20), nil)
	if !v.NCHWcOut || !v.in(0) {
		t.Errorf("interpolated value lost the layout flags: %+v", v)
	}
}

func TestMissingWithoutMeasurer(t *testing.T) {
	tab := gridTable()
	// Outside the grid and without a Measurer: estimated from the nearest
	// family entry, with a warning.
	k := denseKey.withChannels(64, 100)
	v, err := tab.Latency(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.How != HowApproximate {
		t.Errorf("How = %s, want approximate", v.How)
	}
	near := 0.001*64*64 + 0.01
	if want := near * 100 / 64; math.Abs(v.MS-want) > 1e-9 {
		t.Errorf("approximate latency %v, want %v (the 64×64 entry scaled by work)", v.MS, want)
	}
	if w := tab.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], k.String()+": estimated from ") {
		t.Errorf("warnings %q", w)
	}
	// No entry of the family at all: a MissingError naming the key.
	other := denseKey
	other.H, other.W = 7, 7
	other = other.withChannels(8, 8)
	_, err = tab.Latency(other, nil)
	var me *MissingError
	if !errors.As(err, &me) || len(me.Keys) != 1 || me.Keys[0] != other || !strings.Contains(err.Error(), other.String()) {
		t.Errorf("err = %v, want a MissingError naming %v", err, other)
	}
}

func TestTableJSONRoundTrip(t *testing.T) {
	tab := gridTable()
	tab.SetCalibration(Calibration{Model: "abc", Name: "m.onnx", Scale: 1.05, OffsetMS: 0.01,
		Points: []CalPoint{{Label: "m.onnx", RawMS: 1, MeasuredMS: 1.06}}})
	var buf bytes.Buffer
	if _, err := tab.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Entries(), tab.Entries()) || back.Header != tab.Header {
		t.Error("entries or header changed in a JSON round trip")
	}
	if c, ok := back.Calibration("abc"); !ok || c.Scale != 1.05 || len(c.Points) != 1 {
		t.Errorf("calibration after round trip: %+v %v", c, ok)
	}
	var again bytes.Buffer
	back.WriteTo(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("writing a read table does not give the same bytes")
	}
}

func TestOpenHeaderMismatchAndForeign(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lut.json")
	tab := gridTable()
	if err := tab.Save(path); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*Header)
		field string
	}{
		{"threads", func(h *Header) { h.Threads = 2 }, "threads: table 1, here 2"},
		{"cpu", func(h *Header) { h.CPU = "Cortex-A76" }, "cpu"},
		{"runtime", func(h *Header) { h.Runtime = "1.25.0" }, "onnxruntime"},
		{"opt level", func(h *Header) { h.OptLevel = "extended" }, "opt_level"},
		{"step", func(h *Header) { h.Step = 16 }, "step"},
		{"cores", func(h *Header) { h.Cores = 4 }, "cores"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := fakeHeader()
			tc.edit(&want)
			_, err := Open(path, want, nil, false)
			var hm *HeaderMismatchError
			if !errors.As(err, &hm) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "--lut-foreign") {
				t.Fatalf("Open with another %s: err = %v, want a HeaderMismatchError naming %q and --lut-foreign", tc.name, err, tc.field)
			}
			f, err := Open(path, want, fastMeasurer(), true)
			if err != nil {
				t.Fatalf("foreign open: %v", err)
			}
			if !f.Foreign() || f.Len() != tab.Len() || f.Header != tab.Header {
				t.Errorf("foreign table: foreign %v, %d entries, header %+v", f.Foreign(), f.Len(), f.Header)
			}
			// A foreign table never measures: a missing key is estimated or an error.
			if _, err := f.Latency(denseKey.withChannels(8, 200), nil); err != nil || f.Measured() != 0 {
				t.Errorf("foreign lookup: err %v, measured %d", err, f.Measured())
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "absent.json"), fakeHeader(), nil, true); err == nil {
		t.Error("a missing foreign table must be an error")
	}
	if got, err := Open(filepath.Join(dir, "absent.json"), fakeHeader(), nil, false); err != nil || got.Len() != 0 {
		t.Errorf("a missing table is a new empty one: %v, %v", got, err)
	}
}

func TestSaveAtomicAndMerging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lut.json")
	a := New(fakeHeader(), nil)
	a.Put(Entry{Key: dwKey.withChannels(8, 8), MS: 1, Runs: 3})
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	// A second writer with other entries merges rather than overwrites.
	b := New(fakeHeader(), nil)
	b.Put(Entry{Key: dwKey.withChannels(16, 16), MS: 2, Runs: 3})
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	if got := readTable(t, path); got.Len() != 2 {
		t.Errorf("merged table has %d entries, want 2", got.Len())
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if f.Name() != "lut.json" && f.Name() != "lut.json.lock" {
			t.Errorf("directory holds %s after saving, want only the table and its lock file (no temporary files)", f.Name())
		}
	}
}

func TestReadRejects(t *testing.T) {
	good := `{"header":{"format":1,"cpu":"x","cores":1,"arch":"a","onnxruntime":"1","threads":1,"opt_level":"all","execution_provider":"CPUExecutionProvider","step":8},"entries":[]}`
	if _, err := Read(strings.NewReader(good)); err != nil {
		t.Fatalf("good table: %v", err)
	}
	for name, in := range map[string]string{
		"format":     strings.Replace(good, `"format":1`, `"format":99`, 1),
		"step":       strings.Replace(good, `"step":8`, `"step":0`, 1),
		"unknown":    strings.Replace(good, `"entries"`, `"entriez"`, 1),
		"negative":   strings.Replace(good, `"entries":[]`, `"entries":[{"op":"conv","batch":1,"h":-1,"w":1,"cin":1,"cout":1,"ms":1,"p10":1,"p90":1,"runs":1}]`, 1),
		"free":       strings.Replace(good, `"entries":[]`, `"entries":[{"op":"free","batch":1,"h":1,"w":1,"cin":1,"cout":1,"ms":1,"p10":1,"p90":1,"runs":1}]`, 1),
		"duplicate":  strings.Replace(good, `"entries":[]`, `"entries":[{"op":"gap","batch":1,"h":1,"w":1,"cin":1,"cout":1,"ms":1,"p10":1,"p90":1,"runs":1},{"op":"gap","batch":1,"h":1,"w":1,"cin":1,"cout":1,"ms":2,"p10":1,"p90":1,"runs":1}]`, 1),
		"bad cal":    strings.Replace(good, `"entries":[]`, `"entries":[],"calibrations":[{"model":"m","scale":-1,"offset_ms":0}]`, 1),
		"truncated":  good[:40],
		"not json":   "lut",
		"wrong type": strings.Replace(good, `"cores":1`, `"cores":"one"`, 1),
	} {
		if _, err := Read(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "lut: ") {
			t.Errorf("%s: err = %v, want a lut: error", name, err)
		}
	}
}

func FuzzTableJSON(f *testing.F) {
	// A small table keeps each execution cheap (JSON work dominates).
	var buf bytes.Buffer
	tab := New(fakeHeader(), nil)
	for _, c := range []int{8, 16, 24} {
		tab.Put(Entry{Key: denseKey.withChannels(c, 2*c), MS: float64(c), P10: 1, P90: 99, Runs: 5, NCHWcIn: []bool{true}, NCHWcOut: true})
		tab.Put(Entry{Key: dwKey.withChannels(c, c), MS: float64(c) / 2, Runs: 5})
	}
	tab.SetCalibration(Calibration{Model: "m", Scale: 1, Points: []CalPoint{{RawMS: 1, MeasuredMS: 1}}})
	tab.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"header":{"format":1,"step":8},"entries":[{"op":"conv","ms":1}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		tab, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A table that parses writes back to a table that parses to the
		// same entries, and lookups on it do not panic.
		var out bytes.Buffer
		if _, err := tab.WriteTo(&out); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		back, err := Read(&out)
		if err != nil {
			t.Fatalf("re-reading a written table: %v", err)
		}
		if !reflect.DeepEqual(back.Entries(), tab.Entries()) {
			t.Fatal("entries changed in a round trip")
		}
		for i, e := range tab.Entries() {
			if i == 16 {
				break
			}
			if _, err := tab.Latency(e.Key.withChannels(e.Cin+3, e.Cout+5), nil); err != nil {
				var me *MissingError
				if !errors.As(err, &me) {
					t.Fatalf("lookup: %v", err)
				}
			}
		}
	})
}

func TestParseCPUInfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9R14\n", "AMD EPYC 9R14"},
		{"processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\n\nModel\t: Raspberry Pi 5 Model B Rev 1.0\n", "Raspberry Pi 5 Model B Rev 1.0"},
		{"processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n", "implementer 0x41 part 0xd0c"},
		{"", "unknown"},
	} {
		if got := parseCPUInfo([]byte(tc.in)); got != tc.want {
			t.Errorf("parseCPUInfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFitCalibration(t *testing.T) {
	one, err := FitCalibration("m", "", []CalPoint{{RawMS: 2, MeasuredMS: 2.2}})
	if err != nil || math.Abs(one.Scale-1.1) > 1e-12 || one.OffsetMS != 0 || one.Form != "ratio" {
		t.Errorf("one point: %+v, %v; want ratio 1.1", one, err)
	}
	// Points on a line 1.2x + 0.3 are fitted exactly.
	var pts []CalPoint
	for _, x := range []float64{1, 2, 3, 5} {
		pts = append(pts, CalPoint{RawMS: x, MeasuredMS: 1.2*x + 0.3})
	}
	lin, err := FitCalibration("m", "", pts)
	if err != nil || lin.Form != "line" || math.Abs(lin.Scale-1.2) > 1e-9 || math.Abs(lin.OffsetMS-0.3) > 1e-9 {
		t.Errorf("line: %+v, %v", lin, err)
	}
	if got := lin.Apply(10); math.Abs(got-12.3) > 1e-9 {
		t.Errorf("Apply(10) = %v, want 12.3", got)
	}
	// One wild measurement (a busy machine) does not move the line.
	pts = append(pts, CalPoint{RawMS: 4, MeasuredMS: 20})
	if c, err := FitCalibration("m", "", pts); err != nil || c.Form != "line" || math.Abs(c.Scale-1.2) > 1e-9 || math.Abs(c.OffsetMS-0.3) > 1e-9 {
		t.Errorf("outlier: %+v, %v; want the line 1.2x + 0.3", c, err)
	}
	// A line steeper than 2 is not sane: the median ratio is kept.
	steep := []CalPoint{{RawMS: 1, MeasuredMS: 1}, {RawMS: 2, MeasuredMS: 4}, {RawMS: 3, MeasuredMS: 7}}
	if c, err := FitCalibration("m", "", steep); err != nil || c.Form != "ratio" || c.OffsetMS != 0 || math.Abs(c.Scale-2) > 1e-12 {
		t.Errorf("steep: %+v, %v; want the median ratio 2", c, err)
	}
	if _, err := FitCalibration("m", "", nil); err == nil {
		t.Error("no points must be an error")
	}
	if _, err := FitCalibration("m", "", []CalPoint{{RawMS: 0, MeasuredMS: 1}}); err == nil {
		t.Error("a zero estimate must be an error")
	}
}
