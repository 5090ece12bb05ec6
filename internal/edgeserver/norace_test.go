//go:build !race

package edgeserver

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
