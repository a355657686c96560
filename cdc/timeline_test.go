package cdc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
)

// TestServerThatHidesItsTimeline: some managed services refuse the WAL
// functions from which the sequencer reads the server's timeline. There
// pgfeed must still stream every change (without the jumps a new timeline
// would make) and say as its sequencer starts what that leaves uncaught.
// The functions are refused here as such a service would: pgfeed runs as
// a role without superuser rights, and pg_walfile_name is revoked from it.
func TestServerThatHidesItsTimeline(t *testing.T) {
	t.Parallel()
	admin := storetest.NewDB(t)
	storetest.Exec(t, admin, `REVOKE EXECUTE ON FUNCTION pg_walfile_name(pg_lsn) FROM PUBLIC`)
	u := storetest.NewRole(t, admin, `DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %%I TO %[1]s', current_database()); END $$;
		GRANT CREATE ON SCHEMA public TO %[1]s`)
	storetest.Migrate(t, u)
	storetest.Exec(t, u, `CREATE TABLE h (id int PRIMARY KEY); SELECT pgfeed.track('h')`)

	db := storetest.Open(t, u)
	var log syncBuffer
	sink := newCollector()
	s := cdc.NewStream(db, sink, cdc.Options{From: 0, Logger: zerolog.New(&log).Level(zerolog.WarnLevel)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	storetest.Exec(t, u, `INSERT INTO h VALUES (1), (2)`)
	storetest.Exec(t, u, `DELETE FROM h WHERE id = 1`)
	sink.waitFor(t, 2, 10*time.Second)
	var got []string
	for _, c := range sink.all() {
		got = append(got, fmt.Sprintf("%d %s %d rows", c.Pos, c.Op, len(c.New)+len(c.Old)))
	}
	if want := []string{"1 create 2 rows", "2 delete 1 rows"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stream: %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), "does not report its WAL timeline") {
		t.Errorf("no warning that the timeline is unknown; log:\n%s", log.String())
	}
}
