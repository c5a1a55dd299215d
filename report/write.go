package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/search"
)

// The files Write makes in a run's output folder.
const (
	MarkdownFile = "report.md"
	PlotFile     = "tradeoff.png"
	HistoryFile  = "history.json"
)

// Write renders res into dir: tradeoff.png, then report.md, each written
// atomically (internal/atomicfile).
func Write(dir string, res *search.Result) error {
	png, err := Plot(res)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	if err := Markdown(&md, res); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, PlotFile), png); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, MarkdownFile), md.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Load reads a run's record from dir/history.json.
func Load(dir string) (*search.Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, HistoryFile))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var res search.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("report: %s: %w", filepath.Join(dir, HistoryFile), err)
	}
	return &res, nil
}
