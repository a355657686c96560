package ws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
	"github.com/pgfeed/pgfeed/store"
)

// Auth modes (PROTOCOL.md "Authentication").
const (
	AuthPublic    = "public"
	AuthHandshake = "handshake"
	AuthStrict    = "strict"
)

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	AuthMode       string        // "public", "handshake" (default) or "strict"
	JWTSecret      []byte        // HS256 secret; tokens carry "sub" (or "id") and "role"
	JWTKeys        *KeySet       // public keys for RS256, ES256, EdDSA and kin; nil: none
	TokenCookie    string        // cookie holding a token at upgrade; default "directus_session_token"
	AllowedOrigins []string      // empty: the request's own host only (no Origin header is allowed); "*": any
	AuthTimeout    time.Duration // handshake mode: the first message must be auth within it; default 1s
	Heartbeat      time.Duration // server ping period; no client message within the next period closes; default 30s
	MaxConns       int           // default 100000; beyond it upgrades get 503
	MaxFrameBytes  int64         // largest inbound message; default 1 MiB; larger closes with 1009
	MaxSubsPerConn int           // default 100; beyond it LIMIT_EXCEEDED
	QueueBytes     int           // outbound bytes waiting per connection; default 4 MiB; a frame queued at the bound closes with 1013
	RatePerSec     int           // inbound messages per second per connection (burst 2x); default 100
	Workers        int           // goroutines serving readable sockets; default GOMAXPROCS*4
	Snapshots      int           // concurrent snapshot reads; default 2 (each takes two database connections)
	HTTP           http.Handler  // serves every path but /websocket; nil answers 404
	Limits         query.Limits
	Permissions    *Permissions // what each role may read; nil: every role reads every tracked collection whole
}

// Backend is what the server needs of the database. cdc.Journal implements it.
type Backend interface {
	// Tables lists the tracked tables.
	Tables(ctx context.Context) ([]query.Table, error)
	// Snapshot reads rows of t matching where (SQL over alias t with bind
	// args) and the stream position they were read at.
	Snapshot(ctx context.Context, t *query.Table, where string, args []any, orderBy string, limit, offset int) (rows [][]byte, at cdc.Mark, err error)
	// ReadAfter returns the changes after a position, from at most maxTx
	// transactions, in stream order; it may stop inside a large
	// transaction, and a read from its last change goes on from there.
	ReadAfter(ctx context.Context, after int64, maxTx int) ([]cdc.Change, error)
	// Resumable reports whether the journal holds every change after
	// position since, and the change marked is still the one a client's
	// cursor names, so that the client can resume from it.
	Resumable(ctx context.Context, since int64, marked cdc.Mark) (bool, error)
}

var _ Backend = cdc.Journal{}

func (c *Config) setDefaults() {
	if c.AuthMode == "" {
		c.AuthMode = AuthHandshake
	}
	if c.TokenCookie == "" {
		c.TokenCookie = "directus_session_token"
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 100000
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 1 << 20
	}
	if c.MaxSubsPerConn <= 0 {
		c.MaxSubsPerConn = 100
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 4 << 20
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = 100
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0) * 4
	}
	if c.Snapshots <= 0 {
		c.Snapshots = 2
	}
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	switch c.AuthMode {
	case AuthPublic, AuthHandshake, AuthStrict:
	default:
		return fmt.Errorf("auth mode %q: want public, handshake or strict", c.AuthMode)
	}
	if c.AuthMode != AuthPublic && len(c.JWTSecret) == 0 && c.JWTKeys == nil {
		return fmt.Errorf("auth mode %s needs a JWT secret or public keys", c.AuthMode)
	}
	return nil
}

// isUnavailable reports whether err means the database could not be reached.
func isUnavailable(err error) bool {
	return store.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded)
}
