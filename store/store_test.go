package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestTrackStepRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `CREATE TABLE items (id int PRIMARY KEY, name text, n numeric)`)
	db := storetest.Open(t, u)
	coll, err := db.Track(ctx, "items")
	if err != nil || coll != "items" {
		t.Fatalf("track = %q, %v", coll, err)
	}
	storetest.Exec(t, u, `INSERT INTO items VALUES (1,'a',1.5),(2,'b',123456789012345678901234567890)`)
	storetest.Exec(t, u, `UPDATE items SET name = 'c'`)
	storetest.Exec(t, u, `UPDATE items SET id = 3 WHERE id = 2`)
	storetest.Exec(t, u, `DELETE FROM items WHERE id = 1`)
	pos, err := db.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos != 5 {
		t.Fatalf("pos = %d, want 5", pos)
	}
	es, err := db.ReadAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for i, e := range es {
		if e.Pos != int64(i+1) {
			t.Fatalf("entry %d pos %d", i, e.Pos)
		}
		ops = append(ops, string(e.Op)+":"+string(e.Data)+"/"+string(e.Old))
	}
	got := strings.Join(ops, "\n")
	t.Log(got)
	if !strings.Contains(got, `123456789012345678901234567890`) {
		t.Fatalf("numeric lost precision: %s", got)
	}
	es2, err := db.ReadAfter(ctx, 3, 100)
	if err != nil || len(es2) != 2 || es2[0].Pos != 4 {
		t.Fatalf("read after 3: %d entries, %v", len(es2), err)
	}
	tables, err := db.Tables(ctx)
	if err != nil || len(tables) != 1 || len(tables[0].Columns) != 3 {
		b, _ := json.Marshal(tables)
		t.Fatalf("tables = %s, %v", b, err)
	}
	snap, err := db.ReadSnapshot(ctx, &tables[0], "", nil, "id", 10, 0)
	if err != nil || snap.Pos != 5 || len(snap.Rows) != 1 {
		t.Fatalf("snapshot = %+v, %v", snap, err)
	}
	if _, err := db.Track(ctx, "items"); err == nil || !strings.Contains(err.Error(), "already tracked") {
		t.Fatalf("track twice: %v", err)
	}
	_ = store.ErrNotInstalled
}
