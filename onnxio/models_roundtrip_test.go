package onnxio_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// TestRoundTripModels: every net the models package builds (each style and
// BN form) survives save → load as a protobuf-equal model, and onnxruntime
// gives bit-identical outputs for the original and the reloaded bytes.
func TestRoundTripModels(t *testing.T) {
	if err := ort.Init(); err != nil {
		t.Fatal(err)
	}
	for _, name := range models.Names() {
		for _, cfg := range []models.Config{
			{Resolution: 32, Classes: 10, Width: 0.5},
			{Resolution: 32, Classes: 10, Width: 0.5, BN: models.BNFolded},
			{Resolution: 32, Classes: 10, Width: 0.5, Style: models.StyleTF2ONNX},
		} {
			m, err := models.Build(name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want, err := m.Proto()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := onnxio.Save(path, m, onnxio.SaveOptions{}); err != nil {
				t.Fatal(err)
			}
			m2, err := onnxio.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m2.Proto()
			if err != nil {
				t.Fatal(err)
			}
			label := name + " " + cfg.BN.String() + " " + cfg.Style.String()
			if !proto.Equal(got, want) {
				t.Errorf("%s: reloaded model differs", label)
				continue
			}
			a, _ := onnxio.Encode(m)
			b, _ := onnxio.Encode(m2)
			s, err := ort.NewSession(a, ort.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			in, err := ort.RandomInputs(s.Inputs(), 2, 7)
			if err != nil {
				t.Fatal(err)
			}
			outA, err := s.Run(in)
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			outB, err := runModel(b, in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range outA {
				if !bytes.Equal(outA[i].Data, outB[i].Data) {
					t.Errorf("%s: output %d differs after the round trip", label, i)
				}
			}
		}
	}
}
