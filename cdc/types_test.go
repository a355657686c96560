package cdc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestRowsRoundTripWhole is property 4: a 1 MiB value and a wide row arrive
// whole, and every type keeps its exact value.
func TestRowsRoundTripWhole(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE TABLE typed (
			id bigint PRIMARY KEY,
			big bigint, small smallint, num numeric, flt double precision, flag boolean,
			body text, doc jsonb, tags text[], nums int[], at timestamptz, day date,
			raw bytea, uid uuid, nothing text,
			twice bigint GENERATED ALWAYS AS (big / 2) STORED
		);
		SELECT pgfeed.track('typed');`)
	var wide strings.Builder
	wide.WriteString(`CREATE TABLE wide (id int PRIMARY KEY`)
	for i := 0; i < 200; i++ {
		wide.WriteString(", c" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + itoa(i) + " text DEFAULT 'v" + itoa(i) + "'")
	}
	wide.WriteString(`); SELECT pgfeed.track('wide');`)
	storetest.Exec(t, u, wide.String())
	db := storetest.Open(t, u)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	storetest.Exec(t, u, `
		INSERT INTO typed (id, big, small, num, flt, flag, body, doc, tags, nums, at, day, raw, uid, nothing)
		VALUES (1, 9223372036854775807, -32768, 123456789012345678901234567890.123456789,
			0.1, true, $1, '{"nested":{"a":[1,"two",null,3.25]}}', ARRAY['a','b"c',NULL], ARRAY[1,2,3],
			'2026-11-22 10:11:12.345678+02', '2026-02-28', '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL)`, big)
	storetest.Exec(t, u, `INSERT INTO wide (id) VALUES (1)`)
	storetest.Exec(t, u, `UPDATE typed SET num = num + 1, body = body || '!' WHERE id = 1`)
	head := settle(t, db)
	sink.waitFor(t, head, 20*time.Second)

	changes := sink.all()
	if len(changes) != 3 {
		t.Fatalf("got %d changes, want 3", len(changes))
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(changes[0].New[0], &row); err != nil {
		t.Fatal(err)
	}
	wantVals := map[string]string{
		"big":     `9223372036854775807`,
		"small":   `-32768`,
		"num":     `123456789012345678901234567890.123456789`,
		"flt":     `0.1`,
		"flag":    `true`,
		"doc":     `{"nested": {"a": [1, "two", null, 3.25]}}`,
		"tags":    `["a","b\"c",null]`,
		"nums":    `[1,2,3]`,
		"at":      `"2026-11-22T08:11:12.345678+00:00"`,
		"day":     `"2026-02-28"`,
		"raw":     `"\\x00ff10"`,
		"uid":     `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`,
		"nothing": `null`,
		"twice":   `4611686018427387903`,
	}
	for k, want := range wantVals {
		if got := string(row[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	var body string
	json.Unmarshal(row["body"], &body)
	if body != big {
		t.Errorf("1 MiB body arrived with %d bytes", len(body))
	}
	var wideRow map[string]json.RawMessage
	json.Unmarshal(changes[1].New[0], &wideRow)
	if len(wideRow) != 201 {
		t.Errorf("wide row has %d columns, want 201", len(wideRow))
	}
	var upd map[string]json.RawMessage
	json.Unmarshal(changes[2].New[0], &upd)
	if got := string(upd["num"]); got != `123456789012345678901234567891.123456789` {
		t.Errorf("updated num = %s", got)
	}
	var old map[string]json.RawMessage
	json.Unmarshal(changes[2].Old[0], &old)
	if string(old["num"]) != wantVals["num"] || len(upd["body"]) != len(row["body"])+1 {
		t.Errorf("update old/new rows wrong: old num %s", old["num"])
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestTransactionsArriveWholeInCommitOrder is property 3 for transactions
// touching several tables: statements arrive in order and together, one
// Change per statement and collection, transactions in commit order.
func TestTransactionsArriveWholeInCommitOrder(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `
		CREATE TABLE a (id int PRIMARY KEY, v int);
		CREATE TABLE b (id int PRIMARY KEY, v int);
		SELECT pgfeed.track('a'), pgfeed.track('b');`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})
	ctx := context.Background()

	// t1 begins first and writes first, but commits last.
	t1, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer t1.Rollback(ctx)
	if _, err := t1.Exec(ctx, `INSERT INTO a SELECT g, 1 FROM generate_series(1, 3) g`); err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, u, `BEGIN; INSERT INTO b VALUES (1, 2); UPDATE b SET v = 3 WHERE id = 1; INSERT INTO a VALUES (10, 0); COMMIT;`)
	if _, err := t1.Exec(ctx, `INSERT INTO b VALUES (2, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := t1.Exec(ctx, `UPDATE a SET v = v + 1 WHERE id <= 2`); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, u, `DELETE FROM a WHERE id IN (1, 10)`)
	head := settle(t, db)
	sink.waitFor(t, head, 10*time.Second)

	var got []string
	for _, c := range sink.all() {
		got = append(got, c.Collection+" "+c.Op.String()+" "+itoa(len(c.New)+len(c.Old)))
	}
	want := []string{
		"b create 1", "b update 2", "a create 1", // second transaction, committed first
		"a create 3", "b create 1", "a update 4", // first transaction
		"a delete 2",
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("changes:\n got %v\nwant %v", got, want)
	}
	checkOrder(t, sink.all(), 0)
}
