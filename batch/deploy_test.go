package batch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// decodeStrict decodes a Kubernetes manifest into v as the API server's
// strict field validation does: YAML to JSON refusing duplicate keys
// (sigs.k8s.io/yaml), then JSON into the API type case-sensitively,
// refusing unknown fields (sigs.k8s.io/json, what apimachinery uses;
// encoding/json would match "completionmode" to completionMode).
func decodeStrict(data []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// TestKubernetesJob: the example Indexed Job decodes strictly into the
// Kubernetes API's batch/v1 Job type (decodeStrict: an unknown or
// misspelt field, a wrong type or a duplicate key is an error), and it
// runs one shard per index: as many completions as --shards, indexed.
func TestKubernetesJob(t *testing.T) {
	data, err := os.ReadFile("../deploy/kubernetes/job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	if err := decodeStrict(data, &job); err != nil {
		t.Fatalf("not a valid batch/v1 Job: %v", err)
	}
	if job.APIVersion != "batch/v1" || job.Kind != "Job" {
		t.Errorf("apiVersion %q, kind %q", job.APIVersion, job.Kind)
	}
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed (JOB_COMPLETION_INDEX)", spec.CompletionMode)
	}
	if spec.Completions == nil || spec.Parallelism == nil {
		t.Fatal("completions and parallelism must be set")
	}
	cs := spec.Template.Spec.Containers
	if len(cs) != 1 || len(cs[0].Args) < 2 || cs[0].Args[0] != "batch" {
		t.Fatalf("containers %+v: want one running onnx-adapt batch", cs)
	}
	shards := -1
	for _, a := range cs[0].Args {
		if v, ok := strings.CutPrefix(a, "--shards="); ok {
			shards, _ = strconv.Atoi(v)
		}
	}
	if shards != int(*spec.Completions) {
		t.Errorf("--shards %d, but %d completions: a shard would run twice or never", shards, *spec.Completions)
	}
	if spec.Template.Spec.RestartPolicy != "Never" && spec.Template.Spec.RestartPolicy != "OnFailure" {
		t.Errorf("restartPolicy %q", spec.Template.Spec.RestartPolicy)
	}
	// The check is strict: a misspelt field, an unknown one, a wrong type
	// and a duplicate key are refused.
	for _, bad := range [][2]string{{"completionMode:", "completionmode:"}, {"parallelism: 3", "parallelism: 3\n  shards: 3"},
		{"completions: 3", "completions: three"}, {"parallelism: 3", "parallelism: 3\n  parallelism: 2"}} {
		if err := decodeStrict([]byte(strings.Replace(string(data), bad[0], bad[1], 1)), &batchv1.Job{}); err == nil {
			t.Errorf("%q for %q decoded without error: the check is not strict", bad[1], bad[0])
		}
	}
}

// TestSlurmScript: the array script is valid bash, and an array task runs
// its shard of as many shards as the array has tasks (a stub onnx-adapt
// prints the arguments it is given).
func TestSlurmScript(t *testing.T) {
	script, err := filepath.Abs("../deploy/slurm/batch.sbatch")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	bin := t.TempDir()
	stub := "#!/bin/sh\necho \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "onnx-adapt"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cmd := exec.Command("bash", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_COUNT=3",
		"SLURM_JOB_CONSTRAINTS=c7i")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "batch zoo.yaml --shards 3 --lut tables/c7i.json"; got != want {
		t.Errorf("the script runs onnx-adapt %s, want %s", got, want)
	}
	data, _ := os.ReadFile(script)
	if !strings.Contains(string(data), "#SBATCH --array=0-2") {
		t.Error("the array is not 0-2: SLURM_ARRAY_TASK_ID would not be a shard index from 0")
	}
	sh, err := ShardFromEnv(3, func(k string) string { return map[string]string{"SLURM_ARRAY_TASK_ID": "2"}[k] })
	if err != nil || sh != (Shard{2, 3}) {
		t.Errorf("shard of task 2: %v, %v", sh, err)
	}
}

// TestExampleManifest: the example manifest gives every model × every
// constraint set.
func TestExampleManifest(t *testing.T) {
	data, err := os.ReadFile("../deploy/zoo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"mobilenetv2-0.25.onnx", "mobilenetv1-0.25.onnx"} {
		if err := os.WriteFile(filepath.Join(dir, "models", n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Parse(data, filepath.Join(dir, "zoo.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range m.Jobs {
		names = append(names, j.Name)
	}
	want := []string{"default/lat70", "default/lat50", "mobilenetv2-0.25/lat70", "mobilenetv2-0.25/lat50",
		"mobilenetv1-0.25/lat70", "mobilenetv1-0.25/lat50"}
	if !slices.Equal(names, want) {
		t.Errorf("jobs %v, want %v", names, want)
	}
}
