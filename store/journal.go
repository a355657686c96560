package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Entry is one journal row: what one statement (or a chunk of up to 100
// rows of it) did to one collection, with its stream position.
type Entry struct {
	Pos        int64  // stream position, gap-free across committed transactions
	XID        uint64 // writer's transaction id
	Collection string
	Op         byte      // 'c', 'u', 'd', or 'x' (collection removed)
	Data       []byte    // JSON array of rows after the statement, or nil
	Old        []byte    // JSON array of rows before it (paired by index), or nil
	At         time.Time // when the writer's statement began
	Stamped    time.Time // when the step that gave the position began
}

// Step gives stream positions to every transaction that committed since the
// last step and returns the last position given (0 before the first).
func (db *DB) Step(ctx context.Context) (int64, error) {
	var pos int64
	if err := db.pool.QueryRow(ctx, `SELECT pgfeed.step()`).Scan(&pos); err != nil {
		return 0, wrapSchemaErr("sequence journal", err)
	}
	return pos, nil
}

// StepRead is Step for the sequencing instance, on its Sequencer session:
// when the step stamped at most maxRows journal entries, it returns them
// too, in position order, so that they need not be read back. With notify,
// a step that stamped something tells the other instances the new head (a
// NOTIFY on channel pgfeed); without, they find it by polling.
func (s *Session) StepRead(ctx context.Context, maxRows int, notify bool) ([]Entry, int64, error) {
	entries, err := queryEntries(ctx, s.conn, "sequence journal", `pgfeed.step_read($1, $2)`, maxRows, notify)
	if err != nil {
		return nil, 0, err
	}
	if len(entries) == 0 {
		return nil, 0, errors.New("sequence journal: pgfeed.step_read returned no head row")
	}
	last := len(entries) - 1 // the head, with no entry
	return entries[:last:last], entries[last].Pos, nil
}

// Head is the last position given so far, without stepping.
func (db *DB) Head(ctx context.Context) (head, pruned int64, err error) {
	err = db.pool.QueryRow(ctx, `SELECT next_pos - 1, pruned_pos FROM pgfeed.sequencer`).Scan(&head, &pruned)
	if err != nil {
		return 0, 0, wrapSchemaErr("read journal head", err)
	}
	return head, pruned, nil
}

// A Stamp names a journal entry within one history of the database: its
// writer's transaction id and when the step that gave it its position
// began. Where a database went back to an earlier state and gave a
// position again, the entries of the two histories have different stamps.
type Stamp struct {
	XID uint64
	At  time.Time
}

// Stamp is the entry's Stamp.
func (e *Entry) Stamp() Stamp { return Stamp{XID: e.XID, At: e.Stamped} }

// StampAt returns the Stamp of the journal entry at position pos, from its
// step's row alone (see pgfeed.stamp_at); ok is false where pos holds no
// entry (0, a jump, a pruned position).
func (db *DB) StampAt(ctx context.Context, pos int64) (st Stamp, ok bool, err error) {
	return stampAt(ctx, db.pool, pos)
}

func stampAt(ctx context.Context, q querier, pos int64) (st Stamp, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT xid::text::bigint, stamped FROM pgfeed.stamp_at($1)`, pos).Scan(&st.XID, &st.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return Stamp{}, false, nil
	}
	if err != nil {
		return Stamp{}, false, wrapSchemaErr("read journal", err)
	}
	return st, true, nil
}

// JumpAfter returns where the positions go on after position after when
// the sequencer skipped from there on a new timeline (see pgfeed.jumps):
// positions after+1 to next-1 are never given.
func (db *DB) JumpAfter(ctx context.Context, after int64) (next int64, ok bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT next_pos FROM pgfeed.jumps WHERE after_pos = $1`, after).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrapSchemaErr("read jumps", err)
	}
	return next, true, nil
}

// InsideJump reports whether position pos lies inside a skip of the
// sequencer's: a position of the history that a new timeline left behind,
// which this database never gave.
func (db *DB) InsideJump(ctx context.Context, pos int64) (bool, error) {
	var inside bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pgfeed.jumps WHERE $1 > after_pos AND $1 < next_pos - 1)`, pos).Scan(&inside)
	if err != nil {
		return false, wrapSchemaErr("read jumps", err)
	}
	return inside, nil
}

// ReadAfter returns journal entries with positions above after, in position
// order, from at most maxTx transactions, and at most maxRows of them (0:
// every row of those transactions); a page may end inside a transaction.
func (db *DB) ReadAfter(ctx context.Context, after int64, maxTx, maxRows int) ([]Entry, error) {
	var limit *int
	if maxRows > 0 {
		limit = &maxRows
	}
	return queryEntries(ctx, db.pool, "read journal", `pgfeed.read_after($1, $2, $3)`, after, maxTx, limit)
}

// EachAfter reads what ReadAfter returns (every row), and hands it to fn in
// batches of at most batch entries as the rows arrive, so that a
// transaction of any size (a backfill that updates millions of rows) is
// never held in memory whole. An error from fn stops the read and is
// returned.
func (db *DB) EachAfter(ctx context.Context, after int64, maxTx, batch int, fn func([]Entry) error) error {
	rows, err := db.pool.Query(ctx, entryColumns+`pgfeed.read_after($1, $2)`, after, maxTx)
	if err != nil {
		return wrapSchemaErr("read journal", err)
	}
	defer rows.Close()
	entries := make([]Entry, 0, min(batch, 256))
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return wrapSchemaErr("read journal", err)
		}
		if entries = append(entries, e); len(entries) == batch {
			if err := fn(entries); err != nil {
				return err
			}
			entries = make([]Entry, 0, batch)
		}
	}
	if err := rows.Err(); err != nil {
		return wrapSchemaErr("read journal", err)
	}
	if len(entries) > 0 {
		return fn(entries)
	}
	return nil
}

// entryColumns selects the columns of pgfeed.entries from the
// set-returning call that follows it.
const entryColumns = `SELECT pos, xid::text::bigint, collection, op::text, data, old, at, stamped FROM `

// querier is a pool or a connection.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryEntries reads, through q, the entries the set-returning call fn
// returns (its columns are those of pgfeed.entries); what names the work in
// errors.
func queryEntries(ctx context.Context, q querier, what, fn string, args ...any) ([]Entry, error) {
	rows, err := q.Query(ctx, entryColumns+fn, args...)
	if err != nil {
		return nil, wrapSchemaErr(what, err)
	}
	entries, err := pgx.CollectRows(rows, scanEntry)
	if err != nil {
		return nil, wrapSchemaErr(what, err)
	}
	return entries, nil
}

// scanEntry scans a row of entryColumns. NULL columns (the head row of
// step_read) leave zero values.
func scanEntry(row pgx.CollectableRow) (Entry, error) {
	var e Entry
	var xid pgtype.Int8
	var coll, op pgtype.Text
	var at, stamped pgtype.Timestamptz
	err := row.Scan(&e.Pos, &xid, &coll, &op, &e.Data, &e.Old, &at, &stamped)
	e.XID, e.Collection, e.At, e.Stamped = uint64(xid.Int64), coll.String, at.Time, stamped.Time
	if len(op.String) == 1 {
		e.Op = op.String[0]
	}
	return e, err
}

// ReportReader records how far the named reader has read. Pruning keeps
// everything after the slowest reader seen within the last minute.
func (db *DB) ReportReader(ctx context.Context, name string, pos int64) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO pgfeed.readers (name, pos, seen) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET pos = excluded.pos, seen = excluded.seen`, name, pos)
	if err != nil {
		return wrapSchemaErr("report reader", err)
	}
	return nil
}

// liveReader selects the readers in pgfeed.readers that reported within the
// last minute (a stream reports every 10 seconds).
const liveReader = `seen > now() - interval '1 minute'`

// OtherReaders reports whether a reader other than the named one reported
// within the last minute: another pgfeed instance follows the journal.
func (db *DB) OtherReaders(ctx context.Context, name string) (bool, error) {
	var others bool
	err := db.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT FROM pgfeed.readers WHERE name <> $1 AND `+liveReader+`)`,
		name).Scan(&others)
	if err != nil {
		return false, wrapSchemaErr("list readers", err)
	}
	return others, nil
}

// ForgetReader removes a reader that stopped, so it no longer holds back
// pruning.
func (db *DB) ForgetReader(ctx context.Context, name string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM pgfeed.readers WHERE name = $1`, name)
	return err
}

// Prune removes journal entries older than keep, and those beyond the
// newest maxBytes of journal rows (the size of their data as stored), that
// every live reader has read; keep or maxBytes 0 sets no limit. It returns
// the highest position pruned so far (a cursor below it can no longer be
// resumed) and the size of the journal rows kept. The sequencer prunes on
// its own session, which a long prune keeps busy (see DB.Sequencer).
func (s *Session) Prune(ctx context.Context, keep time.Duration, maxBytes, upto int64) (pruned, keptBytes int64, err error) {
	var age, size any // NULL: no limit
	if keep > 0 {
		age = fmt.Sprintf("%d milliseconds", keep.Milliseconds())
	}
	if maxBytes > 0 {
		size = maxBytes
	}
	err = s.conn.QueryRow(ctx, `
		SELECT * FROM pgfeed.prune($1::interval, least($3::bigint, coalesce(
			(SELECT min(pos) FROM pgfeed.readers WHERE `+liveReader+`), $3::bigint)), $2::bigint)`,
		age, size, upto).Scan(&pruned, &keptBytes)
	if err != nil {
		return 0, 0, wrapSchemaErr("prune journal", err)
	}
	return pruned, keptBytes, nil
}
