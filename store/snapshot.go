package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/query"
)

// Snapshot is a consistent read of a tracked table and the stream position it
// was taken at: every change at or below Pos is in Rows, none above it is.
type Snapshot struct {
	Pos  int64
	Rows [][]byte // one JSON object per row, encoded as the journal encodes rows
	// Last is the Stamp of the journal entry at Pos, nil where there is
	// none (an empty journal, the near edge of a jump): what a cursor at
	// Pos names.
	Last *Stamp
}

// ReadSnapshot reads the rows of t matching where (a SQL condition over the
// table aliased as "t", with $1.. bound to args; empty means all rows),
// ordered by orderBy (SQL, may be empty), with limit and offset.
//
// It takes a sequencing step under the step lock inside a REPEATABLE READ
// transaction, so that the transactions its snapshot sees are exactly those
// with positions up to Pos, then reads the table on a second connection that
// imports that snapshot, so the sequencer waits only for the step.
func (db *DB) ReadSnapshot(ctx context.Context, t *query.Table, where string, args []any, orderBy string, limit, offset int) (*Snapshot, error) {
	stepper, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer stepper.Release()
	reader, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer reader.Release()

	if _, err := stepper.Exec(ctx, db.stepLock); err != nil {
		return nil, wrapSchemaErr("snapshot", err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			if _, err := stepper.Exec(context.WithoutCancel(ctx), db.stepUnlock); err != nil {
				stepper.Conn().Close(context.Background()) // a closed session drops its locks
			}
		}
	}
	defer unlock()

	stx, err := stepper.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer stx.Rollback(context.WithoutCancel(ctx))
	snap := &Snapshot{}
	var exported string
	if err := stx.QueryRow(ctx, `SELECT pgfeed.step(), pg_export_snapshot()`).Scan(&snap.Pos, &exported); err != nil {
		return nil, wrapSchemaErr("snapshot", err)
	}
	rtx, err := reader.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	defer rtx.Rollback(context.WithoutCancel(ctx))
	if _, err := rtx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+exported+`'`); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := stx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	unlock()
	if last, ok, err := stampAt(ctx, stepper, snap.Pos); err != nil {
		return nil, err
	} else if ok {
		snap.Last = &last
	}

	// t.*, since a bare t would name a column t, should the table have one.
	sql := "SELECT row_to_json(t.*) FROM " + pgx.Identifier{t.Schema, t.Name}.Sanitize() + " t"
	if where != "" {
		sql += " WHERE " + where
	}
	if orderBy != "" {
		sql += " ORDER BY " + orderBy
	}
	if limit >= 0 {
		sql += fmt.Sprintf(" LIMIT %d", limit)
	}
	if offset > 0 {
		sql += fmt.Sprintf(" OFFSET %d", offset)
	}
	rows, err := rtx.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrapSchemaErr("snapshot of "+t.Collection, err)
	}
	snap.Rows, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]byte, error) {
		var b []byte
		err := row.Scan(&b)
		return b, err
	})
	if err != nil {
		return nil, wrapSchemaErr("snapshot of "+t.Collection, err)
	}
	if err := rtx.Commit(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return snap, nil
}
