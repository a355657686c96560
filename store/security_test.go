package store_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestSnapshotRefusesRowSecurity: the journal holds every row a statement
// changed, whatever row-level security would let pgfeed's role see, so a
// snapshot that a policy filtered would disagree with the stream (an
// init without rows whose updates then arrive). Where a policy would
// filter pgfeed's read, the snapshot fails and says why.
func TestSnapshotRefusesRowSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := storetest.NewMigratedDB(t)
	storetest.Exec(t, admin, `CREATE TABLE secrets (id int PRIMARY KEY, owner text);
		SELECT pgfeed.track('secrets');
		INSERT INTO secrets VALUES (1, 'a'), (2, 'b');
		ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
		CREATE POLICY only_a ON secrets USING (owner = 'a');`)
	u := storetest.NewRole(t, admin, `GRANT SELECT ON secrets TO %[1]s;
		GRANT USAGE ON SCHEMA pgfeed TO %[1]s;
		GRANT ALL ON ALL TABLES IN SCHEMA pgfeed TO %[1]s;`)
	db := storetest.Open(t, u)
	tables, err := db.Tables(ctx)
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables: %v, %v", tables, err)
	}
	if filtered, err := db.Filtered(ctx); err != nil || !filtered["secrets"] {
		t.Errorf("filtered = %v, %v; want secrets", filtered, err)
	}
	snap, err := db.ReadSnapshot(ctx, &tables[0], "", nil, "id", -1, 0)
	if err == nil {
		t.Fatalf("snapshot under a policy: %d rows, want an error", len(snap.Rows))
	}
	if !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("snapshot under a policy: %v, want it to say row-level security", err)
	}

	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, admin, `ALTER ROLE `+p.User.Username()+` BYPASSRLS`)
	fresh := storetest.Open(t, u)
	snap, err = fresh.ReadSnapshot(ctx, &tables[0], "", nil, "id", -1, 0)
	if err != nil || len(snap.Rows) != 2 {
		t.Fatalf("snapshot with BYPASSRLS: %+v, %v; want both rows", snap, err)
	}
	if filtered, err := fresh.Filtered(ctx); err != nil || len(filtered) != 1 || filtered["secrets"] {
		t.Errorf("filtered with BYPASSRLS = %v, %v; want secrets false", filtered, err)
	}
}
