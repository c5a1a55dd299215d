package onnxcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/savehook"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func requireChecker(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// writeModel saves a small MobileNetV2 at the opset after edit changes it.
func writeModel(t *testing.T, dir, name string, opset int64, edit func(*onnxio.Model)) string {
	t.Helper()
	m, err := models.MobileNetV2(models.Config{Width: 0.25, Resolution: 32, Classes: 10, Opset: opset})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheck: the checker passes a valid model, fails one whose declared
// output shape contradicts shape inference (strict mode), and does not
// judge a model beyond its opsets.
func TestCheck(t *testing.T) {
	requireChecker(t)
	dir := t.TempDir()
	good := writeModel(t, dir, "good.onnx", 13, nil)
	bad := writeModel(t, dir, "bad.onnx", 13, func(m *onnxio.Model) {
		m.Graph.Outputs[0].Type.Shape = onnxio.ShapeOf(1, 11)
	})
	newer := writeModel(t, dir, "opset21.onnx", 21, nil)
	paths := []string{good, bad, newer}
	res, err := CheckFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Status{Passed, Failed, Skipped} {
		if res[i].Status != want {
			t.Errorf("%s: %s %q, want %s", filepath.Base(paths[i]), res[i].Status, res[i].Message, want)
		}
	}
	if !strings.Contains(res[1].Message, "ShapeInferenceError") {
		t.Errorf("bad model: message %q, want a shape inference error", res[1].Message)
	}
}

// TestCollector: models saved through onnxio.Save are collected once per
// content, and a failing one is reported under the path the test saved it
// to.
func TestCollector(t *testing.T) {
	requireChecker(t)
	c := newCollector()
	savehook.Saved = c.add
	defer func() { savehook.Saved = nil }()
	dir := t.TempDir()
	m, err := models.MobileNetV2(models.Config{Width: 0.25, Resolution: 32, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.onnx", "b.onnx"} {
		if err := onnxio.Save(filepath.Join(dir, name), m, onnxio.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m.Graph.Outputs[0].Type.Shape = onnxio.ShapeOf(1, 11)
	if err := onnxio.Save(filepath.Join(dir, "wrong.onnx"), m, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	// A third-party model that was invalid before onnx-adapt read it, and
	// written back unchanged, is not held against onnx-adapt.
	active = c
	defer func() { active = nil }()
	src := writeModel(t, t.TempDir(), "third-party.onnx", 13, func(m *onnxio.Model) {
		m.Graph.Outputs[0].Type.Shape = onnxio.ShapeOf(1, 12)
	})
	back, err := onnxio.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnxio.Save(filepath.Join(dir, "roundtrip.onnx"), back, onnxio.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	FromSource(filepath.Join(dir, "roundtrip.onnx"), src)
	if len(c.order) != 3 {
		t.Errorf("%d distinct models collected, want 3", len(c.order))
	}
	var w bytes.Buffer
	err = c.report(&w)
	if err == nil || !strings.Contains(err.Error(), "wrong.onnx") || strings.Contains(err.Error(), "a.onnx") || strings.Contains(err.Error(), "roundtrip") {
		t.Errorf("report: %v; want the failure of wrong.onnx alone", err)
	}
	if !strings.Contains(w.String(), "3 models from the tests checked") || !strings.Contains(w.String(), "1 failed as their third-party source does") {
		t.Errorf("summary %q", w.String())
	}
}
