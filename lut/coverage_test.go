package lut

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/onnx-adapt/onnx-adapt/internal/ort"
	"github.com/onnx-adapt/onnx-adapt/models"
)

// TestCoverage: a table missing some keys of a model's lines reports
// exactly those, in order, and an error naming the first five and the
// count; once they are in, the table covers the model. Nothing is
// measured.
func TestCoverage(t *testing.T) {
	m := buildModel(t, "mobilenetv2", models.Config{Resolution: 32, Width: 0.5})
	units, err := Units(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	reqs := Lines(m.Graph, units, 8, false)
	tab := New(fakeHeader(), nil)
	var lacking []Key
	for i, r := range reqs {
		if i%3 == 1 {
			lacking = append(lacking, r.Key)
			continue
		}
		if err := tab.Put(Entry{Key: r.Key, MS: 0.01, P10: 0.01, P90: 0.01, Runs: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(lacking) <= 5 {
		t.Fatalf("only %d keys lacking; the test wants more than five", len(lacking))
	}
	c, err := tab.Coverage(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if c.Units != len(units) || c.Keys != len(reqs) || !slices.Equal(c.Missing, lacking) {
		t.Fatalf("coverage %d units, %d keys, missing %v; want %d, %d, %v", c.Units, c.Keys, c.Missing, len(units), len(reqs), lacking)
	}
	msg := c.Err().Error()
	for _, want := range []string{lacking[0].String(), lacking[4].String(), "and " + strconv.Itoa(len(lacking)-5) + " more", strconv.Itoa(len(lacking)) + " of the " + strconv.Itoa(len(reqs))} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, lacking[5].String()) {
		t.Errorf("error %q names more than five keys", msg)
	}
	for _, k := range lacking {
		if err := tab.Put(Entry{Key: k, MS: 0.01, P10: 0.01, P90: 0.01, Runs: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err = tab.Coverage(m.Graph); err != nil || c.Err() != nil || len(c.Missing) != 0 {
		t.Fatalf("full table: %+v, %v, %v", c, err, c.Err())
	}
	if tab.Measured() != 0 {
		t.Errorf("Coverage measured %d entries", tab.Measured())
	}
}

// TestCachePath: the cache file is named after threads, optimisation
// level and step, in an onnx-adapt folder of the user cache folder, which
// is created; without a cache folder it is an error.
func TestCachePath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	var opt ort.OptLevel
	if err := opt.Set("basic"); err != nil {
		t.Fatal(err)
	}
	p, err := CachePath(ort.Options{IntraOpThreads: 2, OptLevel: opt}, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "onnx-adapt", "lut-t2-basic-s16.json"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
		t.Errorf("folder not created: %v", err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := CachePath(ort.Options{IntraOpThreads: 1}, 8); err == nil || !strings.HasPrefix(err.Error(), "lut: ") {
		t.Errorf("no cache folder: err %v", err)
	}
}
