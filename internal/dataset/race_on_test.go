//go:build race

package dataset

// raceEnabled reports a -race build, where sync.Pool drops items at
// random and allocation counts mean nothing.
const raceEnabled = true
