package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Session is a dedicated connection, for what must stay on one session:
// LISTEN, session-level advisory locks, and the steps of the sequencer that
// holds them. One goroutine owns it.
type Session struct {
	conn *pgx.Conn
}

// Listen opens a Session that LISTENs on the channels.
func (db *DB) Listen(ctx context.Context, channels ...string) (*Session, error) {
	s, err := db.connect(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	for _, ch := range channels {
		if _, err := s.conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			s.Close()
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	return s, nil
}

// Sequencer opens the Session on which an instance tries for the leader
// lock and, once it holds it, takes its steps. The server ends the session
// once it has been idle for lease (idle_session_timeout), or has had data
// unacknowledged by pgfeed's host for that long (tcp_user_timeout): so a
// leader that is frozen (a stopped process, a paused VM) or cut off from the
// database loses its locks within lease, and another instance takes over.
// Its owner must keep it busy meanwhile.
func (db *DB) Sequencer(ctx context.Context, lease time.Duration) (*Session, error) {
	ms := fmt.Sprint(lease.Milliseconds())
	s, err := db.connect(ctx, map[string]string{"idle_session_timeout": ms, "tcp_user_timeout": ms})
	if err != nil {
		return nil, fmt.Errorf("sequencer session: %w", err)
	}
	return s, nil
}

// connect opens a connection configured as the pool's, with the given
// settings on top.
func (db *DB) connect(ctx context.Context, settings map[string]string) (*Session, error) {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, setSQL(db.settings, settings)); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return &Session{conn: conn}, nil
}

// Unlisten stops listening on a channel. Notifications already received
// may still be returned by Wait.
func (s *Session) Unlisten(ctx context.Context, channel string) error {
	_, err := s.conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{channel}.Sanitize())
	return err
}

// Wait returns the next notification, or nil when none came within timeout.
// A timeout leaves the connection usable; any other error means the
// connection is gone and the Session must be closed.
func (s *Session) Wait(ctx context.Context, timeout time.Duration) (*pgconn.Notification, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := s.conn.WaitForNotification(wctx)
	if err != nil {
		if ctx.Err() == nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, nil
		}
		return nil, err
	}
	return n, nil
}

// TryLock tries to take a session-level advisory lock exclusively, without
// waiting; it is held until Unlock or until the session ends.
func (s *Session) TryLock(ctx context.Context, key int64) (bool, error) {
	var ok bool
	err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok)
	return ok, err
}

// Unlock releases a session-level advisory lock taken by TryLock.
func (s *Session) Unlock(ctx context.Context, key int64) error {
	_, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
	return err
}

// EndStuckHolder ends the session that holds the session-level advisory
// lock key when it has been blocked sending a statement's results for
// longer than after, since the statement began: its client has stopped
// reading. A frozen process connected over a unix socket leaves its session
// so, and neither idle_session_timeout (the session is not idle) nor
// tcp_user_timeout (there is no TCP) ends it, so it would keep the lock
// until the process resumed. It returns the ended session's process id, 0
// when there was none. Ending another role's session takes that role's
// rights or pg_signal_backend's.
func (s *Session) EndStuckHolder(ctx context.Context, key int64, after time.Duration) (int32, error) {
	var pid int32
	// pg_stat_activity is read first: pg_locks takes every lock partition,
	// and is read only when some session is stuck.
	err := s.conn.QueryRow(ctx, `
		WITH stuck AS MATERIALIZED (
			SELECT a.pid FROM pg_catalog.pg_stat_activity a
			WHERE a.datname = current_database() AND a.state = 'active' AND a.wait_event = 'ClientWrite'
			  AND a.query_start < now() - $2::bigint * interval '1 microsecond'
		)
		SELECT s.pid FROM stuck s
		WHERE EXISTS (SELECT FROM pg_catalog.pg_locks l
		              WHERE l.pid = s.pid AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		                AND l.classid = ($1::bigint >> 32)::oid AND l.objid = ($1::bigint & 4294967295)::oid)
		  AND pg_catalog.pg_terminate_backend(s.pid)`, key, after.Microseconds()).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return pid, err
}

// ReportsTimeline reports whether the server tells its timeline; where it
// does not (some managed services refuse the WAL functions), the sequencer
// makes no jump on a failover (see pgfeed.timeline).
func (s *Session) ReportsTimeline(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.conn.QueryRow(ctx, `SELECT pgfeed.timeline() IS NOT NULL`).Scan(&ok); err != nil {
		return false, wrapSchemaErr("read timeline", err)
	}
	return ok, nil
}

// Close closes the connection.
func (s *Session) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.conn.Close(ctx)
}
