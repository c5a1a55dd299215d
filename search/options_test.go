package search_test

import (
	"errors"
	"github.com/onnx-adapt/onnx-adapt/internal/measure"
	"math"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/search"
)

// TestValidate: every setting Run refuses is reported as an *OptionError
// naming its field, zero fields stand for defaults, and the data and table
// are not asked for.
func TestValidate(t *testing.T) {
	ok := func(f func(o *search.Options)) search.Options {
		o := search.Options{Constraints: search.Constraints{MACs: 1000}, OutDir: "out"}
		o.ShortTerm.Steps = 10
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		opts  search.Options
		field string // "" for valid
	}{
		{"minimal", ok(func(*search.Options) {}), ""},
		{"latency fraction", ok(func(o *search.Options) { o.Constraints = search.Constraints{LatencyFraction: 0.6} }), ""},
		{"every field set", ok(func(o *search.Options) {
			o.Schedule = search.Schedule{First: 0.1, Decay: 0.5, Iterations: 3}
			o.MaxIterations, o.RoundTo, o.Margin, o.MaxDrop, o.Rank = 4, 1, 0.1, 1.5, "l1"
			o.Measure = measure.Protocol{Blocks: 3}
			o.LongTerm.Epochs = 2
		}), ""},
		{"no constraint", ok(func(o *search.Options) { o.Constraints = search.Constraints{} }), "Constraints"},
		{"both latencies", ok(func(o *search.Options) { o.Constraints = search.Constraints{LatencyMS: 1, LatencyFraction: 0.5} }), "Constraints"},
		{"negative latency", ok(func(o *search.Options) { o.Constraints.LatencyMS = -1 }), "Constraints.LatencyMS"},
		{"NaN latency", ok(func(o *search.Options) { o.Constraints.LatencyMS = math.NaN() }), "Constraints.LatencyMS"},
		{"negative MACs", ok(func(o *search.Options) { o.Constraints.MACs = -1 }), "Constraints.MACs"},
		{"negative params", ok(func(o *search.Options) { o.Constraints.Params = -1 }), "Constraints.Params"},
		{"fraction 1", ok(func(o *search.Options) { o.Constraints.LatencyFraction = 1 }), "Constraints.LatencyFraction"},
		{"decay above 1", ok(func(o *search.Options) { o.Schedule.Decay = 1.5 }), "Schedule.Decay"},
		{"negative decay", ok(func(o *search.Options) { o.Schedule.Decay = -0.5 }), "Schedule.Decay"},
		{"first reduction 1", ok(func(o *search.Options) { o.Schedule.First = 1 }), "Schedule.First"},
		{"negative iterations", ok(func(o *search.Options) { o.Schedule.Iterations = -2 }), "Schedule.Iterations"},
		{"negative max iterations", ok(func(o *search.Options) { o.MaxIterations = -1 }), "MaxIterations"},
		{"negative round-to", ok(func(o *search.Options) { o.RoundTo = -8 }), "RoundTo"},
		{"margin 0.5", ok(func(o *search.Options) { o.Margin = 0.5 }), "Margin"},
		{"negative measure blocks", ok(func(o *search.Options) { o.Measure.Blocks = -1 }), "Measure"},
		{"max drop over 100", ok(func(o *search.Options) { o.MaxDrop = 101 }), "MaxDrop"},
		{"max drop off", ok(func(o *search.Options) { o.MaxDrop = -1 }), ""},
		{"no short-term length", ok(func(o *search.Options) { o.ShortTerm.Steps = 0 }), "ShortTerm.Steps"},
		{"short-term epochs", ok(func(o *search.Options) { o.ShortTerm.Steps, o.ShortTerm.Epochs = 0, 0.5 }), ""},
		{"negative long-term", ok(func(o *search.Options) { o.LongTerm.Epochs = -1 }), "LongTerm.Epochs"},
		{"no output folder", ok(func(o *search.Options) { o.OutDir = "" }), "OutDir"},
		{"unknown rank", ok(func(o *search.Options) { o.Rank = "l3" }), "Rank"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.opts
			err := tc.opts.Validate()
			if before.RoundTo != tc.opts.RoundTo || before.Margin != tc.opts.Margin {
				t.Error("Validate changed the options")
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var oe *search.OptionError
			if !errors.As(err, &oe) || oe.Field != tc.field {
				t.Fatalf("error %v (%T), want an *OptionError for %s", err, err, tc.field)
			}
			if (oe.Value == nil) != (tc.field == "Constraints" || tc.field == "OutDir") || !strings.HasPrefix(err.Error(), "search: ") {
				t.Errorf("error %+v reads %q", oe, err)
			}
		})
	}
}
