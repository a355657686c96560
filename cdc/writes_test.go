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
// a key, and the updates, deletes and SET NULLs of foreign key actions
// that another table's statement sets off) reaches the stream so that a
// client's copy equals the table after every statement.
func TestEveryKindOfWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE TABLE kinds (id int PRIMARY KEY, v text);
		SELECT pgfeed.track('kinds');
		CREATE TABLE src (id int PRIMARY KEY, v text);
		CREATE TABLE parent (id int PRIMARY KEY);
		INSERT INTO parent SELECT generate_series(1, 200);
		ALTER TABLE kinds ADD COLUMN parent int REFERENCES parent ON DELETE CASCADE ON UPDATE CASCADE,
			ADD COLUMN other int REFERENCES parent ON DELETE SET NULL ON UPDATE SET NULL;`)
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
		{"rows for cascades", `UPDATE kinds SET parent = id % 3 + 1, other = id % 3 + 1`},
		{"cascaded update", `UPDATE parent SET id = id + 1000 WHERE id = 1`},
		{"cascaded delete and set null", `DELETE FROM parent WHERE id IN (2, 1001)`},
		{"cascades of many rows", `
			INSERT INTO kinds SELECT g, 'bulk', 3, 3 FROM generate_series(1000, 1249) g;
			DELETE FROM parent WHERE id = 3`},
		{"rows for cascades within the table", `
			ALTER TABLE kinds ADD COLUMN up int REFERENCES kinds ON DELETE CASCADE ON UPDATE CASCADE;
			INSERT INTO kinds (id, v) VALUES (2000, 'root');
			INSERT INTO kinds (id, v, up) SELECT g, 'child', 2000 FROM generate_series(2001, 2010) g;
			INSERT INTO kinds (id, v, up) SELECT g, 'grandchild', g - 10 FROM generate_series(2011, 2020) g`},
		{"cascaded update within the table", `UPDATE kinds SET id = 3000 WHERE id = 2000`},
		{"cascaded delete within the table", `DELETE FROM kinds WHERE id = 3000`},
	} {
		if _, err := conn.Exec(ctx, s.sql); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		check(s.what)
	}
}
