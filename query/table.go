package query

// Column is a column of a tracked table.
type Column struct {
	Name string
	// Type is the PostgreSQL type name as in pg_type.typname: int2, int4,
	// int8, numeric, float4, float8, text, varchar, bpchar, bool,
	// timestamptz, timestamp, date, uuid, jsonb, json, bytea, ...; array
	// types start with an underscore (_int4, _text).
	Type string
	// Base is the type the column's values compare as, when that is not
	// Type: a domain's base type (through nested domains), "anyenum" for
	// an enum (or a domain over one), and for arrays of those an
	// underscore and the element's (_anyenum). Empty otherwise.
	Base string
}

// compareType is the type name that decides how the column's values compare.
func (c Column) compareType() string {
	if c.Base != "" {
		return c.Base
	}
	return c.Type
}

// Table is a tracked table as subscribers see it: a collection.
type Table struct {
	Collection string   // the name clients subscribe with
	Schema     string   // the table's schema in PostgreSQL
	Name       string   // the table's name in PostgreSQL
	Key        []string // primary key columns, in key order
	Columns    []Column // every column, in table order
	// FoldASCII makes the case-insensitive operators (_icontains and
	// friends) and citext's comparisons fold ASCII letters only, for a
	// database without the C.utf8 collation that folding every letter
	// alike in SQL needs.
	FoldASCII bool
}

// Column returns the index of the named column in t.Columns.
func (t *Table) Column(name string) (int, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return i, true
		}
	}
	return -1, false
}
