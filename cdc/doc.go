// Package cdc turns the journal that pgfeed's triggers write into an ordered,
// gap-free, resumable stream of Change values.
//
// A Stream runs the sequencer (when it holds the leader lock) and a reader
// that follows the journal by position, waking on NOTIFY with a bounded
// fallback poll, reconnecting with backoff, and catching up from its last
// position, so that a dropped connection or a restarted server costs latency,
// never changes. It hands batches to a Sink from a single goroutine.
//
// Journal gives subscribers the catalog, consistent snapshots and replays.
package cdc
