package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestTrackStepRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE items (id int PRIMARY KEY, name text, n numeric)`)
	coll, err := db.Track(ctx, "items")
	if err != nil || coll != "items" {
		t.Fatalf("track = %q, %v", coll, err)
	}
	storetest.Exec(t, u, `INSERT INTO items VALUES (1,'a',1.5),(2,'b',123456789012345678901234567890)`)
	storetest.Exec(t, u, `UPDATE items SET name = 'c'`)
	storetest.Exec(t, u, `UPDATE items SET id = 3 WHERE id = 2`)
	storetest.Exec(t, u, `DELETE FROM items WHERE id = 1`)
	pos, err := db.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos != 5 {
		t.Fatalf("pos = %d, want 5", pos)
	}
	es, err := db.ReadAfter(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for i, e := range es {
		if e.Pos != int64(i+1) {
			t.Fatalf("entry %d pos %d", i, e.Pos)
		}
		ops = append(ops, string(e.Op)+":"+string(e.Data)+"/"+string(e.Old))
	}
	got := strings.Join(ops, "\n")
	t.Log(got)
	if !strings.Contains(got, `123456789012345678901234567890`) {
		t.Fatalf("numeric lost precision: %s", got)
	}
	es2, err := db.ReadAfter(ctx, 3, 100, 0)
	if err != nil || len(es2) != 2 || es2[0].Pos != 4 {
		t.Fatalf("read after 3: %d entries, %v", len(es2), err)
	}
	tables, err := db.Tables(ctx)
	if err != nil || len(tables) != 1 || len(tables[0].Columns) != 3 {
		b, _ := json.Marshal(tables)
		t.Fatalf("tables = %s, %v", b, err)
	}
	snap, err := db.ReadSnapshot(ctx, &tables[0], "", nil, "id", 10, 0)
	if err != nil || snap.Pos != 5 || len(snap.Rows) != 1 {
		t.Fatalf("snapshot = %+v, %v", snap, err)
	}
	if _, err := db.Track(ctx, "items"); err == nil || !strings.Contains(err.Error(), "already tracked") {
		t.Fatalf("track twice: %v", err)
	}
	_ = store.ErrNotInstalled
}

// TestReadAfterPagesThroughSteps reads a journal whose steps hold many
// transactions, some of several entries, in small batches from every
// cursor: each read starts right after the cursor, holds at most maxTx
// transactions, and together they give every position once. StepRead
// returns what it stamped when it fits, and only the head otherwise.
func TestReadAfterPagesThroughSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE p (id int PRIMARY KEY); SELECT pgfeed.track('p');`)
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			if i%3 == 0 { // two entries in one transaction
				storetest.Exec(t, u, fmt.Sprintf(`INSERT INTO p VALUES (%d); UPDATE p SET id = id WHERE id = %d`, i, i))
			} else {
				storetest.Exec(t, u, `INSERT INTO p VALUES ($1)`, i)
			}
		}
	}
	seq := sequencer(t, db)
	write(1, 30) // one step: 30 transactions, 40 entries
	es, head, err := seq.StepRead(ctx, 39, true)
	if err != nil || len(es) != 0 || head != 40 {
		t.Fatalf("StepRead(39) over 40 entries = %d entries, head %d, %v; want none, 40", len(es), head, err)
	}
	write(31, 35) // 5 transactions, 6 entries
	es, head, err = seq.StepRead(ctx, 100, true)
	if err != nil || len(es) != 6 || head != 46 || es[0].Pos != 41 || es[5].Pos != 46 {
		t.Fatalf("StepRead(100) = %d entries, head %d, %v", len(es), head, err)
	}
	for after := int64(0); after <= head; after++ {
		var got []int64
		for from := after; ; {
			batch, err := db.ReadAfter(ctx, from, 4, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			xids := map[uint64]bool{}
			for _, e := range batch {
				xids[e.XID] = true
				got = append(got, e.Pos)
			}
			if len(xids) > 4 {
				t.Fatalf("read after %d: %d transactions, want at most 4", from, len(xids))
			}
			from = batch[len(batch)-1].Pos
		}
		if int64(len(got)) != head-after {
			t.Fatalf("from %d: read %d positions, want %d", after, len(got), head-after)
		}
		for i, p := range got {
			if p != after+int64(i)+1 {
				t.Fatalf("from %d: position %d at %d (%v)", after, p, i, got)
			}
		}
	}
}

// TestLargeStatementsInChunks: a statement of more than 100 rows is
// journaled as entries of at most 100 rows, every row once, for inserts,
// updates and deletes alike; an insert's rows keep their order. A
// statement of exactly 100 rows is one entry, one of 101 is two, and one
// that changes no row is none.
func TestLargeStatementsInChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE big (id int PRIMARY KEY, v int); SELECT pgfeed.track('big');`)
	storetest.Exec(t, u, `INSERT INTO big SELECT g, 0 FROM generate_series(1, 250) g`)
	storetest.Exec(t, u, `INSERT INTO big SELECT g, 0 FROM generate_series(1, 0) g`)
	storetest.Exec(t, u, `UPDATE big SET v = 1`)
	storetest.Exec(t, u, `UPDATE big SET v = 2 WHERE false`)
	storetest.Exec(t, u, `DELETE FROM big`)
	storetest.Exec(t, u, `DELETE FROM big`)
	storetest.Exec(t, u, `INSERT INTO big SELECT g, 0 FROM generate_series(1001, 1100) g`)
	storetest.Exec(t, u, `INSERT INTO big SELECT g, 0 FROM generate_series(2001, 2101) g`)
	if _, err := db.Step(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := db.ReadAfter(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[byte][]int{}
	for _, e := range es {
		raw := e.Data
		if e.Op == 'd' {
			raw = e.Old
		}
		var rows []struct{ ID int }
		if err := json.Unmarshal(raw, &rows); err != nil {
			t.Fatalf("entry %d: %v", e.Pos, err)
		}
		got = append(got, fmt.Sprintf("%c%d", e.Op, len(rows)))
		for _, r := range rows {
			ids[e.Op] = append(ids[e.Op], r.ID)
		}
	}
	if s := strings.Join(got, " "); s != "c100 c100 c50 u100 u100 u50 d100 d100 d50 c100 c100 c1" {
		t.Fatalf("entries: %s", s)
	}
	for op, list := range ids {
		seen := map[int]bool{}
		for _, id := range list {
			seen[id] = true
		}
		want := 250
		if op == 'c' {
			want = 451
		}
		if len(list) != want || len(seen) != want {
			t.Fatalf("op %c: %d rows, %d distinct, want %d", op, len(list), len(seen), want)
		}
	}
	for i, id := range ids['c'] {
		want := i + 1
		if i >= 350 {
			want = 2001 + i - 350
		} else if i >= 250 {
			want = 1001 + i - 250
		}
		if id != want {
			t.Fatalf("inserted row %d has id %d", i, id)
		}
	}
}

// TestStepNotifiesOtherInstances: a step that stamps something sends the
// head on channel pgfeed when asked to, and nothing otherwise; an empty
// step never does. OtherReaders sees the readers of other instances that
// reported within the last minute.
func TestStepNotifiesOtherInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE n (id int PRIMARY KEY); SELECT pgfeed.track('n');`)
	l, err := db.Listen(ctx, "pgfeed")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seq := sequencer(t, db)
	step := func(notify bool) (payload string) {
		t.Helper()
		if _, _, err := seq.StepRead(ctx, 100, notify); err != nil {
			t.Fatal(err)
		}
		n, err := l.Wait(ctx, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if n == nil {
			return ""
		}
		return n.Payload
	}
	storetest.Exec(t, u, `INSERT INTO n VALUES (1)`)
	if got := step(true); got != "1" {
		t.Errorf("step with notify sent %q, want the head 1", got)
	}
	storetest.Exec(t, u, `INSERT INTO n VALUES (2)`)
	if got := step(false); got != "" {
		t.Errorf("step without notify sent %q", got)
	}
	if got := step(true); got != "" {
		t.Errorf("empty step sent %q", got)
	}

	if others, err := db.OtherReaders(ctx, "a"); err != nil || others {
		t.Fatalf("OtherReaders with no readers = %v, %v", others, err)
	}
	if err := db.ReportReader(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	if others, err := db.OtherReaders(ctx, "a"); err != nil || others {
		t.Errorf("OtherReaders(a) with only a = %v, %v", others, err)
	}
	if others, err := db.OtherReaders(ctx, "b"); err != nil || !others {
		t.Errorf("OtherReaders(b) with a = %v, %v", others, err)
	}
	storetest.Exec(t, u, `UPDATE pgfeed.readers SET seen = now() - interval '2 minutes'`)
	if others, err := db.OtherReaders(ctx, "b"); err != nil || others {
		t.Errorf("OtherReaders(b) with a gone quiet = %v, %v", others, err)
	}
}

// TestStepsUnderStricterDefaultIsolation: with default_transaction_isolation
// set stricter on the database, a step's statement would take its snapshot
// before it waits for the step lock, and so, after another step (a
// subscriber's snapshot steps too) committed meanwhile, work from a stale
// state and fail. pgfeed's sessions run in READ COMMITTED whatever the
// database's default.
func TestStepsUnderStricterDefaultIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w');
		DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = ''repeatable read''', current_database()); END $$`)
	db := storetest.Open(t, u)
	storetest.Exec(t, u, `INSERT INTO w VALUES (1)`)

	other, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(pgfeed.lock_key()); SELECT pgfeed.step()`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var head int64
	seq := sequencer(t, db)
	go func() {
		_, pos, err := seq.StepRead(ctx, 100, false)
		head = pos
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the step waits for the lock
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || head != 1 {
		t.Fatalf("step after another committed: head %d, %v (want 1, no error)", head, err)
	}
}

// sequencer opens a Sequencer session, closed when the test ends.
func sequencer(t *testing.T, db *store.DB) *store.Session {
	t.Helper()
	s, err := db.Sequencer(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
