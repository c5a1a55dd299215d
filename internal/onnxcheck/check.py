# The ONNX checker worker of internal/onnxcheck. It reads models from stdin,
# each as a line "ID LENGTH" followed by LENGTH bytes of serialized
# ModelProto, and answers each with a line "ID<TAB>STATUS<TAB>MESSAGE" on
# stdout, where STATUS is OK, FAIL, or SKIP for a model beyond the opsets or
# IR version this onnx release knows, which it cannot judge.
#
# check_model is given the bytes: onnx 1.12's check_model(PATH,
# full_check=True) writes the inferred shapes back into the file.
import sys

import onnx
import onnx.checker
import onnx.defs

MAX_OPSET = onnx.defs.onnx_opset_version()
MAX_IR = onnx.IR_VERSION


def verdict(data):
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as e:
        return "FAIL", "not a ModelProto: %s" % e
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if model.ir_version > MAX_IR or opset > MAX_OPSET:
        return "SKIP", "IR version %d, opset %d: onnx %s checks up to IR %d, opset %d" % (
            model.ir_version, opset, onnx.__version__, MAX_IR, MAX_OPSET)
    try:
        onnx.checker.check_model(data, full_check=True)
    except Exception as e:  # ValidationError, InferenceError, ...
        return "FAIL", "%s: %s" % (type(e).__name__, " ".join(str(e).split()))
    return "OK", ""


def main():
    inp = sys.stdin.buffer
    while True:
        header = inp.readline()
        if not header:
            return
        ident, length = header.split()
        data = inp.read(int(length))
        status, msg = verdict(data)
        sys.stdout.write("%s\t%s\t%s\n" % (ident.decode(), status, msg))
        sys.stdout.flush()


main()
