//go:build !race

package anonip_test

const raceEnabled = false
