package surgery

import (
	"math/rand/v2"
	"testing"
)

func TestSmallNetsGroups(t *testing.T) {
	for i, net := range smallNets {
		t.Run(net.name, func(t *testing.T) {
			m := net.build(newTG(t, 17, uint64(i)))
			a, err := Analyze(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if net.check != nil {
				net.check(t, a)
			}
			if t.Failed() {
				for _, g := range a.Groups {
					t.Logf("group %d size %d roots %v frozen %q", g.ID, g.Size, g.Roots, g.Frozen)
				}
			}
		})
	}
}

func TestSmallNetsOracle(t *testing.T) {
	needORT(t)
	for i, net := range smallNets {
		t.Run(net.name, func(t *testing.T) {
			m := net.build(newTG(t, 17, uint64(i)))
			a, err := Analyze(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Prunable()) == 0 {
				t.Fatal("no prunable group")
			}
			rng := rand.New(rand.NewPCG(uint64(i), 99))
			ok := 0
			for tries := 0; ok < 20 && tries < 60; tries++ {
				if checkPlan(t, m, a, randomPlan(rng, a)) {
					ok++
				}
			}
			if ok < 20 {
				t.Errorf("only %d applicable plans", ok)
			}
		})
	}
}
