package anonip

import "testing"

// TestFlagCacheNeverAnswersWrong fills the cache with more offsets than it
// has slots: colliding entries evict each other, so a get may miss, but a
// hit must be the flags put for that very offset.
func TestFlagCacheNeverAnswersWrong(t *testing.T) {
	var c flagCache
	flagsFor := func(off uint64) Flags { return Flags(off*7) & 0x3f }
	const n = 4 * cacheSlots
	for off := range uint64(n) {
		c.put(off*13, flagsFor(off*13))
	}
	hits := 0
	for off := range uint64(n) {
		f, ok := c.get(off * 13)
		if ok {
			hits++
			if want := flagsFor(off * 13); f != want {
				t.Errorf("get(%d): got %v, want %v", off*13, f, want)
			}
		}
	}
	if hits == 0 {
		t.Errorf("got no hits after %d puts, want some", n)
	}
	if _, ok := c.get(5); ok {
		t.Errorf("get(5) never put: got a hit, want a miss")
	}
}

func TestFlagCacheZeroFlags(t *testing.T) {
	var c flagCache
	if _, ok := c.get(0); ok {
		t.Fatal("empty cache: got a hit for offset 0, want a miss")
	}
	c.put(0, 0)
	if f, ok := c.get(0); !ok || f != 0 {
		t.Errorf("get(0): got %v, %v; want none, true", f, ok)
	}
}

func TestFlagCacheHugeOffset(t *testing.T) {
	var c flagCache
	c.put(maxCachedOffset+1, TorExitNode)
	if f, ok := c.get(maxCachedOffset + 1); ok {
		t.Errorf("get(offset too large to pack): got %v, want a miss", f)
	}
}
