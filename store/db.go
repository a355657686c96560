package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a pool of connections to the application's database.
type DB struct {
	pool   *pgxpool.Pool
	url    string
	notice atomic.Pointer[func(*pgconn.Notice)]
	// settings are what every session SETs once connected (see Open),
	// by name.
	settings map[string]string
	// A snapshot takes the step lock, which every instance's steps wait
	// for, with stepLock, and gives it back with stepUnlock. Should this
	// process freeze while it holds it, the server ends the session once
	// it has been idle for the lease (in the transaction, see Open), and so
	// releases the lock; stepUnlock restores the pool's idle timeout (SET
	// at connect, else the URL's).
	stepLock, stepUnlock string
}

// DefaultLease is the lease Open gives a DB when given none.
const DefaultLease = 10 * time.Second

// Open connects to the database at url and checks that it answers.
//
// lease (DefaultLease when 0) bounds what a frozen pgfeed process (a
// stopped process, a paused VM) costs the database: a session of the pool
// whose transaction stays idle that long, or whose data stays
// unacknowledged by pgfeed's host that long (its socket's buffers full),
// is ended by the server, and with it the locks and the snapshot it held.
// A snapshot's read, frozen, would otherwise keep its table locked
// against ALTER TABLE (and every query queued behind that) and hold back
// vacuum, and a LISTEN session would keep the notification queue from
// being truncated.
func Open(ctx context.Context, url string, lease time.Duration) (*DB, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redact(err))
	}
	if !strings.Contains(url, "pool_max_conns") {
		// The stream holds up to two of the pool's connections (its
		// reader, the sequencer's look for other readers), besides its own
		// sessions (LISTEN, sequencer), and each snapshot two, so pgx's
		// default (4 or the CPU count) would make them wait for each other.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "pgfeed"
	// Every other setting is SET once connected (see DB.settings): a pooler
	// in session mode (PgBouncer) refuses most settings in the startup
	// packet, and would refuse the connection.
	settings := map[string]string{
		// Snapshots render rows as the capture functions do (see
		// pgfeed.output_settings), whatever the database or role sets:
		// floats exact, bytea as hex, intervals in the postgres style.
		"extra_float_digits": "1",
		"bytea_output":       "hex",
		"intervalstyle":      "postgres",
		// The journal holds every row a statement changed, whatever
		// row-level security would let pgfeed's role see: a snapshot that
		// a policy filtered would disagree with the stream. With
		// row_security off, such a read fails instead (pgfeed's role needs
		// BYPASSRLS, or to own the table, to read it).
		"row_security": "off",
		// pgfeed's statements are short; JIT compiling them costs more
		// than running them.
		"jit": "off",
		// A step must take its snapshot after the step lock (see
		// pgfeed.step_read): under a stricter default isolation its
		// statement would take it before, and after another step committed
		// meanwhile it failed to serialize. Transactions that need more ask
		// for it.
		"default_transaction_isolation": "read committed",
	}
	// Timeouts set on the database or role for the application give way,
	// unless the URL sets them: to the lease for idle transactions and
	// unacknowledged data (see above), and to none for statements and idle
	// sessions. A statement_timeout would stop the stream for good: a step
	// stamps everything committed since the last one in one statement, so
	// a step over a backlog can outlast any limit, every time it is
	// retried (pgfeed bounds what clients make it run, the subscribe
	// timeout, itself). An idle_session_timeout would end the LISTEN
	// connection, which waits without a statement, and the pool's spare
	// connections (the sequencer's session sets its own, see
	// DB.Sequencer).
	ms := fmt.Sprint(lease.Milliseconds())
	for name, value := range map[string]string{"statement_timeout": "0", "idle_session_timeout": "0",
		"idle_in_transaction_session_timeout": ms, "tcp_user_timeout": ms} {
		if _, ok := cfg.ConnConfig.RuntimeParams[name]; !ok {
			settings[name] = value
		}
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, setSQL(settings, nil))
		return err
	}
	// A step returns its journal rows at once, often hundreds of kilobytes:
	// reading them through a 64 KiB buffer takes fewer system calls than
	// pgx's 8 KiB one (9% less CPU for pgfeed following 100-row statements).
	cfg.ConnConfig.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, 64<<10), w)
	}
	restore := "RESET idle_session_timeout" // the URL's
	if v, ok := settings["idle_session_timeout"]; ok {
		restore = setSQL(map[string]string{"idle_session_timeout": v}, nil)
	}
	db := &DB{url: url, settings: settings,
		stepLock:   setSQL(map[string]string{"idle_session_timeout": ms}, nil) + `SELECT pg_advisory_lock(pgfeed.lock_key())`,
		stepUnlock: `SELECT pg_advisory_unlock(pgfeed.lock_key()); ` + restore}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if f := db.notice.Load(); f != nil {
			(*f)(n)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	db.pool = pool
	return db, nil
}

// setSQL returns the statements that SET settings, and extra over them:
// statement_timeout first, so that the database's or role's own limit
// covers no more than that one statement, then in name order.
func setSQL(settings, extra map[string]string) string {
	all := maps.Clone(settings)
	maps.Copy(all, extra)
	names := slices.Sorted(maps.Keys(all))
	if i := slices.Index(names, "statement_timeout"); i > 0 {
		names = slices.Insert(slices.Delete(names, i, i+1), 0, "statement_timeout")
	}
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "SET %s = '%s'; ", name, strings.ReplaceAll(all[name], "'", "''"))
	}
	return b.String()
}

// OnNotice makes f receive the notices and warnings the server sends on the
// pool's connections: pgfeed's functions raise a warning when they change
// what readers will see (a journal restored from another cluster, see
// pgfeed.adopt_restored). f must not block.
func (db *DB) OnNotice(f func(*pgconn.Notice)) { db.notice.Store(&f) }

// Pool is the underlying pgx pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// URL is the connection string the DB was opened with.
func (db *DB) URL() string { return db.url }

// Close closes every connection.
func (db *DB) Close() { db.pool.Close() }

// redact drops the connection string pgx may quote in a parse error, since it
// can hold a password.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New(pe.Error())
	}
	return err
}

// IsUnavailable reports whether err means the database could not be reached
// or went away (as opposed to a statement error); callers retry these.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01..57P03: admin shutdown,
		// crash shutdown, cannot connect now.
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, net.ErrClosed)
}

// IsInsufficientPrivilege reports whether err is PostgreSQL refusing a
// statement for lack of rights (SQLSTATE 42501).
func IsInsufficientPrivilege(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
