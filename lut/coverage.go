package lut

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Coverage is how much of a model's lines (Lines) a table holds.
type Coverage struct {
	Units   int   // units in the model
	Keys    int   // distinct keys on their lines
	Missing []Key // the keys the table lacks, in Lines order
}

// Coverage returns which keys of g's lines, at the table's step and for
// the layout its entries were measured in, the table lacks. It measures
// nothing: it answers "would this table, from the deployment device, serve
// this model?" before a foreign table is used.
func (t *Table) Coverage(g *onnxio.Graph) (Coverage, error) {
	units, err := Units(g)
	if err != nil {
		return Coverage{}, err
	}
	reqs := Lines(g, units, t.Header.Step, t.UsesNCHWc())
	c := Coverage{Units: len(units), Keys: len(reqs)}
	for _, r := range reqs {
		if _, ok := t.Lookup(r.Key); !ok {
			c.Missing = append(c.Missing, r.Key)
		}
	}
	return c, nil
}

// Err is nil when the table holds every key, and otherwise an error that
// names the first few missing keys.
func (c Coverage) Err() error {
	if len(c.Missing) == 0 {
		return nil
	}
	const shown = 5
	var names []string
	for i, k := range c.Missing {
		if i == shown {
			names = append(names, fmt.Sprintf("and %d more", len(c.Missing)-shown))
			break
		}
		names = append(names, k.String())
	}
	return fmt.Errorf("lut: the table lacks %d of the %d keys on the model's lines (%s)",
		len(c.Missing), c.Keys, strings.Join(names, "; "))
}

// CachePath returns the table file shared by every run on this machine
// with the same session options and grid step: onnx-adapt/lut-tTHREADS-
// OPTLEVEL-sSTEP.json in the user cache folder, which it creates. The
// header inside the file guards the rest of the set-up (CPU,
// onnxruntime version; see Open).
func CachePath(opts ort.Options, step int) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("lut: no cache folder for the lookup table: %w", err)
	}
	dir = filepath.Join(dir, "onnx-adapt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lut: %w", err)
	}
	return filepath.Join(dir, fmt.Sprintf("lut-t%d-%s-s%d.json", opts.IntraOpThreads, opts.OptLevel, step)), nil
}
