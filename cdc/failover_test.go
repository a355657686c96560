package cdc_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestFailoverToALaggingReplica: the database fails over to a replica that
// lacked the last transactions (promoted, on a new timeline), which takes
// new changes before pgfeed finds it. Positions 4 to 6 that the old primary
// gave are lost, and must not name the new changes: the sequencer jumps,
// so that the stream that published them stops with ErrRewound, a client
// cursor from the lost positions cannot resume while the one from before
// them can, and a stream from there reads across the jump.
func TestFailoverToALaggingReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := followR(t)
	primary, u, db, sink := f.cluster, f.u, f.db, f.sink

	replicaDir := filepath.Join(primary.Dir(), "replica") // removed with the primary
	replica, err := primary.Standby(ctx, pglocal.Options{Dir: replicaDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	insertR(t, u, 4, 6) // never reach the replica
	sink.waitFor(t, 6, 10*time.Second)

	// The replica is promoted and takes changes, then serves at the
	// primary's address.
	storetest.Exec(t, replica.URL("app"), `SELECT pg_promote()`)
	insertR(t, replica.URL("app"), 10, 12)
	storetest.Exec(t, replica.URL("app"), `SELECT pgfeed.step()`)
	if err := primary.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	if err := replica.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	promoted, err := pglocal.Start(ctx, pglocal.Options{Dir: replicaDir,
		Settings: map[string]string{"unix_socket_directories": "'" + primary.SocketDir() + "'"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { promoted.Close() })

	expectRewound(t, f.s, f.done, "new timeline")

	j := cdc.Journal{DB: db}
	head, _, err := db.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for since, want := range map[int64]bool{3: true, 5: false, 6: false, head: true} {
		if ok, err := j.Resumable(ctx, since, cdc.Mark{Pos: since}); err != nil || ok != want {
			t.Fatalf("Resumable(%d) on the new primary = %v, %v; want %v", since, ok, err, want)
		}
	}
	// Cursor 3 with its tag: the change there is the one the client saw.
	if ok, err := j.Resumable(ctx, 3, cdc.Mark{Pos: 3, Tag: sink.all()[2].Tag()}); err != nil || !ok {
		t.Fatalf("Resumable(3) with its tag on the new primary = %v, %v; want true", ok, err)
	}
	// A reader at position 3, as a client that resumes from there, gets
	// the new primary's changes, across the jump.
	after := newCollector()
	runStream(t, db, after, cdc.Options{Name: "after", From: 3})
	after.waitFor(t, head, 10*time.Second)
	var got []string
	for _, c := range after.all() {
		got = append(got, string(c.New[0]))
		if c.Pos <= 3+1<<32-1 {
			t.Errorf("change at position %d, inside the jump", c.Pos)
		}
	}
	if strings.Join(got, " ") != `{"id":10} {"id":11} {"id":12}` {
		t.Fatalf("changes after position 3: %v", got)
	}
	rest, err := j.ReadAfter(ctx, 3, 100)
	if err != nil || len(rest) != 3 {
		t.Fatalf("replay after position 3: %d changes, %v; want 3", len(rest), err)
	}
}
