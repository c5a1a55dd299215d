package batch

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a batch, numbered from 0. Job k (in
// manifest order) belongs to shard k mod Count: the assignment depends on
// the manifest alone, so that shards run by separate processes, on
// separate machines, split the jobs between them exactly, with no
// coordination but the shared output folder.
type Shard struct {
	Index, Count int
}

// All is the whole batch as one shard.
var All = Shard{0, 1}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Owns reports whether job j belongs to shard s.
func (s Shard) Owns(j Job) bool { return j.Index%s.Count == s.Index }

// Select returns the jobs of s, in order.
func (s Shard) Select(jobs []Job) []Job {
	var out []Job
	for _, j := range jobs {
		if s.Owns(j) {
			out = append(out, j)
		}
	}
	return out
}

// ParseShard reads "I/N": shard I (from 0) of N.
func ParseShard(spec string) (Shard, error) {
	a, b, ok := strings.Cut(spec, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("batch: shard %q: want I/N, such as 0/3", spec)
	}
	return NewShard(i, n)
}

// NewShard returns shard i of n, checked.
func NewShard(i, n int) (Shard, error) {
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("batch: shard %d/%d: want 0 ≤ I < N", i, n)
	}
	return Shard{i, n}, nil
}

// IndexVars are the environment variables a cluster engine gives each
// task its index in: a Kubernetes Indexed Job, then a Slurm job array
// (offset by SLURM_ARRAY_TASK_MIN, so that --array=1-3 works as 0-2).
var IndexVars = []string{"JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"}

// ShardFromEnv returns shard I of n, I read from the environment
// (IndexVars; getenv is os.Getenv in a program).
func ShardFromEnv(n int, getenv func(string) string) (Shard, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, v := range IndexVars {
		s := getenv(v)
		if s == "" {
			continue
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return Shard{}, fmt.Errorf("batch: %s=%q is not a task index", v, s)
		}
		if v == "SLURM_ARRAY_TASK_ID" {
			if m := getenv("SLURM_ARRAY_TASK_MIN"); m != "" {
				lo, err := strconv.Atoi(m)
				if err != nil {
					return Shard{}, fmt.Errorf("batch: SLURM_ARRAY_TASK_MIN=%q is not a task index", m)
				}
				i -= lo
			}
		}
		sh, err := NewShard(i, n)
		if err != nil {
			return Shard{}, fmt.Errorf("%w (from %s)", err, v)
		}
		return sh, nil
	}
	return Shard{}, fmt.Errorf("batch: --shards %d needs the task index in %s", n, strings.Join(IndexVars, " or "))
}
