// Package onnxio reads and writes ONNX models and holds them in a small,
// mutable graph IR.
//
// The IR (Model, Graph, Node, Value, Tensor) is kept apart from the file
// format, as onnx-graphsurgeon does: Decode turns protobuf into the IR,
// passes edit the IR, and Encode turns it back into protobuf. Values know
// their producer and consumers. Whatever the IR does not model (metadata,
// doc strings, functions, training info, other domains' attributes, fields
// from newer ONNX versions that protobuf keeps as unknown fields) is carried
// through untouched, so load → save → load gives a protobuf-equal model.
//
// Tensors keep their original storage form (raw_data, typed fields, or
// external data) until they are changed. External data locations are
// confined to the model's folder. Save is atomic: temporary files, fsync,
// an optional check of the finished bytes, then rename.
//
// The IR offers topological order, Clone, Verify (structure plus shape
// inference), and static shape inference for the operators CNNs use.
//
// It is also the one home of the ONNX semantics the other packages share:
// the default domain (Node.DefaultDomain), operator classes (ClassOf), the
// window of a Conv or pool (ReadWindow), the value of a constant in any of
// its forms (ConstValue, SetConst), axes (NormAxis, ShapeRange, SliceBounds)
// and the 16-bit float types (Float16ToFloat32 and the like).
package onnxio
