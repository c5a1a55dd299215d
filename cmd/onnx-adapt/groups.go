package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/onnx-adapt/onnx-adapt/surgery"
)

type groupsCmd struct {
	model   modelFlags
	members bool
}

func (*groupsCmd) name() string  { return "groups" }
func (*groupsCmd) usage() string { return "groups MODEL [--members] [--json]" }
func (*groupsCmd) summary() string {
	return "list the channel groups that prune together, and why some are frozen"
}

func (c *groupsCmd) flags(fs *pflag.FlagSet) {
	c.model.register(fs)
	fs.BoolVar(&c.members, "members", false, "list every member tensor axis of each group")
}

type groupJSON struct {
	ID      int              `json:"id"`
	Size    int              `json:"size"`
	Members int              `json:"members"`
	Roots   []string         `json:"roots"`
	Frozen  string           `json:"frozen,omitempty"`
	List    []surgery.Member `json:"member_list,omitempty"`
}

type groupsJSON struct {
	Model    string      `json:"model"`
	Prunable int         `json:"prunable"`
	Groups   []groupJSON `json:"groups"`
}

func (c *groupsCmd) run(e *env, args []string) error {
	path, err := oneModelArg(args)
	if err != nil {
		return err
	}
	m, err := c.model.load(path)
	if err != nil {
		return err
	}
	a, err := surgery.Analyze(m.Graph)
	if err != nil {
		return err
	}
	out := groupsJSON{Model: path, Prunable: len(a.Prunable()), Groups: []groupJSON{}}
	for _, g := range a.Groups {
		gj := groupJSON{ID: g.ID, Size: g.Size, Members: len(g.Members), Roots: g.Roots, Frozen: g.Frozen}
		if gj.Roots == nil {
			gj.Roots = []string{}
		}
		if c.members {
			gj.List = g.Members
		}
		out.Groups = append(out.Groups, gj)
	}
	if e.json {
		return e.writeJSON(out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "id\tsize\tmembers\troots\tstatus\n")
	for _, g := range out.Groups {
		status := "prunable"
		if g.Frozen != "" {
			status = "frozen: " + g.Frozen
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\n", g.ID, g.Size, g.Members, rootsString(g.Roots), status)
		if c.members {
			for _, mem := range g.List {
				fmt.Fprintf(w, "\t\t\t  %s %s axis %d\tchannels %d..%d at %d", mem.Kind, mem.Tensor, mem.Axis, mem.Lo, mem.Hi-1, mem.Offset)
				if mem.Inner > 1 {
					fmt.Fprintf(w, ", %d features each", mem.Inner)
				}
				if mem.Outer > 1 {
					fmt.Fprintf(w, ", repeated %d× every %d", mem.Outer, mem.Period)
				}
				fmt.Fprintln(w)
			}
		}
	}
	w.Flush()
	fmt.Fprintf(e.stdout, "\n%d groups, %d prunable\n", len(out.Groups), out.Prunable)
	return nil
}

// rootsString shows the first root layer and how many more there are.
func rootsString(roots []string) string {
	switch len(roots) {
	case 0:
		return "-"
	case 1:
		return trim(roots[0], 50)
	}
	return fmt.Sprintf("%s +%d", trim(roots[0], 50), len(roots)-1)
}
