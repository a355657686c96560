package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listener is a dedicated connection that LISTENs on channels and holds
// session-level advisory locks. One goroutine owns it.
type Listener struct {
	conn *pgx.Conn
}

// Listen opens a dedicated connection and LISTENs on the channels.
func (db *DB) Listen(ctx context.Context, channels ...string) (*Listener, error) {
	cfg := db.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	return &Listener{conn: conn}, nil
}

// Unlisten stops listening on a channel. Notifications already received
// may still be returned by Wait.
func (l *Listener) Unlisten(ctx context.Context, channel string) error {
	_, err := l.conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{channel}.Sanitize())
	return err
}

// Wait returns the next notification, or nil when none came within timeout.
// A timeout leaves the connection usable; any other error means the
// connection is gone and the Listener must be closed.
func (l *Listener) Wait(ctx context.Context, timeout time.Duration) (*pgconn.Notification, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n, err := l.conn.WaitForNotification(wctx)
	if err != nil {
		if ctx.Err() == nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, nil
		}
		return nil, err
	}
	return n, nil
}

// TryLock tries to take a session-level advisory lock exclusively on the
// listener's connection, without waiting; it is held until Unlock or until
// the connection closes.
func (l *Listener) TryLock(ctx context.Context, key int64) (bool, error) {
	var ok bool
	err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok)
	return ok, err
}

// Unlock releases a session-level advisory lock taken by TryLock.
func (l *Listener) Unlock(ctx context.Context, key int64) error {
	_, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
	return err
}

// Close closes the connection.
func (l *Listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return l.conn.Close(ctx)
}
