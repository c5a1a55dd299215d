package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	gyaml "github.com/goccy/go-yaml"
	gparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// A manifest, in YAML (or JSON, which YAML reads too):
//
//	output: runs                 # where the job folders go (relative to the manifest)
//	lut: tables/this-device.json # one latency table for every job (default: the device's own)
//	defaults:                    # adapt flags for every job
//	  data: /usr/share/datasets/fashion-mnist
//	  short-steps: 20
//	models:
//	  - name: default            # "default" alone is the embedded model
//	  - path: zoo/mobilenetv2.onnx   # name: the file's stem
//	    flags: {round-to: 4}
//	constraints:                 # every model × every constraint set
//	  - macs: 200000             # name: macs-200000
//	  - name: fast
//	    latency-fraction: 0.5
//	    flags: {short-steps: 40}
//
// A model may list its own constraints instead of the shared ones. A job's
// flags are the defaults, then the model's, then the constraint set's;
// each is an adapt flag (without the dashes), a list giving the flag once
// per item.

// Manifest is a parsed manifest.
type Manifest struct {
	// Path is the manifest file; Dir its folder, which relative paths in
	// it start from.
	Path, Dir string
	// Output is the folder of the job folders; Table the shared latency
	// table ("" for the device's own in the user cache folder).
	Output, Table string
	Jobs          []Job
}

// Job is one adaptation: a model under one constraint set.
type Job struct {
	// Index is the job's place in the manifest (models in order, each
	// with its constraint sets in order); shards are assigned by it.
	Index int
	// Name is MODEL/CONSTRAINTS, also the job's folder under Output.
	Name, Model, Constraints string
	// Path is the model file ("" for the embedded default model).
	Path string
	// Flags are the job's adapt flags, in order.
	Flags []Flag
	// Dir is the job's output folder.
	Dir string
	// Line is the manifest line of the job's constraint set.
	Line int
}

// Flag is one adapt flag of a job and the manifest line that set it.
type Flag struct {
	Name, Value string
	Line        int
}

// Args returns the job's adapt flags as command-line arguments.
func (j Job) Args() []string {
	var args []string
	for _, f := range j.Flags {
		args = append(args, "--"+f.Name+"="+f.Value)
	}
	return args
}

// Where is the job's place in the manifest, for messages.
func (j Job) Where(m *Manifest) string {
	return fmt.Sprintf("%s:%d", m.Path, j.Line)
}

// FlagCheck checks one flag of a job (name without dashes, value as a
// flag parser reads it); Load reports its error with the flag's line.
type FlagCheck func(name, value string) error

// targets are the constraint keys of a constraint set, which are adapt
// flags too.
var targets = []string{"latency-ms", "latency-fraction", "macs", "params"}

// reserved are flags a manifest may not set: batch sets them per job.
var reserved = map[string]string{"o": "the job folders go under output", "output": "the job folders go under output",
	"lut": "give the table at the top level (lut:)", "force": "give --force to batch"}

// LineError is a mistake in a manifest, at a line.
type LineError struct {
	Path string
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("batch: %s:%d: %s", e.Path, e.Line, e.Msg)
}

// Load reads and checks the manifest at path; check, when set, checks
// every flag of every job (adapt's parser). Every mistake is a
// *LineError naming the line, the first one found.
func Load(path string, check FlagCheck) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	return Parse(data, path, check)
}

// syntaxLine finds the line in a YAML syntax error ("yaml: line 3: ...").
var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse parses manifest data read from path (see Load).
//
// The manifest is read with go.yaml.in/yaml/v3, whose nodes carry their
// lines. Its syntax errors name the line where the enclosing block
// starts, not where the mistake is, so a syntax error is located by
// github.com/goccy/go-yaml's parser, which names the line of the
// offending token.
func Parse(data []byte, path string, check FlagCheck) (*Manifest, error) {
	p := &parser{path: path, check: check}
	if _, err := gparser.ParseBytes(data, 0); err != nil {
		var se *gyaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
			return nil, &LineError{path, se.Token.Position.Line, "not valid YAML: " + se.Message}
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := syntaxLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return nil, &LineError{path, n, "not valid YAML: " + m[2]}
		}
		return nil, &LineError{path, 1, "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return nil, &LineError{path, 1, "empty manifest: give models and constraints"}
	}
	m, err := p.manifest(doc.Content[0])
	if err != nil {
		return nil, err
	}
	return m, nil
}

type parser struct {
	path  string
	check FlagCheck
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return &LineError{p.path, n.Line, fmt.Sprintf(format, args...)}
}

// fields returns the keys and values of a mapping, refusing keys not in
// allowed (nil: any) and duplicates.
func (p *parser) fields(n *yaml.Node, what string, allowed []string) ([]*yaml.Node, []*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, p.errf(n, "%s must be a mapping of keys to values", what)
	}
	var keys, vals []*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, nil, p.errf(k, "%s: a key must be a plain name", what)
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, nil, p.errf(k, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return nil, nil, p.errf(k, "%s: %q given twice", what, k.Value)
		}
		seen[k.Value] = true
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals, nil
}

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, "%s must be a single value", what)
	}
	return n.Value, nil
}

func (p *parser) manifest(root *yaml.Node) (*Manifest, error) {
	keys, vals, err := p.fields(root, "the manifest", []string{"output", "lut", "defaults", "models", "constraints"})
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(p.path)
	m := &Manifest{Path: p.path, Dir: dir, Output: filepath.Join(dir, strings.TrimSuffix(filepath.Base(p.path), filepath.Ext(p.path)))}
	var defaults []Flag
	var models, constraints *yaml.Node
	for i, k := range keys {
		v := vals[i]
		switch k.Value {
		case "output", "lut":
			s, err := p.scalar(v, k.Value)
			if err != nil {
				return nil, err
			}
			if s == "" {
				return nil, p.errf(v, "%s is empty", k.Value)
			}
			s = p.rel(s)
			if k.Value == "output" {
				m.Output = s
			} else {
				m.Table = s
			}
		case "defaults":
			if defaults, err = p.flags(v, "defaults"); err != nil {
				return nil, err
			}
		case "models":
			models = v
		case "constraints":
			constraints = v
		}
	}
	if models == nil || models.Kind != yaml.SequenceNode || len(models.Content) == 0 {
		at := root
		if models != nil {
			at = models
		}
		return nil, p.errf(at, "models: give a list of at least one model")
	}
	var shared []constraintSet
	if constraints != nil {
		if shared, err = p.constraintList(constraints); err != nil {
			return nil, err
		}
	}
	names := map[string]int{}
	for _, mn := range models.Content {
		md, err := p.model(mn)
		if err != nil {
			return nil, err
		}
		if line, dup := names[md.name]; dup {
			return nil, p.errf(mn, "model %q is also on line %d: give each model its own name", md.name, line)
		}
		names[md.name] = mn.Line
		sets := shared
		if md.constraints != nil {
			sets = md.constraints
		}
		if len(sets) == 0 {
			return nil, p.errf(mn, "model %q has no constraint set: give constraints at the top level or in the model", md.name)
		}
		for _, cs := range sets {
			j := Job{Index: len(m.Jobs), Name: md.name + "/" + cs.name, Model: md.name, Constraints: cs.name,
				Path: md.path, Line: cs.line}
			j.Dir = filepath.Join(m.Output, md.name, cs.name)
			j.Flags = merge(defaults, md.flags, cs.flags)
			if err := p.checkFlags(j); err != nil {
				return nil, err
			}
			m.Jobs = append(m.Jobs, j)
		}
	}
	return m, nil
}

// rel resolves a path relative to the manifest's folder.
func (p *parser) rel(s string) string {
	if filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(filepath.Dir(p.path), s)
}

// merge returns the flags of layers, later layers replacing earlier
// flags of the same name (a list replaces the whole list).
func merge(layers ...[]Flag) []Flag {
	var out []Flag
	for _, l := range layers {
		names := map[string]bool{}
		for _, f := range l {
			names[f.Name] = true
		}
		out = slices.DeleteFunc(out, func(f Flag) bool { return names[f.Name] })
		out = append(out, l...)
	}
	return out
}

func (p *parser) checkFlags(j Job) error {
	set := 0
	for _, f := range j.Flags {
		if slices.Contains(targets, f.Name) {
			set++
		}
	}
	if set == 0 {
		return &LineError{p.path, j.Line, fmt.Sprintf("job %s has no target: give one of %s", j.Name, strings.Join(targets, ", "))}
	}
	return nil
}

// flags reads a mapping of adapt flags.
func (p *parser) flags(n *yaml.Node, what string) ([]Flag, error) {
	keys, vals, err := p.fields(n, what, nil)
	if err != nil {
		return nil, err
	}
	var out []Flag
	for i, k := range keys {
		name := k.Value
		if why, ok := reserved[name]; ok {
			return nil, p.errf(k, "%s: %s is set by batch (%s)", what, name, why)
		}
		var items []*yaml.Node
		switch v := vals[i]; v.Kind {
		case yaml.ScalarNode:
			items = []*yaml.Node{v}
		case yaml.SequenceNode:
			items = v.Content
		default:
			return nil, p.errf(v, "%s: %s must be a value or a list of values", what, name)
		}
		for _, it := range items {
			if it.Kind != yaml.ScalarNode {
				return nil, p.errf(it, "%s: %s: a list item must be a single value", what, name)
			}
			value := it.Value
			if name == "data" && value != "" {
				value = p.rel(value)
			}
			if p.check != nil {
				if err := p.check(name, value); err != nil {
					return nil, p.errf(k, "%s: %s: %v", what, name, err)
				}
			}
			out = append(out, Flag{Name: name, Value: value, Line: k.Line})
		}
	}
	return out, nil
}

type modelEntry struct {
	name, path  string
	flags       []Flag
	constraints []constraintSet
}

// nameRE is what a model or constraint-set name may be: it names a folder.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (p *parser) name(n *yaml.Node, s string) error {
	if !nameRE.MatchString(s) {
		return p.errf(n, "name %q: use letters, digits, '.', '_' and '-' (it names a folder)", s)
	}
	return nil
}

func (p *parser) model(n *yaml.Node) (*modelEntry, error) {
	if n.Kind == yaml.ScalarNode { // "- zoo/x.onnx" or "- default"
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "path", Line: n.Line}, n}}
	}
	keys, vals, err := p.fields(n, "a model", []string{"name", "path", "flags", "constraints"})
	if err != nil {
		return nil, err
	}
	md := &modelEntry{}
	var nameNode *yaml.Node
	for i, k := range keys {
		v := vals[i]
		switch k.Value {
		case "name":
			if md.name, err = p.scalar(v, "name"); err != nil {
				return nil, err
			}
			nameNode = v
		case "path":
			if md.path, err = p.scalar(v, "path"); err != nil {
				return nil, err
			}
			if md.path == "default" {
				md.path = ""
			} else if md.path != "" {
				md.path = p.rel(md.path)
				if _, err := os.Stat(md.path); err != nil {
					return nil, p.errf(v, "model %s: %v", v.Value, errors.Unwrap(err))
				}
			}
		case "flags":
			if md.flags, err = p.flags(v, "flags"); err != nil {
				return nil, err
			}
		case "constraints":
			if md.constraints, err = p.constraintList(v); err != nil {
				return nil, err
			}
		}
	}
	if md.name == "" {
		if md.path == "" {
			md.name = "default"
		} else {
			md.name = strings.TrimSuffix(filepath.Base(md.path), filepath.Ext(md.path))
		}
		nameNode = n
	}
	if err := p.name(nameNode, md.name); err != nil {
		return nil, err
	}
	return md, nil
}

type constraintSet struct {
	name  string
	flags []Flag
	line  int
}

func (p *parser) constraintList(n *yaml.Node) ([]constraintSet, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "constraints: give a list of at least one constraint set")
	}
	var out []constraintSet
	names := map[string]int{}
	for _, cn := range n.Content {
		keys, vals, err := p.fields(cn, "a constraint set", append([]string{"name", "flags"}, targets...))
		if err != nil {
			return nil, err
		}
		cs := constraintSet{line: cn.Line}
		var auto []string
		nameNode := cn
		for i, k := range keys {
			v := vals[i]
			switch k.Value {
			case "name":
				if cs.name, err = p.scalar(v, "name"); err != nil {
					return nil, err
				}
				nameNode = v
			case "flags":
				fl, err := p.flags(v, "flags")
				if err != nil {
					return nil, err
				}
				cs.flags = append(cs.flags, fl...)
			default:
				s, err := p.scalar(v, k.Value)
				if err != nil {
					return nil, err
				}
				if p.check != nil {
					if err := p.check(k.Value, s); err != nil {
						return nil, p.errf(v, "%s: %v", k.Value, err)
					}
				}
				cs.flags = append(cs.flags, Flag{Name: k.Value, Value: s, Line: k.Line})
				auto = append(auto, k.Value+"-"+s)
			}
		}
		if len(auto) == 0 {
			return nil, p.errf(cn, "a constraint set needs a target: one of %s", strings.Join(targets, ", "))
		}
		if cs.name == "" {
			cs.name = strings.Join(auto, "_")
		}
		if err := p.name(nameNode, cs.name); err != nil {
			return nil, err
		}
		if line, dup := names[cs.name]; dup {
			return nil, p.errf(cn, "constraint set %q is also on line %d: give each its own name", cs.name, line)
		}
		names[cs.name] = cn.Line
		out = append(out, cs)
	}
	return out, nil
}
