package cdc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestTruncateArrivesAsDeletes: a TRUNCATE of a tracked table, alone or
// cascaded from another, reaches the stream as the delete of every row it
// removed (rows its own transaction wrote included), in its transaction's
// place, so that a copy replayed from the stream still equals the tables.
// Under REPEATABLE READ it is refused and changes nothing.
func TestTruncateArrivesAsDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		CREATE TABLE parents (id bigint PRIMARY KEY, note text);
		CREATE TABLE kids (id bigint PRIMARY KEY, parent bigint REFERENCES parents, note text);
		SELECT pgfeed.track('parents'), pgfeed.track('kids');
		INSERT INTO parents SELECT g, 'parent' FROM generate_series(1, 250) g;
		INSERT INTO kids SELECT g, g, 'kid' FROM generate_series(1, 30) g;`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	tx, err := db.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `TRUNCATE kids`)
	tx.Rollback(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot record a TRUNCATE of kids under repeatable read isolation") {
		t.Fatalf("TRUNCATE under REPEATABLE READ: err = %v, want it refused", err)
	}

	storetest.Exec(t, u, `BEGIN;
		INSERT INTO kids VALUES (100, 1, 'same transaction');
		TRUNCATE kids;
		INSERT INTO kids VALUES (101, 2, 'after the truncate');
		COMMIT`)
	storetest.Exec(t, u, `TRUNCATE parents CASCADE`)
	storetest.Exec(t, u, `INSERT INTO parents VALUES (1, 'again')`)
	head := settle(t, db)
	sink.waitFor(t, head, 10*time.Second)

	changes := sink.all()
	checkOrder(t, changes, 0)
	r := newReplica()
	deleted := map[string]int{}
	for _, c := range changes {
		r.apply(t, c)
		if c.Op == cdc.OpDelete {
			deleted[c.Collection] += len(c.Old)
		}
	}
	r.equalTable(t, db, "parents")
	r.equalTable(t, db, "kids")
	// kids: 30 rows and the one written in the truncating transaction, then
	// the one written after it, removed by the cascade; parents: all 250.
	if deleted["kids"] != 32 || deleted["parents"] != 250 {
		t.Errorf("deleted rows in the stream: %v, want kids 32 and parents 250", deleted)
	}
}
