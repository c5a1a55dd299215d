package ort

import (
	"testing"
)

func TestOptLevel(t *testing.T) {
	var zero OptLevel
	if zero != OptAll {
		t.Errorf("zero OptLevel is %v, want all", zero)
	}
	for _, l := range []OptLevel{OptAll, OptExtended, OptBasic, OptDisable} {
		got, err := ParseOptLevel(l.String())
		if err != nil || got != l {
			t.Errorf("ParseOptLevel(%q) = %v, %v", l.String(), got, err)
		}
		var f OptLevel
		if err := f.Set(l.String()); err != nil || f != l {
			t.Errorf("Set(%q) = %v, %v", l.String(), f, err)
		}
	}
	for in, want := range map[string]OptLevel{"ALL": OptAll, " Basic ": OptBasic, "none": OptDisable, "disabled": OptDisable} {
		if got, err := ParseOptLevel(in); err != nil || got != want {
			t.Errorf("ParseOptLevel(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	f := OptBasic
	if err := f.Set("fast"); err == nil || f != OptBasic {
		t.Errorf("Set(fast) = %v and left %v; want an error and no change", err, f)
	}
	if OptLevel(9).String() != "OptLevel(9)" || f.Type() == "" {
		t.Error("String of an invalid level or Type is wrong")
	}
	// A pflag.Value, without importing pflag here.
	var _ interface {
		String() string
		Set(string) error
		Type() string
	} = &f
}
