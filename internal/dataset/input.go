package dataset

import "strings"

// Input is a model's image input as the data pipeline sees it: channels
// (1 or 3), height and width, and whether the model takes it N×H×W×C
// (tf2onnx exports) instead of N×C×H×W. Batches are always made NCHW; a
// consumer transposes them for an NHWC input.
type Input struct {
	Channels, Height, Width int
	NHWC                    bool
}

// InputOf reads a model's image input shape: N×C×H×W, or N×H×W×C when
// only the last dimension looks like colour channels (1 or 3). The batch
// dimension is not looked at.
func InputOf(shape []int64) (Input, error) {
	if len(shape) != 4 {
		return Input{}, errf("the model input has shape %v; an image batch N×C×H×W (or N×H×W×C) is needed", shape)
	}
	in := Input{Channels: int(shape[1]), Height: int(shape[2]), Width: int(shape[3])}
	if !colour(shape[1]) && colour(shape[3]) {
		in = Input{Channels: int(shape[3]), Height: int(shape[1]), Width: int(shape[2]), NHWC: true}
	}
	if !colour(int64(in.Channels)) {
		return Input{}, errf("the model input %v has %d channels; the data pipeline makes 1 or 3", shape, in.Channels)
	}
	if in.Height <= 0 || in.Width <= 0 {
		return Input{}, errf("the model input %v has no fixed height and width", shape)
	}
	return in, nil
}

func colour(c int64) bool { return c == 1 || c == 3 }

// AutoMinSide is the smallest side of a 3-channel input that "auto" treats
// as a photograph (the imagenet preset); smaller or greyscale inputs, such
// as Fashion-MNIST's 28×28, are only scaled to [0,1] (the none preset).
const AutoMinSide = 96

// AutoPreset is the preset that "auto" stands for on this input.
func (in Input) AutoPreset() string {
	if in.Channels == 3 && min(in.Height, in.Width) >= AutoMinSide {
		return "imagenet"
	}
	return "none"
}

// Preprocess parses a preprocessing spec for this input (ParsePreprocess),
// where the preset may also be "auto" (AutoPreset), with or without
// overrides: "auto", "auto:interp=nearest".
func (in Input) Preprocess(spec string) (Preprocess, error) {
	if name, rest, _ := strings.Cut(spec, ":"); name == "auto" {
		spec = in.AutoPreset()
		if rest != "" {
			spec += ":" + rest
		}
	}
	return ParsePreprocess(spec, in.Channels, in.Height, in.Width)
}
