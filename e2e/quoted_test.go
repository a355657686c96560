package e2e

import (
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestNamesThatNeedQuoting tracks a table whose schema, table and column
// names hold spaces, capitals and quotes with the CLI, and subscribes to it
// with a filter and a field list naming those columns: init and events
// (an UPDATE pairs rows by the quoted key, a TRUNCATE reads the table by
// its quoted name) carry the rows as SQL wrote them.
func TestNamesThatNeedQuoting(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE SCHEMA "Sales Dept";
		CREATE TABLE "Sales Dept"."Order ""Items""" ("Item ID" int PRIMARY KEY, "we""ird col" text, qty int);
		INSERT INTO "Sales Dept"."Order ""Items""" VALUES (1, 'first', 5), (2, 'second', 50);`)
	out := mustRun(t, u, "track", `"Sales Dept"."Order ""Items"""`)
	t.Logf("pgfeed track: %s", out)
	s := servePublic(t, u)
	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": `Sales Dept.Order "Items"`, "uid": "q",
		"query": map[string]any{"fields": []string{"Item ID", `we"ird col`},
			"filter": map[string]any{"qty": map[string]any{"_lt": 10}}}})
	m := c.read(10 * time.Second)
	if m["event"] != "init" {
		t.Fatalf("subscribe reply = %v", m)
	}
	jsonEqual(t, "init data", m["data"], `[{"Item ID":1,"we\"ird col":"first"}]`)
	storetest.Exec(t, u, `INSERT INTO "Sales Dept"."Order ""Items""" VALUES (3, 'third', 7), (4, 'fourth', 70)`)
	expectEvent(t, c, "q", "create", `[{"Item ID":3,"we\"ird col":"third"}]`)
	storetest.Exec(t, u, `UPDATE "Sales Dept"."Order ""Items""" SET "we""ird col" = 'changed' WHERE "Item ID" = 1`)
	expectEvent(t, c, "q", "update", `[{"Item ID":1,"we\"ird col":"changed"}]`)
	storetest.Exec(t, u, `DELETE FROM "Sales Dept"."Order ""Items""" WHERE "Item ID" = 3`)
	expectEvent(t, c, "q", "delete", `[3]`)
	storetest.Exec(t, u, `TRUNCATE "Sales Dept"."Order ""Items"""`)
	expectEvent(t, c, "q", "delete", `[1]`) // the rows the filter held
}
