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

// A Mark is a stream position and the Tag of the change there; Tag is 0
// where no change is known there (the head of an empty journal, the near
// edge of a jump, a cursor without a tag).
type Mark struct {
	Pos int64
	Tag uint32
}

// Snapshot reads rows of t (see store.DB.ReadSnapshot) and returns them with
// the position they were read at: changes above it are not in rows.
func (j Journal) Snapshot(ctx context.Context, t *query.Table, where string, args []any, orderBy string, limit, offset int) (rows [][]byte, at Mark, err error) {
	s, err := j.DB.ReadSnapshot(ctx, t, where, args, orderBy, limit, offset)
	if err != nil {
		return nil, Mark{}, err
	}
	at = Mark{Pos: s.Pos}
	if s.Last != nil {
		at.Tag = tag(*s.Last)
	}
	return s.Rows, at, nil
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

// Resumable reports whether a client can resume after position since, with
// a cursor that names the change marked (at since, or after it for a cursor
// of part of a change): not if since is below the pruned position (the
// journal lost changes after it), above the head, or inside a jump
// (store.DB.InsideJump), nor if the change at the mark's position has
// another tag. Then the database went back to an earlier state (restored,
// or failed over to a replica that lacked the latest transactions) and the
// cursor is from a history it left: this database never gave it, or gave
// its position to another change.
func (j Journal) Resumable(ctx context.Context, since int64, marked Mark) (bool, error) {
	head, pruned, err := j.DB.Head(ctx)
	if err != nil || since < pruned || since > head || marked.Pos > head {
		return false, err
	}
	if inside, err := j.DB.InsideJump(ctx, since); err != nil || inside {
		return false, err
	}
	if marked.Tag == 0 {
		return true, nil
	}
	now, err := j.MarkAt(ctx, marked.Pos)
	return now.Tag == marked.Tag && err == nil, err
}

// MarkAt returns position pos with the tag of the change there, 0 where
// there is none (position 0, the near edge of a jump, a pruned position).
func (j Journal) MarkAt(ctx context.Context, pos int64) (Mark, error) {
	m := Mark{Pos: pos}
	st, ok, err := j.DB.StampAt(ctx, pos)
	if ok {
		m.Tag = tag(st)
	}
	return m, err
}
