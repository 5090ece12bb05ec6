//go:build race

package httpcache

// raceEnabled is true when the race detector is on: tests that need much
// memory skip then.
const raceEnabled = true
