package onnxio

// OpsetImports returns the model's opset imports: the version imported for
// each domain, with "" for the default ONNX domain (also when the file
// spells it "ai.onnx").
func (m *Model) OpsetImports() map[string]int64 {
	out := make(map[string]int64, len(m.rest.GetOpsetImport()))
	for _, o := range m.rest.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		out[d] = o.GetVersion()
	}
	return out
}
