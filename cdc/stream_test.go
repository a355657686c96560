package cdc_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

const workloadSchema = `
CREATE TABLE accounts (id bigint PRIMARY KEY, version bigint NOT NULL, balance numeric NOT NULL, note text);
CREATE TABLE orders (id bigint PRIMARY KEY, version bigint NOT NULL, account bigint, note text);
CREATE TABLE events (id bigint PRIMARY KEY, note text, payload jsonb);
CREATE SEQUENCE ids;
SELECT pgfeed.track('accounts'), pgfeed.track('orders'), pgfeed.track('events');
INSERT INTO accounts SELECT g, 1, 0, 'seed' FROM generate_series(1, 8) g;
INSERT INTO orders SELECT nextval('ids'), 1, 1, 'seed' FROM generate_series(1, 200);
`

// workload runs writers against the database at u until stop is closed:
// short and long transactions, multi-row statements, multi-table
// transactions, rollbacks (whole and to a savepoint), and hot rows that long
// transactions update after writing something else first, so that
// transaction id order differs from commit order. Errors (deadlocks, a
// restarting server) only end that transaction.
func workload(tb testing.TB, u string, writers int, stop <-chan struct{}) (commits, failures *atomic.Int64, wait func()) {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = int32(writers)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	commits, failures = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed*7+1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return writeOnce(ctx, tx, rng) })
				cancel()
				if err != nil {
					failures.Add(1)
					if !errors.Is(err, errRollback) {
						time.Sleep(5 * time.Millisecond) // let a restarting server come back
					}
				} else {
					commits.Add(1)
				}
			}
		}(uint64(w) + 1)
	}
	return commits, failures, func() { wg.Wait(); pool.Close() }
}

var errRollback = errors.New("planned rollback")

func writeOnce(ctx context.Context, tx pgx.Tx, rng *rand.Rand) error {
	hot := rng.IntN(8) + 1
	exec := func(sql string, args ...any) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
	switch k := rng.IntN(100); {
	case k < 35: // short transaction on a hot row
		return exec(`UPDATE accounts SET version = version + 1, balance = balance + 1.01 WHERE id = $1`, hot)
	case k < 45: // single and multi-row inserts
		n := 1
		if rng.IntN(4) == 0 {
			n = 100
		}
		return exec(`INSERT INTO orders SELECT nextval('ids'), 1, $1, 'new' FROM generate_series(1, $2)`, hot, n)
	case k < 55: // multi-row update of a range
		lo := rng.IntN(400)
		return exec(`UPDATE orders SET version = version + 1, note = 'ranged' WHERE id BETWEEN $1 AND $2`, lo, lo+rng.IntN(30))
	case k < 60:
		return exec(`DELETE FROM orders WHERE id IN (SELECT id FROM orders ORDER BY random() LIMIT 2)`)
	case k < 72: // long transaction: takes its xid early, updates a hot row late
		if err := exec(`INSERT INTO events VALUES (nextval('ids'), 'long', '{"a":[1,2]}')`); err != nil {
			return err
		}
		time.Sleep(time.Duration(10+rng.IntN(60)) * time.Millisecond)
		if err := exec(`UPDATE accounts SET version = version + 1, balance = balance - 1 WHERE id = $1`, hot); err != nil {
			return err
		}
		return exec(`UPDATE orders SET version = version + 1 WHERE id = (SELECT min(id) FROM orders)`)
	case k < 82: // rolled back
		if err := exec(`INSERT INTO orders VALUES (nextval('ids'), 1, $1, 'rollback')`, hot); err != nil {
			return err
		}
		if err := exec(`UPDATE accounts SET version = version + 1, note = 'rollback' WHERE id = $1`, hot); err != nil {
			return err
		}
		return errRollback
	case k < 90: // rolled back to a savepoint, then committed
		if err := exec(`UPDATE accounts SET version = version + 1 WHERE id = $1`, hot); err != nil {
			return err
		}
		if err := exec(`SAVEPOINT s`); err != nil {
			return err
		}
		if err := exec(`INSERT INTO events VALUES (nextval('ids'), 'rollback', null)`); err != nil {
			return err
		}
		return exec(`ROLLBACK TO SAVEPOINT s`)
	default: // several tables, several statements
		if err := exec(`INSERT INTO events VALUES (nextval('ids'), 'multi', '{"k":"v"}')`); err != nil {
			return err
		}
		if err := exec(`UPDATE accounts SET version = version + 1 WHERE id = $1`, hot); err != nil {
			return err
		}
		return exec(`INSERT INTO orders VALUES (nextval('ids'), 1, $1, 'multi')`, hot)
	}
}

// TestConcurrentWritersReplayExactly is DESIGN.md properties 1-3: with many
// concurrent writers, long transactions, rollbacks and hot rows, the stream
// replayed into a copy equals the tables, every committed version of every
// row arrives exactly once and in order, and no rolled-back change appears.
func TestConcurrentWritersReplayExactly(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, workloadSchema)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	stop := make(chan struct{})
	commits, failures, wait := workload(t, u, 20, stop)
	time.Sleep(4 * time.Second)
	close(stop)
	wait()
	if commits.Load() < 200 || failures.Load() < 20 {
		t.Fatalf("workload too small to prove anything: %d commits, %d rollbacks", commits.Load(), failures.Load())
	}
	head := settle(t, db)
	sink.waitFor(t, head, 30*time.Second)

	n := replayWorkload(t, db, sink.all())
	t.Logf("%d commits, %d rolled back, %d changes streamed", commits.Load(), failures.Load(), n)
}

// replayWorkload checks the order of the workload's changes, replays them
// into a copy and compares it with the tables. It returns how many there were.
func replayWorkload(tb testing.TB, db *store.DB, changes []cdc.Change) int {
	tb.Helper()
	checkOrder(tb, changes, 0)
	r := newReplica()
	for _, c := range changes {
		r.apply(tb, c)
	}
	for _, table := range []string{"accounts", "orders", "events"} {
		r.equalTable(tb, db, table)
	}
	return len(changes)
}

// TestSurvivesKilledConnectionsAndRestarts is property 1 across failures:
// the reader's connections are terminated and the server is restarted (fast
// and immediate) while writers run; still nothing is lost or duplicated.
func TestSurvivesKilledConnectionsAndRestarts(t *testing.T) {
	t.Parallel()
	cluster, u := newAppCluster(t, nil, workloadSchema)
	db := storetest.Open(t, u)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0, Poll: 100 * time.Millisecond})

	stop := make(chan struct{})
	commits, _, wait := workload(t, u, 16, stop)
	ctx := context.Background()
	time.Sleep(time.Second)
	// Terminate every pgfeed connection (listener, sequencer, reader).
	storetest.Exec(t, u, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgfeed' AND pid <> pg_backend_pid()`)
	time.Sleep(time.Second)
	if err := cluster.Restart(ctx, "fast"); err != nil {
		t.Fatalf("restart fast: %v", err)
	}
	time.Sleep(time.Second)
	if err := cluster.Restart(ctx, "immediate"); err != nil {
		t.Fatalf("restart immediate: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wait()
	if commits.Load() < 100 {
		t.Fatalf("only %d commits", commits.Load())
	}

	var head int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if head, err = db.Step(ctx); err == nil || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("step after restarts: %v", err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sink.waitFor(t, head, 30*time.Second)
	replayWorkload(t, db, sink.all())
}

// TestResumeFromCursor is property 5: a stream started after a cursor emits
// exactly the changes after it.
func TestResumeFromCursor(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE notes (id int PRIMARY KEY, body text); SELECT pgfeed.track('notes');`)
	for i := 1; i <= 30; i++ {
		storetest.Exec(t, u, `INSERT INTO notes VALUES ($1, 'n')`, i)
	}
	db := storetest.Open(t, u)
	head := settle(t, db)
	all := newCollector()
	runStream(t, db, all, cdc.Options{From: 0})
	all.waitFor(t, head, 10*time.Second)

	const cursor = 17
	resumed := newCollector()
	runStream(t, db, resumed, cdc.Options{From: cursor, Name: "second"})
	storetest.Exec(t, u, `UPDATE notes SET body = 'm' WHERE id <= 3`)
	head = settle(t, db)
	all.waitFor(t, head, 10*time.Second)
	resumed.waitFor(t, head, 10*time.Second)
	// Each stream told its sink where it started, with the tag of the
	// change there (none at 0), for the cursors it gives to name it.
	if first, want := all.started(), (cdc.Mark{}); first != want {
		t.Errorf("stream from 0 started at %+v, want %+v", first, want)
	}
	if first, want := resumed.started(), (cdc.Mark{Pos: cursor, Tag: all.all()[cursor-1].Tag()}); first != want {
		t.Errorf("stream from %d started at %+v, want %+v", cursor, first, want)
	}
	want, got := all.all()[cursor:], resumed.all()
	if len(got) != len(want) {
		t.Fatalf("resumed stream has %d changes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Pos != want[i].Pos || string(got[i].New[0]) != string(want[i].New[0]) {
			t.Fatalf("change %d: got %d %s, want %d %s", i, got[i].Pos, got[i].New[0], want[i].Pos, want[i].New[0])
		}
	}
}
