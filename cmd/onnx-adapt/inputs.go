package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/onnx-adapt/onnx-adapt/internal/dataset"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Checks of adapt's (and batch's) input that need the model or the disk,
// made before anything is written.

// checkData refuses a training set that cannot train m: no images, or,
// when its labels are learnt from (labelled), labels beyond the model's
// output (dataset.CheckClasses: a data set with fewer classes than the
// model, such as a subset of ImageNet, is fine).
func checkData(m *onnxio.Model, train dataset.Dataset, name string, labelled bool) error {
	if train == nil || train.Len() == 0 {
		return fmt.Errorf("the data set %s has no training images; give --data a folder or list that has some", name)
	}
	if !labelled {
		return nil
	}
	k, err := outputClasses(m)
	if err != nil {
		return err
	}
	if err := dataset.CheckClasses(train, k); err != nil {
		return fmt.Errorf("%w: %s does not fit the model; give the data set the model was trained on", err, name)
	}
	return nil
}

// outputClasses is the number of classes of m's first output: the product
// of its dimensions after the batch dimension.
func outputClasses(m *onnxio.Model) (int, error) {
	if len(m.Graph.Outputs) == 0 {
		return 0, fmt.Errorf("the model has no output")
	}
	out := m.Graph.Outputs[0]
	if !out.Type.HasShape {
		return 0, fmt.Errorf("output %q has no shape", out.Name)
	}
	dims := out.Type.Shape.Ints()
	k := 1
	for _, d := range dims[min(1, len(dims)):] {
		if d <= 0 {
			return 0, fmt.Errorf("output %q has shape %v: its class dimension is unknown", out.Name, out.Type.Shape)
		}
		k *= int(d)
	}
	return k, nil
}

// checkFreeSpace refuses an output folder on a file system without room
// for what a run writes first: its first iterations' models (each about
// the source's size) and the history. A disk that fills later stops the
// run cleanly, resumable (see resumable).
func checkFreeSpace(out string, m *onnxio.Model, iterations int) error {
	size, err := onnxio.EncodedSize(m)
	if err != nil {
		return err
	}
	need := int64(min(max(iterations, 1), 3)+1)*size + 1<<20
	dir := out
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil // a file system that cannot tell is not refused
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < need {
		return fmt.Errorf("the disk of %s is full: %s free, and a run first writes about %s (models of %s each and the history); free some space or give -o on another disk",
			dir, mib(free), mib(need), mib(size))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// resumeHint marks an error after which the output folder is consistent
// and the same command continues the run.
type resumeHint struct {
	err  error
	hint string
}

func (r *resumeHint) Error() string { return r.err.Error() + "; " + r.hint }
func (r *resumeHint) Unwrap() error { return r.err }

// resumable adds to an error of a run in out how to continue it: after an
// interruption (the CLI's context is cancelled on SIGINT and SIGTERM,
// and every file is written whole, so the folder holds the finished
// iterations) or a full disk.
func resumable(err error, out string) error {
	switch {
	case errors.Is(err, context.Canceled):
		return &resumeHint{err, fmt.Sprintf("%s holds every finished iteration; run the same command again to resume", out)}
	case errors.Is(err, syscall.ENOSPC):
		return &resumeHint{err, fmt.Sprintf("free some space and run the same command again to resume the run in %s", out)}
	}
	return err
}
