// Package store holds every SQL statement pgfeed runs: the connection pool,
// migrations, the catalog of tracked tables, sequencing steps, journal reads,
// consistent snapshots and the dedicated sessions (LISTEN, the sequencer).
//
// A *DB is safe for concurrent use. A *Session is not: one goroutine owns it.
// store knows nothing about WebSockets or subscribers.
package store
