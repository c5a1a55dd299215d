package lut

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// saveRounds is how many saves each concurrent writer makes, each after
// adding one entry of its own.
const saveRounds = 60

// writeEntries adds saveRounds entries of writer w to a table of its own
// and saves it to path after each, as a job extending the shared table
// does (in a process of its own: see TestMain).
func writeEntries(path string, w int) error {
	t := New(fakeHeader(), nil)
	for i := range saveRounds {
		cin := 8 * (1 + w*saveRounds + i)
		if err := t.Put(Entry{Key: dwKey.withChannels(cin, cin), MS: float64(w + 1), Runs: 1}); err != nil {
			return err
		}
		if err := t.Save(path); err != nil {
			return err
		}
	}
	return nil
}

// checkAll reads the table at path and checks that it holds every entry
// of writers writers: none lost to another's save.
func checkAll(t *testing.T, path string, writers int) {
	t.Helper()
	got := readTable(t, path)
	if want := writers * saveRounds; got.Len() != want {
		t.Fatalf("the shared table holds %d entries after %d writers saved %d each: %d lost", got.Len(), writers, saveRounds, want-got.Len())
	}
}

// TestSaveConcurrentProcesses: processes that extend one table file at
// the same time (a batch's shards on shared storage) lose none of each
// other's entries. Without the lock around Save's read-merge-write, two
// savers read the same old file and the second overwrites the first's
// additions.
func TestSaveConcurrentProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.json")
	const writers = 3
	var cmds []*exec.Cmd
	for w := range writers {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "LUT_TEST_WRITER_PATH="+path, fmt.Sprintf("LUT_TEST_WRITER=%d", w))
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	checkAll(t, path, writers)
}

// TestSaveConcurrentGoroutines: the same within one process, with a table
// per goroutine (flock locks are per open file, so goroutines exclude each
// other too).
func TestSaveConcurrentGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lut.json")
	const writers = 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() { errs[w] = writeEntries(path, w) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, path, writers)
}

// readTable reads the table file at path.
func readTable(t *testing.T, path string) *Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}
