package ort

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check(addModel(t)); err != nil {
		t.Fatalf("Check of a valid model: %v", err)
	}
	err := Check([]byte("not a model"))
	if err == nil || !strings.Contains(err.Error(), "cannot load") {
		t.Fatalf("Check of garbage: %v", err)
	}
}
