package cdc_test

import (
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestStreamIgnoresDatabaseStatementTimeout: a statement_timeout set on the
// database (or the role) for the application's sake must not stop the
// stream. A step stamps every transaction committed since the last one in
// one statement, so after downtime a step over a backlog can take longer
// than any such limit; if the limit applied, the step would fail again on
// every retry and the stream would never move. (Snapshots for clients are
// bounded by pgfeed's own subscribe timeout.)
func TestStreamIgnoresDatabaseStatementTimeout(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w')`)
	storetest.Exec(t, u, `DO $$ BEGIN FOR i IN 1..3000 LOOP INSERT INTO w VALUES (i); COMMIT; END LOOP; END $$`)
	storetest.Exec(t, u, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = 1', current_database()); END $$`)
	db := storetest.Open(t, u) // connections made from now on get the 1 ms limit
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})
	sink.waitFor(t, 3000, 20*time.Second)
}
