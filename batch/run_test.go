package batch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/search"
)

// zoo returns a manifest of 7 models × 3 constraint sets (21 jobs).
func zoo(t *testing.T) *Manifest {
	t.Helper()
	var b strings.Builder
	b.WriteString("models:\n")
	for i := range 7 {
		fmt.Fprintf(&b, "  - name: m%d\n    path: m.onnx\n", i)
	}
	b.WriteString("constraints: [{macs: 100}, {macs: 200}, {params: 50}]\n")
	m, err := Load(writeManifest(t, b.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Jobs) != 21 {
		t.Fatalf("%d jobs", len(m.Jobs))
	}
	return m
}

// recorder is a Runner that records which jobs ran, for the scheduling
// tests (adapt itself is the command line's: its tests run it for real).
type recorder struct {
	mu    sync.Mutex
	ran   map[string]int
	fail  map[string]bool // jobs whose Run fails
	bad   string          // a job whose Check fails
	after func()          // called after each Run
}

func (r *recorder) Check(_ context.Context, j Job) error {
	if j.Name == r.bad {
		return errors.New("the data set has no training images")
	}
	return nil
}

func (r *recorder) Run(ctx context.Context, j Job) (*search.Result, error) {
	r.mu.Lock()
	if r.ran == nil {
		r.ran = map[string]int{}
	}
	r.ran[j.Name]++
	r.mu.Unlock()
	if r.after != nil {
		r.after()
	}
	if r.fail[j.Name] {
		return nil, errors.New("the loss diverged")
	}
	return &search.Result{File: filepath.Join(j.Dir, "adapted.onnx"), Met: true, Seconds: 1}, nil
}

// TestShardsRunEveryJobOnce: for every shard count from 1 to 16, the
// shards (run concurrently, as separate processes would) run every job
// exactly once between them, and the summary then has every job met.
func TestShardsRunEveryJobOnce(t *testing.T) {
	for n := 1; n <= 16; n++ {
		m := zoo(t)
		r := &recorder{}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				s, err := NewShard(i, n)
				if err == nil {
					_, err = Run(context.Background(), m, s, r, nil)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, j := range m.Jobs {
			if r.ran[j.Name] != 1 {
				t.Errorf("%d shards: job %s ran %d times", n, j.Name, r.ran[j.Name])
			}
		}
		if len(r.ran) != len(m.Jobs) {
			t.Errorf("%d shards ran %d jobs, want %d", n, len(r.ran), len(m.Jobs))
		}
		s, err := Summarize(m)
		if err != nil {
			t.Fatal(err)
		}
		if c := s.Counts(); c[Met] != len(m.Jobs) {
			t.Errorf("%d shards: summary %v", n, c)
		}
	}
}

// TestRunSkipsAndGoesOn: a failed job is recorded and the batch goes on;
// run again, the batch skips the finished jobs and retries the failed one.
func TestRunSkipsAndGoesOn(t *testing.T) {
	m := zoo(t)
	r := &recorder{fail: map[string]bool{"m1/macs-200": true}}
	out, err := Run(context.Background(), m, All, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Ran != 21 || len(out.Failed) != 1 || !strings.Contains(out.Failed[0], "m1/macs-200: the loss diverged") {
		t.Fatalf("outcome %+v", out)
	}
	rec, err := ReadRecord(m.Jobs[4])
	if err != nil || rec.Status != Failed || rec.Error != "the loss diverged" {
		t.Fatalf("record of the failed job: %+v, %v", rec, err)
	}
	r2 := &recorder{}
	out, err = Run(context.Background(), m, All, r2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Skipped != 20 || out.Ran != 1 || r2.ran["m1/macs-200"] != 1 {
		t.Fatalf("second batch: %+v, ran %v", out, r2.ran)
	}
}

// TestRunChecksFirst: a job with bad input stops the batch before any
// job runs, and nothing is written.
func TestRunChecksFirst(t *testing.T) {
	m := zoo(t)
	r := &recorder{bad: "m3/params-50"}
	_, err := Run(context.Background(), m, All, r, nil)
	if err == nil || !strings.Contains(err.Error(), "batch: job m3/params-50 (") || !strings.Contains(err.Error(), "zoo.yaml:") {
		t.Fatalf("error %v, want the job and its manifest line", err)
	}
	if len(r.ran) != 0 {
		t.Errorf("jobs ran: %v", r.ran)
	}
	if _, err := os.Stat(m.Output); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the output folder was created (%v)", err)
	}
}

// TestRunInterrupted: an interruption stops the batch at once; the job it
// was running stays pending, and the next batch runs it and the rest.
func TestRunInterrupted(t *testing.T) {
	m := zoo(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{}
	r.after = func() {
		if len(r.ran) == 3 {
			cancel()
		}
	}
	if _, err := Run(ctx, m, All, r, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want the interruption", err)
	}
	s, _ := Summarize(m)
	if c := s.Counts(); c[Met] != 2 || c[Pending] != 19 {
		t.Fatalf("after the interruption: %v", c)
	}
	r2 := &recorder{}
	if _, err := Run(context.Background(), m, All, r2, nil); err != nil {
		t.Fatal(err)
	}
	if len(r2.ran) != 19 || r2.ran[m.Jobs[2].Name] != 1 {
		t.Errorf("the next batch ran %d jobs (%v)", len(r2.ran), r2.ran)
	}
}

// TestShardParsing: I/N and the cluster engines' index variables.
func TestShardParsing(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Shard
		err  bool
	}{{"0/1", Shard{0, 1}, false}, {"2/3", Shard{2, 3}, false}, {"3/3", Shard{}, true}, {"-1/3", Shard{}, true}, {"1", Shard{}, true}, {"a/b", Shard{}, true}} {
		got, err := ParseShard(tc.spec)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.spec, got, err)
		}
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		getenv func(string) string
		want   Shard
		err    string
	}{
		{env("JOB_COMPLETION_INDEX", "2"), Shard{2, 4}, ""},
		{env("SLURM_ARRAY_TASK_ID", "3"), Shard{3, 4}, ""},
		{env("SLURM_ARRAY_TASK_ID", "4", "SLURM_ARRAY_TASK_MIN", "1"), Shard{3, 4}, ""},
		{env("JOB_COMPLETION_INDEX", "1", "SLURM_ARRAY_TASK_ID", "3"), Shard{1, 4}, ""},
		{env("JOB_COMPLETION_INDEX", "4"), Shard{}, "4/4"},
		{env(), Shard{}, "needs the task index in JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"},
	} {
		got, err := ShardFromEnv(4, tc.getenv)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ShardFromEnv: %v, %v; want %v, %q", got, err, tc.want, tc.err)
		}
	}
}
