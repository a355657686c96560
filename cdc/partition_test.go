package cdc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestPartitionedTableReplaysExactly: a tracked partitioned table is one
// collection whose copy, replayed from the stream, equals the table through
// writes made through the table and straight into its partitions (nested
// ones included), rows moving between partitions, TRUNCATE of a partition
// and of the whole table, and partitions created, attached (a partitioned
// one with partitions of its own included; their rows
// arrive as created) and detached (their rows leave as deleted; later
// writes to them are no longer the collection's). Dropping a partition, whose
// rows would vanish unrecorded, is refused.
func TestPartitionedTableReplaysExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		CREATE TABLE events (id bigint, region text, body text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
		CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
		CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us') PARTITION BY RANGE (id);
		CREATE TABLE events_us_low PARTITION OF events_us FOR VALUES FROM (0) TO (10000);
		CREATE TABLE archive (id bigint, region text, body text, PRIMARY KEY (id, region)) PARTITION BY RANGE (id);
		CREATE TABLE archive_a PARTITION OF archive FOR VALUES FROM (5001) TO (5100);
		CREATE TABLE archive_b PARTITION OF archive FOR VALUES FROM (5100) TO (5200);
		INSERT INTO archive SELECT g, 'old', 'archived' FROM generate_series(5001, 5150) g;
		SELECT pgfeed.track('events');`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	for _, sql := range []string{
		// Through the table, 300 rows in one statement.
		`INSERT INTO events SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, 'seed' FROM generate_series(1, 300) g`,
		// Straight into partitions.
		`INSERT INTO events_eu VALUES (1000, 'eu', 'direct')`,
		`INSERT INTO events_us_low SELECT g, 'us', 'direct' FROM generate_series(1001, 1120) g`,
		`UPDATE events_us_low SET body = 'changed in place' WHERE id <= 50`,
		`DELETE FROM events_eu WHERE id <= 40`,
		// Between partitions: the key changes, so a delete and a create.
		`UPDATE events SET region = 'eu' WHERE region = 'us' AND id BETWEEN 51 AND 80`,
		`DELETE FROM events WHERE id BETWEEN 281 AND 290`,
		`TRUNCATE events_us`,
		`INSERT INTO events_us_low VALUES (2000, 'us', 'after the truncate')`,
		// New partitions.
		`CREATE TABLE events_asia PARTITION OF events FOR VALUES IN ('asia')`,
		`INSERT INTO events_asia SELECT g, 'asia', 'new partition' FROM generate_series(3001, 3010) g`,
		`ALTER TABLE events ATTACH PARTITION archive FOR VALUES IN ('old')`,
		`UPDATE archive SET body = 'attached' WHERE id <= 5010`,
		`DELETE FROM archive_b WHERE id > 5140`,
	} {
		storetest.Exec(t, u, sql)
	}
	states, err := db.CaptureStates(ctx)
	if err != nil || states["events"] != store.CaptureAlways {
		t.Errorf("capture of events after new partitions = %q, %v; want %q", states["events"], err, store.CaptureAlways)
	}

	_, err = db.Pool().Exec(ctx, `DROP TABLE events_asia`)
	if err == nil || !strings.Contains(err.Error(), "pgfeed cannot record the rows that dropping public.events_asia removes") {
		t.Errorf("DROP of a partition: err = %v, want it refused", err)
	}
	for _, sql := range []string{
		`ALTER TABLE events DETACH PARTITION events_eu`,
		`INSERT INTO events_eu VALUES (4000, 'eu', 'detached')`, // no longer the collection's
		`ALTER TABLE events DETACH PARTITION events_asia`,
		`DROP TABLE events_asia`,
		`INSERT INTO events VALUES (4001, 'us', 'last')`,
	} {
		storetest.Exec(t, u, sql)
	}
	var stray int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_eu'::regclass`).Scan(&stray); err != nil || stray != 0 {
		t.Errorf("triggers left on the detached partition: %d, %v", stray, err)
	}

	replayed := func(what string) map[string]int {
		head := settle(t, db)
		sink.waitFor(t, head, 10*time.Second)
		changes := sink.all()
		checkOrder(t, changes, 0)
		r := newReplica()
		rows := map[string]int{}
		for _, c := range changes {
			if c.Collection != "events" {
				t.Fatalf("%s: a change of collection %q", what, c.Collection)
			}
			r.apply(t, c)
			rows[string(c.Op)] += len(c.New) + len(c.Old)
		}
		r.equalTable(t, db, "events")
		return rows
	}
	replayed("after the partition changes")

	storetest.Exec(t, u, `TRUNCATE events`)
	storetest.Exec(t, u, `INSERT INTO events VALUES (4002, 'us', 'after all')`)
	replayed("after TRUNCATE of the whole table")

	if _, err := db.Untrack(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgfeed%'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("capture triggers left after untrack: %d, %v", left, err)
	}
}

// TestPartitionCaptureStates: a partition without the triggers, or a table
// that left a partitioned one but kept them (DDL run without pgfeed's event
// trigger), makes the table's capture incomplete.
func TestPartitionCaptureStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `
		CREATE TABLE a (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE a1 PARTITION OF a FOR VALUES FROM (0) TO (10);
		CREATE TABLE b (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE b1 PARTITION OF b FOR VALUES FROM (0) TO (10);
		CREATE TABLE c (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE c1 PARTITION OF c FOR VALUES FROM (0) TO (10);
		SELECT pgfeed.track('a'), pgfeed.track('b'), pgfeed.track('c');
		DROP TRIGGER pgfeed_capture_upd ON a1;
		ALTER EVENT TRIGGER pgfeed_alter DISABLE;
		CREATE TABLE b2 PARTITION OF b FOR VALUES FROM (10) TO (20);
		ALTER TABLE c DETACH PARTITION c1;
		ALTER EVENT TRIGGER pgfeed_alter ENABLE;`)
	got, err := db.CaptureStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"a", "b", "c"} {
		if got[coll] != store.CaptureIncomplete {
			t.Errorf("capture of %s = %q, want %q", coll, got[coll], store.CaptureIncomplete)
		}
	}
}

// TestDropPartitionAlongAnotherTable: a partition may go only with its own
// tracked table. Dropped in one command with another tracked table, its
// rows would vanish from a table that stays tracked: that is refused, as
// dropping it alone is. The whole partitioned table may go, partitions and
// all, and so may a tracked table with an untracked one.
func TestDropPartitionAlongAnotherTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `
		CREATE TABLE events (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (10) PARTITION BY RANGE (id);
		CREATE TABLE events_a1 PARTITION OF events_a FOR VALUES FROM (0) TO (5);
		CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (10) TO (20);
		CREATE TABLE notes (id int PRIMARY KEY);
		CREATE TABLE scratch (id int PRIMARY KEY);
		CREATE SCHEMA side;
		CREATE TABLE side.logs (id int PRIMARY KEY);
		SELECT pgfeed.track('events'), pgfeed.track('notes'), pgfeed.track('side.logs');
		INSERT INTO events VALUES (1), (2), (15);`)
	refused := []string{
		`DROP TABLE notes, events_b`,
		`DROP TABLE events_a1, notes`,
		`DROP TABLE notes, events_a`, // a partition with partitions of its own
		`DROP TABLE events_b, side.logs`,
	}
	for _, sql := range refused {
		_, err := db.Pool().Exec(ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "pgfeed cannot record the rows that dropping") {
			t.Errorf("%s: err = %v, want it refused", sql, err)
		}
	}
	for _, sql := range []string{`DROP TABLE notes, scratch`, `DROP TABLE events`, `DROP SCHEMA side CASCADE`} {
		if _, err := db.Pool().Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	tables, err := db.Tables(ctx)
	if err != nil || len(tables) != 0 {
		t.Errorf("tracked after dropping them all: %v, %v", tables, err)
	}
}
