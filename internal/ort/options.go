package ort

import (
	"fmt"
	"strings"
)

// Options configures a [Session]. The zero value is valid: onnxruntime's own
// thread counts and every graph optimisation.
//
// Sessions always use onnxruntime's sequential execution mode (one node after
// another, each node parallelised over the intra-op threads), which is what
// onnxruntime recommends for CNNs and what makes per-layer latencies add up.
type Options struct {
	// IntraOpThreads is the number of threads one node may use. 0 lets
	// onnxruntime choose (one per physical core); 1 means no thread pool.
	// Latency measurements should set it explicitly, to the count the model
	// will be deployed with.
	IntraOpThreads int
	// InterOpThreads is the number of threads running nodes side by side.
	// With sequential execution onnxruntime does not use it; 0 is its default.
	InterOpThreads int
	// OptLevel is the graph optimisation level. Its zero value is OptAll.
	OptLevel OptLevel
	// NoSpinning makes the intra-op pool's threads sleep between parallel
	// sections instead of spinning, which onnxruntime does by default. Set
	// it for throughput work that shares the CPU with other threads (the
	// data loader's decoders, a teacher beside the training engine): on
	// two cores, evaluating 10,000 Fashion-MNIST images with two threads
	// took 3.05 s spinning and 2.28 s without, and 4.5–4.8 s against
	// 2.7 s with a busy loop on one core (BENCHMARKS.md). Latency
	// measurements leave it unset: a deployment runs onnxruntime's default.
	NoSpinning bool `json:",omitempty"`
	// DisabledOptimizers names graph optimisers (onnxruntime's transformer
	// names, such as "NchwcTransformer") that must not run even at OptLevel.
	DisabledOptimizers []string
}

func (o Options) validate() error {
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return fmt.Errorf("ort: thread counts must be >= 0 (0 = onnxruntime's default), got intra-op %d, inter-op %d",
			o.IntraOpThreads, o.InterOpThreads)
	}
	if o.OptLevel < OptAll || o.OptLevel > OptDisable {
		return fmt.Errorf("ort: invalid optimization level %d", int(o.OptLevel))
	}
	_, err := joinOptimizers(o.DisabledOptimizers)
	return err
}

// OptLevel is onnxruntime's graph optimisation level. It implements
// github.com/spf13/pflag's Value interface (String, Set, Type), so a
// *OptLevel can back a command-line flag directly.
//
// The zero value is OptAll, the level onnxruntime itself defaults to and the
// one deployments run with: latency is measured on the graph onnxruntime
// really executes, after its fusions (Conv+BatchNorm+activation and others).
type OptLevel int

const (
	// OptAll enables every optimisation, including layout changes (NCHWc).
	OptAll OptLevel = iota
	// OptExtended enables fusions that need no layout change.
	OptExtended
	// OptBasic enables semantics-preserving rewrites such as constant
	// folding and redundant-node elimination.
	OptBasic
	// OptDisable disables graph optimisation.
	OptDisable
)

var optLevelNames = [...]string{
	OptAll:      "all",
	OptExtended: "extended",
	OptBasic:    "basic",
	OptDisable:  "disable",
}

// String returns the level's name: "all", "extended", "basic" or "disable".
func (l OptLevel) String() string {
	if l >= 0 && int(l) < len(optLevelNames) {
		return optLevelNames[l]
	}
	return fmt.Sprintf("OptLevel(%d)", int(l))
}

// ParseOptLevel parses a level name as printed by [OptLevel.String]
// (case-insensitive; "disabled" and "none" are accepted for "disable").
func ParseOptLevel(s string) (OptLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all":
		return OptAll, nil
	case "extended":
		return OptExtended, nil
	case "basic":
		return OptBasic, nil
	case "disable", "disabled", "none":
		return OptDisable, nil
	}
	return 0, fmt.Errorf("ort: unknown optimization level %q (want all, extended, basic or disable)", s)
}

// Set parses s into l (the pflag.Value interface).
func (l *OptLevel) Set(s string) error {
	v, err := ParseOptLevel(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Type names the flag's value type in help text (the pflag.Value interface).
func (l *OptLevel) Type() string { return "all|extended|basic|disable" }
