package cdc_test

import (
	"context"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestPruneKeepsWhatLiveReadersNeed: pruning removes old entries, but never
// one a live reader has not read, and reports how far it pruned so a cursor
// older than that is known to be unrecoverable.
func TestPruneKeepsWhatLiveReadersNeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE p (id int PRIMARY KEY); SELECT pgfeed.track('p');`)
	// Positions 1-10, one step each, then 11-15 in one step.
	for i := 1; i <= 15; i++ {
		storetest.Exec(t, u, `INSERT INTO p VALUES ($1)`, i)
		if i <= 10 {
			settle(t, db)
		}
	}
	head := settle(t, db)
	if head != 15 {
		t.Fatalf("head = %d, want 15", head)
	}
	seq, err := db.Sequencer(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	prune := func(keep time.Duration, want int64, why string) {
		t.Helper()
		pruned, _, err := seq.Prune(ctx, keep, 0, head)
		if err != nil {
			t.Fatal(err)
		}
		if pruned != want {
			t.Fatalf("pruned up to %d, want %d (%s)", pruned, want, why)
		}
		rest, err := cdc.Journal{DB: db}.ReadAfter(ctx, pruned, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rest) != int(head-pruned) || len(rest) > 0 && rest[0].Pos != pruned+1 {
			t.Fatalf("after pruning up to %d, read %d changes from there, want %d", pruned, len(rest), head-pruned)
		}
	}
	// A live reader that has read up to 4 holds back pruning there.
	if err := db.ReportReader(ctx, "slow", 4); err != nil {
		t.Fatal(err)
	}
	prune(time.Nanosecond, 4, "the slow reader's position")
	// One step's transactions are pruned together: a reader inside them
	// keeps them all.
	if err := db.ReportReader(ctx, "slow", 12); err != nil {
		t.Fatal(err)
	}
	prune(time.Nanosecond, 10, "the start of the step the slow reader is in")
	if err := db.ForgetReader(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	// Entries younger than the retention stay.
	prune(time.Hour, 10, "1h retention")
	prune(time.Nanosecond, 15, "no live reader")
	j := cdc.Journal{DB: db}
	for since, want := range map[int64]bool{14: false, 15: true, 16: false} { // pruned and head are 15
		if ok, err := j.Resumable(ctx, since, cdc.Mark{Pos: since}); err != nil || ok != want {
			t.Fatalf("Resumable(%d) = %v, %v; want %v", since, ok, err, want)
		}
	}
	rest, err := j.ReadAfter(ctx, 0, 100)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after pruning everything, read %d changes (%v)", len(rest), err)
	}
	// The stream keeps working after pruning.
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{StartAtHead: true, Retention: time.Millisecond, PruneEvery: 20 * time.Millisecond})
	storetest.Exec(t, u, `INSERT INTO p VALUES (16)`)
	sink.waitFor(t, 16, 10*time.Second)
}

// TestPruneBoundsTheJournalSize: with a size bound, pruning keeps about the
// newest that many bytes of journal rows, however young the older ones
// are, and still never what a live reader has not read; a stream prunes so
// as it runs.
func TestPruneBoundsTheJournalSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE big (id int PRIMARY KEY, body text); SELECT pgfeed.track('big');`)
	// Ten transactions of one row of 960 random hex digits, which do not
	// compress: about 1,000 bytes each in the journal, one step each.
	const insert = `INSERT INTO big SELECT $1, string_agg(md5(random()::text), '') FROM generate_series(1, 30)`
	for i := 1; i <= 10; i++ {
		storetest.Exec(t, u, insert, i)
		settle(t, db)
	}
	seq, err := db.Sequencer(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	prune := func(maxBytes, want int64, why string) {
		t.Helper()
		pruned, kept, err := seq.Prune(ctx, 0, maxBytes, 10)
		if err != nil {
			t.Fatal(err)
		}
		if pruned != want {
			t.Fatalf("pruned up to %d, want %d (%s)", pruned, want, why)
		}
		if size := journalSize(t, db); kept != size {
			t.Fatalf("after pruning up to %d: %d bytes kept, but the journal's rows hold %d", pruned, kept, size)
		}
	}
	prune(0, 0, "no bound")
	if err := db.ReportReader(ctx, "slow", 3); err != nil {
		t.Fatal(err)
	}
	prune(3500, 3, "the slow reader's position")
	if err := db.ForgetReader(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	prune(3500, 6, "the newest 3,500 bytes are in 4 rows of 1,000")
	prune(100000, 6, "a bound the journal is under")
	prune(1, 9, "the newest row is kept")

	// A stream with a bound prunes as it runs, and says how far and what
	// it kept: the journal's newest row.
	sink := newCollector()
	s := runStream(t, db, sink, cdc.Options{StartAtHead: true, RetentionBytes: 1, PruneEvery: 20 * time.Millisecond})
	storetest.Exec(t, u, insert, 11)
	sink.waitFor(t, 11, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Pruned != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("the stream pruned up to %d, want 10", s.Stats().Pruned)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if kept, size := s.Stats().JournalBytes, journalSize(t, db); kept != size || size < 900 {
		t.Fatalf("the stream kept %d bytes, and the journal's rows hold %d (one row of about 1,000)", kept, size)
	}
}

// TestStreamKnowsTheJournalSize: the sequencing instance reads the
// journal's figures as it takes the lead, without waiting for its first
// scheduled prune, and with no retention set.
func TestStreamKnowsTheJournalSize(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE k (id int PRIMARY KEY); SELECT pgfeed.track('k');`)
	for i := 1; i <= 3; i++ {
		storetest.Exec(t, u, `INSERT INTO k VALUES ($1)`, i)
	}
	head := settle(t, db)
	s := runStream(t, db, newCollector(), cdc.Options{From: 0, PruneEvery: time.Hour})
	deadline := time.Now().Add(10 * time.Second)
	for !s.Leader() || s.Stats().JournalBytes == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no journal size from the stream: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, size := s.Stats(), journalSize(t, db); st.JournalBytes != size || st.Pruned != 0 {
		t.Fatalf("stream's figures: %d bytes, pruned up to %d; the journal holds %d bytes up to %d, none pruned", st.JournalBytes, st.Pruned, size, head)
	}
}

// journalSize is the size of the journal's rows, their data and old as
// stored.
func journalSize(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	var n int64
	err := db.Pool().QueryRow(context.Background(),
		`SELECT coalesce(sum(coalesce(pg_column_size(data), 0) + coalesce(pg_column_size(old), 0)), 0) FROM pgfeed.changes`).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestSchemaChangesKeepStreaming: a column added to a tracked table appears
// in later changes; untracking records a drop for its subscribers.
func TestSchemaChangesKeepStreaming(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE s (id int PRIMARY KEY); SELECT pgfeed.track('s');
		CREATE TABLE gone (id int PRIMARY KEY); SELECT pgfeed.track('gone');`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})
	storetest.Exec(t, u, `INSERT INTO s VALUES (1)`)
	storetest.Exec(t, u, `ALTER TABLE s ADD COLUMN label text DEFAULT 'x'`)
	storetest.Exec(t, u, `INSERT INTO s VALUES (2)`)
	storetest.Exec(t, u, `SELECT pgfeed.untrack('s')`)
	storetest.Exec(t, u, `INSERT INTO s VALUES (3)`)
	storetest.Exec(t, u, `DROP TABLE gone`)
	head := settle(t, db)
	sink.waitFor(t, head, 10*time.Second)
	got := sink.all()
	if len(got) != 4 {
		t.Fatalf("got %d changes, want 4 (two creates and two drops)", len(got))
	}
	if got[3].Op != cdc.OpDrop || got[3].Collection != "gone" {
		t.Errorf("after DROP TABLE: %v %s, want drop of gone", got[3].Op, got[3].Collection)
	}
	if tables, _ := db.Tables(context.Background()); len(tables) != 0 {
		t.Errorf("tracked tables after untrack and drop: %v", tables)
	}
	if string(got[1].New[0]) != `{"id":2,"label":"x"}` {
		t.Errorf("row after ADD COLUMN = %s", got[1].New[0])
	}
	if got[2].Op != cdc.OpDrop || got[2].Collection != "s" {
		t.Errorf("last change = %v %s, want drop of s", got[2].Op, got[2].Collection)
	}
}
