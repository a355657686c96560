package cdc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestTruncateArrivesAsDeletes: a TRUNCATE of a tracked table, alone or
// cascaded from another, reaches the stream as the delete of every row it
// removed (rows its own transaction wrote included), in its transaction's
// place, so that a copy replayed from the stream still equals the tables.
// Under REPEATABLE READ it is refused and changes nothing.
func TestTruncateArrivesAsDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		CREATE TABLE parents (id bigint PRIMARY KEY, note text);
		CREATE TABLE kids (id bigint PRIMARY KEY, parent bigint REFERENCES parents, note text);
		SELECT pgfeed.track('parents'), pgfeed.track('kids');
		INSERT INTO parents SELECT g, 'parent' FROM generate_series(1, 250) g;
		INSERT INTO kids SELECT g, g, 'kid' FROM generate_series(1, 30) g;`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	tx, err := db.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `TRUNCATE kids`)
	tx.Rollback(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot record a TRUNCATE of kids under repeatable read isolation") {
		t.Fatalf("TRUNCATE under REPEATABLE READ: err = %v, want it refused", err)
	}

	storetest.Exec(t, u, `BEGIN;
		INSERT INTO kids VALUES (100, 1, 'same transaction');
		TRUNCATE kids;
		INSERT INTO kids VALUES (101, 2, 'after the truncate');
		COMMIT`)
	storetest.Exec(t, u, `TRUNCATE parents CASCADE`)
	storetest.Exec(t, u, `INSERT INTO parents VALUES (1, 'again')`)
	head := settle(t, db)
	sink.waitFor(t, head, 10*time.Second)

	changes := sink.all()
	checkOrder(t, changes, 0)
	r := newReplica()
	deleted := map[string]int{}
	for _, c := range changes {
		r.apply(t, c)
		if c.Op == cdc.OpDelete {
			deleted[c.Collection] += len(c.Old)
		}
	}
	r.equalTable(t, db, "parents")
	r.equalTable(t, db, "kids")
	// kids: 30 rows and the one written in the truncating transaction, then
	// the one written after it, removed by the cascade; parents: all 250.
	if deleted["kids"] != 32 || deleted["parents"] != 250 {
		t.Errorf("deleted rows in the stream: %v, want kids 32 and parents 250", deleted)
	}
}

// TestTruncateUnderForcedRowSecurityFails: when a policy would hide rows
// from the trigger that records a TRUNCATE (row security forced on the
// table's owner, who tracked it), the TRUNCATE fails instead of removing
// the hidden rows unrecorded.
func TestTruncateUnderForcedRowSecurityFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, "")
	role := fmt.Sprintf("pgfeed_owner_%d", os.Getpid())
	storetest.Exec(t, u, fmt.Sprintf(`CREATE ROLE %[1]s;
		GRANT USAGE, CREATE ON SCHEMA pgfeed, public TO %[1]s;
		GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA pgfeed TO %[1]s;`, role))
	t.Cleanup(func() {
		db.Pool().Exec(ctx, "DROP OWNED BY "+role)
		db.Pool().Exec(ctx, "DROP ROLE "+role)
	})
	storetest.Exec(t, u, fmt.Sprintf(`SET ROLE %s;
		CREATE TABLE secrets (id int PRIMARY KEY, owner text);
		SELECT pgfeed.track('secrets');
		INSERT INTO secrets VALUES (1, 'a'), (2, 'b');
		ALTER TABLE secrets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
		CREATE POLICY only_a ON secrets USING (owner = 'a');`, role))

	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET ROLE "+role); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `TRUNCATE secrets`)
	conn.Exec(ctx, "RESET ROLE")
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("TRUNCATE with a policy forced on the owner: err = %v, want it refused", err)
	}
	var rows int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM secrets`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("rows after the refused TRUNCATE: %d, %v; want 2", rows, err)
	}
}
