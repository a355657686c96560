package cdc_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestEveryKindOfWrite: each way an application writes a table (COPY, an
// upsert that inserts some rows and updates others, MERGE with all three
// actions, writable CTEs, joins in UPDATE and DELETE, an UPDATE that moves
// a key) reaches the stream so that a client's copy equals the table after
// every statement.
func TestEveryKindOfWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE TABLE kinds (id int PRIMARY KEY, v text);
		SELECT pgfeed.track('kinds');
		CREATE TABLE src (id int PRIMARY KEY, v text);`)
	db := storetest.Open(t, u)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})
	copy := newReplica()
	applied := 0
	check := func(what string) {
		t.Helper()
		sink.waitFor(t, settle(t, db), 10*time.Second)
		changes := sink.all()
		for _, c := range changes[applied:] {
			copy.apply(t, c)
		}
		if len(changes) == applied {
			t.Fatalf("%s: no change arrived", what)
		}
		applied = len(changes)
		t.Run(what, func(t *testing.T) { copy.equalTable(t, db, "kinds") })
	}

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"kinds"}, []string{"id", "v"},
		pgx.CopyFromRows([][]any{{1, "copied"}, {2, "copied"}, {3, "copied"}, {4, "copied"}})); err != nil {
		t.Fatal(err)
	}
	check("COPY")

	for _, s := range []struct{ what, sql string }{
		{"upsert", `INSERT INTO kinds VALUES (2, 'upserted'), (5, 'upserted'), (6, 'upserted')
			ON CONFLICT (id) DO UPDATE SET v = excluded.v || ' again'`},
		{"insert or nothing", `INSERT INTO kinds VALUES (1, 'ignored'), (7, 'new') ON CONFLICT DO NOTHING`},
		{"merge", `
			INSERT INTO src VALUES (1, NULL), (2, 'merged'), (8, 'merged'), (9, 'merged');
			MERGE INTO kinds k USING src s ON k.id = s.id
			WHEN MATCHED AND s.v IS NULL THEN DELETE
			WHEN MATCHED THEN UPDATE SET v = s.v
			WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)`},
		{"delete and insert of one key in one statement",
			`WITH d AS (DELETE FROM kinds WHERE id = 3 RETURNING id) INSERT INTO kinds SELECT id, 'again' FROM d`},
		{"insert and update in one statement",
			`WITH i AS (INSERT INTO kinds VALUES (10, 'cte') RETURNING id) UPDATE kinds SET v = 'cte' WHERE id = 4`},
		{"update from a join", `UPDATE kinds SET v = s.v || ' joined' FROM src s WHERE kinds.id = s.id`},
		{"delete using a join", `DELETE FROM kinds USING src s WHERE kinds.id = s.id AND s.id > 8`},
		{"update that moves a key", `UPDATE kinds SET id = id + 100 WHERE id IN (5, 6)`},
	} {
		if _, err := conn.Exec(ctx, s.sql); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		check(s.what)
	}
}
