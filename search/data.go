package search

// Data modes: what the search learns from.
const (
	// ModeLabelled: images with class labels; fine-tuning learns the
	// labels (and the source's outputs when distilling), candidates are
	// compared on held-out accuracy.
	ModeLabelled = "labelled"
	// ModeUnlabelled: images without labels (or whose labels are not
	// used); fine-tuning distils the source model, candidates are compared
	// on agreement with the source's top-1 on the held-out images.
	ModeUnlabelled = "unlabelled"
	// ModeDataFree: no images; calibration inputs are synthesised from
	// the source's BatchNormalization statistics, then as unlabelled.
	ModeDataFree = "data-free"
)

// DataInfo describes the data of a run, for history.json.
type DataInfo struct {
	// Mode is ModeLabelled, ModeUnlabelled or ModeDataFree.
	Mode string `json:"mode"`
	// Source is the data given (--data), or how it was synthesised.
	Source string `json:"source,omitempty"`
	// Train, HeldOut and Test are the sizes of the parts: training (and
	// calibration), candidate selection, and the report.
	Train   int `json:"train"`
	HeldOut int `json:"held_out"`
	Test    int `json:"test,omitempty"`
	// Seed seeded the split. The parts carved from the data are listed
	// by their sources (file paths, or file[index]) so that the split can
	// be replayed: the held-out images, the test images when --test carved
	// them, the training images when --images sampled them.
	Seed           uint64   `json:"seed"`
	HeldOutSources []string `json:"held_out_sources,omitempty"`
	TestSources    []string `json:"test_sources,omitempty"`
	TrainSources   []string `json:"train_sources,omitempty"`
	// HeldOutMeasure says what held-out "accuracy" is: "top-1" against
	// labels, or "agreement" with the source's top-1.
	HeldOutMeasure string `json:"held_out_measure,omitempty"`
	// TestMeasure says the same of the test figures.
	TestMeasure string `json:"test_measure,omitempty"`
	// Synthetic describes the data-free mode's images.
	Synthetic *SyntheticInfo `json:"synthetic,omitempty"`
}

// SyntheticInfo describes images synthesised from BatchNormalization
// statistics (package synth): how many, how they were optimised, and how
// far their statistics are from the stored ones (in stored deviations,
// averaged over layers and channels).
type SyntheticInfo struct {
	Images         int     `json:"images"`
	Steps          int     `json:"steps"`
	Batch          int     `json:"batch"`
	ObjectiveStart float64 `json:"objective_start"`
	ObjectiveEnd   float64 `json:"objective_end"`
	MeanMismatch   float64 `json:"mean_mismatch"`
	StdMismatch    float64 `json:"std_mismatch"`
	// ClassWeight is the weight of the class term (0: none); ClassLoss
	// and Hits are the images' cross-entropy against their target classes
	// and the fraction classified as their target, at the last step.
	ClassWeight float64 `json:"class_weight,omitempty"`
	ClassLoss   float64 `json:"class_loss,omitempty"`
	Hits        float64 `json:"hits,omitempty"`
	Seconds     float64 `json:"seconds"`
}
