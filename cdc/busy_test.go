package cdc

import (
	"testing"
	"time"
)

// TestBusyInterval: at moderate rates the sequencer steps every Busy, so a
// change waits at most Busy for its step; under heavy load it waits longer,
// never more than maxBusyFactor times Busy.
func TestBusyInterval(t *testing.T) {
	busy := 2 * time.Millisecond
	for _, c := range []struct {
		entries int64
		want    time.Duration
	}{
		{0, busy},
		{1, busy},
		{stepEntries, busy},
		{2 * stepEntries, 2 * busy},
		{3 * stepEntries, 3 * busy},
		{1000, maxBusyFactor * busy},
	} {
		if got := busyInterval(busy, c.entries); got != c.want {
			t.Errorf("after a step of %d entries: wait %v, want %v", c.entries, got, c.want)
		}
	}
}
