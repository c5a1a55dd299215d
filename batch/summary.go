package batch

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// Row is one job of a summary.
type Row struct {
	Job, Model, Constraints, Status, Error string
	Iterations                             int
	// Source and Final are the source's and the adapted model's figures
	// (Final: the last iteration's model when the search was blocked, and
	// zero when nothing was written).
	Source, Final search.Figures
	Seconds       float64
}

// Summary is a batch's outcome, one row per job of the manifest.
type Summary struct {
	Rows []Row
}

// Summarize reads what the jobs of m wrote in their folders, whoever ran
// them (one process, or shards on shared storage): each job's record and
// history. A job without a record is pending.
func Summarize(m *Manifest) (*Summary, error) {
	s := &Summary{}
	for _, j := range m.Jobs {
		row := Row{Job: j.Name, Model: j.Model, Constraints: j.Constraints, Status: Pending}
		rec, err := ReadRecord(j)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			row.Status, row.Error, row.Seconds = rec.Status, rec.Error, rec.Seconds
		}
		res, err := search.ReadHistory(j.Dir)
		if err != nil {
			return nil, err
		}
		if res != nil {
			row.Iterations = len(res.Iterations)
			row.Source, row.Final = res.Source, res.Final
			if res.File == "" && row.Iterations > 0 {
				row.Final = res.Iterations[row.Iterations-1].Figures
			}
		}
		s.Rows = append(s.Rows, row)
	}
	return s, nil
}

// Counts returns how many rows have each status.
func (s *Summary) Counts() map[string]int {
	c := map[string]int{}
	for _, r := range s.Rows {
		c[r.Status]++
	}
	return c
}

// columns of the CSV and markdown tables.
var columns = []string{"job", "status", "iterations", "source_ms", "source_noise_ms", "final_ms", "final_noise_ms",
	"source_macs", "final_macs", "final_params", "final_bytes", "held_out_top1", "test_top1", "seconds", "error"}

func (r Row) cells() []string {
	f := func(v float64, prec int) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	i := func(v int64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	acc := func(a *search.Figures, test bool) string {
		x := a.HeldOut
		if test {
			x = a.Test
		}
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(100*x.Top1, 'f', 2, 64)
	}
	return []string{r.Job, r.Status, strconv.Itoa(r.Iterations), f(r.Source.MeasuredMS, 4), f(r.Source.NoiseMS, 4),
		f(r.Final.MeasuredMS, 4), f(r.Final.NoiseMS, 4), i(r.Source.MACs), i(r.Final.MACs), i(r.Final.Params),
		i(r.Final.Bytes), acc(&r.Final, false), acc(&r.Final, true), f(r.Seconds, 1), r.Error}
}

// WriteCSV writes the summary as CSV, a header and one row per job.
func (s *Summary) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns); err != nil {
		return err
	}
	for _, r := range s.Rows {
		if err := cw.Write(r.cells()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteMarkdown writes the summary as a markdown table.
func (s *Summary) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	c := s.Counts()
	fmt.Fprintf(&b, "# Batch summary\n\n%d jobs: %d met, %d not met, %d blocked, %d failed, %d pending.\n"+
		"Latencies are onnxruntime medians of block medians ± their standard error (noise), measured on the machine that ran the job.\n\n",
		len(s.Rows), c[Met], c[NotMet], c[Blocked], c[Failed], c[Pending])
	b.WriteString("| job | status | iterations | source ms | final ms | MACs | params | bytes | held-out top-1 | test top-1 | wall s |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range s.Rows {
		x := r.cells()
		lat := func(ms, noise string) string {
			if ms == "" {
				return ""
			}
			return ms + " ± " + noise
		}
		status := x[1]
		if r.Error != "" {
			status += ": " + strings.ReplaceAll(r.Error, "|", `\|`)
		}
		macs := x[8]
		if x[7] != "" && x[8] != "" {
			macs = x[7] + " → " + x[8]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			x[0], status, x[2], lat(x[3], x[4]), lat(x[5], x[6]), macs, x[9], x[10], x[11], x[12], x[13])
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Summary files written by Write into the manifest's output folder.
const (
	SummaryCSV      = "summary.csv"
	SummaryMarkdown = "summary.md"
	TradeoffPlot    = "tradeoff.png"
)

// Write writes the summary's CSV, markdown and trade-off plot into dir,
// each atomically.
func (s *Summary) Write(dir string) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{{SummaryCSV, s.WriteCSV}, {SummaryMarkdown, s.WriteMarkdown}, {TradeoffPlot, s.WritePlot}} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.write); err != nil {
			return fmt.Errorf("batch: %s: %w", f.name, err)
		}
	}
	return nil
}
