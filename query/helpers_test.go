package query

import (
	"testing"
	"time"
)

// testTable has a column of every type query compares.
var testTable = &Table{
	Collection: "things", Schema: "public", Name: "things",
	Key: []string{"id"},
	Columns: []Column{
		{"id", "int8"}, {"i", "int4"}, {"n", "numeric"}, {"f4", "float4"}, {"f8", "float8"},
		{"s", "text"}, {"v", "varchar"}, {"c", "bpchar"}, {"b", "bool"},
		{"ts", "timestamptz"}, {"tl", "timestamp"}, {"d", "date"}, {"u", "uuid"},
		{"j", "jsonb"}, {"jj", "json"}, {"a", "_int4"}, {"x", "bytea"},
	},
}

var testEnv = Env{CurrentUser: "alice", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

func mustFilter(tb testing.TB, tbl *Table, filter string) *Filter {
	tb.Helper()
	f, err := ParseFilter(tbl, []byte(filter), testEnv, Limits{})
	if err != nil {
		tb.Fatalf("ParseFilter(%s): %v", filter, err)
	}
	return f
}

func mustRow(tb testing.TB, tbl *Table, obj string) *Row {
	tb.Helper()
	var r Row
	if err := r.Reset(tbl, []byte(obj)); err != nil {
		tb.Fatalf("Reset(%s): %v", obj, err)
	}
	return &r
}
