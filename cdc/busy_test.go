package cdc

import (
	"testing"
	"time"
)

func TestBusyWait(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		desc             string
		busy, took, want time.Duration
	}{
		{"fast step waits the Busy interval", 2 * ms, 100 * time.Microsecond, 2 * ms},
		{"slow step waits four times its time", 2 * ms, 2 * ms, 8 * ms},
		{"very slow step waits at most the cap", 2 * ms, 50 * ms, maxBusyWait},
		{"a Busy interval above the cap is kept", 20 * ms, 50 * ms, 20 * ms},
	}
	for _, tc := range tests {
		if got := busyWait(tc.busy, tc.took); got != tc.want {
			t.Errorf("%s: busyWait(%v, %v) = %v, want %v", tc.desc, tc.busy, tc.took, got, tc.want)
		}
	}
}
