//go:build !race

package origin_test

// raceEnabled is true when the race detector is on: allocation counts then
// mean nothing.
const raceEnabled = false
