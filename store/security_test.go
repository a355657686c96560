package store_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestSnapshotRefusesRowSecurity: the journal holds every row a statement
// changed, whatever row-level security would let pgfeed's role see, so a
// snapshot that a policy filtered would disagree with the stream (an
// init without rows whose updates then arrive). Where a policy would
// filter pgfeed's read, the snapshot fails and says why. Unreadable tells
// such tables, and those pgfeed's role may not SELECT whole, ahead.
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
	if why, err := db.Unreadable(ctx); err != nil || why["secrets"] != store.UnreadablePolicy {
		t.Errorf("unreadable = %v, %v; want secrets by policy", why, err)
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
	if why, err := fresh.Unreadable(ctx); err != nil || len(why) != 1 || why["secrets"] != "" {
		t.Errorf("unreadable with BYPASSRLS = %v, %v; want secrets readable", why, err)
	}

	// Without the privilege to SELECT every column, it is said so.
	storetest.Exec(t, admin, `REVOKE SELECT ON secrets FROM `+p.User.Username()+`;
		GRANT SELECT (id) ON secrets TO `+p.User.Username())
	if why, err := fresh.Unreadable(ctx); err != nil || why["secrets"] != store.UnreadablePrivilege {
		t.Errorf("unreadable with SELECT on id alone = %v, %v; want secrets by privilege", why, err)
	}
	storetest.Exec(t, admin, `GRANT SELECT (owner) ON secrets TO `+p.User.Username())
	if why, err := fresh.Unreadable(ctx); err != nil || why["secrets"] != "" {
		t.Errorf("unreadable with SELECT on every column = %v, %v; want secrets readable", why, err)
	}
	if snap, err = fresh.ReadSnapshot(ctx, &tables[0], "", nil, "id", -1, 0); err != nil || len(snap.Rows) != 2 {
		t.Errorf("snapshot with SELECT on every column: %+v, %v; want both rows", snap, err)
	}
}
