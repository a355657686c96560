package cdc_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestIdleSequencerWakesOnNotify: once the journal is quiet the sequencer
// goes idle, and the next write wakes it at once through the gate's NOTIFY,
// long before the fallback poll; while writes keep coming, writers send no
// NOTIFY at all, and the sequencing instance reads no change back.
func TestIdleSequencerWakesOnNotify(t *testing.T) {
	t.Parallel()
	u, db, sink, s := trackedStream(t, cdc.Options{From: 0, Poll: time.Minute, Linger: 500 * time.Millisecond})
	for i := 1; i <= 3; i++ {
		waitIdle(t, s)
		before := s.Stats().Wakeups
		start := time.Now()
		storetest.Exec(t, u, `INSERT INTO w VALUES ($1)`, i)
		sink.waitFor(t, int64(i), 5*time.Second) // the fallback poll is a minute away
		if s.Stats().Wakeups <= before {
			t.Fatalf("change %d arrived without a wake-up", i)
		}
		t.Logf("change %d arrived %v after the insert began", i, time.Since(start))
	}

	// Busy: writes that follow each other within Linger send no NOTIFY.
	waitIdle(t, s)
	storetest.Exec(t, u, `INSERT INTO w VALUES (100)`)
	sink.waitFor(t, 4, 5*time.Second)
	before, reads := s.Stats().Wakeups, s.Stats().Reads
	for i := 101; i <= 130; i++ { // one connection, so writes follow closely
		if _, err := db.Pool().Exec(context.Background(), `INSERT INTO w VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
	}
	sink.waitFor(t, 34, 5*time.Second)
	if got := s.Stats().Wakeups - before; got != 0 {
		t.Fatalf("%d NOTIFYs from 30 writes while the sequencer was busy", got)
	}
	// The sequencing instance publishes what its steps return: it reads
	// nothing back from the journal.
	if got := s.Stats().Reads - reads; got != 0 {
		t.Fatalf("%d journal reads for 30 writes on the sequencing instance (%d steps)", got, s.Stats().Steps)
	}
}

// TestSequencerSkipsFallbackReads: the fallback poll makes a following
// instance read the journal in case a NOTIFY was lost; the sequencing
// instance learns the head from its own steps, so it polls by stepping and
// reads nothing, idle or not.
func TestSequencerSkipsFallbackReads(t *testing.T) {
	t.Parallel()
	u, _, sink, s := trackedStream(t, cdc.Options{From: 0, Poll: 20 * time.Millisecond, Linger: 50 * time.Millisecond})
	storetest.Exec(t, u, `INSERT INTO w VALUES (1)`)
	sink.waitFor(t, 1, 5*time.Second)
	// The start's probe may still read once after the first change came
	// (on a loaded machine the step can hand it over first, and polls
	// before the instance took the lead ask for a read): wait until reads
	// stay put for five poll periods. An instance that read on every poll
	// never gets there.
	reads := s.Stats().Reads
	for deadline := time.Now().Add(5 * time.Second); ; {
		time.Sleep(100 * time.Millisecond)
		if r := s.Stats().Reads; r != reads {
			reads = r
		} else {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal reads still growing after 5s: %d", reads)
		}
	}
	steps := s.Stats().Steps
	time.Sleep(500 * time.Millisecond) // 25 fallback polls
	if got := s.Stats().Steps - steps; got < 5 {
		t.Fatalf("the sequencer stepped %d times in 25 poll periods", got)
	}
	if got := s.Stats().Reads - reads; got != 0 {
		t.Fatalf("%d journal reads in 25 poll periods on the sequencing instance", got)
	}
	storetest.Exec(t, u, `INSERT INTO w VALUES (2)`)
	sink.waitFor(t, 2, 5*time.Second)
}

// TestSlowSinkReadsNothingBack: steps that end while the reader publishes
// hand their entries over too, so a sequencing instance whose sink is slow
// still reads nothing back from the journal, and misses nothing.
func TestSlowSinkReadsNothingBack(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w');`)
	sink := &slowSink{collector: newCollector(), delay: 20 * time.Millisecond}
	s := runStream(t, db, sink, cdc.Options{From: 0, Poll: time.Minute})
	// Ready: the reader's first read, a probe of the journal, is done.
	for deadline := time.Now().Add(10 * time.Second); !s.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("stream not ready after 10s")
		}
	}
	storetest.Exec(t, u, `INSERT INTO w VALUES (0)`)
	sink.waitFor(t, 1, 5*time.Second)
	reads := s.Stats().Reads
	for i := 1; i <= 40; i++ {
		if _, err := db.Pool().Exec(context.Background(), `INSERT INTO w VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	sink.waitFor(t, 41, 10*time.Second)
	if got := s.Stats().Reads - reads; got != 0 {
		t.Fatalf("%d journal reads for 40 writes behind a slow sink (%d batches)", got, sink.batches())
	}
	for i, c := range sink.all() {
		if c.Pos != int64(i+1) {
			t.Fatalf("change %d has position %d", i, c.Pos)
		}
	}
	if sink.batches() >= 40 {
		t.Fatalf("every write was published alone (%d batches): the sink was never behind", sink.batches())
	}
}

// slowSink is a collector that takes delay to publish each batch.
type slowSink struct {
	*collector
	delay time.Duration
	n     atomic.Int64
}

func (s *slowSink) Publish(batch []cdc.Change) {
	time.Sleep(s.delay)
	s.n.Add(1)
	s.collector.Publish(batch)
}

func (s *slowSink) batches() int64 { return s.n.Load() }

// trackedStream runs a stream with opts over a new database with one
// tracked table, w (id int PRIMARY KEY).
func trackedStream(t *testing.T, opts cdc.Options) (string, *store.DB, *collector, *cdc.Stream) {
	u, db := storetest.OpenMigrated(t, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w');`)
	sink := newCollector()
	return u, db, sink, runStream(t, db, sink, opts)
}

// TestOpenWriterKeepsOthersSilent: a transaction that wrote a tracked table
// while the sequencer was busy holds the gate, shared, until it ends. The
// sequencer must not queue for the gate behind it: while an exclusive
// request waits, every writer's try of the gate fails, so each transaction
// would send a NOTIFY (the cost pgfeed's design avoids) for as long as that
// transaction stays open, a forgotten session's for hours.
func TestOpenWriterKeepsOthersSilent(t *testing.T) {
	t.Parallel()
	u, db, sink, s := trackedStream(t, cdc.Options{From: 0, Poll: time.Minute, Linger: 300 * time.Millisecond})
	ctx := context.Background()

	// Wake the sequencer, and write in a transaction that stays open while
	// it is busy (for Linger after the change).
	storetest.Exec(t, u, `INSERT INTO w VALUES (0)`)
	sink.waitFor(t, 1, 5*time.Second)
	long, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Rollback(ctx)
	if _, err := long.Exec(ctx, `INSERT INTO w VALUES (-1)`); err != nil {
		t.Fatal(err)
	}
	var shared bool
	if err := long.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND objid = pgfeed.gate_key() AND mode = 'ShareLock' AND granted)`).Scan(&shared); err != nil {
		t.Fatal(err)
	}
	if !shared {
		t.Fatal("the open transaction's write found the sequencer idle: this test needs it busy")
	}

	listen, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer listen.Close(ctx)
	if _, err := listen.Exec(ctx, `LISTEN pgfeed_wake`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * 300 * time.Millisecond) // five times Linger: the sequencer would go idle now
	for i := 1; i <= 20; i++ {
		storetest.Exec(t, u, `INSERT INTO w VALUES ($1)`, i)
	}
	sink.waitFor(t, 21, 5*time.Second)
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	notifies := 0
	for ; ; notifies++ {
		if _, err := listen.WaitForNotification(wctx); err != nil {
			break
		}
	}
	if notifies != 0 {
		t.Fatalf("%d of 20 transactions sent a NOTIFY while another stayed open", notifies)
	}

	// The open transaction's change arrives when it commits, and then the
	// sequencer goes idle.
	if err := long.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 22, 5*time.Second)
	waitIdle(t, s)
}

// TestPreparedTransactions: a transaction that sent a NOTIFY cannot be
// prepared, so sessions that use two-phase commit set pgfeed.wake to off.
// Their writes prepare whether the sequencer is idle or busy, and arrive
// once committed: by the fallback poll while the sequencer is idle.
func TestPreparedTransactions(t *testing.T) {
	t.Parallel()
	_, u := newAppCluster(t, map[string]string{"max_prepared_transactions": "4"}, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w')`)
	sink := newCollector()
	s := runStream(t, storetest.Open(t, u), sink, cdc.Options{From: 0, Poll: 200 * time.Millisecond, Linger: 500 * time.Millisecond})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET pgfeed.wake = off`); err != nil {
		t.Fatal(err)
	}
	prepare := func(id int) {
		t.Helper()
		if _, err := conn.Exec(ctx, fmt.Sprintf(`BEGIN; INSERT INTO w VALUES (%d); PREPARE TRANSACTION 'w%d'`, id, id)); err != nil {
			t.Fatalf("prepare a write to w (sequencer idle: %v): %v", s.Stats().Idle, err)
		}
	}

	waitIdle(t, s)
	prepare(1)
	// Busy: a write from another session wakes the sequencer.
	storetest.Exec(t, u, `INSERT INTO w VALUES (2)`)
	sink.waitFor(t, 1, 5*time.Second)
	prepare(3)
	var held bool // the prepared transaction keeps the gate the busy sequencer opened
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid IS NULL
		AND objid = pgfeed.gate_key() AND mode = 'ShareLock' AND granted)`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if !held {
		t.Fatal("the second prepared write found the sequencer idle: this test needs it busy")
	}
	for _, id := range []int{1, 3} {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`COMMIT PREPARED 'w%d'`, id)); err != nil {
			t.Fatal(err)
		}
	}
	sink.waitFor(t, 3, 5*time.Second)
	waitIdle(t, s)
	prepare(4)
	if _, err := conn.Exec(ctx, `COMMIT PREPARED 'w4'`); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, 4, 5*time.Second)
	var ids []string
	for _, c := range sink.all() {
		ids = append(ids, string(c.New[0]))
	}
	if got := strings.Join(ids, " "); got != `{"id":2} {"id":1} {"id":3} {"id":4}` {
		t.Fatalf("stream: %s", got)
	}
}

// waitIdle waits until the sequencer is idle.
func waitIdle(tb testing.TB, s *cdc.Stream) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.Stats().Idle; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("sequencer never went idle: %+v", s.Stats())
		}
	}
}
