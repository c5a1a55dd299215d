package surgery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

// Lineage records where a model that onnx-adapt wrote comes from: the
// source model it was derived from and the plan that, applied to that
// source, gives its architecture. It is stored in the model's
// metadata_props (Stamp, ReadLineage), one entry per field, so that any
// ONNX viewer shows it and any later run of onnx-adapt finds it:
//
//	onnx-adapt.source.sha256       SHA-256 of the source file's bytes
//	onnx-adapt.source.name         the source's file name, as given
//	onnx-adapt.source.fingerprint  the lookup-table fingerprint whose
//	                               calibration line applies (lut.Fingerprint)
//	onnx-adapt.plan                the plan, JSON (relative to the source)
//
// A model derived from a derived model keeps the first source and composes
// the plans (Derive).
type Lineage struct {
	SourceSHA256 string `json:"source_sha256"`
	SourceName   string `json:"source_name,omitempty"`
	Fingerprint  string `json:"fingerprint,omitempty"`
	Plan         Plan   `json:"plan"`
}

// Metadata keys of a lineage.
const (
	keySourceSHA256 = "onnx-adapt.source.sha256"
	keySourceName   = "onnx-adapt.source.name"
	keyFingerprint  = "onnx-adapt.source.fingerprint"
	keyPlan         = "onnx-adapt.plan"
)

// SHA256 returns the hex SHA-256 of data (a model file's bytes).
func SHA256(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// SourceLineage returns the lineage of a model loaded from the file bytes
// data (named name): the model's own lineage when onnx-adapt wrote it,
// else a lineage that starts at this file with an empty plan.
func SourceLineage(m *onnxio.Model, data []byte, name string) (Lineage, error) {
	l, ok, err := ReadLineage(m)
	if err != nil || ok {
		return l, err
	}
	return Lineage{SourceSHA256: SHA256(data), SourceName: name, Plan: Plan{Groups: []GroupPlan{}}}, nil
}

// Derive returns the lineage of a model made from one with lineage l by
// the resolved plan p (relative to that model).
func (l Lineage) Derive(p Plan) (Lineage, error) {
	if len(p.Groups) == 0 {
		return l, nil
	}
	base := l.Plan
	if base.Groups == nil {
		base.Groups = []GroupPlan{}
	}
	c, err := Compose(base, p)
	if err != nil {
		return Lineage{}, fmt.Errorf("surgery: lineage: %w", err)
	}
	l.Plan = c
	return l, nil
}

// Stamp writes l into m's metadata_props (m's other entries are kept). A
// lineage without a source is not written.
func (l Lineage) Stamp(m *onnxio.Model) error {
	if l.SourceSHA256 == "" {
		return nil
	}
	plan := l.Plan
	if plan.Groups == nil {
		plan.Groups = []GroupPlan{}
	}
	b, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("surgery: lineage: %w", err)
	}
	m.SetMetadata(keySourceSHA256, l.SourceSHA256)
	if l.SourceName != "" {
		m.SetMetadata(keySourceName, l.SourceName)
	}
	if l.Fingerprint != "" {
		m.SetMetadata(keyFingerprint, l.Fingerprint)
	}
	m.SetMetadata(keyPlan, string(b))
	return nil
}

// ReadLineage returns the lineage stored in m, and whether there is one.
func ReadLineage(m *onnxio.Model) (Lineage, bool, error) {
	sha, ok := m.Metadata(keySourceSHA256)
	if !ok {
		return Lineage{}, false, nil
	}
	l := Lineage{SourceSHA256: sha}
	l.SourceName, _ = m.Metadata(keySourceName)
	l.Fingerprint, _ = m.Metadata(keyFingerprint)
	l.Plan = Plan{Groups: []GroupPlan{}}
	if p, ok := m.Metadata(keyPlan); ok {
		plan, err := ParsePlan([]byte(p))
		if err != nil {
			return Lineage{}, false, fmt.Errorf("surgery: lineage: %s: %w", keyPlan, err)
		}
		l.Plan = plan
	}
	return l, true, nil
}
