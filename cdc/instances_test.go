package cdc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestInstancesAgreeAndTakeOver is property 5 across instances: two streams
// on one database emit the same changes at the same positions, only one of
// them sequences, and when it stops the other takes over with no gap.
func TestInstancesAgreeAndTakeOver(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE two (id int PRIMARY KEY, v int); SELECT pgfeed.track('two');`)
	dbA, dbB := storetest.Open(t, u), storetest.Open(t, u)
	a, b := newCollector(), newCollector()

	streamA, stopA, doneA := startStream(t, dbA, a, cdc.Options{Name: "a", From: 0})
	deadline := time.Now().Add(10 * time.Second)
	for !streamA.Leader() {
		if time.Now().After(deadline) {
			t.Fatal("first stream never became the sequencer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	streamB := runStream(t, dbB, b, cdc.Options{Name: "b", From: 0})

	for i := 1; i <= 20; i++ {
		storetest.Exec(t, u, `INSERT INTO two VALUES ($1, 0)`, i)
	}
	a.waitFor(t, 20, 10*time.Second)
	b.waitFor(t, 20, 10*time.Second)
	if streamB.Leader() {
		t.Fatal("both streams sequence")
	}

	stopA()
	if err := <-doneA; err != nil && err != context.Canceled {
		t.Fatalf("first stream: %v", err)
	}
	for i := 1; i <= 20; i++ {
		storetest.Exec(t, u, `UPDATE two SET v = v + 1 WHERE id = $1`, i)
	}
	b.waitFor(t, 40, 10*time.Second) // only the second stream is left to sequence
	if !streamB.Leader() {
		t.Fatal("second stream did not take over sequencing")
	}

	ca, cb := a.all(), b.all()
	checkOrder(t, cb, 0)
	for i := range ca {
		if ca[i].Pos != cb[i].Pos || ca[i].XID != cb[i].XID || string(ca[i].New[0]) != string(cb[i].New[0]) {
			t.Fatalf("change %d differs: %d/%d %s, %d/%d %s", i, ca[i].Pos, ca[i].XID, ca[i].New[0], cb[i].Pos, cb[i].XID, cb[i].New[0])
		}
	}
}

// TestStuckLeaderIsEnded: a sequencing instance that freezes in the middle
// of receiving a step's results (a stopped process, connected over a unix
// socket) leaves its session blocked sending them. That session is not
// idle, and has no TCP timeout, so the server never ends it, and it keeps
// the leader lock. The other instances end it once it has been stuck for
// the lease, and take over.
func TestStuckLeaderIsEnded(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE s (id int PRIMARY KEY); SELECT pgfeed.track('s')`)
	ctx := context.Background()
	frozen, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close(ctx)
	var pid int32
	if err := frozen.QueryRow(ctx, `SELECT pg_advisory_lock(1885824620), pg_backend_pid()`).Scan(nil, &pid); err != nil {
		t.Fatal(err) // the leader lock (cdc's leaderKey)
	}
	// Results far larger than the socket's buffers, never read.
	stuck := frozen.PgConn().Exec(ctx, `SELECT repeat('x', 1000000) FROM generate_series(1, 1000)`)
	defer stuck.Close()
	since := time.Now()

	db := storetest.Open(t, u)
	sink := newCollector()
	lease := time.Second
	s := runStream(t, db, sink, cdc.Options{From: 0, Poll: 100 * time.Millisecond, Lease: lease})
	storetest.Exec(t, u, `INSERT INTO s VALUES (1)`)
	sink.waitFor(t, 1, 10*time.Second)
	if took := time.Since(since); took < lease {
		t.Errorf("the stuck session was ended after %v, before the lease of %v", took, lease)
	}
	if !s.Leader() {
		t.Error("the stream publishes without leading")
	}
	var left bool
	if err := db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Error("the stuck session is still there")
	}
}

// TestFrozenSnapshotReleasesTheStepLock: a snapshot holds the step lock,
// which every instance's steps wait for, across a few round trips. A
// process that freezes then (a stopped process, a paused VM) leaves the
// lock held by an idle session; the server ends that session after the
// lease, and the stream goes on.
func TestFrozenSnapshotReleasesTheStepLock(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE f (id int PRIMARY KEY); SELECT pgfeed.track('f'); INSERT INTO f VALUES (1)`)
	// Another process takes snapshots without pause, and is frozen while
	// one of them holds the step lock.
	child := startSnapshotLoop(t, u)
	db := storetest.Open(t, u)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0, Poll: 100 * time.Millisecond, Lease: time.Second})
	sink.waitFor(t, 1, 10*time.Second)

	freezeWhen(t, child, u, "holding the step lock", `SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objid = pgfeed.lock_key()::oid AND a.state LIKE 'idle%')`)
	storetest.Exec(t, u, `INSERT INTO f VALUES (2)`)
	sink.waitFor(t, 2, 10*time.Second)
}

// TestFrozenSnapshotReadReleasesItsTable: a snapshot's read holds a lock
// on its table, which an ALTER TABLE waits for (and every query on the
// table queues behind that). A process that freezes in the middle of a
// large read leaves the server blocked sending it; over TCP the server
// gives up on the connection after the lease (tcp_user_timeout), and the
// table is free again.
func TestFrozenSnapshotReadReleasesItsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	port, err := pglocal.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := pglocal.Start(ctx, pglocal.Options{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	u := cluster.URL("postgres")
	storetest.Migrate(t, u)
	storetest.Exec(t, u, `CREATE TABLE big (id int PRIMARY KEY, body text); SELECT pgfeed.track('big');
		INSERT INTO big SELECT i, repeat('x', 1000000) FROM generate_series(1, 40) i`)
	child := startSnapshotLoop(t, u)

	freezeWhen(t, child, u, "in the middle of a read", `SELECT EXISTS (SELECT FROM pg_stat_activity
		WHERE state = 'active' AND wait_event = 'ClientWrite' AND query LIKE 'SELECT row_to_json%')`)
	start := time.Now()
	storetest.Exec(t, u, `SET lock_timeout = '15s'; ALTER TABLE big ADD COLUMN n int`)
	t.Logf("ALTER TABLE waited %v", time.Since(start).Round(time.Millisecond))
}

// startSnapshotLoop starts a process that takes snapshots of the database
// at u (of its first tracked table) until the test ends, with a lease of
// one second.
func startSnapshotLoop(t *testing.T, u string) *os.Process {
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), snapshotLoopEnv+"="+u)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Signal(syscall.SIGCONT)
		child.Process.Kill()
		child.Wait()
	})
	return child.Process
}

// freezeWhen stops process p (SIGSTOP) at random moments until the query
// (of a boolean) on the database at u finds it in the state when, and
// fails the test if it never does. p stays stopped.
func freezeWhen(t *testing.T, p *os.Process, u, when, query string) {
	t.Helper()
	ctx := context.Background()
	for try := 0; try < 200; try++ {
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the statement it sent ends
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var held bool
		err = conn.QueryRow(ctx, query).Scan(&held)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if held {
			return
		}
		p.Signal(syscall.SIGCONT)
	}
	t.Fatalf("the process was never stopped %s", when)
}

// snapshotLoopEnv makes the test binary take snapshots of the database at
// its URL until it is killed, with a lease of one second.
const snapshotLoopEnv = "PGFEED_TEST_SNAPSHOT_LOOP"

func snapshotLoop(u string) {
	ctx := context.Background()
	db, err := store.Open(ctx, u, time.Second)
	if err != nil {
		panic(err)
	}
	j := cdc.Journal{DB: db}
	tables, err := j.Tables(ctx)
	if err != nil || len(tables) == 0 {
		panic(fmt.Sprint("tables: ", tables, err))
	}
	for {
		j.Snapshot(ctx, &tables[0], "", nil, "", -1, 0) // fails once the server ends a frozen session
	}
}
