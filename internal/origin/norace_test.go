//go:build !race

package origin

// raceEnabled is true when the race detector is on: sync.Pool then drops
// items at random, so allocation counts of pooled paths mean nothing.
const raceEnabled = false
