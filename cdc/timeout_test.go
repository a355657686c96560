package cdc_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
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

// TestStreamIgnoresDatabaseIdleTimeout: an idle_session_timeout set on the
// database must not end pgfeed's sessions: its LISTEN connection waits
// without a statement, and the pool keeps spare connections, for as long
// as the journal is quiet. Were they ended, the stream would be
// interrupted and start over on every quiet spell.
func TestStreamIgnoresDatabaseIdleTimeout(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE q (id int PRIMARY KEY); SELECT pgfeed.track('q')`)
	storetest.Exec(t, u, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_session_timeout = 300', current_database()); END $$`)
	db := storetest.Open(t, u) // connections made from now on get the 300 ms limit
	var log syncBuffer
	sink := newCollector()
	s := cdc.NewStream(db, sink, cdc.Options{From: 0, Logger: zerolog.New(&log).Level(zerolog.WarnLevel)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for i := 1; i <= 3; i++ {
		time.Sleep(time.Second) // quiet: every session idles past the limit
		storetest.Exec(t, u, `INSERT INTO q VALUES ($1)`, i)
		sink.waitFor(t, int64(i), 5*time.Second)
	}
	if strings.Contains(log.String(), "interrupted") {
		t.Fatalf("the stream was interrupted:\n%s", log.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
