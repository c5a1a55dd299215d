package surgery_test

import (
	"encoding/json"
	"fmt"

	"github.com/onnx-adapt/onnx-adapt/models"
	"github.com/onnx-adapt/onnx-adapt/surgery"
)

// Prune a quarter of the channels of MobileNetV2's second residual chain,
// rounded to a multiple of 8, and see what the planner and Apply do.
func Example() {
	m, err := models.MobileNetV2(models.Config{Resolution: 64, Classes: 10, BN: models.BNFolded})
	if err != nil {
		panic(err)
	}
	a, err := surgery.Analyze(m.Graph)
	if err != nil {
		panic(err)
	}
	g := a.Group(6) // the 32-channel chain of blocks 4-6
	fmt.Printf("group %d: %d channels, %d roots, %d members, prunable %v\n", g.ID, g.Size, len(g.Roots), len(g.Members), g.Prunable())

	plan := surgery.Plan{RoundTo: 8, Groups: []surgery.GroupPlan{{Group: 6, Drop: 10}}}
	resolved, err := a.Resolve(plan)
	if err != nil {
		panic(err)
	}
	fmt.Printf("keeps %d channels\n", len(resolved.Groups[0].Keep))

	// The planner's view, before anything changes.
	in := m.Graph.Nodes[len(m.Graph.Nodes)-1].Input(0).Name // the classifier's input
	fmt.Println("classifier input:", a.Shape(in), "→", a.PrunedShape(in, resolved.Selection()))
	add := "/features/features.5/Add_output_0"
	fmt.Println("residual Add:", a.Shape(add), "→", a.PrunedShape(add, resolved.Selection()))

	if err := surgery.Apply(m.Graph, resolved); err != nil {
		panic(err)
	}
	fmt.Println("after Apply:", m.Graph.Value(add).Type.Shape)

	data, _ := json.Marshal(surgery.Plan{Groups: []surgery.GroupPlan{{Group: 6, Keep: []int{0, 3, 5}}}})
	fmt.Println(string(data))
	// Output:
	// group 6: 32 channels, 3 roots, 14 members, prunable true
	// keeps 24 channels
	// classifier input: [-1 1280] → [-1 1280]
	// residual Add: [-1 32 8 8] → [-1 24 8 8]
	// after Apply: [N 24 8 8]
	// {"groups":[{"group":6,"keep":[0,3,5]}]}
}
