package query

import (
	"testing"
	"time"
)

// testTable has a column of every type query compares.
var testTable = &Table{
	Collection: "things", Schema: "public", Name: "things",
	Key: []string{"id"},
	Columns: append(columns(
		"id", "int8", "i", "int4", "n", "numeric", "f4", "float4", "f8", "float8",
		"s", "text", "v", "varchar", "c", "bpchar", "b", "bool",
		"ts", "timestamptz", "tl", "timestamp", "d", "date", "u", "uuid",
		"j", "jsonb", "jj", "json", "a", "_int4", "x", "bytea", "tm", "time", "ci", "citext"),
		Column{Name: "m", Type: "mood", Base: "anyenum"}, Column{Name: "ma", Type: "_mood", Base: "_anyenum"},
		Column{Name: "p", Type: "price", Base: "numeric"}),
}

// columns makes columns of names and types given in pairs.
func columns(namesAndTypes ...string) []Column {
	var cs []Column
	for i := 0; i+1 < len(namesAndTypes); i += 2 {
		cs = append(cs, Column{Name: namesAndTypes[i], Type: namesAndTypes[i+1]})
	}
	return cs
}

var testEnv = Env{CurrentUser: "alice", CurrentRole: "editor", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

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
