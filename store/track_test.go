package store_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestTrackRefusesWhatItCannotTrack: each bad request gets one clear line.
func TestTrackRefusesWhatItCannotTrack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `
		CREATE TABLE keyed (id int PRIMARY KEY);
		CREATE TABLE keyless (v int);
		CREATE VIEW keyed_view AS SELECT * FROM keyed;
		CREATE SCHEMA app; CREATE TABLE app.things (a int, b text, PRIMARY KEY (b, a));
		CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
		CREATE TABLE parent (id int PRIMARY KEY);
		CREATE TABLE child (id int PRIMARY KEY) INHERITS (parent);
		CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
		CREATE TABLE mixed (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE UNLOGGED TABLE mixed_low PARTITION OF mixed FOR VALUES FROM (0) TO (100);
		CREATE TABLE renamed (id int PRIMARY KEY);
		SELECT pgfeed.track('renamed');
		ALTER TABLE renamed RENAME TO moved;
		CREATE TABLE renamed (id int PRIMARY KEY);
		CREATE SCHEMA "a.b"; CREATE TABLE "a.b".c (id int PRIMARY KEY); SELECT pgfeed.track('"a.b".c');
		CREATE SCHEMA a; CREATE TABLE a."b.c" (id int PRIMARY KEY);`)
	if _, err := db.Track(ctx, "keyed"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ desc, table, want string }{
		{"missing table", "nope", `relation "nope" does not exist`},
		{"view", "keyed_view", "only ordinary and partitioned tables"},
		{"no primary key", "keyless", "has no primary key"},
		{"already tracked", "keyed", "already tracked"},
		{"pgfeed's own table", "pgfeed.changes", "own table"},
		{"partition", "parted_low", "it is a partition of parted, and statements on parted would change it unseen (track the partitioned table"},
		{"inheritance child", "child", "it is a child of parent"},
		{"inheritance parent", "parent", "has inheritance children (child)"},
		{"unlogged table", "scratch", "pgfeed cannot track scratch: scratch is unlogged, and a crash would empty it"},
		{"unlogged partition", "mixed", "pgfeed cannot track mixed: mixed_low is unlogged"},
		{"collection taken", "renamed", "pgfeed cannot track renamed as collection renamed: table moved was tracked under that name"},
		{"collection named alike", `a."b.c"`, `pgfeed cannot track a."b.c" as collection a.b.c: table "a.b".c is tracked as that collection (rename one`},
	} {
		_, err := db.Track(ctx, tc.table)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line containing %q", tc.desc, err, tc.want)
		}
	}
	// A temporary table, seen by its own session only.
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `CREATE TEMPORARY TABLE mine (id int PRIMARY KEY); SELECT pgfeed.track('mine')`)
	conn.Release()
	if err == nil || !strings.Contains(err.Error(), "pgfeed cannot track mine: mine is temporary") {
		t.Errorf("temporary table: err = %v", err)
	}
	if _, err := db.Untrack(ctx, "keyless"); err == nil || !strings.Contains(err.Error(), "not tracked") {
		t.Errorf("untrack of an untracked table: %v", err)
	}
	coll, err := db.Track(ctx, "app.things")
	if err != nil || coll != "app.things" {
		t.Fatalf("track app.things = %q, %v", coll, err)
	}
	tables, err := db.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var things []string
	for _, tb := range tables {
		if tb.Collection == "app.things" {
			things = tb.Key
		}
	}
	if strings.Join(things, ",") != "b,a" {
		t.Errorf("app.things key = %v, want [b a] in key order", things)
	}
}

// TestTrackedTableKeepsItsShape: a tracked table cannot later become a
// partition, a child or a parent (statements on a parent fire only the
// parent's triggers), nor lose, change or rename its primary key (the update
// trigger pairs rows by it); each attempt is refused and changes nothing.
// Other changes go through, and capture still works after them.
func TestTrackedTableKeepsItsShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `
		CREATE TABLE tracked (id int PRIMARY KEY, code int NOT NULL, note text);
		CREATE TABLE other (id int PRIMARY KEY, code int NOT NULL, note text);
		CREATE TABLE parted (id int PRIMARY KEY, code int NOT NULL, note text) PARTITION BY RANGE (id);
		CREATE TABLE tparted (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE tparted_low PARTITION OF tparted FOR VALUES FROM (0) TO (100);
		SELECT pgfeed.track('tracked'), pgfeed.track('tparted');
		INSERT INTO tracked VALUES (1, 1, 'a');`)
	const inherit = "pgfeed tracks public.tracked, which cannot take part in inheritance or partitioning"
	const key = "pgfeed tracks public.tracked by its primary key (id), which this would change to "
	for _, tc := range []struct{ sql, want string }{
		{`CREATE TABLE kid () INHERITS (tracked)`, inherit},
		{`ALTER TABLE other INHERIT tracked`, inherit},
		{`ALTER TABLE tracked INHERIT other`, inherit},
		{`ALTER TABLE parted ATTACH PARTITION tracked FOR VALUES FROM (0) TO (100)`, inherit},
		{`ALTER TABLE tracked DROP CONSTRAINT tracked_pkey`, key + "none"},
		{`ALTER TABLE tracked DROP CONSTRAINT tracked_pkey, ADD PRIMARY KEY (code)`, key + "(code)"},
		{`ALTER TABLE tracked RENAME COLUMN id TO ident`, key + "(ident)"},
		{`ALTER TABLE tracked SET UNLOGGED`, "pgfeed tracks public.tracked, and public.tracked would be unlogged"},
		{`CREATE UNLOGGED TABLE tparted_hi PARTITION OF tparted FOR VALUES FROM (100) TO (200)`,
			"pgfeed tracks public.tparted, and public.tparted_hi would be unlogged"},
		{`ALTER TABLE tparted_low SET UNLOGGED`, "pgfeed tracks public.tparted, and public.tparted_low would be unlogged"},
	} {
		_, err := db.Pool().Exec(ctx, tc.sql)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it refused with %q", tc.sql, err, tc.want)
		}
	}
	var n int
	var links string
	if err := db.Pool().QueryRow(ctx, `SELECT count(*), coalesce(string_agg(inhrelid::regclass || ' of ' || inhparent::regclass, ', '), '')
		FROM pg_inherits WHERE inhparent NOT IN ('tparted'::regclass, 'tparted_pkey'::regclass)`).Scan(&n, &links); err != nil || n != 0 {
		t.Errorf("inheritance links after the refusals: %d (%s), %v", n, links, err)
	}
	for _, sql := range []string{
		`ALTER TABLE tracked RENAME COLUMN note TO remark`,
		`ALTER TABLE tracked DROP CONSTRAINT tracked_pkey, ADD PRIMARY KEY (id)`,
		`ALTER TABLE tracked ADD COLUMN extra int`,
		`UPDATE tracked SET remark = 'b' WHERE id = 1`,
	} {
		if _, err := db.Pool().Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	var old, now string
	err := db.Pool().QueryRow(ctx, `SELECT old::text, data::text FROM pgfeed.changes WHERE op = 'u'`).Scan(&old, &now)
	if err != nil || old != `[{"id":1,"code":1,"remark":"a","extra":null}]` || now != `[{"id":1,"code":1,"remark":"b","extra":null}]` {
		t.Errorf("update after the allowed changes: old %s, new %s, %v", old, now, err)
	}
	// Untracked, the table may change freely.
	if _, err := db.Untrack(ctx, "tracked"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `CREATE TABLE kid () INHERITS (tracked)`); err != nil {
		t.Errorf("after untrack: %v", err)
	}
}

// TestTrackAfterDropWithoutEventTrigger: without the drop event trigger
// (installed only when a superuser migrates), a dropped table stays in
// pgfeed.tracked. Tracking a table of the same name later forgets it then:
// its functions are dropped, its subscribers are told (op 'x'), and the new
// table takes the name.
func TestTrackAfterDropWithoutEventTrigger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		ALTER EVENT TRIGGER pgfeed_drop DISABLE;
		CREATE TABLE gone (id int PRIMARY KEY);
		SELECT pgfeed.track('gone');`)
	var old uint32
	if err := db.Pool().QueryRow(ctx, `SELECT 'gone'::regclass::oid`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, u, `DROP TABLE gone; CREATE TABLE gone (id int PRIMARY KEY)`)
	if coll, err := db.Track(ctx, "gone"); err != nil || coll != "gone" {
		t.Fatalf("track the new gone: %q, %v", coll, err)
	}
	var tracked, oldFns int
	var ops string
	err := db.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT
		(SELECT count(*) FROM pgfeed.tracked),
		(SELECT count(*) FROM pg_proc WHERE proname LIKE 'capture_%d_%%'),
		(SELECT string_agg(op::text, '' ORDER BY id) FROM pgfeed.changes WHERE collection = 'gone')`, old)).Scan(&tracked, &oldFns, &ops)
	if err != nil {
		t.Fatal(err)
	}
	if tracked != 1 || oldFns != 0 || ops != "x" {
		t.Errorf("after tracking again: %d tracked, %d functions of the dropped table, journal ops %q (want 1, 0, x)", tracked, oldFns, ops)
	}
}

// TestTrackKeepsOtherFunctions: capture functions are named after the
// table's oid when tracked, and a restored database keeps the names its
// functions had, so a table tracked later may find its name taken by another
// table's functions. track picks another name and leaves them alone.
func TestTrackKeepsOtherFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `CREATE TABLE later (id int PRIMARY KEY)`)
	var oid uint32
	if err := db.Pool().QueryRow(ctx, `SELECT 'later'::regclass::oid`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, fmt.Sprintf(`CREATE FUNCTION pgfeed.capture_%d_ins() RETURNS trigger
		LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$ /* another table's */`, oid)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Track(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO later VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var journaled int
	var body, capture string
	err := db.Pool().QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM pgfeed.changes WHERE collection = 'later'),
		(SELECT prosrc FROM pg_proc WHERE proname = 'capture_%d_ins'),
		(SELECT capture FROM pgfeed.tables WHERE collection = 'later')`, oid)).Scan(&journaled, &body, &capture)
	if err != nil {
		t.Fatal(err)
	}
	if journaled != 1 || capture != "always" || !strings.Contains(body, "RETURN NULL; END") || strings.Contains(body, "pgfeed.changes") {
		t.Errorf("journaled %d, capture %s, the other function now: %s", journaled, capture, body)
	}
}

// TestCaptureStates: track makes capture fire in every session, replicas
// included, and pgfeed.tables tells when a trigger was disabled, downgraded
// or dropped since.
func TestCaptureStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := storetest.OpenMigrated(t, `
		CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);
		CREATE TABLE c (id int PRIMARY KEY); CREATE TABLE d (id int PRIMARY KEY);
		SELECT pgfeed.track('a'), pgfeed.track('b'), pgfeed.track('c'), pgfeed.track('d');
		SET session_replication_role = replica;
		INSERT INTO a VALUES (1);
		RESET session_replication_role;
		ALTER TABLE b DISABLE TRIGGER ALL;
		ALTER TABLE c DISABLE TRIGGER ALL; ALTER TABLE c ENABLE TRIGGER ALL;
		DROP TRIGGER pgfeed_capture_trunc ON d;`)
	var recorded int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pgfeed.changes WHERE collection = 'a'`).Scan(&recorded); err != nil || recorded != 1 {
		t.Errorf("journal rows of a write made as a replica: %d, %v; want 1", recorded, err)
	}
	got, err := db.CaptureStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": store.CaptureAlways, "b": store.CaptureDisabled, "c": store.CaptureOrigin, "d": store.CaptureIncomplete}
	for coll, w := range want {
		if got[coll] != w {
			t.Errorf("capture of %s = %q, want %q", coll, got[coll], w)
		}
	}
}

// TestEventTriggersServeEveryRole: pgfeed's event triggers fire for every
// role's DDL; a role with no access to the pgfeed schema still creates,
// alters and drops its tables, and dropping one that is tracked still
// forgets it.
func TestEventTriggersServeEveryRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, "")
	role := fmt.Sprintf("pgfeed_ddl_%d", os.Getpid())
	storetest.Exec(t, u, fmt.Sprintf(`CREATE ROLE %[1]s; GRANT CREATE ON SCHEMA public TO %[1]s`, role))
	t.Cleanup(func() {
		db.Pool().Exec(ctx, "DROP OWNED BY "+role)
		db.Pool().Exec(ctx, "DROP ROLE "+role)
	})
	as := func(sql string) error {
		_, err := db.Pool().Exec(ctx, fmt.Sprintf("SET ROLE %s; %s; RESET ROLE", role, sql))
		if err != nil {
			db.Pool().Exec(ctx, "RESET ROLE")
		}
		return err
	}
	for _, sql := range []string{
		`CREATE TABLE notes (id int PRIMARY KEY, body text)`,
		`ALTER TABLE notes ADD COLUMN at timestamptz`,
		`CREATE TABLE drafts (id int PRIMARY KEY)`,
		`DROP TABLE drafts`,
	} {
		if err := as(sql); err != nil {
			t.Errorf("%s, as a role with no rights on pgfeed: %v", sql, err)
		}
	}
	if _, err := db.Track(ctx, "notes"); err != nil {
		t.Fatal(err)
	}
	if err := as(`DROP TABLE notes`); err != nil {
		t.Fatalf("dropping its tracked table: %v", err)
	}
	var tracked, removed int
	err := db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM pgfeed.tracked),
		(SELECT count(*) FROM pgfeed.changes WHERE collection = 'notes' AND op = 'x')`).Scan(&tracked, &removed)
	if err != nil || tracked != 0 || removed != 1 {
		t.Errorf("after the drop: %d tracked tables, %d removal entries, %v; want 0 and 1", tracked, removed, err)
	}
}

// TestNotInstalled: a database without pgfeed says how to install it.
func TestNotInstalled(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.NewDB(t))
	_, err := db.Tables(context.Background())
	if err != store.ErrNotInstalled {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
	if _, err := db.Track(context.Background(), "x"); err != store.ErrNotInstalled {
		t.Fatalf("track: err = %v, want ErrNotInstalled", err)
	}
}

// TestMigrateDownAndUp: pgfeed can be removed and reinstalled.
func TestMigrateDownAndUp(t *testing.T) {
	t.Parallel()
	u := storetest.NewDB(t)
	storetest.Exec(t, u, `CREATE TABLE m (id int PRIMARY KEY)`)
	m, err := store.NewMigrator(u)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if v, _, err := m.Version(); err != nil || v != 0 {
		t.Fatalf("version before = %d, %v", v, err)
	}
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	storetest.Exec(t, u, `SELECT pgfeed.track('m')`)
	if err := m.Down(); err != nil {
		t.Fatalf("down with a tracked table: %v", err)
	}
	storetest.Exec(t, u, `INSERT INTO m VALUES (1)`) // triggers are gone with the schema
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if v, dirty, err := m.Version(); err != nil || v != 1 || dirty {
		t.Fatalf("version after = %d dirty=%v, %v", v, dirty, err)
	}
}
