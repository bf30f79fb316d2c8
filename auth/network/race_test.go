//go:build race

package network

// raceEnabled: allocation counts are meaningless under the race detector
// (sync.Pool in the anonymous-IP lookup drops items); make test runs the
// allocation tests once more without it.
const raceEnabled = true
