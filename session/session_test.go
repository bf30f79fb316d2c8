package session

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	l := Limits{Absolute: 12 * time.Hour, Idle: 30 * time.Minute, Pending: 5 * time.Minute}
	tests := []struct {
		name     string
		lastSeen time.Duration // after t0
		now      time.Duration // after t0
		pending  bool
		want     Reason
	}{
		{"fresh", 0, time.Minute, false, ""},
		{"just under idle", 0, 30*time.Minute - time.Nanosecond, false, ""},
		{"idle exactly", 0, 30 * time.Minute, false, ReasonIdle},
		{"active all day", 11*time.Hour + 50*time.Minute, 11*time.Hour + 59*time.Minute, false, ""},
		{"absolute exactly", 11*time.Hour + 59*time.Minute, 12 * time.Hour, false, ReasonAbsolute},
		{"both: absolute wins", 0, 13 * time.Hour, false, ReasonAbsolute},
		{"pending within bound", 0, 4 * time.Minute, true, ""},
		{"pending past bound", 4 * time.Minute, 5 * time.Minute, true, ReasonAbsolute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Check(t0, t0.Add(tt.lastSeen), t0.Add(tt.now), tt.pending, l); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTouchAfter(t *testing.T) {
	if got := TouchAfter(30*time.Minute, 20); got != 90*time.Second {
		t.Errorf("got %s, want 1m30s", got)
	}
	if got := TouchAfter(time.Minute, 0); got != 30*time.Second {
		t.Errorf("fraction below 2: got %s, want 30s", got)
	}
}
