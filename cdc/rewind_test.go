package cdc_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
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
			cluster := storetest.NewCluster(t, nil)
			storetest.Exec(t, cluster.URL("postgres"), `CREATE DATABASE app`)
			u := cluster.URL("app")
			storetest.Migrate(t, u)
			storetest.Exec(t, u, `CREATE TABLE r (id int PRIMARY KEY); SELECT pgfeed.track('r')`)
			db := storetest.Open(t, u)
			sink := newCollector()
			s := cdc.NewStream(db, sink, cdc.Options{From: 0, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
			sctx, stop := context.WithCancel(ctx)
			defer stop()
			done := make(chan error, 1)
			go func() { done <- s.Run(sctx) }()

			for i := 1; i <= 3; i++ {
				storetest.Exec(t, u, `INSERT INTO r VALUES ($1)`, i)
			}
			sink.waitFor(t, 3, 10*time.Second)
			backup := filepath.Join(t.TempDir(), "data")
			if err := cluster.Save(ctx, backup); err != nil {
				t.Fatal(err)
			}
			for i := 4; i <= 6; i++ {
				storetest.Exec(t, u, `INSERT INTO r VALUES ($1)`, i)
			}
			sink.waitFor(t, 6, 10*time.Second)

			var before func() error
			if tt.writesOn {
				// The rewound database takes positions 4 to 7 before the
				// stream finds it again.
				before = func() error {
					for i := 10; i <= 13; i++ {
						storetest.Exec(t, cluster.URL("app"), `INSERT INTO r VALUES ($1)`, i)
					}
					storetest.Exec(t, cluster.URL("app"), `SELECT pgfeed.step()`)
					return nil
				}
			}
			if err := cluster.Rewind(ctx, backup, before); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, cdc.ErrRewound) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("stream ended with %v, want ErrRewound: %s", err, tt.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("stream still running 30s after the database went back (position %d)", s.Position())
			}
			if got := sink.last(); got != 6 {
				t.Fatalf("stream published up to %d after the database went back, want 6", got)
			}
		})
	}
}
