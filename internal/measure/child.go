package measure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Timer times serialized models together with protocol p, as Models does,
// and returns their latencies in order.
type Timer func(models [][]byte, p Protocol) ([]Latency, error)

// request is what a Child timer sends to its process (Serve reads it).
type request struct {
	Protocol Protocol `json:"protocol"`
	Models   [][]byte `json:"models"`
}

// Child returns a Timer that runs every measurement in a new process: the
// command name with args, which must call Serve on its standard input and
// output (onnx-adapt does, as a hidden command). A process that has
// trained a network for minutes times the same model measurably slower,
// relative to its source, than a fresh one does (BENCHMARKS.md, "One
// figure, three ways"); in a fresh process the search's verdict is the
// figure that `onnx-adapt measure` would give.
func Child(name string, args ...string) Timer {
	return func(models [][]byte, p Protocol) ([]Latency, error) {
		in, err := json.Marshal(request{Protocol: p, Models: models})
		if err != nil {
			return nil, err
		}
		var out, errOut bytes.Buffer
		cmd := exec.Command(name, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(errOut.String())
			if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
				msg = msg[i+1:]
			}
			return nil, fmt.Errorf("measure: timing process %s: %w: %s", name, err, msg)
		}
		var ls []Latency
		if err := json.Unmarshal(out.Bytes(), &ls); err != nil {
			return nil, fmt.Errorf("measure: timing process %s: %w", name, err)
		}
		if len(ls) != len(models) {
			return nil, fmt.Errorf("measure: timing process %s gave %d latencies for %d models", name, len(ls), len(models))
		}
		return ls, nil
	}
}

// Serve reads a Child timer's request from r, times its models with
// Models, and writes their latencies to w as JSON.
func Serve(r io.Reader, w io.Writer) error {
	var req request
	if err := json.NewDecoder(r).Decode(&req); err != nil {
		return fmt.Errorf("measure: reading the request: %w", err)
	}
	ls, err := Models(req.Models, req.Protocol)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(ls)
}
