package search

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/finetune"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// TestCheckOutDir: which folders a run starts in, resumes, or refuses,
// and that a refusal names what differs.
func TestCheckOutDir(t *testing.T) {
	base := func(dir string) Options {
		o := Options{Constraints: Constraints{MACs: 1000}, ShortTerm: finetune.Config{Steps: 3, Batch: 8, LR: 0.1, Seed: 1},
			OutDir: dir, Lineage: surgery.Lineage{SourceSHA256: "aaaa1111aaaa1111"}}
		o.fill()
		return o
	}
	write := func(t *testing.T, dir, name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	history := func(t *testing.T, dir string, o Options, iterations int) {
		t.Helper()
		st := o.settings()
		r := Result{Lineage: o.Lineage, Settings: &st}
		for i := range iterations {
			r.Iterations = append(r.Iterations, Iteration{Index: i + 1})
		}
		data, _ := json.Marshal(r)
		write(t, dir, HistoryFile, string(data))
	}
	// stamped writes a model of the source sha, as a run writes it.
	stamped := func(t *testing.T, dir, name, sha string) {
		t.Helper()
		m := onnxio.NewModel(13)
		x := m.Graph.AddInput("x", onnxio.Type{Elem: onnxio.Float, Shape: onnxio.ShapeOf(1, 4), HasShape: true})
		n := m.Graph.AddNode("Identity", "id", []*onnxio.Value{x}, []string{"y"})
		m.Graph.Outputs = append(m.Graph.Outputs, n.Output(0))
		if err := m.Graph.InferShapes(); err != nil { // the output's shape: the ONNX checker requires it
			t.Fatal(err)
		}
		if err := (surgery.Lineage{SourceSHA256: sha}).Stamp(m); err != nil {
			t.Fatal(err)
		}
		if err := onnxio.Save(filepath.Join(dir, name), m, onnxio.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		change func(o *Options)
		resume bool   // returns the previous run
		refuse string // the refusal says this
	}{
		{"absent", func(t *testing.T, dir string) { os.Remove(dir) }, nil, false, ""},
		{"empty", func(t *testing.T, dir string) {}, nil, false, ""},
		{"a batch's job record only", func(t *testing.T, dir string) { write(t, dir, "job.json", "{}") }, nil, false, ""},
		{"models without history", func(t *testing.T, dir string) { write(t, dir, "iter_001.onnx", "x") }, nil, false, "holds iter_001.onnx, a model of another run, and no history.json"},
		{"this source's model without history", func(t *testing.T, dir string) { stamped(t, dir, "iter_001.onnx", "aaaa1111aaaa1111") }, nil, false, ""},
		{"another source's model without history", func(t *testing.T, dir string) { stamped(t, dir, "iter_001.onnx", "cccc") }, nil, false, "holds iter_001.onnx, a model of another run"},
		{"unreadable history", func(t *testing.T, dir string) { write(t, dir, HistoryFile, "{") }, nil, false, "unreadable history.json"},
		{"same run", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) }, nil, true, ""},
		{"another model", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Lineage.SourceSHA256 = "bbbb2222bbbb2222" }, false, "run of another model (source SHA-256 aaaa1111aaaa"},
		{"another seed", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.ShortTerm.Seed = 2 }, false, "other settings (short_term.seed: 1 there, 2 now)"},
		{"another target", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Constraints.MACs = 2000 }, false, "constraints.macs: 1000 there, 2000 now"},
		// The data mode and the reconstruction are settings; labelled data
		// is recorded as before the modes existed, so such a run resumes.
		{"labelled, recorded without a mode", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Data.Mode = ModeLabelled }, true, ""},
		{"unlabelled now", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Data.Mode = ModeUnlabelled }, false, "other settings (data_mode: none there, \"unlabelled\" now)"},
		{"data-free there, unlabelled now", func(t *testing.T, dir string) {
			o := base(dir)
			o.Data.Mode = ModeDataFree
			history(t, dir, o, 2)
		}, func(o *Options) { o.Data.Mode = ModeUnlabelled }, false, "data_mode: \"data-free\" there, \"unlabelled\" now"},
		{"refit now", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Recon.Refit = true }, false, "other settings (recon.rank: none there, false now; recon.refit: none there, true now)"},
		{"recon ranking now", func(t *testing.T, dir string) {
			o := base(dir)
			o.Recon.Refit = true
			history(t, dir, o, 2)
		}, func(o *Options) { o.Recon.Refit, o.Recon.Rank = true, true }, false, "recon.rank: false there, true now"},
		{"same refit", func(t *testing.T, dir string) {
			o := base(dir)
			o.Recon.Refit, o.Data.Mode = true, ModeDataFree
			history(t, dir, o, 2)
		}, func(o *Options) { o.Recon.Refit, o.Data.Mode = true, ModeDataFree }, true, ""},
		{"another target, forced", func(t *testing.T, dir string) { history(t, dir, base(dir), 2) },
			func(o *Options) { o.Constraints.MACs, o.Force = 2000, true }, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			o := base(dir)
			if tc.change != nil {
				tc.change(&o)
			}
			prev, err := CheckOutDir(o)
			var oe *OutDirError
			switch {
			case tc.refuse != "":
				if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("error %v, want a refusal saying %q", err, tc.refuse)
				}
			case err != nil:
				t.Fatal(err)
			case tc.resume && (prev == nil || len(prev.Iterations) != 2):
				t.Fatalf("previous run %+v, want the 2 iterations recorded", prev)
			case !tc.resume && prev != nil:
				t.Fatalf("resumes %+v, want a fresh start", prev)
			}
		})
	}
}
