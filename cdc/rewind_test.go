package cdc_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestRewoundDatabaseStopsTheStream: the database goes back to an earlier
// state under a running stream, as after a restore from a backup or a
// failover to a replica that lacked the latest transactions. Positions the
// stream published are then gone, or, once the rewound database writes on,
// hold other changes: going on from its position would skip those changes
// and leave its clients with rows that no longer exist. The stream stops
// with ErrRewound instead, found both ways: with the journal's head behind
// the stream, and with it past the stream but another transaction at the
// stream's position.
func TestRewoundDatabaseStopsTheStream(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		writesOn bool
		want     string
	}{
		{"head behind", false, "the journal's head is position 3, and this instance has seen 6"},
		{"other changes at the position", true, "position 6 of the journal now holds transaction"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := followR(t)
			cluster, u, db, sink := f.cluster, f.u, f.db, f.sink
			backup := filepath.Join(t.TempDir(), "data")
			if err := cluster.Save(ctx, backup); err != nil {
				t.Fatal(err)
			}
			insertR(t, u, 4, 6)
			sink.waitFor(t, 6, 10*time.Second)

			var before func() error
			if tt.writesOn {
				// The rewound database takes positions 4 to 7 before the
				// stream finds it again.
				before = func() error {
					insertR(t, cluster.URL("app"), 10, 13)
					storetest.Exec(t, cluster.URL("app"), `SELECT pgfeed.step()`)
					return nil
				}
			}
			if err := cluster.Rewind(ctx, backup, before); err != nil {
				t.Fatal(err)
			}
			expectRewound(t, f.s, f.done, tt.want)
			if got := sink.last(); got != 6 {
				t.Fatalf("stream published up to %d after the database went back, want 6", got)
			}
			if tt.writesOn {
				resumeAfterRewind(t, db, sink.all())
			}
		})
	}
}

// resumeAfterRewind checks which cursors can resume once the database went
// back to position 3 and then gave positions 4 to 7 to other changes: a
// client's cursor names a change by its position and tag, and those the
// stream published at 4 to 6 (before) are gone. The database cannot tell
// them apart by position: this rewind made no jump (same timeline, as a
// copy of the data directory put back).
func resumeAfterRewind(t *testing.T, db *store.DB, before []cdc.Change) {
	t.Helper()
	ctx := context.Background()
	j := cdc.Journal{DB: db}
	now, err := j.ReadAfter(ctx, 0, 10)
	if err != nil || len(now) != 7 {
		t.Fatalf("journal after the rewind: %d changes, %v; want 7", len(now), err)
	}
	for _, c := range []struct {
		what  string
		since int64
		mark  cdc.Mark
		want  bool
	}{
		{"cursor 3, kept by the rewind", 3, cdc.Mark{Pos: 3, Tag: before[2].Tag()}, true},
		{"cursor 5 of the lost history", 5, cdc.Mark{Pos: 5, Tag: before[4].Tag()}, false},
		{"cursor 6 of the lost history", 6, cdc.Mark{Pos: 6, Tag: before[5].Tag()}, false},
		{"cursor of part of change 6 of the lost history", 5, cdc.Mark{Pos: 6, Tag: before[5].Tag()}, false},
		{"cursor 6 of the new history", 6, cdc.Mark{Pos: 6, Tag: now[5].Tag()}, true},
		{"cursor of part of change 7 of the new history", 6, cdc.Mark{Pos: 7, Tag: now[6].Tag()}, true},
		{"cursor 6 without a tag, taken on trust", 6, cdc.Mark{Pos: 6}, true},
	} {
		if ok, err := j.Resumable(ctx, c.since, c.mark); err != nil || ok != c.want {
			t.Errorf("%s: Resumable = %v, %v; want %v", c.what, ok, err, c.want)
		}
	}
}

// rFollower is a stream from position 0 over table r of database app in
// a cluster of the test's own, which has published positions 1 to 3.
type rFollower struct {
	cluster *pglocal.Cluster
	u       string // app's URL
	db      *store.DB
	sink    *collector
	s       *cdc.Stream
	done    <-chan error // what the stream's Run returned
}

func followR(tb testing.TB) rFollower {
	tb.Helper()
	f := rFollower{sink: newCollector()}
	f.cluster, f.u = newAppCluster(tb, nil, `CREATE TABLE r (id int PRIMARY KEY); SELECT pgfeed.track('r')`)
	f.db = storetest.Open(tb, f.u)
	f.s, _, f.done = startStream(tb, f.db, f.sink, cdc.Options{From: 0})
	insertR(tb, f.u, 1, 3)
	f.sink.waitFor(tb, 3, 10*time.Second)
	return f
}

// insertR inserts rows from to to into table r of the database at u, one
// transaction each.
func insertR(tb testing.TB, u string, from, to int) {
	tb.Helper()
	for i := from; i <= to; i++ {
		storetest.Exec(tb, u, `INSERT INTO r VALUES ($1)`, i)
	}
}

// expectRewound waits for the stream s (whose Run returns on done) to stop
// with ErrRewound, its message holding want.
func expectRewound(tb testing.TB, s *cdc.Stream, done <-chan error, want string) {
	tb.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, cdc.ErrRewound) || !strings.Contains(err.Error(), want) {
			tb.Fatalf("stream ended with %v, want ErrRewound: %s", err, want)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("stream still running 30s after the database went back (position %d)", s.Position())
	}
}
