// The channel analysis: activations' channel axes and the constants whose
// axes follow channels.

package surgery

import (
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/onnxio"
)

func (a *analyzer) dims(v *onnxio.Value) []int64 {
	if v == nil || !v.Type.HasShape {
		return nil
	}
	return v.Type.Shape.Ints()
}

func (a *analyzer) setAct(v *onnxio.Value, axis int, l Layout) {
	if v == nil {
		return
	}
	a.ch[v] = &chanInfo{axis: axis, l: l}
	node := ""
	if p := v.Producer(); p != nil {
		node = p.Name
	}
	a.mems = append(a.mems, rawMember{tensor: v.Name, kind: "activation", node: node, axis: axis, l: l})
}

// isConst reports whether v is an initializer, a Constant output, or an
// Identity of one.
func (a *analyzer) isConst(v *onnxio.Value) bool { return v != nil && a.kind[v] == kConst }

// mapConst records that the constant read at input slot of the current
// node carries layout l on axis.
func (a *analyzer) mapConst(slot, axis int, l Layout, kind string) {
	src := onnxio.ConstSource(a.cur.Input(slot))
	var u *constUse
	for _, x := range a.cuses[src] {
		if x.node == a.cur && x.slot == slot {
			u = x
		}
	}
	if u == nil {
		u = &constUse{node: a.cur, slot: slot, axes: map[int]Layout{}, order: a.nuses}
		a.nuses++
		a.cuses[src] = append(a.cuses[src], u)
	}
	if old, ok := u.axes[axis]; ok {
		l, _ = a.unify(old, l, fmt.Sprintf("tensor %q", src.Name))
	}
	u.axes[axis] = l
	a.mems = append(a.mems, rawMember{tensor: src.Name, kind: kind, node: a.cur.Name, axis: axis, l: l})
}
