// Package dataset reads image-classification data sets and turns them into
// float32 NCHW batches for onnx-adapt's trainer and evaluator.
//
// # Formats
//
// [Open] detects the format of a path and returns its splits:
//
//   - IDX (the MNIST family), raw or gzipped: a directory holding
//     train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and
//     optionally the t10k-* pair, such as Debian's
//     /usr/share/datasets/fashion-mnist. IDX data is small and is kept in
//     memory as uint8; everything else decodes lazily from disk.
//   - ImageNet-style folders: one subfolder per class, class index = position
//     of the subfolder name in sorted order, JPEG or PNG files found
//     recursively below it. A directory with train/ and val/ (or test/)
//     subfolders gives both splits.
//   - List files of "PATH LABEL" lines, PATH relative to the list file's
//     folder, LABEL a 0-based integer; '#' comment lines and blank lines are
//     allowed.
//
// # Pipeline
//
// A [Dataset] only knows how many samples it has, their labels, and how to
// decode one into an [image.Image]. A [Loader] turns a Dataset into batches:
// it shuffles per epoch (seeded), decodes on a pool of worker goroutines a
// bounded number of batches ahead of the consumer, applies the optional
// train-time [Augment] and the [Preprocess] (resize, crop, channel
// conversion, scaling and normalisation), and reuses its batch buffers.
//
// Augmentation is deterministic: the random choices made for sample i in
// epoch e are drawn from a generator seeded with (seed, e, i) alone, so the
// batches do not depend on the number of workers or on scheduling.
//
// [ParsePreprocess] and [ParseAugment] read both from short specs such as
// "imagenet:resize=240" and "pad=4:flip", for command-line flags.
// [InputOf] reads a model's image input shape (NCHW, or NHWC as tf2onnx
// exports it), and [Input.Preprocess] resolves a spec for it, including
// "auto", which picks the preset from the input's channels and size.
//
// NetAdapt must not pick candidates on the test set: [HoldOut] carves a
// stratified, seeded held-out split from the training data, and
// [CheckClasses] tells when the labels do not fit the model's output.
//
// Errors are single lines prefixed "dataset:" that name the file involved;
// a sample that fails to load is reported as a [*SampleError].
package dataset
