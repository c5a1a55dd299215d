package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestEstimateFollowsLineage: a model that prune wrote records its source
// and plan; estimate finds the source's calibration through that lineage
// (and says so), and inspect shows it.
func TestEstimateFollowsLineage(t *testing.T) {
	model := zooModel(t, "mobilenetv2")
	table := filepath.Join(t.TempDir(), "lut.json")
	pruned := filepath.Join(t.TempDir(), "pruned.onnx")
	timing := []string{"--blocks", "3", "--block-ms", "1", "--lut", table}

	type estimate struct {
		Calibration string `json:"calibration"`
		Lineage     *struct {
			SourceSHA256 string `json:"source_sha256"`
			Fingerprint  string `json:"fingerprint"`
			Plan         struct {
				Groups []json.RawMessage `json:"groups"`
			} `json:"plan"`
		} `json:"lineage"`
	}
	run := func(args ...string) estimate {
		t.Helper()
		code, stdout, stderr := cli(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		var e estimate
		if err := json.Unmarshal([]byte(stdout), &e); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stdout)
		}
		return e
	}

	// Before any calibration the pruned model's estimate is uncalibrated.
	if code, _, stderr := cli(t, "prune", model, "--fraction", "0.25", "-o", pruned); code != exitOK {
		t.Fatalf("prune: exit %d: %s", code, stderr)
	}
	if e := run(append([]string{"estimate", pruned, "--json"}, timing...)...); e.Calibration != "none" || e.Lineage == nil {
		t.Fatalf("before calibrating: %+v", e)
	}
	src := run(append([]string{"estimate", model, "--calibrate", "--calibrate-variants", "2", "--json"}, timing...)...)
	if src.Calibration != "model" || src.Lineage != nil {
		t.Fatalf("source: %+v, want its own calibration and no lineage", src)
	}
	e := run(append([]string{"estimate", pruned, "--json"}, timing...)...)
	if e.Calibration != "source" || e.Lineage == nil || len(e.Lineage.SourceSHA256) != 64 || e.Lineage.Fingerprint == "" ||
		len(e.Lineage.Plan.Groups) == 0 {
		t.Fatalf("pruned model: %+v, want the source's calibration found through its lineage", e)
	}
	code, stdout, stderr := cli(t, "inspect", pruned, "--json")
	if code != exitOK {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var ins struct {
		Lineage *struct {
			SourceSHA256 string `json:"source_sha256"`
		} `json:"lineage"`
	}
	if err := json.Unmarshal([]byte(stdout), &ins); err != nil || ins.Lineage == nil || ins.Lineage.SourceSHA256 != e.Lineage.SourceSHA256 {
		t.Fatalf("inspect --json lineage %+v, %v", ins.Lineage, err)
	}
}
