package main

import (
	"context"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestSessionCPU: the CPU time of a pgfeed session that works grows, and a
// session of another application is not counted.
func TestSessionCPU(t *testing.T) {
	u := storetest.NewDB(t)
	ctx := context.Background()
	db, err := store.Open(ctx, u, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pid int
	if err := db.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	before, local, err := sessionCPU(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !local {
		t.Skip("PostgreSQL runs on another machine: its sessions' CPU time cannot be read")
	}
	if _, ok := before[pid]; !ok {
		t.Fatalf("session %d of pgfeed not listed: %v", pid, before)
	}
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM generate_series(1, 3000000)`); err != nil {
		t.Fatal(err)
	}
	after, _, err := sessionCPU(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("sessions %v, then %v: the query's own connection is not pgfeed's and must not count", before, after)
	}
	if d := cpuSince(before, after); d < 50*time.Millisecond {
		t.Errorf("a query counting 3 million rows used %v of CPU time, want at least 50ms", d)
	}
}
