package main

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/pgfeed/pgfeed/store"
	"github.com/rs/zerolog"
)

// captureEvery is how often pgfeed serve reads the tracked tables' capture
// states.
const captureEvery = time.Minute

// watchCapture logs, at start and whenever one changes, the tracked tables
// whose capture triggers do not record every write, and those pgfeed's role
// cannot read whole, until ctx ends. A trigger disabled by hand (or by a
// restore run with --disable-triggers) loses changes without a sound, so it
// is worth a line in the log; a table pgfeed cannot read fails every
// subscribe to it, and is better known before the first one.
func watchCapture(ctx context.Context, db *store.DB, log zerolog.Logger, every time.Duration) {
	log = log.With().Str("component", "cdc").Logger()
	var last map[string]string
	var lastUnreadable map[string]string
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		// An unreachable database is the change stream's to report.
		if states, err := db.CaptureStates(ctx); err == nil {
			logCapture(log, last, states)
			last = states
		}
		if unreadable, err := db.Unreadable(ctx); err == nil {
			logUnreadable(log, lastUnreadable, unreadable)
			lastUnreadable = unreadable
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// enableAlways is how a table's owner makes its capture record every write.
const enableAlways = "as the table's owner: ALTER TABLE ... ENABLE ALWAYS TRIGGER pgfeed_capture_ins (and _upd, _del, _trunc)"

// logCapture logs every collection whose capture state is not the one in
// last: an error while writes go unrecorded, a warning while the writes of
// replicas do, and the return to recording every write.
func logCapture(log zerolog.Logger, last, now map[string]string) {
	for _, coll := range slices.Sorted(maps.Keys(now)) {
		state := now[coll]
		prev, seen := last[coll]
		if state == prev {
			continue
		}
		switch state {
		case store.CaptureDisabled:
			log.Error().Str("collection", coll).Str("capture", state).
				Str("fix", enableAlways).
				Msg("a capture trigger is disabled: writes to this table are not recorded")
		case store.CaptureIncomplete:
			log.Error().Str("collection", coll).Str("capture", state).
				Str("fix", "untrack the table and track it again").
				Msg("a capture trigger was dropped: writes to this table are not all recorded")
		case store.CaptureOrigin:
			log.Warn().Str("collection", coll).Str("capture", state).
				Str("fix", enableAlways).
				Msg("writes made with session_replication_role = replica (as logical replication applies them) are not recorded")
		default:
			if seen {
				log.Info().Str("collection", coll).Str("capture", state).Msg("capture records every write again")
			}
		}
	}
}

// logUnreadable logs every collection that pgfeed's role could read in
// last and cannot now, as an error with the fix, and every one it can read
// again.
func logUnreadable(log zerolog.Logger, last, now map[string]string) {
	for _, coll := range slices.Sorted(maps.Keys(now)) {
		why, was := now[coll], last[coll]
		switch {
		case why == was:
		case why == store.UnreadablePrivilege:
			log.Error().Str("collection", coll).
				Str("fix", "GRANT SELECT ON the table TO pgfeed's role").
				Msg("pgfeed's role may not read this table: subscribing to it fails")
		case why == store.UnreadablePolicy:
			log.Error().Str("collection", coll).
				Str("fix", "give pgfeed's role BYPASSRLS, or make it the table's owner (without FORCE ROW LEVEL SECURITY)").
				Msg("row-level security applies to pgfeed's role on this table: subscribing to it fails, since a filtered snapshot would disagree with the stream")
		case why == "" && was != "":
			log.Info().Str("collection", coll).Msg("pgfeed's role can read this table whole again")
		}
	}
}
