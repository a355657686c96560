package cdc

import (
	"context"

	"github.com/pgfeed/pgfeed/query"
	"github.com/pgfeed/pgfeed/store"
)

// Journal is what subscribers need of the database besides the live stream:
// the catalog of collections, consistent snapshots, and replays from a
// cursor. It is safe for concurrent use.
type Journal struct {
	DB *store.DB
}

// Tables lists the tracked tables.
func (j Journal) Tables(ctx context.Context) ([]query.Table, error) { return j.DB.Tables(ctx) }

// Snapshot reads rows of t (see store.DB.ReadSnapshot) and returns them with
// the position they were read at: changes above pos are not in rows.
func (j Journal) Snapshot(ctx context.Context, t *query.Table, where string, args []any, orderBy string, limit, offset int) (rows [][]byte, pos int64, err error) {
	s, err := j.DB.ReadSnapshot(ctx, t, where, args, orderBy, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	return s.Rows, s.Pos, nil
}

// ReadAfter returns the changes after position after, from at most maxTx
// transactions and at most maxPublish entries, in stream order: a large
// transaction comes in pages, the next read going on from the last change
// returned, so that replaying it to a client does not hold it whole.
func (j Journal) ReadAfter(ctx context.Context, after int64, maxTx int) ([]Change, error) {
	entries, err := j.DB.ReadAfter(ctx, after, maxTx, maxPublish)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		// A page is bounded by position: right before a jump it is empty,
		// and the next position is on the jump's far side.
		next, ok, err := j.DB.JumpAfter(ctx, after)
		if err != nil {
			return nil, err
		}
		if ok {
			return j.ReadAfter(ctx, next-1, maxTx)
		}
	}
	changes := make([]Change, 0, len(entries))
	for _, e := range entries {
		c, err := Decode(e)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// Resumable reports whether a client can resume from the cursor since: not
// if it is below the pruned position (the journal lost changes after it),
// above the head, or inside a jump (store.DB.InsideJump): this database
// never gave it, as it was restored to an earlier state or failed over to a
// replica that lacked the latest transactions.
func (j Journal) Resumable(ctx context.Context, since int64) (bool, error) {
	head, pruned, err := j.DB.Head(ctx)
	if err != nil || since < pruned || since > head {
		return false, err
	}
	inside, err := j.DB.InsideJump(ctx, since)
	return !inside && err == nil, err
}
