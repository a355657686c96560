package cdc_test

import (
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestKeysOfAnyType: the update trigger pairs old and new rows by primary
// key, whatever the key's type, and keys that clients see as different never
// pair. Keys: a type from an extension whose equality is not in pg_catalog
// (ltree), one whose equality ignores case (citext), text in a collation that
// ignores it too, an enum, and a domain with a deferred key (so that keys
// can swap in one statement). Updates of other columns and of the keys
// themselves replay into copies equal to the tables.
func TestKeysOfAnyType(t *testing.T) {
	t.Parallel()
	u, db := storetest.OpenMigrated(t, `
		CREATE EXTENSION ltree;
		CREATE EXTENSION citext;
		CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
		CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
		CREATE DOMAIN code AS text CHECK (VALUE ~ '^[a-z]+$');
		CREATE TABLE paths (id ltree PRIMARY KEY, n int);
		CREATE TABLE names (id citext PRIMARY KEY, n int);
		CREATE TABLE labels (id text COLLATE ci PRIMARY KEY, n int);
		CREATE TABLE moods (id mood PRIMARY KEY, n int);
		CREATE TABLE codes (id code PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, n int);
		SELECT pgfeed.track(t) FROM unnest(ARRAY['paths', 'names', 'labels', 'moods', 'codes']) t;`)
	sink := newCollector()
	runStream(t, db, sink, cdc.Options{From: 0})

	storetest.Exec(t, u, `
		INSERT INTO paths VALUES ('a.b', 1), ('a.c', 2), ('b', 3);
		INSERT INTO names VALUES ('Ann', 1), ('Bob', 2), ('Cy', 3);
		INSERT INTO labels VALUES ('Ann', 1), ('Bob', 2);
		INSERT INTO moods VALUES ('sad', 1), ('ok', 2);
		INSERT INTO codes VALUES ('x', 1), ('y', 2), ('z', 3);`)
	storetest.Exec(t, u, `
		UPDATE paths SET n = n + 10;
		UPDATE paths SET id = 'a.d' WHERE id = 'a.b';
		UPDATE names SET n = n + 10;
		UPDATE names SET id = lower(id) WHERE id = 'Ann';
		UPDATE labels SET id = lower(id);
		UPDATE moods SET id = 'happy' WHERE id = 'ok';
		UPDATE moods SET n = 0;
		UPDATE codes SET id = CASE id WHEN 'x' THEN 'y' WHEN 'y' THEN 'z' ELSE 'x' END::code;
		DELETE FROM paths WHERE id = 'b';`)
	head := settle(t, db)
	sink.waitFor(t, head, 10*time.Second)

	r := newReplica()
	for _, c := range sink.all() {
		r.apply(t, c)
	}
	for _, table := range []string{"paths", "names", "labels", "moods", "codes"} {
		r.equalTable(t, db, table)
	}
}
