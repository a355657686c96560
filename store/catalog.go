package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgfeed/pgfeed/query"
)

// ErrNotInstalled means the database has no pgfeed schema: run
// `pgfeed migrate up` first.
var ErrNotInstalled = errors.New("pgfeed is not installed in this database; run `pgfeed migrate up` first")

// Tables lists the tracked tables with their columns and primary keys.
//
// A column's Base names the type its values compare as (see query.Column):
// a domain is followed to its base type, through nested domains and an
// array's element type, and an enum is "anyenum". FoldASCII is set where
// the database lacks the C.utf8 collation (see FoldsUnicode).
func (db *DB) Tables(ctx context.Context) ([]query.Table, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT t.collection, n.nspname, c.relname, t.key, NOT `+foldsUnicode+`,
		       array_agg(a.attname::text ORDER BY a.attnum),
		       array_agg(ty.typname::text ORDER BY a.attnum),
		       array_agg(b.name ORDER BY a.attnum)
		FROM pgfeed.tracked t
		JOIN pg_catalog.pg_class c ON c.oid = t.rel
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
		JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
		CROSS JOIN LATERAL (
			-- Each step goes from a domain to its base type, or once from
			-- an array to its element type (prefix is "_" from there on).
			WITH RECURSIVE r (oid, prefix, depth) AS (
				SELECT a.atttypid, ''::text, 0
				UNION ALL
				SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.typelem END,
				       CASE WHEN y.typtype = 'd' THEN r.prefix ELSE '_' END, r.depth + 1
				FROM r JOIN pg_catalog.pg_type y ON y.oid = r.oid
				WHERE y.typtype = 'd' OR (r.prefix = '' AND EXISTS (
					SELECT FROM pg_catalog.pg_type e WHERE e.oid = y.typelem AND e.typarray = y.oid))
			)
			SELECT r.prefix || CASE WHEN y.typtype = 'e' THEN 'anyenum' ELSE y.typname::text END AS name
			FROM r JOIN pg_catalog.pg_type y ON y.oid = r.oid
			ORDER BY r.depth DESC LIMIT 1
		) b
		GROUP BY t.collection, n.nspname, c.relname, t.key
		ORDER BY t.collection`)
	if err != nil {
		return nil, wrapSchemaErr("list tracked tables", err)
	}
	defer rows.Close()
	var tables []query.Table
	for rows.Next() {
		var t query.Table
		var names, types, bases []string
		if err := rows.Scan(&t.Collection, &t.Schema, &t.Name, &t.Key, &t.FoldASCII, &names, &types, &bases); err != nil {
			return nil, fmt.Errorf("list tracked tables: %w", err)
		}
		t.Columns = make([]query.Column, len(names))
		for i := range names {
			t.Columns[i] = query.Column{Name: names[i], Type: types[i]}
			if bases[i] != types[i] {
				t.Columns[i].Base = bases[i]
			}
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapSchemaErr("list tracked tables", err)
	}
	return tables, nil
}

// foldsUnicode is true where the collation that the case-insensitive
// filters lower-case text under, to fold every letter as pgfeed does, exists
// (see query.Table.FoldASCII).
const foldsUnicode = `(pg_catalog.to_regcollation('"C.utf8"') IS NOT NULL)`

// FoldsUnicode reports whether the database has the C.utf8 collation
// (glibc 2.35+ and Debian do; musl-based systems such as Alpine do not).
// Without it, the case-insensitive filters fold ASCII letters only.
func (db *DB) FoldsUnicode(ctx context.Context) (bool, error) {
	var ok bool
	if err := db.pool.QueryRow(ctx, `SELECT `+foldsUnicode).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for the C.utf8 collation: %w", err)
	}
	return ok, nil
}

// Which writes a tracked table's capture triggers record (the capture column
// of pgfeed.tables).
const (
	CaptureAlways     = "always"     // every write
	CaptureOrigin     = "origin"     // not those made with session_replication_role = replica (logical replication)
	CaptureDisabled   = "disabled"   // a capture trigger is disabled: ordinary writes go unrecorded
	CaptureIncomplete = "incomplete" // a capture trigger was dropped
)

// CaptureStates returns, by collection, which writes each tracked table's
// capture triggers record: one of the Capture constants.
func (db *DB) CaptureStates(ctx context.Context) (map[string]string, error) {
	return db.byCollection(ctx, "read capture states", `SELECT collection, capture FROM pgfeed.tables`)
}

// Why pgfeed's role cannot snapshot a tracked table (Unreadable).
const (
	UnreadablePrivilege = "privilege" // it may not SELECT every column
	UnreadablePolicy    = "policy"    // row-level security applies to it (see Open)
)

// Unreadable returns, for every collection, why pgfeed's role cannot read
// its table whole, as snapshots do: one of the Unreadable constants, or ""
// where it can.
func (db *DB) Unreadable(ctx context.Context) (map[string]string, error) {
	return db.byCollection(ctx, "check tracked tables' privileges", `
		SELECT t.collection,
		       CASE WHEN NOT pg_catalog.has_table_privilege(t.rel, 'SELECT') AND EXISTS (
		                 SELECT FROM pg_catalog.pg_attribute a
		                 WHERE a.attrelid = t.rel AND a.attnum > 0 AND NOT a.attisdropped
		                   AND NOT pg_catalog.has_column_privilege(t.rel, a.attnum, 'SELECT')) THEN 'privilege'
		            WHEN pg_catalog.row_security_active(t.rel) THEN 'policy'
		            ELSE '' END
		FROM pgfeed.tracked t`)
}

// byCollection runs sql, which returns a collection and a text per row,
// and returns the texts by collection; what names the read in errors.
func (db *DB) byCollection(ctx context.Context, what, sql string) (map[string]string, error) {
	rows, err := db.pool.Query(ctx, sql)
	if err != nil {
		return nil, wrapSchemaErr(what, err)
	}
	out := map[string]string{}
	var coll, v string
	_, err = pgx.ForEachRow(rows, []any{&coll, &v}, func() error {
		out[coll] = v
		return nil
	})
	if err != nil {
		return nil, wrapSchemaErr(what, err)
	}
	return out, nil
}

// Track installs change capture on the named table and returns its
// collection name.
func (db *DB) Track(ctx context.Context, table string) (string, error) {
	return db.onTable(ctx, "track", table)
}

// Untrack removes change capture from the named table.
func (db *DB) Untrack(ctx context.Context, table string) (string, error) {
	return db.onTable(ctx, "untrack", table)
}

// onTable runs pgfeed.track or pgfeed.untrack (fn) on the named table and
// returns its collection name. A name PostgreSQL finds no table by, where
// one differs from it only in case, gets that table's quoted name as a
// hint: unquoted names are folded to lower case.
func (db *DB) onTable(ctx context.Context, fn, table string) (string, error) {
	var collection string
	err := db.pool.QueryRow(ctx, `SELECT pgfeed.`+fn+`($1::regclass)`, table).Scan(&collection)
	if err == nil {
		return collection, nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" && pe.Hint == "" { // undefined_table
		var alike *string
		name := strings.ReplaceAll(table[strings.LastIndex(table, ".")+1:], `"`, "")
		if db.pool.QueryRow(ctx, `
			SELECT string_agg(pg_catalog.format('%I.%I', n.nspname, c.relname), ' or ' ORDER BY n.nspname)
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN ('r', 'p') AND lower(c.relname) = lower($1) AND c.relname <> lower(c.relname)`,
			name).Scan(&alike) == nil && alike != nil {
			pe.Hint = "names are folded to lower case unless quoted; did you mean " + *alike + "?"
		}
	}
	return "", wrapSchemaErr(fn+" "+table, err)
}

// wrapSchemaErr turns PostgreSQL errors a person can act on into one-line
// messages: a missing pgfeed schema, a missing table.
func wrapSchemaErr(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "3F000": // invalid_schema_name
			return ErrNotInstalled
		case "42P01", "42883": // undefined_table, undefined_function
			if pe.SchemaName == "pgfeed" || containsPgfeed(pe.Message) {
				return ErrNotInstalled
			}
		}
		msg := pe.Message
		if pe.Hint != "" {
			msg += " (" + pe.Hint + ")"
		}
		return fmt.Errorf("%s: %s", what, msg)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: no result", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func containsPgfeed(msg string) bool {
	for i := 0; i+7 <= len(msg); i++ {
		if msg[i:i+7] == "pgfeed." {
			return true
		}
	}
	return false
}
