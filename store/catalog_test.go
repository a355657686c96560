package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/pgfeed/pgfeed/query"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestTablesResolveDomainsAndEnums checks the type each column's values
// compare as: domains give way to their base types, enums are anyenum.
func TestTablesResolveDomainsAndEnums(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, db := storetest.OpenMigrated(t, `
		CREATE TYPE mood AS ENUM ('sad', 'ok');
		CREATE DOMAIN feeling AS mood;
		CREATE DOMAIN label AS text;
		CREATE DOMAIN shortlabel AS label CHECK (length(VALUE) < 10);
		CREATE DOMAIN labels AS shortlabel[];
		CREATE TABLE typed (id int PRIMARY KEY, m mood, f feeling, ms mood[], fs feeling[],
			l shortlabel, ls labels, iv int2vector, a int4[])`)
	storetest.Exec(t, u, `SELECT pgfeed.track('typed')`)
	tables, err := db.Tables(ctx)
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	want := []query.Column{
		{Name: "id", Type: "int4"},
		{Name: "m", Type: "mood", Base: "anyenum"},
		{Name: "f", Type: "feeling", Base: "anyenum"},
		{Name: "ms", Type: "_mood", Base: "_anyenum"},
		{Name: "fs", Type: "_feeling", Base: "_anyenum"},
		{Name: "l", Type: "shortlabel", Base: "text"},
		{Name: "ls", Type: "labels", Base: "_text"},
		{Name: "iv", Type: "int2vector"}, // not an array of int2: its JSON is a string
		{Name: "a", Type: "_int4"},
	}
	if !slices.Equal(tables[0].Columns, want) {
		t.Fatalf("columns\n got %v\nwant %v", tables[0].Columns, want)
	}
}

// TestFoldASCIIWithoutCUTF8 runs a case-insensitive snapshot filter in a
// database without the C.utf8 collation: it folds ASCII letters only,
// instead of failing.
func TestFoldASCIIWithoutCUTF8(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, drop := range []bool{false, true} {
		u := storetest.NewMigratedDB(t)
		storetest.Exec(t, u, `CREATE TABLE words (id int PRIMARY KEY, w text);
			SELECT pgfeed.track('words');
			INSERT INTO words VALUES (1, 'Éclair'), (2, 'éclair'), (3, 'ÉCLAIR'), (4, 'eclair')`)
		if drop {
			storetest.Exec(t, u, `DROP COLLATION pg_catalog."C.utf8"`)
		}
		db := storetest.Open(t, u)
		if ok, err := db.FoldsUnicode(ctx); err != nil || ok == drop {
			t.Fatalf("dropped %v: FoldsUnicode = %v, %v", drop, ok, err)
		}
		tables, err := db.Tables(ctx)
		if err != nil || len(tables) != 1 || tables[0].FoldASCII != drop {
			t.Fatalf("dropped %v: tables = %v, %v", drop, tables, err)
		}
		f, err := query.ParseFilter(&tables[0], []byte(`{"w":{"_icontains":"éCL"}}`), query.Env{}, query.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		where, args := f.SQL(nil)
		snap, err := db.ReadSnapshot(ctx, &tables[0], where, args, "id", 10, 0)
		if err != nil {
			t.Fatalf("dropped %v: snapshot: %v", drop, err)
		}
		var r query.Row
		var got []int
		for _, row := range snap.Rows {
			if err := r.Reset(&tables[0], row); err != nil {
				t.Fatal(err)
			}
			if !f.Match(&r) { // the stream's side agrees
				t.Errorf("dropped %v: snapshot row %s does not match the filter", drop, row)
			}
			var id struct{ ID int }
			if err := json.Unmarshal(row, &id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id.ID)
		}
		if want := map[bool][]int{false: {1, 2, 3}, true: {2}}[drop]; !slices.Equal(got, want) {
			t.Fatalf("dropped %v: snapshot = ids %v, want %v", drop, got, want)
		}
	}
}
