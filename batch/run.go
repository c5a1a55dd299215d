package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// Statuses of a job.
const (
	// Pending: not run, or stopped part-way (its folder then holds the
	// finished iterations, and the next batch resumes it).
	Pending = "pending"
	// Met, NotMet and Blocked are finished adaptations: the adapted model
	// meets every constraint, does not, or the search stopped without a
	// model that does (search.Result.Blocked).
	Met     = "met"
	NotMet  = "not met"
	Blocked = "blocked"
	// Failed: the job stopped with an error; the next batch tries again.
	Failed = "failed"
)

// RecordFile is the name of a job's record in its folder.
const RecordFile = "job.json"

// Record is what a batch records of a job, in its folder (RecordFile).
type Record struct {
	Job         string `json:"job"`
	Model       string `json:"model"`
	Constraints string `json:"constraints"`
	Status      string `json:"status"`
	Error       string `json:"error,omitempty"`
	// Seconds is the adaptation's wall time (history.json's, which adds
	// up the attempts of a resumed run).
	Seconds float64 `json:"seconds"`
}

// finished reports whether a status ends a job: a batch run again skips it.
func finished(status string) bool { return status == Met || status == NotMet || status == Blocked }

// ReadRecord reads the record of job j; nil when there is none.
func ReadRecord(j Job) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(j.Dir, RecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("batch: %s: %w", filepath.Join(j.Dir, RecordFile), err)
	}
	return &r, nil
}

func writeRecord(j Job, r Record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(j.Dir, RecordFile), append(data, '\n')); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}

// Runner runs a batch's jobs: adapt, in the command line.
type Runner interface {
	// Check refuses bad input of job j (its model, data, target, table,
	// folder), without writing anything.
	Check(ctx context.Context, j Job) error
	// Run adapts, or resumes, job j in j.Dir and returns its result; a
	// result that does not meet its constraints is not an error.
	Run(ctx context.Context, j Job) (*search.Result, error)
}

// Outcome counts what Run did.
type Outcome struct {
	Ran, Skipped int
	// Failed names the jobs that failed, with their errors.
	Failed []string
}

// Run runs the jobs of shard s of m, in order, with r. Jobs that a
// previous batch finished are skipped. Every other job is checked first
// (Runner.Check), and a job with bad input stops the batch before any
// job runs or anything is written. A job that fails is recorded and the
// batch goes on. An interruption (ctx) stops the batch at once and leaves
// the job it was running pending: its folder holds the iterations it
// finished, and the next batch resumes it. progress, when set, gets a
// line for every job.
func Run(ctx context.Context, m *Manifest, s Shard, r Runner, progress func(string)) (*Outcome, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf(format, args...))
		}
	}
	jobs := s.Select(m.Jobs)
	var todo []Job
	out := &Outcome{}
	for _, j := range jobs {
		rec, err := ReadRecord(j)
		if err != nil {
			return nil, err
		}
		if rec != nil && finished(rec.Status) {
			out.Skipped++
			continue
		}
		todo = append(todo, j)
	}
	for _, j := range todo {
		if err := r.Check(ctx, j); err != nil {
			return nil, fmt.Errorf("batch: job %s (%s): %w", j.Name, j.Where(m), err)
		}
	}
	say("shard %s: %d jobs, %d finished before, %d to run", s, len(jobs), out.Skipped, len(todo))
	for k, j := range todo {
		say("job %d/%d: %s", k+1, len(todo), j.Name)
		res, err := r.Run(ctx, j)
		if ctx.Err() != nil {
			return out, fmt.Errorf("batch: job %s: %w", j.Name, ctx.Err())
		}
		rec := Record{Job: j.Name, Model: j.Model, Constraints: j.Constraints}
		switch {
		case err != nil:
			rec.Status, rec.Error = Failed, err.Error()
			out.Failed = append(out.Failed, fmt.Sprintf("%s: %v", j.Name, err))
			say("job %s failed: %v", j.Name, err)
		case res.File == "":
			rec.Status = Blocked
		case !res.Met:
			rec.Status = NotMet
		default:
			rec.Status = Met
		}
		if res != nil {
			rec.Seconds = res.Seconds
		}
		if werr := writeRecord(j, rec); werr != nil {
			return out, werr
		}
		out.Ran++
	}
	return out, nil
}
