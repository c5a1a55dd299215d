package lut

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/onnx-adapt/onnx-adapt/internal/atomicfile"
	"github.com/onnx-adapt/onnx-adapt/internal/ort"
)

// FormatVersion is the version of the table file format this package
// writes and reads.
const FormatVersion = 1

// DefaultStep is the default channel grid step.
const DefaultStep = 8

// Provider is the execution provider tables are measured with.
const Provider = "CPUExecutionProvider"

// Header describes the set-up a table was measured on. A table is valid
// only on a set-up with an equal header (see Header.Mismatch).
type Header struct {
	Format   int    `json:"format"`
	CPU      string `json:"cpu"`   // model name from /proc/cpuinfo
	Cores    int    `json:"cores"` // logical CPUs this process may use
	Arch     string `json:"arch"`  // GOOS/GOARCH
	Runtime  string `json:"onnxruntime"`
	Threads  int    `json:"threads"`   // intra-op threads
	OptLevel string `json:"opt_level"` // graph optimisation level
	Provider string `json:"execution_provider"`
	Step     int    `json:"step"` // channel grid step
}

// HostHeader returns the header of this machine with the given session
// options and grid step. It loads onnxruntime (for its version).
func HostHeader(opts ort.Options, step int) (Header, error) {
	if err := ort.Init(); err != nil {
		return Header{}, err
	}
	if step < 1 {
		return Header{}, fmt.Errorf("lut: grid step %d must be at least 1", step)
	}
	if opts.IntraOpThreads < 1 {
		return Header{}, fmt.Errorf("lut: the thread count must be explicit (at least 1), got %d", opts.IntraOpThreads)
	}
	return Header{
		Format: FormatVersion, CPU: cpuModel(), Cores: runtime.NumCPU(), Arch: runtime.GOOS + "/" + runtime.GOARCH,
		Runtime: ort.Version(), Threads: opts.IntraOpThreads, OptLevel: opts.OptLevel.String(), Provider: Provider, Step: step,
	}, nil
}

// cpuModel reads the CPU model name from /proc/cpuinfo ("model name" on
// x86, "Model"/"Hardware" or the CPU part on arm64), or "unknown".
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	return parseCPUInfo(data)
}

func parseCPUInfo(data []byte) string {
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, seen := found[k]; !seen && v != "" {
			found[k] = v
		}
	}
	for _, k := range []string{"model name", "Model", "Hardware", "cpu model"} {
		if v := found[k]; v != "" {
			return v
		}
	}
	if impl, part := found["CPU implementer"], found["CPU part"]; impl != "" || part != "" {
		return "implementer " + impl + " part " + part
	}
	return "unknown"
}

// HeaderMismatchError reports that a table was measured on another set-up.
type HeaderMismatchError struct {
	Path   string
	Fields []string // "threads: table 1, here 2", ...
}

func (e *HeaderMismatchError) Error() string {
	return fmt.Sprintf("lut: table %s was measured on another set-up (%s); measure a table here with \"onnx-adapt lut build\", or pass --lut-foreign to use it as a table from the target device",
		e.Path, strings.Join(e.Fields, "; "))
}

// Mismatch lists the fields in which h (a table's header) differs from
// want (the current set-up).
func (h Header) Mismatch(want Header) []string {
	var out []string
	add := func(name string, a, b any) {
		if a != b {
			out = append(out, fmt.Sprintf("%s: table %v, here %v", name, a, b))
		}
	}
	add("format", h.Format, want.Format)
	add("cpu", h.CPU, want.CPU)
	add("cores", h.Cores, want.Cores)
	add("arch", h.Arch, want.Arch)
	add("onnxruntime", h.Runtime, want.Runtime)
	add("threads", h.Threads, want.Threads)
	add("opt_level", h.OptLevel, want.OptLevel)
	add("execution_provider", h.Provider, want.Provider)
	add("step", h.Step, want.Step)
	return out
}

// Entry is one measured unit configuration.
type Entry struct {
	Key
	// MS is the latency of the unit's kernel as it runs inside a model, in
	// milliseconds, including one session Run's fixed overhead (the
	// OpOverhead entry): the lowest of the medians of a few blocks of runs
	// (see Measurer). P10 and P90 are over all runs.
	MS   float64 `json:"ms"`
	P10  float64 `json:"p10"`
	P90  float64 `json:"p90"`
	Runs int     `json:"runs"`
	// NCHWcIn[i] says onnxruntime reordered graph input i into its blocked
	// NCHWc layout before the unit's kernel (so, inside a model, the unit
	// reads an NCHWc producer's output without that reorder); NCHWcOut says
	// the unit's output came out of a ReorderOutput (inside a model, an NCHWc
	// consumer reads it without that reorder). Set only at optimisation
	// level "all", where onnxruntime's NCHWc transformer runs.
	NCHWcIn  []bool `json:"nchwc_in,omitempty"`
	NCHWcOut bool   `json:"nchwc_out,omitempty"`
}

func (e Entry) in(i int) bool { return i < len(e.NCHWcIn) && e.NCHWcIn[i] }

// Table is a latency lookup table: entries keyed by unit configuration,
// the header of the set-up they were measured on, and the calibrations
// fitted for source models. It is safe for concurrent use; measurements
// are serialised.
type Table struct {
	Header Header

	mu       sync.Mutex
	entries  map[Key]*Entry
	families map[Key]*family
	cals     map[string]Calibration
	foreign  bool
	meas     *Measurer
	measured int      // entries measured through this Table
	approx   []string // keys estimated from a neighbour (foreign tables)
}

// family indexes the entries along one unit's lines.
type family struct {
	cin, cout map[int]bool
	list      []*Entry
}

// New returns an empty table for the set-up h. With m non-nil, missing
// entries are measured on demand; with m nil the table only serves what it
// holds.
func New(h Header, m *Measurer) *Table {
	return &Table{Header: h, entries: map[Key]*Entry{}, families: map[Key]*family{}, cals: map[string]Calibration{}, meas: m}
}

// Foreign reports whether the table comes from another device.
func (t *Table) Foreign() bool { return t.foreign }

// SetMeasurer attaches (or, with nil, detaches) the Measurer used for
// missing entries. A foreign table never measures.
func (t *Table) SetMeasurer(m *Measurer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.foreign {
		t.meas = m
	}
}

// Len returns the number of entries.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// Measured returns how many entries this Table measured since it was made
// or opened.
func (t *Table) Measured() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.measured
}

// Entries returns a copy of every entry, sorted by key.
func (t *Table) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sorted()
}

func (t *Table) sorted() []Entry {
	out := make([]Entry, 0, len(t.entries))
	for _, e := range t.entries {
		c := *e
		c.NCHWcIn = slices.Clone(e.NCHWcIn)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareKeys(a.Key, b.Key) })
	return out
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(a.family().String(), b.family().String()); c != 0 {
		return c
	}
	if a.Cin != b.Cin {
		return a.Cin - b.Cin
	}
	return a.Cout - b.Cout
}

// Lookup returns the entry measured for exactly k.
func (t *Table) Lookup(k Key) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[k]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Put adds or replaces an entry.
func (t *Table) Put(e Entry) error {
	if err := e.validate(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.put(e)
	return nil
}

func (t *Table) put(e Entry) {
	if len(e.NCHWcIn) == 0 {
		e.NCHWcIn = nil // "nchwc_in": [] is written back as nothing (omitempty): one table, one value
	}
	p := &e
	if old, ok := t.entries[e.Key]; ok {
		*old = e
		return
	}
	t.entries[e.Key] = p
	fk := e.Key.family()
	f := t.families[fk]
	if f == nil {
		f = &family{cin: map[int]bool{}, cout: map[int]bool{}}
		t.families[fk] = f
	}
	f.cin[e.Cin] = true
	f.cout[e.Cout] = true
	f.list = append(f.list, p)
}

func (e *Entry) validate() error {
	k := e.Key
	switch {
	case k.Op == "" || k.Op == OpFree:
		return fmt.Errorf("lut: entry without a unit kind")
	case k.Batch < 0 || k.H < 0 || k.W < 0 || k.Cin < 0 || k.Cout < 0:
		return fmt.Errorf("lut: entry %s: negative size", k)
	case !finite(e.MS) || e.MS < 0 || !finite(e.P10) || !finite(e.P90) || e.Runs < 0:
		return fmt.Errorf("lut: entry %s: bad timing (ms %v, runs %d)", k, e.MS, e.Runs)
	}
	return nil
}

// Calibration returns the calibration stored for a model fingerprint.
func (t *Table) Calibration(model string) (Calibration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.cals[model]
	return c, ok
}

// SetCalibration stores a calibration under its model fingerprint.
func (t *Table) SetCalibration(c Calibration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cals[c.Model] = c
}

// fileJSON is the table file.
type fileJSON struct {
	Header       Header        `json:"header"`
	Calibrations []Calibration `json:"calibrations,omitempty"`
	Entries      []Entry       `json:"entries"`
}

// WriteTo writes the table as indented JSON, entries sorted by key.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	t.mu.Lock()
	f := fileJSON{Header: t.Header, Entries: t.sorted()}
	for _, c := range t.cals {
		f.Calibrations = append(f.Calibrations, c)
	}
	t.mu.Unlock()
	slices.SortFunc(f.Calibrations, func(a, b Calibration) int { return strings.Compare(a.Model, b.Model) })
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return 0, fmt.Errorf("lut: %w", err)
	}
	data = append(data, '\n')
	n, err := w.Write(data)
	return int64(n), err
}

// maxTableBytes bounds what Read accepts.
const maxTableBytes = 256 << 20

// Read parses a table file. The table has no Measurer.
func Read(r io.Reader) (*Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTableBytes+1))
	if err != nil {
		return nil, fmt.Errorf("lut: reading table: %w", err)
	}
	if len(data) > maxTableBytes {
		return nil, fmt.Errorf("lut: table is larger than %d bytes", maxTableBytes)
	}
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("lut: parsing table: %w", err)
	}
	if f.Header.Format != FormatVersion {
		return nil, fmt.Errorf("lut: table format %d is not supported (this build reads format %d)", f.Header.Format, FormatVersion)
	}
	if f.Header.Step < 1 {
		return nil, fmt.Errorf("lut: table header has grid step %d", f.Header.Step)
	}
	t := New(f.Header, nil)
	for _, e := range f.Entries {
		if err := e.validate(); err != nil {
			return nil, err
		}
		if _, dup := t.entries[e.Key]; dup {
			return nil, fmt.Errorf("lut: table has two entries for %s", e.Key)
		}
		t.put(e)
	}
	for _, c := range f.Calibrations {
		if err := c.validate(); err != nil {
			return nil, err
		}
		t.cals[c.Model] = c
	}
	return t, nil
}

// Open reads the table at path for the set-up want.
//
// A table whose header differs from want is refused with a
// *HeaderMismatchError, unless foreign is set: the table then comes from
// another device (the deployment target), is used as it is and never
// measures on this host; keys it lacks are estimated from neighbouring
// entries, with a warning (see Table.Latency). A missing file yields an
// empty table for want (an error when foreign). m, when non-nil and the
// table is not foreign, measures missing entries on demand.
func Open(path string, want Header, m *Measurer, foreign bool) (*Table, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !foreign {
		return New(want, m), nil
	}
	if err != nil {
		return nil, fmt.Errorf("lut: %w", err)
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	if foreign {
		t.foreign = true
		return t, nil
	}
	if d := t.Header.Mismatch(want); len(d) > 0 {
		return nil, &HeaderMismatchError{Path: path, Fields: d}
	}
	t.meas = m
	return t, nil
}

// Save writes the table to path atomically (internal/atomicfile). When
// path already holds a table with the same header, entries and
// calibrations only that file has are merged in first, so that jobs and
// processes extending one table (a batch's jobs, its shards on shared
// storage) do not lose each other's work; for keys both have, this table's
// values win. The read, merge and write happen under an exclusive lock on
// path+".lock" (flock(2); the lock file stays), so two savers cannot both
// read the old file and then each overwrite the other's additions.
func (t *Table) Save(path string) error {
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if old, err := os.Open(path); err == nil {
		prev, rerr := Read(old)
		old.Close()
		if rerr == nil && len(prev.Header.Mismatch(t.Header)) == 0 {
			t.mu.Lock()
			for k, e := range prev.entries {
				if _, ok := t.entries[k]; !ok {
					t.put(*e)
				}
			}
			for m, c := range prev.cals {
				if _, ok := t.cals[m]; !ok {
					t.cals[m] = c
				}
			}
			t.mu.Unlock()
		}
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := t.WriteTo(w)
		return err
	})
}
