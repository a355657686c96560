package cdc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestLargeTransactionInPieces: a transaction of any size (a backfill that
// updates every row of a large table) reaches the sink in order and whole,
// in batches of at most about a thousand journal entries, and a client's
// replay reads it in pages, so that pgfeed's memory does not grow with the
// transaction.
func TestLargeTransactionInPieces(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w');`)
	sink := &batchSink{collector: newCollector()}
	runStream(t, db, sink, cdc.Options{From: 0})
	// 2,500 statements in one transaction: 2,500 journal entries.
	storetest.Exec(t, u, `DO $$ BEGIN FOR i IN 1..2500 LOOP INSERT INTO w VALUES (i); END LOOP; END $$`)
	sink.waitFor(t, 2500, 20*time.Second)
	changes := sink.all()
	checkOrder(t, changes, 0)
	if len(changes) != 2500 || changes[0].XID != changes[2499].XID {
		t.Fatalf("%d changes, want the 2,500 of one transaction", len(changes))
	}
	if got := sink.largest.Load(); got > 1024 {
		t.Fatalf("a batch of %d entries: the transaction was held whole", got)
	}

	// A client's replay reads it in pages too, each going on from the last.
	j := cdc.Journal{DB: db}
	var pages []int
	for last := int64(0); last < 2500; {
		page, err := j.ReadAfter(context.Background(), last, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 || page[0].Pos != last+1 {
			t.Fatalf("page after %d: %d changes, first %v", last, len(page), page)
		}
		pages = append(pages, len(page))
		last = page[len(page)-1].Pos
	}
	if len(pages) < 3 {
		t.Fatalf("replay pages %v: the transaction was read whole", pages)
	}
}

// batchSink is a collector that records its largest batch.
type batchSink struct {
	*collector
	largest atomic.Int64
}

func (s *batchSink) Publish(batch []cdc.Change) {
	if n := int64(len(batch)); n > s.largest.Load() {
		s.largest.Store(n)
	}
	s.collector.Publish(batch)
}
