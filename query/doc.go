// Package query is the subscription spec of pgfeed: it parses the Directus
// `query` of a subscribe message (fields, filter, sort, limit, offset)
// against a tracked table's columns and types, compiles filters, matches
// rows, and projects fields.
//
// It does no I/O. The same compiled Filter evaluates a change in memory
// (Match, allocation-free, on a Row decoded once per change) and renders
// the initial snapshot's WHERE condition (SQL, with bind parameters), and
// the two agree row for row: comparisons follow PostgreSQL's semantics for
// each column type (exact integers and numerics, byte-ordered text as under
// COLLATE "C", instants for timestamptz, SQL NULL rules). The
// case-insensitive operators (_icontains and friends) lower-case with
// Unicode's one-to-one mapping, which their SQL gets from the "C.utf8"
// collation; for a database without it (Table.FoldASCII) they fold ASCII
// letters only.
//
// Filters, Projections and Specs are immutable and safe for concurrent use.
// A Row is reused across changes by one goroutine at a time (Reset), and
// may be matched from several goroutines between Resets. Client mistakes
// come back as *Error, which the protocol layer reports as INVALID_QUERY.
package query
