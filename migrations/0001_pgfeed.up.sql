-- pgfeed change capture.
--
-- Writers: a tracked table has three statement-level triggers (insert, update,
-- delete) that copy the statement's transition tables into pgfeed.changes as
-- one journal row per statement (chunks of 100 rows for larger statements),
-- in the writer's transaction, and a fourth that records a TRUNCATE as the
-- delete of every row it removes. Rows are json (row_to_json): cheaper to build
-- than jsonb, read back without conversion, keys in table order. Nothing
-- else happens on the write path except a NOTIFY while the sequencer is idle
-- (see "Wake-ups" below), so a busy system pays no NOTIFY.
--
-- Wake-ups: while the sequencer is idle it holds the gate lock (a session
-- advisory lock on pgfeed.gate_key()) exclusively. Each capture trigger
-- tries the gate in shared mode: when that succeeds the sequencer is busy
-- (polling) and the writer stays silent, holding the shared lock until it
-- commits; when it fails the writer sends one NOTIFY. To go idle the
-- sequencer must take the gate, which it can only once every silent writer
-- has ended, and then steps once more: so no commit can be missed. It tries
-- the gate and never queues for it: a queued request would make every
-- writer's try fail, and so NOTIFY, while a silent writer stays open.
--
-- A transaction that sent a NOTIFY cannot be prepared (PREPARE
-- TRANSACTION): sessions that prepare transactions set pgfeed.wake to off,
-- and then never send one; while the sequencer is idle their changes wait
-- for its fallback poll.
--
-- Sequencing: pgfeed.step() gives committed transactions gap-free positions in
-- pgfeed.txlog, in an order that respects commit order for every row. Readers
-- of any pgfeed instance read "WHERE position > cursor", so cursors agree
-- across instances. Positions count journal rows: transaction T with n journal
-- rows holds positions pos .. pos+n-1, in journal id order.

CREATE SCHEMA IF NOT EXISTS pgfeed;

-- The journal has one index, on xid: the sequencer finds transactions by xid,
-- readers read a transaction's rows by xid and sort them by id. Every index
-- is paid for by every writer, so there is no other, and it holds xid alone
-- (id is only compared within the rows of one step or one transaction): with
-- (xid, id), 32 single-row writers ran at 0.74-0.75 of their untracked
-- throughput, with (xid) at 0.78-0.81 (pgfeed-bench -no-stream, alternated).
CREATE TABLE pgfeed.changes (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    collection text NOT NULL,
    -- 'c' create, 'u' update, 'd' delete, 'x' collection removed (untracked)
    op         "char" NOT NULL,
    data       json,   -- array of rows after the statement (c, u)
    old        json,   -- array of rows before the statement (u, d), paired with data by index
    at         timestamptz NOT NULL DEFAULT statement_timestamp()
);
CREATE INDEX changes_xid_idx ON pgfeed.changes (xid);

-- One row per step (per 1,000 transactions for a larger step), not per
-- transaction: the sequencer's writes cost per step, so they shrink, per
-- transaction, as the write rate grows.
CREATE TABLE pgfeed.txlog (
    pos    bigint PRIMARY KEY,  -- position of the first journal row of xids[1]
    n      integer NOT NULL,    -- journal rows of all the transactions: pos .. pos+n-1
    xids   xid8[] NOT NULL,     -- the transactions, in position order
    counts integer[] NOT NULL,  -- the number of journal rows of each
    -- sequencer.bytes once these transactions were stamped: steps are in
    -- the same order by pos, by bytes and (nearly) by at, which is how
    -- pgfeed.prune finds what to remove without reading the whole log.
    bytes  bigint NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);

-- lz4 compresses large statements, and a large step's lists of transactions,
-- several times faster than the default (pglz compressing the lists took
-- 5-10% of a 1,000-transaction step's time); servers built without it keep
-- the default.
DO $$
BEGIN
    ALTER TABLE pgfeed.changes ALTER COLUMN data SET COMPRESSION lz4, ALTER COLUMN old SET COMPRESSION lz4;
    ALTER TABLE pgfeed.txlog ALTER COLUMN xids SET COMPRESSION lz4, ALTER COLUMN counts SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

-- The sequencer's state, one row. Whoever holds the step lock may advance it.
CREATE TABLE pgfeed.sequencer (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    next_pos   bigint NOT NULL,  -- position the next transaction gets
    pending    xid8[] NOT NULL,  -- transactions in progress at the last step
    horizon    xid8 NOT NULL,    -- xmax of the last step's snapshot: transactions
                                 -- from here on were not listed in pending
    pruned_pos bigint NOT NULL,  -- positions up to this one were pruned
    bytes      bigint NOT NULL DEFAULT 0, -- size of every journal row stamped so far
                                          -- (their data and old, as stored)
    pruned_bytes bigint NOT NULL DEFAULT 0, -- bytes once pruned_pos was stamped
    -- The transaction that wrote this row: every update sets it, so that a
    -- row written otherwise, by a restore, is told apart by its xmin (see
    -- pgfeed.adopt_restored).
    written_by xid8 NOT NULL DEFAULT pg_current_xact_id(),
    timeline   integer           -- the server's timeline at the last step
);
INSERT INTO pgfeed.sequencer (one, next_pos, pending, horizon, pruned_pos) VALUES (true, 1, '{}', '0', 0);

-- A new timeline (a replica promoted, a point-in-time recovery) goes on
-- from a history that may lack the last positions the old one gave, which
-- clients hold as cursors and which would soon name other changes. So the
-- first step on a new timeline skips 2^32 positions, more than any history
-- can lose: a cursor from the lost positions falls inside the skip, where
-- no cursor of this history can be, and is told it cannot resume. jumps
-- records each skip, for readers to step over: positions after_pos + 1 to
-- next_pos - 1 are never given, and next_pos - 1 is the head a step
-- reports until the next position is given.
CREATE TABLE pgfeed.jumps (
    after_pos bigint PRIMARY KEY,
    next_pos  bigint NOT NULL,
    timeline  integer NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

-- timeline is the server's timeline, from the name of its current WAL file,
-- or NULL where the server does not say: some managed services refuse the
-- WAL functions (permission denied, or not supported). There pgfeed goes
-- on without jumps: after a failover to a replica that lacked the latest
-- transactions, a running pgfeed still stops (see cdc.ErrRewound), and a
-- client's cursor from the lost history is told apart by its tag alone
-- (see cdc.Change.Tag; pgfeed warns when its sequencer starts). A standby
-- in recovery refuses them too, and there the error stands: no step can
-- run on a standby, and a promotion must not go unseen.
CREATE FUNCTION pgfeed.timeline() RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RETURN ('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::integer;
EXCEPTION WHEN OTHERS THEN
    IF pg_is_in_recovery() THEN
        RAISE;
    END IF;
    RETURN NULL;
END
$$;

-- Readers report how far they have read, so pruning never removes a change
-- a live reader still needs.
CREATE TABLE pgfeed.readers (
    name text PRIMARY KEY,
    pos  bigint NOT NULL,
    seen timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgfeed.tracked (
    rel        regclass PRIMARY KEY,
    collection text NOT NULL UNIQUE,
    key        text[] NOT NULL,
    tracked_at timestamptz NOT NULL DEFAULT now(),
    -- The capture functions are pgfeed.<fn>_ins, _upd, _del and _trunc. The
    -- name is kept rather than derived from rel's oid: a restored database
    -- gives its tables new oids, and its functions keep their names.
    fn         text NOT NULL UNIQUE
);

-- captured returns the tables whose writes record into tbl's collection: tbl
-- and, for a partitioned table, every partition in its tree.
CREATE FUNCTION pgfeed.captured(tbl regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE AS $$
    SELECT tbl UNION SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p
$$;

-- transient returns a table among captured(tbl) whose rows are not durable
-- (unlogged: a crash empties it without a trigger firing; or temporary),
-- if any: such a table cannot be tracked.
CREATE FUNCTION pgfeed.transient(tbl regclass) RETURNS regclass
LANGUAGE sql STABLE AS $$
    SELECT m FROM pgfeed.captured(tbl) m
    WHERE (SELECT c.relpersistence FROM pg_catalog.pg_class c WHERE c.oid = m) <> 'p'
    LIMIT 1
$$;

-- capture_functions returns the capture trigger functions track made for the
-- table tbl (none when it is not tracked).
CREATE FUNCTION pgfeed.capture_functions(tbl regclass) RETURNS oid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(p.oid), '{}')
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace OPERATOR(pg_catalog.=) 'pgfeed'::pg_catalog.regnamespace
      AND p.proname::text IN (SELECT t.fn || '_' || f FROM pgfeed.tracked t, unnest(ARRAY['ins', 'upd', 'del', 'trunc']) f
                              WHERE t.rel OPERATOR(pg_catalog.=) tbl)
$$;

-- capture says which writes a table's capture triggers record: 'always'
-- (every write), 'origin' (not those made with session_replication_role =
-- replica, as logical replication applies them), 'disabled' (a trigger is
-- disabled, or fires only for replicas: ordinary writes go unrecorded) or
-- 'incomplete' (a trigger was dropped, a partition has none, or a table that
-- is no longer a partition still has them). A partitioned table's state
-- covers its partitions.
CREATE VIEW pgfeed.tables AS
SELECT t.collection, t.rel, t.key, t.tracked_at,
       (SELECT CASE
                   WHEN count(*) FILTER (WHERE g.tgrelid = ANY (m.rels)) < 4 * cardinality(m.rels)
                        OR bool_or(NOT g.tgrelid = ANY (m.rels)) THEN 'incomplete'
                   WHEN bool_or(g.tgenabled IN ('D', 'R')) THEN 'disabled'
                   WHEN bool_and(g.tgenabled = 'A') THEN 'always'
                   ELSE 'origin'
               END
        FROM pg_catalog.pg_trigger g
        WHERE g.tgfoid = ANY (pgfeed.capture_functions(t.rel))) AS capture
FROM pgfeed.tracked t
JOIN pg_catalog.pg_class c ON c.oid = t.rel
CROSS JOIN LATERAL (
    SELECT ARRAY(SELECT pgfeed.captured(t.rel)::oid) AS rels
) m
ORDER BY t.collection;

-- The lock that serialises steps and pruning: 0x70676664 is "pgfd".
CREATE FUNCTION pgfeed.lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 1885824612::bigint $$;

-- The gate lock the idle sequencer holds (see "Wake-ups" above). The capture
-- triggers have the number written into them, for speed.
CREATE FUNCTION pgfeed.gate_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 1885824613::bigint $$;

-- wake_code is the PL/pgSQL statement that ends every write pgfeed records:
-- silent while the sequencer is busy, one NOTIFY while it is idle (unless
-- the session set pgfeed.wake to off, see "Wake-ups" at the top). track
-- writes it into each capture function, to spare writers a function call
-- per statement (the gate key as a number, for the same reason); elsewhere
-- pgfeed.wake() runs it.
CREATE FUNCTION pgfeed.wake_code() RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_catalog.format('IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(%s) THEN '
                             'IF pg_catalog.current_setting(''pgfeed.wake'', true) IS DISTINCT FROM ''off'' THEN '
                             'PERFORM pg_catalog.pg_notify(''pgfeed_wake'', ''''); END IF; END IF;', pgfeed.gate_key())
$$;

DO $$
BEGIN
    EXECUTE pg_catalog.format('CREATE FUNCTION pgfeed.wake() RETURNS void LANGUAGE plpgsql AS %L',
                              'BEGIN ' || pgfeed.wake_code() || ' END');
END
$$;

-- adopt_restored makes the sequencer's state this cluster's after a restore
-- (pg_restore of a dump) wrote it, and says whether it dropped the journal.
-- step_read calls it, with the step lock held, when the row's xmin is not
-- written_by (which every update of pgfeed's sets).
--
-- The state's transaction ids (pending, horizon, the journal's xid column)
-- are those of the cluster the dump came from. A restore into the same
-- cluster, or into one whose ids are ahead of horizon, needs nothing: the
-- new transactions are all above horizon, and history stays. Into a cluster
-- whose ids are behind, new transactions below horizon would never be
-- stamped, and once a step moved horizon down to this cluster's, the old
-- rows above it would be stamped again. What was journaled until now
-- cannot be told apart by transaction id, so it is dropped: positions go on
-- from where they were, older cursors find them pruned (clients start over
-- with a snapshot), and transactions still in progress are stamped when
-- they commit.
--
-- The restore's full xid is the latest one with xmin's 32 bits.
CREATE FUNCTION pgfeed.adopt_restored() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_snap     pg_snapshot := pg_current_snapshot();
    v_xmax     bigint := pg_snapshot_xmax(v_snap)::text::bigint;
    v_restored bigint;
    v_horizon  bigint;
    v_next     bigint;
BEGIN
    SELECT v_xmax - ((v_xmax - q.xmin::text::bigint) % 4294967296 + 4294967296) % 4294967296, q.horizon::text::bigint
    INTO STRICT v_restored, v_horizon
    FROM pgfeed.sequencer q;
    IF v_restored >= v_horizon THEN
        UPDATE pgfeed.sequencer SET written_by = pg_current_xact_id();
        RETURN false;
    END IF;
    -- The snapshot was taken first: a transaction that commits while this
    -- runs has its rows deleted, or is in v_snap's xip, or above its xmax.
    DELETE FROM pgfeed.changes;
    DELETE FROM pgfeed.txlog;
    UPDATE pgfeed.sequencer
    SET pending = ARRAY(SELECT pg_snapshot_xip(v_snap)), horizon = pg_snapshot_xmax(v_snap),
        pruned_pos = next_pos - 1, pruned_bytes = bytes, written_by = pg_current_xact_id()
    RETURNING next_pos INTO v_next;
    RAISE WARNING 'pgfeed: the journal was restored from a cluster whose transaction ids are ahead of this one''s; changes before position % were dropped', v_next;
    RETURN true;
END
$$;

-- step gives positions to every transaction that committed since the last
-- step and returns the last position given so far (0 when none).
--
-- Why it is complete: a transaction that was not visible at the last step
-- that stamped something was either in progress then, and so listed in that
-- snapshot's xip (saved in pending), or had no xid yet, or one at or above
-- the snapshot's xmax (saved as horizon: xmax is one past the latest
-- completed transaction, so running transactions can stand above it), and
-- an xid assigned later is above xmax too. So the journal rows of every
-- transaction not yet stamped have an xid in pending or at or above horizon;
-- those of a stamped one have neither (it was visible: completed, below
-- xmax). A transaction found committed gets all its journal rows at once.
-- A step that stamps nothing leaves the state as it was, which stays true.
--
-- Why the order respects commit order per row: if transaction B changed a row
-- after A's committed change to it, B's journal ids were all taken after A
-- committed, so either A was stamped at an earlier step or, in the same step,
-- A's highest id is below B's.
--
-- Run it in READ COMMITTED, or in a REPEATABLE READ transaction that took
-- pg_advisory_lock(pgfeed.lock_key()) before its first statement (that is how
-- a consistent snapshot is made: see store.Snapshot).
--
-- Statistics of a journal that grows by thousands of rows a second are always
-- stale, and a plan cannot know that "xid >= horizon" selects only the newest
-- rows, so the plan is pinned to index lookups: without that, a step would
-- read the whole journal (found in a benchmark: 4 ms an empty step at 100k
-- journal rows, growing with retention). With the methods pinned, the plan
-- does not depend on pending and horizon, so it is made once per session
-- (generic): re-planning made an empty step three times as costly (0.31 ms
-- against 0.10 ms). JIT is off: the planner's estimates trigger a
-- compilation that costs far more than the step itself. Hash aggregation is
-- off for the same reason: the hash table that groups a step's rows by
-- transaction was sized from the planner's guess (a third of the journal),
-- and making and scanning it took 12% of the sequencer session's CPU time.
-- Sorting a step's rows costs less: 10-12% less CPU time for the session
-- following 1,000 100-row or 4,000 single-row transactions a second.
--
-- step_read is step for the sequencing instance: when the step stamped at
-- most max_rows journal rows it also returns them, with their positions, so
-- that the instance need not read them back; a last row with only pos holds
-- the last position given so far. A step that stamped something tells the
-- other instances the new head with a NOTIFY on channel pgfeed, unless
-- notify_others is false: the sequencing instance passes false while no
-- other instance reads, because a NOTIFY is not free (its commit takes the
-- notification queue's lock, and wakes every session of the database that
-- listens on any channel). Without it a step cost the sequencer's session
-- 10-17% less CPU time, at 1,000 changes a second.
--
-- It is one statement, so that one snapshot decides what is stamped and
-- what pending and horizon become, and it looks the journal index up once:
-- the scan that finds the new rows keeps their ctids, and the rows returned are
-- fetched by ctid (a committed transaction's rows never move while the
-- step lock is held), all in one TID scan: joined row by row, every row
-- was a rescan that asks the kernel for the journal's size (lseek), 13% of
-- the session's time in perf at 6,000 single-row transactions a second. A
-- journal row's position follows from the order of the rows alone:
-- transactions by their highest id, a transaction's rows by id, which is
-- how both the stamped positions and the returned ones are numbered, and
-- the order the rows are returned in: ordered by position instead, they were
-- sorted once more (about a tenth of a 1,000-row step's time).
CREATE FUNCTION pgfeed.step_read(max_rows integer, notify_others boolean DEFAULT true)
RETURNS TABLE (pos bigint, xid xid8, collection text, op "char", data json, old json, at timestamptz, stamped timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET jit = off SET enable_hashagg = off
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
#variable_conflict use_column
DECLARE
    s          record;
    v_next     bigint;
    v_timeline integer := pgfeed.timeline();
BEGIN
    PERFORM pg_advisory_xact_lock(pgfeed.lock_key());
    SELECT q.*, q.xmin AS written INTO STRICT s FROM pgfeed.sequencer q;
    -- Written by a restore (see adopt_restored)?
    IF s.written::text::bigint <> s.written_by::text::bigint % 4294967296 AND pgfeed.adopt_restored() THEN
        RETURN QUERY SELECT q.next_pos - 1, NULL::xid8, NULL::text, NULL::"char", NULL::json, NULL::json, NULL::timestamptz, NULL::timestamptz
                     FROM pgfeed.sequencer q;
        RETURN;
    END IF;
    -- The first step on a new timeline jumps (see pgfeed.jumps).
    IF v_timeline IS DISTINCT FROM s.timeline AND v_timeline IS NOT NULL THEN
        IF s.timeline IS NOT NULL THEN
            INSERT INTO pgfeed.jumps (after_pos, next_pos, timeline) VALUES (s.next_pos - 1, s.next_pos + 4294967296, v_timeline);
            s.next_pos := s.next_pos + 4294967296;
        END IF;
        UPDATE pgfeed.sequencer SET next_pos = s.next_pos, timeline = v_timeline, written_by = pg_current_xact_id();
    END IF;

    RETURN QUERY
    WITH snap AS MATERIALIZED (
        SELECT pg_current_snapshot() AS snap
    ), found AS MATERIALIZED (
        SELECT c.xid, c.id, c.ctid AS tid, coalesce(pg_column_size(c.data), 0) + coalesce(pg_column_size(c.old), 0) AS b
        FROM pgfeed.changes c WHERE c.xid = ANY (s.pending)
        UNION ALL
        SELECT c.xid, c.id, c.ctid, coalesce(pg_column_size(c.data), 0) + coalesce(pg_column_size(c.old), 0)
        FROM pgfeed.changes c WHERE c.xid >= s.horizon
    ), tx AS MATERIALIZED (
        -- The transactions in position order: r-th, from position first on,
        -- the journal's size up to its end in bytes.
        SELECT t.xid, t.n, row_number() OVER (ORDER BY t.last) AS r,
               s.next_pos + sum(t.n) OVER (ORDER BY t.last) - t.n AS first,
               s.bytes + sum(t.b) OVER (ORDER BY t.last) AS bytes
        FROM (SELECT f.xid, count(*)::integer AS n, max(f.id) AS last, sum(f.b) AS b FROM found f GROUP BY f.xid) t
    ), total AS MATERIALIZED (
        SELECT coalesce(sum(t.n), 0) AS n, max(t.bytes) AS bytes FROM tx t
    ), stamped AS (
        INSERT INTO pgfeed.txlog (pos, n, xids, counts, bytes)
        SELECT min(t.first), sum(t.n), array_agg(t.xid ORDER BY t.r), array_agg(t.n ORDER BY t.r), max(t.bytes)
        FROM tx t
        GROUP BY (t.r - 1) / 1000
    ), moved AS (
        UPDATE pgfeed.sequencer q
        SET next_pos = q.next_pos + t.n,
            bytes = t.bytes,
            pending = ARRAY(SELECT pg_snapshot_xip(snap) FROM snap),
            horizon = (SELECT pg_snapshot_xmax(snap) FROM snap),
            written_by = pg_current_xact_id()
        FROM total t WHERE t.n > 0
    )
    -- The rows, when they fit in max_rows (else none: a step() of a
    -- snapshot, a backlog).
    SELECT s.next_pos + row_number() OVER (ORDER BY w.last, w.id) - 1, w.xid, w.collection, w.op, w.data, w.old, w.at, now()
    FROM (
        SELECT c.id, c.xid, c.collection, c.op, c.data, c.old, c.at, max(c.id) OVER (PARTITION BY c.xid) AS last
        FROM pgfeed.changes c
        WHERE c.ctid = ANY (ARRAY(SELECT f.tid FROM found f WHERE (SELECT t.n FROM total t) <= max_rows))
    ) w
    ORDER BY w.last, w.id;

    SELECT q.next_pos INTO v_next FROM pgfeed.sequencer q;
    IF v_next <> s.next_pos AND notify_others THEN
        PERFORM pg_notify('pgfeed', (v_next - 1)::text);
    END IF;
    RETURN QUERY SELECT v_next - 1, NULL::xid8, NULL::text, NULL::"char", NULL::json, NULL::json, NULL::timestamptz, NULL::timestamptz;
END
$$;

CREATE FUNCTION pgfeed.step() RETURNS bigint
LANGUAGE sql AS $$ SELECT max(r.pos) FROM pgfeed.step_read(0) r $$;

-- entries returns the journal rows of the transactions xids, the i-th
-- placed from position firsts[i] on and stamped at stamps[i] (its step's
-- time), in position order (journal id order within a transaction). The
-- LATERAL join makes every plan, generic ones included, look up each
-- transaction's rows by index: a hash join would read the whole journal.
CREATE FUNCTION pgfeed.entries(xids xid8[], firsts bigint[], stamps timestamptz[])
RETURNS TABLE (pos bigint, xid xid8, collection text, op "char", data json, old json, at timestamptz, stamped timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p.first + c.k - 1, p.xid, c.collection, c.op, c.data, c.old, c.at, p.stamp
    FROM unnest(xids, firsts, stamps) AS p(xid, first, stamp)
    CROSS JOIN LATERAL (
        SELECT j.collection, j.op, j.data, j.old, j.at, row_number() OVER (ORDER BY j.id) AS k
        FROM pgfeed.changes j WHERE j.xid = p.xid
    ) c
    ORDER BY 1
$$;

-- placed lists the transactions of a step (a txlog row: its pos, xids and
-- counts) with the position each starts from: in a step, each starts
-- where the previous one's rows end.
CREATE FUNCTION pgfeed.placed(step_pos bigint, step_xids xid8[], step_counts integer[])
RETURNS TABLE (xid xid8, first bigint, n integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT x.xid, step_pos + sum(x.n) OVER (ORDER BY x.k) - x.n, x.n
    FROM unnest(step_xids, step_counts) WITH ORDINALITY AS x(xid, n, k)
$$;

-- read_after returns the journal rows with positions above after, from at
-- most max_tx transactions, in position order, and at most max_rows of them
-- when it is given: a page may then end inside a transaction, and the next
-- one reads on from there. Such a page is bounded by position, so it comes
-- back empty right before a jump (see pgfeed.jumps): the reader goes on
-- from the jump's far side (see cdc.Journal.ReadAfter). txlog has a row per step; the transactions of the
-- steps needed are placed (see pgfeed.placed).
CREATE FUNCTION pgfeed.read_after(after bigint, max_tx integer, max_rows bigint DEFAULT NULL)
RETURNS TABLE (pos bigint, xid xid8, collection text, op "char", data json, old json, at timestamptz, stamped timestamptz)
LANGUAGE sql STABLE AS $$
    WITH s AS (
        (SELECT l.pos, l.xids, l.counts, l.at FROM pgfeed.txlog l WHERE l.pos <= after ORDER BY l.pos DESC LIMIT 1)
        UNION ALL
        -- Steps after the first one that already holds max_tx transactions
        -- are not needed.
        SELECT w.pos, w.xids, w.counts, w.at FROM (
            SELECT l.pos, l.xids, l.counts, l.at,
                   sum(cardinality(l.xids)) OVER (ORDER BY l.pos) - cardinality(l.xids) AS before
            FROM (SELECT * FROM pgfeed.txlog l WHERE l.pos > after ORDER BY l.pos LIMIT max_tx) l
        ) w
        WHERE w.before < max_tx
    ), t AS (
        SELECT u.first, u.n, u.xid, s.at
        FROM s CROSS JOIN LATERAL pgfeed.placed(s.pos, s.xids, s.counts) u
    ), sel AS MATERIALIZED (
        SELECT t.first, t.xid, t.at FROM t
        WHERE t.first + t.n - 1 > after AND (max_rows IS NULL OR t.first <= after + max_rows)
        ORDER BY t.first LIMIT max_tx
    )
    SELECT e.* FROM pgfeed.entries(
        ARRAY(SELECT sel.xid FROM sel ORDER BY sel.first),
        ARRAY(SELECT sel.first FROM sel ORDER BY sel.first),
        ARRAY(SELECT sel.at FROM sel ORDER BY sel.first)) e
    WHERE e.pos > after AND (max_rows IS NULL OR e.pos <= after + max_rows)
    ORDER BY e.pos
$$;

-- stamp_at names the journal row at position p without reading it: the
-- transaction that holds it and the time of the step that stamped it (see
-- cdc.Change.Tag), from the step's row alone. No row where p holds none
-- (0, a jump, a pruned position).
CREATE FUNCTION pgfeed.stamp_at(p bigint) RETURNS TABLE (xid xid8, stamped timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT u.xid, l.at
    FROM (SELECT * FROM pgfeed.txlog l WHERE l.pos <= p ORDER BY l.pos DESC LIMIT 1) l
    CROSS JOIN LATERAL pgfeed.placed(l.pos, l.xids, l.counts) u
    WHERE p >= u.first AND p < u.first + u.n
$$;

-- prune removes the steps of transactions older than keep (when given),
-- and those beyond the newest max_bytes of journal rows (when given;
-- sequencer.bytes counts them), whose positions are at or below upto (the
-- slowest live reader). It returns the highest pruned position, and the
-- size of the journal rows kept.
--
-- Steps are in position order by time and by bytes too, so the last step
-- to remove is found by reading the log from its oldest step to the first
-- one to keep, by position: a prune reads what it removes. Filtered by
-- age alone, it read the whole log, under the step lock: at 8 million
-- steps (a day at 90 steps a second), 1.4 s, the stream stalled for that
-- long every PruneEvery. A step's at is its transaction's start, which
-- may be a moment before that of the step before it: such a step is
-- removed by the next prune.
CREATE FUNCTION pgfeed.prune(keep interval, upto bigint, max_bytes bigint DEFAULT NULL)
RETURNS TABLE (pruned_pos bigint, kept_bytes bigint)
LANGUAGE plpgsql SET jit = off SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
#variable_conflict use_column
DECLARE
    v_bytes  bigint;
    v_last   bigint;
    v_pruned bigint;
    v_gone   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(pgfeed.lock_key());
    SELECT q.bytes INTO v_bytes FROM pgfeed.sequencer q;
    -- The last position to prune: before the first step to keep.
    v_last := greatest(
        CASE WHEN keep IS NOT NULL THEN
            coalesce((SELECT l.pos - 1 FROM pgfeed.txlog l WHERE l.at >= now() - keep ORDER BY l.pos LIMIT 1), upto)
        END,
        CASE WHEN max_bytes IS NOT NULL THEN
            (SELECT l.pos - 1 FROM pgfeed.txlog l WHERE l.bytes > v_bytes - max_bytes ORDER BY l.pos LIMIT 1)
        END);
    WITH gone AS (
        DELETE FROM pgfeed.txlog
        WHERE pos <= v_last AND pos <= upto AND pos + n - 1 <= upto
        RETURNING xids, pos + n - 1 AS last, bytes
    ), journal AS (
        DELETE FROM pgfeed.changes c USING gone g, unnest(g.xids) AS x(xid) WHERE c.xid = x.xid
    )
    SELECT max(g.last), max(g.bytes) INTO v_pruned, v_gone FROM gone g;
    IF v_pruned IS NOT NULL THEN
        UPDATE pgfeed.sequencer q
        SET pruned_pos = greatest(q.pruned_pos, v_pruned), pruned_bytes = greatest(q.pruned_bytes, v_gone),
            written_by = pg_current_xact_id();
    END IF;
    RETURN QUERY SELECT q.pruned_pos, q.bytes - q.pruned_bytes FROM pgfeed.sequencer q;
END
$$;

-- primary_key returns the columns of a table's primary key in key order,
-- NULL when it has none.
CREATE FUNCTION pgfeed.primary_key(tbl regclass) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT array_agg(a.attname::text ORDER BY k.ord)
    FROM pg_catalog.pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = tbl AND i.indisprimary
$$;

-- capture_on creates on rel (tbl itself, or one of its partitions) the four
-- triggers that record its writes as tbl's, and makes them fire whatever the
-- session's replication role, so that the writes logical replication
-- applies, and those made with session_replication_role = replica, are
-- recorded too. Only the owner of rel may set that: for anyone else it
-- returns the statement the owner should run. That ALTER TABLE fires
-- pgfeed_alter, which must not follow tbl's partitions meanwhile (track and
-- follow_partitions are doing it): pgfeed.following tells it so.
CREATE FUNCTION pgfeed.capture_on(tbl regclass, rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_fn     text := 'pgfeed.' || (SELECT t.fn FROM pgfeed.tracked t WHERE t.rel = tbl);
    v_always text := format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pgfeed_capture_ins, ENABLE ALWAYS TRIGGER pgfeed_capture_upd, '
                            'ENABLE ALWAYS TRIGGER pgfeed_capture_del, ENABLE ALWAYS TRIGGER pgfeed_capture_trunc', rel);
    v_prev   text := coalesce(pg_catalog.current_setting('pgfeed.following', true), '');
BEGIN
    EXECUTE format('CREATE TRIGGER pgfeed_capture_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s_ins()', rel, v_fn);
    EXECUTE format('CREATE TRIGGER pgfeed_capture_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %s_upd()', rel, v_fn);
    EXECUTE format('CREATE TRIGGER pgfeed_capture_del AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %s_del()', rel, v_fn);
    EXECUTE format('CREATE TRIGGER pgfeed_capture_trunc BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s_trunc()', rel, v_fn);
    IF pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = rel), 'USAGE') THEN
        PERFORM pg_catalog.set_config('pgfeed.following', 'on', true);
        EXECUTE v_always;
        PERFORM pg_catalog.set_config('pgfeed.following', v_prev, true);
        RETURN NULL;
    END IF;
    RETURN v_always;
END
$$;

-- record_rows journals every row of rel (not of its partitions) as created
-- ('c') or deleted ('d') in collection coll, in chunks of 100: what a
-- TRUNCATE removes, or what a partition brings to or takes from a tracked
-- partitioned table. Row security is off, so that a query a policy would
-- filter fails instead of leaving the hidden rows unrecorded. Values render
-- as in the capture functions (see output_settings), and rows are named as
-- there (see track).
CREATE FUNCTION pgfeed.record_rows(rel regclass, coll text, op "char") RETURNS void
LANGUAGE plpgsql SET row_security = off
    SET extra_float_digits = 1 SET bytea_output = hex SET IntervalStyle = postgres AS $$
BEGIN
    EXECUTE format($q$
        INSERT INTO pgfeed.changes (collection, op, %s)
        SELECT $1, $2, pg_catalog.json_agg(r.n ORDER BY r.i)
        FROM (SELECT pg_catalog.to_json(pgfeed_row.*) AS n, pg_catalog.row_number() OVER () AS i FROM ONLY %s pgfeed_row) r
        GROUP BY (r.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100
        ORDER BY pg_catalog.min(r.i)$q$,
        CASE op WHEN 'c' THEN 'data' ELSE 'old' END,
        (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel))
    USING coll, op;
END
$$;

-- Rows render as JSON in the writer's session, and three of its settings
-- change what clients read: an extra_float_digits below 1 rounds floats
-- (their exact value is lost), and bytea_output = escape or an IntervalStyle
-- other than postgres change the form clients parse. Each capture function
-- tests the three as it begins, in a plain expression, and only when one
-- differs saves them with output_settings and sets pgfeed's with set_output
-- (SET LOCAL), then puts the writer's back as it ends. Measured in a loop of
-- single-row INSERTs, this costs 0.5 microseconds a statement, and 2.5 for a
-- writer whose settings differ (some frameworks set IntervalStyle =
-- iso_8601). A SET clause on the capture functions would cost every write 1.5
-- (PostgreSQL 15 saves and restores every setting around such a call); the
-- two functions are SQL, which the planner inlines into the capture
-- functions' expressions: in PL/pgSQL they cost 7.
CREATE FUNCTION pgfeed.output_settings() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY[pg_catalog.current_setting('extra_float_digits'),
                 pg_catalog.current_setting('bytea_output'),
                 pg_catalog.current_setting('IntervalStyle')]
$$;

CREATE FUNCTION pgfeed.set_output(settings text[]) RETURNS text
LANGUAGE sql AS $$
    SELECT pg_catalog.set_config('extra_float_digits', settings[1], true)
           OPERATOR(pg_catalog.||) pg_catalog.set_config('bytea_output', settings[2], true)
           OPERATOR(pg_catalog.||) pg_catalog.set_config('IntervalStyle', settings[3], true)
$$;

-- track installs change capture on a table. The trigger functions are made
-- per table, so that the primary key join and the collection name are plain
-- SQL, planned once per session.
CREATE FUNCTION pgfeed.track(tbl regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_kind       "char";
    v_schema     text;
    v_name       text;
    v_collection text;
    v_key        text[];
    v_join       text;
    v_fn         text;
    v_n          integer := 0;
    v_one        record;
    v_other      regclass;
    v_always     text;
    v_wake       text := pgfeed.wake_code();
    -- The statements that begin and end each capture function (see
    -- output_settings): v_writer holds the writer's settings while
    -- pgfeed's are set.
    v_pin        text := 'IF pg_catalog.current_setting(''extra_float_digits'')::pg_catalog.int4 OPERATOR(pg_catalog.<) 1 '
                         'OR pg_catalog.current_setting(''bytea_output'') OPERATOR(pg_catalog.<>) ''hex'' '
                         'OR pg_catalog.current_setting(''IntervalStyle'') OPERATOR(pg_catalog.<>) ''postgres'' THEN '
                         'v_writer := pgfeed.output_settings(); v_set := pgfeed.set_output(''{1,hex,postgres}''); END IF;';
    v_unpin      text := 'IF v_writer IS NOT NULL THEN v_set := pgfeed.set_output(v_writer); END IF;';
BEGIN
    SELECT c.relkind, n.nspname, c.relname INTO v_kind, v_schema, v_name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = tbl;
    IF v_kind IS NULL OR v_kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'pgfeed can track only ordinary and partitioned tables, and % is not one', tbl
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF v_schema = 'pgfeed' THEN
        RAISE EXCEPTION 'pgfeed cannot track its own table %', tbl USING ERRCODE = 'wrong_object_type';
    END IF;
    -- A crash empties an unlogged table without a trigger firing, and a
    -- temporary one is seen by its session alone.
    v_other := pgfeed.transient(tbl);
    IF v_other IS NOT NULL AND v_schema LIKE 'pg_temp%' THEN
        RAISE EXCEPTION 'pgfeed cannot track %: % is temporary', tbl, v_other USING ERRCODE = 'wrong_object_type';
    ELSIF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'pgfeed cannot track %: % is unlogged, and a crash would empty it without recording the rows it removed', tbl, v_other
            USING ERRCODE = 'wrong_object_type', HINT = format('make it logged first: ALTER TABLE %s SET LOGGED', v_other);
    END IF;
    IF EXISTS (SELECT 1 FROM pgfeed.tracked WHERE rel = tbl) THEN
        RAISE EXCEPTION 'table % is already tracked', tbl USING ERRCODE = 'duplicate_object';
    END IF;
    -- A statement on a parent table fires the parent's statement triggers
    -- only: the partition's or child's rows it changes would go unseen, and
    -- so would a parent's rows written through a child. A partitioned table
    -- is tracked whole, from its root: its partitions get triggers too (see
    -- pgfeed.follow_partitions).
    v_other := pg_catalog.pg_partition_root(tbl);
    IF v_other <> tbl THEN
        RAISE EXCEPTION 'pgfeed cannot track %: it is a partition of %, and statements on % would change it unseen', tbl, v_other, v_other
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('track the partitioned table, which records the writes to all its partitions: SELECT pgfeed.track(%L)', v_other);
    END IF;
    SELECT i.inhparent INTO v_other FROM pg_catalog.pg_inherits i WHERE i.inhrelid = tbl LIMIT 1;
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'pgfeed cannot track %: it is a child of %, and statements on % would change it unseen', tbl, v_other, v_other
            USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT i.inhrelid INTO v_other FROM pg_catalog.pg_inherits i WHERE i.inhparent = tbl AND v_kind = 'r' LIMIT 1;
    IF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'pgfeed cannot track %: it has inheritance children (%), whose rows would change unseen', tbl, v_other
            USING ERRCODE = 'wrong_object_type';
    END IF;
    -- The TRUNCATE trigger reads the table, as the owner of the functions.
    IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT') THEN
        RAISE EXCEPTION 'pgfeed needs SELECT on % to record what a TRUNCATE removes', tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    v_key := pgfeed.primary_key(tbl);
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', tbl
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'pgfeed identifies rows by primary key; add one with ALTER TABLE ... ADD PRIMARY KEY';
    END IF;

    v_collection := CASE WHEN v_schema = 'public' THEN v_name ELSE v_schema || '.' || v_name END;
    -- Tables dropped while the drop event trigger was not there to forget
    -- them are forgotten now, so that their names can be taken again.
    PERFORM pgfeed.forget(t.rel::oid, t.collection) FROM pgfeed.tracked t
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = t.rel::oid);
    -- The collection is taken by a table renamed since it was tracked, or
    -- by one whose schema and name join with a dot alike (schema "a.b",
    -- table "c" and schema "a", table "b.c").
    SELECT t.rel INTO v_other FROM pgfeed.tracked t WHERE t.collection = v_collection;
    IF v_other IS NOT NULL AND EXISTS (
        SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = v_other AND CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END = v_collection) THEN
        RAISE EXCEPTION 'pgfeed cannot track % as collection %: table % is tracked as that collection', tbl, v_collection, v_other
            USING ERRCODE = 'duplicate_object',
                  HINT = format('rename one of the two tables, or untrack the other: SELECT pgfeed.untrack(%L)', v_other);
    ELSIF v_other IS NOT NULL THEN
        RAISE EXCEPTION 'pgfeed cannot track % as collection %: table % was tracked under that name before it was renamed', tbl, v_collection, v_other
            USING ERRCODE = 'duplicate_object',
                  HINT = format('untrack it first: SELECT pgfeed.untrack(%L)', v_other);
    END IF;
    -- The update trigger pairs old and new rows by key, and keys that
    -- clients see as different must not pair (an update that changes a key
    -- arrives as a delete and a create). A key of a built-in type (or a
    -- domain over one) is compared with its type's equality, any other as
    -- text: the equality of an extension's type is not in pg_catalog (the
    -- trigger's only schema), and it may call different keys equal (citext:
    -- 'Ann' and 'ann'). Text is compared in the "C" collation, byte for byte,
    -- as a nondeterministic collation may call 'Ann' and 'ann' equal too.
    SELECT string_agg(format('pgfeed_new.%1$I%2$s OPERATOR(pg_catalog.=) pgfeed_old.%1$I%2$s%3$s', a.attname,
                             CASE WHEN c.builtin THEN '' ELSE '::pg_catalog.text' END,
                             CASE WHEN c.builtin AND a.attcollation = 0 THEN '' ELSE ' COLLATE pg_catalog."C"' END), ' AND ')
    INTO v_join
    FROM unnest(v_key) k
    JOIN pg_catalog.pg_attribute a ON a.attrelid = tbl AND a.attname = k
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    CROSS JOIN LATERAL (
        SELECT b.typnamespace = 'pg_catalog'::regnamespace AS builtin
        FROM pg_catalog.pg_type b WHERE b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    ) c;
    -- Functions of that name may exist already, restored with a table that
    -- had this oid in another database.
    v_fn := 'capture_' || tbl::oid;
    WHILE EXISTS (SELECT FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pgfeed'::regnamespace AND p.proname = v_fn || '_ins') LOOP
        v_n := v_n + 1;
        v_fn := 'capture_' || tbl::oid || '_' || v_n;
    END LOOP;
    INSERT INTO pgfeed.tracked (rel, collection, key, fn) VALUES (tbl, v_collection, v_key, v_fn);
    v_fn := 'pgfeed.' || v_fn;

    -- The functions run as their owner (SECURITY DEFINER), so that writers
    -- need no rights on the journal; every name in them is schema-qualified,
    -- so a writer's search_path cannot redirect them. Statements of up to 100
    -- rows make one journal row. A row is named alias.* inside a function's
    -- arguments, never by its bare alias, which would name a column of the
    -- table should it have one of that name.
    EXECUTE format($f$
        -- Old and new rows pair by primary key. An update that changes the key
        -- is recorded as a delete of the old key and a create of the new one;
        -- deletes come first, then updates, then creates.
        CREATE OR REPLACE FUNCTION %1$s_upd() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $body$
        DECLARE
            v_writer text[];
            v_set    text;
        BEGIN
            %6$s
            IF NOT EXISTS (SELECT FROM new_rows OFFSET 100) THEN
                INSERT INTO pgfeed.changes (collection, op, data, old)
                SELECT %2$L, r.op,
                       CASE WHEN r.op OPERATOR(pg_catalog.<>) 'd' THEN pg_catalog.json_agg(r.n) END,
                       CASE WHEN r.op OPERATOR(pg_catalog.<>) 'c' THEN pg_catalog.json_agg(r.o) END
                FROM (SELECT CASE WHEN pgfeed_old.%4$I IS NULL THEN 'c' WHEN pgfeed_new.%4$I IS NULL THEN 'd' ELSE 'u' END::pg_catalog."char" AS op,
                             pg_catalog.to_json(pgfeed_new.*) AS n, pg_catalog.to_json(pgfeed_old.*) AS o
                      FROM new_rows pgfeed_new FULL JOIN old_rows pgfeed_old ON %3$s) r
                GROUP BY r.op
                ORDER BY CASE r.op WHEN 'd' THEN 1 WHEN 'u' THEN 2 ELSE 3 END;
            ELSE
                INSERT INTO pgfeed.changes (collection, op, data, old)
                SELECT %2$L, r.op,
                       CASE WHEN r.op OPERATOR(pg_catalog.<>) 'd' THEN pg_catalog.json_agg(r.n ORDER BY r.i) END,
                       CASE WHEN r.op OPERATOR(pg_catalog.<>) 'c' THEN pg_catalog.json_agg(r.o ORDER BY r.i) END
                FROM (SELECT CASE WHEN pgfeed_old.%4$I IS NULL THEN 'c' WHEN pgfeed_new.%4$I IS NULL THEN 'd' ELSE 'u' END::pg_catalog."char" AS op,
                             pg_catalog.to_json(pgfeed_new.*) AS n, pg_catalog.to_json(pgfeed_old.*) AS o, pg_catalog.row_number() OVER () AS i
                      FROM new_rows pgfeed_new FULL JOIN old_rows pgfeed_old ON %3$s) r
                GROUP BY r.op, (r.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100
                ORDER BY CASE r.op WHEN 'd' THEN 1 WHEN 'u' THEN 2 ELSE 3 END, pg_catalog.min(r.i);
            END IF;
            %7$s
            %5$s
            RETURN NULL;
        END $body$;

        $f$, v_fn, v_collection, v_join, v_key[1], v_wake, v_pin, v_unpin);

    -- Inserts and deletes: one set of rows, one op, one column. The first
    -- statement aggregates at most 101 rows and writes them only when there
    -- are 1 to 100, so that a small statement costs one query; when it wrote
    -- nothing, a second one writes the rows, if any, in chunks. The test
    -- between them is a plain expression: written with an EXISTS on the
    -- rows, it was a query of its own on every statement (15-20% of the
    -- trigger's cost for a single-row INSERT).
    FOR v_one IN SELECT * FROM (VALUES ('ins', 'new_rows', 'c', 'data'), ('del', 'old_rows', 'd', 'old'))
        AS o (suffix, tbl, op, col) LOOP
        EXECUTE format($f$
            CREATE OR REPLACE FUNCTION %1$s_%2$s() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER AS $body$
            DECLARE
                v_written bigint;
                v_writer  text[];
                v_set     text;
            BEGIN
                %8$s
                INSERT INTO pgfeed.changes (collection, op, %5$s)
                SELECT %6$L, %4$L, pg_catalog.json_agg(r.*)
                FROM (SELECT * FROM %3$s LIMIT 101) r
                HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 AND pg_catalog.count(*) OPERATOR(pg_catalog.<=) 100;
                GET DIAGNOSTICS v_written = ROW_COUNT;
                IF v_written OPERATOR(pg_catalog.=) 0 THEN
                    INSERT INTO pgfeed.changes (collection, op, %5$s)
                    SELECT %6$L, %4$L, pg_catalog.json_agg(r.n ORDER BY r.i)
                    FROM (SELECT pg_catalog.to_json(pgfeed_row.*) AS n, pg_catalog.row_number() OVER () AS i FROM %3$s pgfeed_row) r
                    GROUP BY (r.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 100
                    ORDER BY pg_catalog.min(r.i);
                END IF;
                %9$s
                %7$s
                RETURN NULL;
            END $body$;
            $f$, v_fn, v_one.suffix, v_one.tbl, v_one.op, v_one.col, v_collection, v_wake, v_pin, v_unpin);
    END LOOP;

    -- TRUNCATE has no transition table: a trigger before it reads the rows
    -- of the table it fires on (for a partitioned table, each partition's
    -- trigger reads that partition). It holds the table exclusively, so
    -- every other writer has finished; but a snapshot older than the
    -- statement (in REPEATABLE READ or SERIALIZABLE) would miss rows
    -- committed since, and TRUNCATE would remove them unrecorded, so there it
    -- is refused.
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION %1$s_trunc() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $body$
        BEGIN
            IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
                RAISE EXCEPTION 'pgfeed cannot record a TRUNCATE of %% under %% isolation: rows committed after the transaction began would be removed unseen',
                        TG_RELID::pg_catalog.regclass, pg_catalog.current_setting('transaction_isolation')
                    USING ERRCODE = 'feature_not_supported', HINT = 'run the TRUNCATE in a READ COMMITTED transaction, or use DELETE';
            END IF;
            PERFORM pgfeed.record_rows(TG_RELID, %2$L, 'd');
            %3$s
            RETURN NULL;
        END $body$;
        $f$, v_fn, v_collection, v_wake);

    SELECT string_agg(a.sql, '; ') INTO v_always
    FROM (SELECT pgfeed.capture_on(tbl, m) AS sql FROM pgfeed.captured(tbl) m) a;
    IF v_always IS NOT NULL THEN
        RAISE NOTICE 'writes to % made with session_replication_role = replica (as logical replication applies them) will not be recorded', tbl
            USING HINT = 'as the owner, run: ' || v_always;
    END IF;
    RETURN v_collection;
END
$$;

-- untrack removes change capture from a table and records in the journal that
-- the collection is gone, so that its subscribers are told in stream order.
CREATE FUNCTION pgfeed.untrack(tbl regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_collection text;
BEGIN
    SELECT collection INTO v_collection FROM pgfeed.tracked WHERE rel = tbl;
    IF v_collection IS NULL THEN
        RAISE EXCEPTION 'table % is not tracked', tbl USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM pgfeed.forget(tbl::oid, v_collection);
    RETURN v_collection;
END
$$;

-- forget removes what track made for the table relid (its capture functions,
-- and with them its triggers) and records in the journal that the
-- collection is gone, so that its subscribers are told in stream order.
CREATE FUNCTION pgfeed.forget(relid oid, coll text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
BEGIN
    DELETE FROM pgfeed.tracked WHERE rel::oid = relid RETURNING fn INTO v_name;
    EXECUTE format('DROP FUNCTION IF EXISTS pgfeed.%I(), pgfeed.%I(), pgfeed.%I(), pgfeed.%I() CASCADE',
                   v_name || '_ins', v_name || '_upd', v_name || '_del', v_name || '_trunc');
    INSERT INTO pgfeed.changes (collection, op) VALUES (coll, 'x');
END
$$;

-- When a tracked table is dropped, forget it as untrack does. Event triggers
-- need a superuser; without one, a dropped table is still forgotten by the
-- tables view, its subscribers are told when pgfeed next reloads its
-- catalog, and track forgets it when it next runs.
--
-- Event triggers fire for every role's DDL, so the functions run as their
-- owner (SECURITY DEFINER, with a search_path only pg_catalog's names can
-- come from): run as the role issuing the command, they made every CREATE,
-- ALTER and DROP TABLE fail for roles with no access to the pgfeed schema.
CREATE FUNCTION pgfeed.on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_part    text;
    v_members text := pg_catalog.current_setting('pgfeed.members', true);
    v_mark    text := TG_TAG || '|' || pg_catalog.statement_timestamp() || '|';
BEGIN
    -- A partition's rows leave its tracked table with it, and are gone
    -- before this runs: unless that tracked table goes too, refuse. (The
    -- partition's triggers are listed among the dropped objects, with the
    -- table's schema and name.) Which tracked table a dropped partition
    -- belonged to is in what before_drop noted as this command began;
    -- where it noted nothing (a command it does not fire for), a partition
    -- may go along with any tracked table.
    IF NOT coalesce(pg_catalog.starts_with(v_members, v_mark), false) THEN
        v_members := NULL;
    END IF;
    SELECT pg_catalog.format('%I.%I', tb.address_names[1], tb.address_names[2]) INTO v_part
    FROM pg_event_trigger_dropped_objects() tb
    JOIN pg_event_trigger_dropped_objects() tg
      ON tg.object_type = 'trigger' AND tg.address_names[3] = 'pgfeed_capture_ins'
     AND tg.address_names[1:2] = tb.address_names
    WHERE tb.object_type = 'table'
      AND CASE WHEN v_members IS NULL THEN
              NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() o JOIN pgfeed.tracked t ON t.rel::oid = o.objid
                          WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0)
          ELSE
              EXISTS (SELECT FROM unnest(pg_catalog.string_to_array(substr(v_members, length(v_mark) + 1), ',')) m(pair)
                      WHERE pg_catalog.split_part(m.pair, ':', 1)::oid = tb.objid
                        AND NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() o
                                        WHERE o.objid = pg_catalog.split_part(m.pair, ':', 2)::oid
                                          AND o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0))
          END
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pgfeed cannot record the rows that dropping % removes from the partitioned table it tracks', v_part
            USING ERRCODE = 'object_in_use',
                  HINT = 'detach the partition first (its rows are recorded as deleted), then drop it';
    END IF;
    PERFORM pgfeed.forget(t.rel::oid, t.collection)
    FROM pg_event_trigger_dropped_objects() o
    JOIN pgfeed.tracked t ON t.rel::oid = o.objid
    WHERE o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0;
END
$$;

-- before_drop notes, as a command that may drop tables begins, which
-- tracked table each partition with capture triggers records into, for
-- on_drop: once the command has run, nothing tells which table a dropped
-- partition belonged to. The note, in the setting pgfeed.members, is the
-- command's tag and start, then "partition:table" pairs of oids.
CREATE FUNCTION pgfeed.before_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.set_config('pgfeed.members', TG_TAG || '|' || pg_catalog.statement_timestamp() || '|' || coalesce((
        SELECT pg_catalog.string_agg(g.tgrelid::text || ':' || t.rel::oid::text, ',')
        FROM pgfeed.tracked t
        JOIN pg_catalog.pg_proc p ON p.pronamespace = 'pgfeed'::regnamespace AND p.proname::text = t.fn || '_ins'
        JOIN pg_catalog.pg_trigger g ON g.tgfoid = p.oid
        WHERE g.tgrelid <> t.rel::oid), ''), true);
END
$$;

-- follow_partitions brings the triggers of the tracked partitioned table tbl
-- in line with its partitions after DDL: a partition that joined (created
-- by the command, listed in created, or attached) gets the triggers, and
-- the rows an attached one brings are recorded as created; a table that left
-- (detached) loses them, and its rows are recorded as deleted. As with
-- TRUNCATE, an older snapshot would miss rows committed since it was taken,
-- so that recording is refused outside READ COMMITTED.
CREATE FUNCTION pgfeed.follow_partitions(tbl regclass, created oid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_coll  text := (SELECT t.collection FROM pgfeed.tracked t WHERE t.rel = tbl);
    v_fns   oid[] := pgfeed.capture_functions(tbl);
    v_moved boolean := false;
    r       record;
BEGIN
    FOR r IN
        SELECT m.relid, 'c' AS op FROM pg_catalog.pg_partition_tree(tbl) m
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid = m.relid AND g.tgfoid = ANY (v_fns))
        UNION ALL
        SELECT DISTINCT g.tgrelid, 'd' FROM pg_catalog.pg_trigger g
        WHERE g.tgfoid = ANY (v_fns) AND g.tgrelid NOT IN (SELECT m.relid FROM pg_catalog.pg_partition_tree(tbl) m)
    LOOP
        IF r.op = 'c' AND r.relid = ANY (created) THEN
            PERFORM pgfeed.capture_on(tbl, r.relid);
            CONTINUE;
        END IF;
        IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'pgfeed cannot record the rows % % % under % isolation: rows committed after the transaction began would be missed',
                    r.relid::regclass, CASE r.op WHEN 'c' THEN 'brings to' ELSE 'takes from' END, tbl,
                    pg_catalog.current_setting('transaction_isolation')
                USING ERRCODE = 'feature_not_supported', HINT = 'attach or detach partitions in a READ COMMITTED transaction';
        END IF;
        PERFORM pgfeed.record_rows(r.relid, v_coll, r.op::"char");
        v_moved := true;
        IF r.op = 'c' THEN
            PERFORM pgfeed.capture_on(tbl, r.relid);
        ELSE
            EXECUTE format('DROP TRIGGER pgfeed_capture_ins ON %1$s; DROP TRIGGER pgfeed_capture_upd ON %1$s; '
                           'DROP TRIGGER pgfeed_capture_del ON %1$s; DROP TRIGGER pgfeed_capture_trunc ON %1$s', r.relid::regclass);
        END IF;
    END LOOP;
    IF v_moved THEN
        PERFORM pgfeed.wake();
    END IF;
END
$$;

-- A tracked table keeps what track checked and built its triggers on: the
-- ALTER TABLE or CREATE TABLE that would make it a partition or an
-- inheritance child, or an ordinary one a parent (see track), or change its
-- primary key or a key column's name (the update trigger pairs rows by
-- them), or make it or a partition of it unlogged, is refused. A tracked
-- partitioned table follows its partitions as they are created, attached
-- and detached. Only the tables the command touched are looked at.
CREATE FUNCTION pgfeed.on_alter() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r       record;
    v_rels  oid[];
    v_new   oid[];
BEGIN
    IF pg_catalog.current_setting('pgfeed.following', true) = 'on' THEN
        RETURN;
    END IF;
    SELECT array_agg(c.objid), coalesce(array_agg(c.objid) FILTER (WHERE c.command_tag = 'CREATE TABLE'), '{}')
    INTO v_rels, v_new
    FROM pg_catalog.pg_event_trigger_ddl_commands() c
    WHERE c.classid = 'pg_catalog.pg_class'::regclass;
    SELECT t.rel, i.inhrelid::regclass AS child, i.inhparent::regclass AS parent INTO r
    FROM pg_catalog.pg_inherits i
    JOIN pgfeed.tracked t ON t.rel::oid = i.inhrelid
      OR (t.rel::oid = i.inhparent AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.rel) = 'r')
    WHERE i.inhrelid = ANY (v_rels) OR i.inhparent = ANY (v_rels)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pgfeed tracks %, which cannot take part in inheritance or partitioning (% would be a child of %)', r.rel, r.child, r.parent
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('untrack it first: SELECT pgfeed.untrack(%L)', r.rel);
    END IF;
    SELECT t.rel, m.member INTO r
    FROM pgfeed.tracked t
    CROSS JOIN LATERAL (SELECT pgfeed.transient(t.rel) AS member) m
    WHERE t.rel::oid IN (SELECT coalesce(pg_catalog.pg_partition_root(x), x) FROM unnest(v_rels) x)
      AND m.member IS NOT NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pgfeed tracks %, and % would be unlogged: a crash would empty it without recording the rows it removed', r.rel, r.member
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('untrack it first: SELECT pgfeed.untrack(%L)', r.rel);
    END IF;
    SELECT t.rel, t.key, k.key AS now INTO r
    FROM pgfeed.tracked t
    CROSS JOIN LATERAL (SELECT pgfeed.primary_key(t.rel) AS key) k
    WHERE t.rel::oid = ANY (v_rels) AND k.key IS DISTINCT FROM t.key
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pgfeed tracks % by its primary key (%), which this would change to %', r.rel,
                pg_catalog.array_to_string(r.key, ', '), coalesce('(' || pg_catalog.array_to_string(r.now, ', ') || ')', 'none')
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('untrack it first, and track it again after: SELECT pgfeed.untrack(%L)', r.rel);
    END IF;
    PERFORM pgfeed.follow_partitions(t.rel, v_new)
    FROM pgfeed.tracked t
    WHERE t.rel::oid IN (SELECT pg_catalog.pg_partition_root(x) FROM unnest(v_rels) x);
END
$$;

DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        CREATE EVENT TRIGGER pgfeed_drop ON sql_drop EXECUTE FUNCTION pgfeed.on_drop();
        CREATE EVENT TRIGGER pgfeed_before_drop ON ddl_command_start
            WHEN TAG IN ('DROP TABLE', 'DROP FOREIGN TABLE', 'DROP SCHEMA', 'DROP OWNED', 'DROP EXTENSION')
            EXECUTE FUNCTION pgfeed.before_drop();
        CREATE EVENT TRIGGER pgfeed_alter ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
            EXECUTE FUNCTION pgfeed.on_alter();
    END IF;
END
$$;
