package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestRowsReadAlikeInAnySession: how a row reads in JSON must not depend on
// the settings of the session that wrote it, nor on those of the database:
// an extra_float_digits below 1 rounds floats (the exact value is lost),
// and bytea_output = escape or another IntervalStyle change the form
// clients parse. Changes (rendered by the capture triggers, in the
// writer's session) and snapshots (rendered in pgfeed's) read the same,
// and the writer's settings are as it set them after each statement.
func TestRowsReadAlikeInAnySession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		CREATE TABLE r (id int PRIMARY KEY, f float8, b bytea, i interval);
		SELECT pgfeed.track('r');`)
	row := func(id int, interval string) string {
		return fmt.Sprintf(`{"id":%d,"f":0.30000000000000004,"b":"\\x00ff","i":"%s"}`, id, interval)
	}

	writer, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close(ctx)
	settings := func(when string) {
		t.Helper()
		var digits, bytea, style string
		if err := writer.QueryRow(ctx, `SELECT current_setting('extra_float_digits'),
			current_setting('bytea_output'), current_setting('IntervalStyle')`).Scan(&digits, &bytea, &style); err != nil {
			t.Fatal(err)
		}
		if digits != "0" || bytea != "escape" || style != "sql_standard" {
			t.Fatalf("%s the writer's settings are %s, %s, %s; want 0, escape, sql_standard", when, digits, bytea, style)
		}
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := writer.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`SET extra_float_digits = 0; SET bytea_output = escape; SET IntervalStyle = sql_standard`)
	exec(`BEGIN`)
	exec(`INSERT INTO r VALUES (1, 0.1::float8 + 0.2::float8, '\x00ff', '1 day 2 hours')`)
	settings("after an INSERT in its transaction,")
	exec(`UPDATE r SET i = i + interval '1 hour'`)
	exec(`INSERT INTO r VALUES (2, 0.1::float8 + 0.2::float8, '\x00ff', '1 day 2 hours')`)
	exec(`DELETE FROM r WHERE id = 2`)
	exec(`COMMIT`)
	settings("after the transaction")
	exec(`INSERT INTO r VALUES (3, 0.1::float8 + 0.2::float8, '\x00ff', '1 day 2 hours')`)
	exec(`TRUNCATE r`) // recorded as the deletes of both rows
	settings("after a TRUNCATE")

	if _, err := db.Step(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := db.ReadAfter(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"c " + `[` + row(1, "1 day 02:00:00") + `]`,
		"u " + `[` + row(1, "1 day 03:00:00") + `] old [` + row(1, "1 day 02:00:00") + `]`,
		"c " + `[` + row(2, "1 day 02:00:00") + `]`,
		"d old [" + row(2, "1 day 02:00:00") + `]`,
		"c " + `[` + row(3, "1 day 02:00:00") + `]`,
		"d old [" + row(1, "1 day 03:00:00") + `, ` + row(3, "1 day 02:00:00") + `]`,
	}
	if len(entries) != len(want) {
		t.Fatalf("journal holds %d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		got := string(e.Op) + " "
		if e.Data != nil {
			got += string(e.Data)
		}
		if e.Old != nil {
			if e.Data != nil {
				got += " "
			}
			got += "old " + string(e.Old)
		}
		if got != want[i] {
			t.Errorf("entry %d:\n got %s\nwant %s", i+1, got, want[i])
		}
	}

	// pgfeed's own sessions render snapshots alike, whatever the database
	// sets for the sessions that connect to it.
	storetest.Exec(t, u, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET extra_float_digits = 0', current_database());
		EXECUTE format('ALTER DATABASE %I SET bytea_output = escape', current_database());
		EXECUTE format('ALTER DATABASE %I SET IntervalStyle = sql_standard', current_database()); END $$`)
	storetest.Exec(t, u, `INSERT INTO r VALUES (4, 0.1::float8 + 0.2::float8, '\x00ff', '1 day 2 hours')`)
	fresh := storetest.Open(t, u)
	tables, err := fresh.Tables(ctx)
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables: %d, %v", len(tables), err)
	}
	snap, err := fresh.ReadSnapshot(ctx, &tables[0], "", nil, "id", 10, 0)
	if err != nil || len(snap.Rows) != 1 {
		t.Fatalf("snapshot: %+v, %v", snap, err)
	}
	if got := string(snap.Rows[0]); got != row(4, "1 day 02:00:00") {
		t.Errorf("snapshot row:\n got %s\nwant %s", got, row(4, "1 day 02:00:00"))
	}
}
