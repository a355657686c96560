package cdc_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestInstancesAgreeAndTakeOver is property 5 across instances: two streams
// on one database emit the same changes at the same positions, only one of
// them sequences, and when it stops the other takes over with no gap.
func TestInstancesAgreeAndTakeOver(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE two (id int PRIMARY KEY, v int); SELECT pgfeed.track('two');`)
	dbA, dbB := storetest.Open(t, u), storetest.Open(t, u)
	a, b := newCollector(), newCollector()

	streamA, stopA, doneA := startStream(t, dbA, a, cdc.Options{Name: "a", From: 0})
	deadline := time.Now().Add(10 * time.Second)
	for !streamA.Leader() {
		if time.Now().After(deadline) {
			t.Fatal("first stream never became the sequencer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	streamB := runStream(t, dbB, b, cdc.Options{Name: "b", From: 0})

	for i := 1; i <= 20; i++ {
		storetest.Exec(t, u, `INSERT INTO two VALUES ($1, 0)`, i)
	}
	a.waitFor(t, 20, 10*time.Second)
	b.waitFor(t, 20, 10*time.Second)
	if streamB.Leader() {
		t.Fatal("both streams sequence")
	}

	stopA()
	if err := <-doneA; err != nil && err != context.Canceled {
		t.Fatalf("first stream: %v", err)
	}
	for i := 1; i <= 20; i++ {
		storetest.Exec(t, u, `UPDATE two SET v = v + 1 WHERE id = $1`, i)
	}
	b.waitFor(t, 40, 10*time.Second) // only the second stream is left to sequence
	if !streamB.Leader() {
		t.Fatal("second stream did not take over sequencing")
	}

	ca, cb := a.all(), b.all()
	checkOrder(t, cb, 0)
	for i := range ca {
		if ca[i].Pos != cb[i].Pos || ca[i].XID != cb[i].XID || string(ca[i].New[0]) != string(cb[i].New[0]) {
			t.Fatalf("change %d differs: %d/%d %s, %d/%d %s", i, ca[i].Pos, ca[i].XID, ca[i].New[0], cb[i].Pos, cb[i].XID, cb[i].New[0])
		}
	}
}
