package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pgfeed/pgfeed/store"
)

// Config is everything pgfeed can be told, by flag or environment variable.
// A flag wins over its environment variable, which wins over the default.
type Config struct {
	DatabaseURL string // DATABASE_URL
	LogLevel    string // debug, info, warn, error
	LogFormat   string // auto, json, console

	Addr           string // HTTP and WebSocket listen address
	AuthMode       string // public, handshake, strict
	JWTSecret      string // HS256 secret for access tokens
	JWTPublicKey   string // PEM file of public keys for RS256, ES256, EdDSA... tokens
	JWKSURL        string // JSON Web Key Set URL of such keys
	TokenCookie    string // cookie that may carry a token at upgrade
	Permissions    string // file of what each role may read; empty: every client reads everything
	AllowedOrigins []string
	AuthTimeout    time.Duration
	Heartbeat      time.Duration
	MaxConns       int
	MaxFrameBytes  int64
	MaxSubsPerConn int
	QueueBytes     int
	RatePerSec     int
	Workers        int
	Snapshots      int // concurrent snapshot reads
	SnapshotLimit  int // default query.limit of an init snapshot
	MaxSnapshot    int // cap on query.limit
	Retention      time.Duration
	RetentionBytes int64 // bound on the journal's size; 0: none
	Poll           time.Duration
	LeaderTimeout  time.Duration // how long a frozen sequencing instance keeps the lead
	Name           string        // this instance's reader name in the journal
	ShutdownGrace  time.Duration

	DevDir    string // where `pgfeed dev` keeps its PostgreSQL cluster
	DevPGPort int    // TCP port of that cluster on 127.0.0.1; 0 picks a free one
}

// DefaultConfig is the configuration with nothing set.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		LogLevel:       "info",
		LogFormat:      "auto",
		Addr:           ":8101",
		AuthMode:       "handshake",
		TokenCookie:    "directus_session_token",
		AuthTimeout:    10 * time.Second,
		Heartbeat:      30 * time.Second,
		MaxConns:       100000,
		MaxFrameBytes:  64 << 10,
		MaxSubsPerConn: 100,
		QueueBytes:     4 << 20,
		RatePerSec:     100,
		SnapshotLimit:  100,
		MaxSnapshot:    1000,
		Retention:      24 * time.Hour,
		Poll:           250 * time.Millisecond,
		LeaderTimeout:  store.DefaultLease,
		Name:           fmt.Sprintf("%s-%d", host, os.Getpid()),
		ShutdownGrace:  10 * time.Second,
		DevDir:         ".pgfeed",
	}
}

// Validate checks the settings a command uses; serving says whether the
// server settings matter.
func (c *Config) Validate(serving bool) error {
	var errs []error
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log format %q: want auto, json or console", c.LogFormat))
	}
	if !serving {
		return errors.Join(errs...)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: want host:port, e.g. :8101", c.Addr))
	}
	switch c.AuthMode {
	case "public", "handshake", "strict":
	default:
		errs = append(errs, fmt.Errorf("auth mode %q: want public, handshake or strict", c.AuthMode))
	}
	if c.AuthMode != "public" && c.JWTSecret == "" && c.JWTPublicKey == "" && c.JWKSURL == "" {
		errs = append(errs, fmt.Errorf("auth mode %s needs a JWT secret (--jwt-secret or PGFEED_JWT_SECRET) or public keys (--jwt-public-key or --jwks-url); --auth-mode public serves without authentication", c.AuthMode))
	}
	if c.JWTPublicKey != "" && c.JWKSURL != "" {
		errs = append(errs, errors.New("give public keys by --jwt-public-key or by --jwks-url, not both"))
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("jwks url %q: want an http:// or https:// URL", c.JWKSURL))
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("allowed origin %q: want scheme://host[:port] or *", o))
		}
	}
	positive := []struct {
		name string
		ok   bool
	}{
		{"auth timeout", c.AuthTimeout > 0},
		{"heartbeat", c.Heartbeat > 0},
		{"max conns", c.MaxConns > 0},
		{"max frame bytes", c.MaxFrameBytes > 0},
		{"max subscriptions", c.MaxSubsPerConn > 0},
		{"queue bytes", c.QueueBytes > 0},
		{"rate", c.RatePerSec > 0},
		{"snapshot limit", c.SnapshotLimit > 0},
		{"retention", c.Retention > 0},
		{"poll", c.Poll > 0},
		{"leader timeout", c.LeaderTimeout > 0},
		{"shutdown grace", c.ShutdownGrace > 0},
	}
	for _, p := range positive {
		if !p.ok {
			errs = append(errs, fmt.Errorf("%s must be positive", p.name))
		}
	}
	if c.MaxSnapshot < c.SnapshotLimit {
		errs = append(errs, fmt.Errorf("max snapshot must be at least the snapshot limit (%d)", c.SnapshotLimit))
	}
	if c.LeaderTimeout > 0 && c.Poll > 0 && c.LeaderTimeout < 4*c.Poll {
		errs = append(errs, fmt.Errorf("leader timeout must be at least 4 times the poll (%v)", 4*c.Poll))
	}
	if c.Workers < 0 || c.Snapshots < 0 {
		errs = append(errs, errors.New("workers and snapshots must be 0 (the default) or more"))
	}
	if c.RetentionBytes < 0 {
		errs = append(errs, errors.New("retention bytes must be 0 (no bound, the default) or more"))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("name must not be empty"))
	}
	return errors.Join(errs...)
}

// flagSet registers flags on a flag.FlagSet, each taking its default from an
// environment variable when that is set. Bad environment values are kept
// and reported by Err, so that a typo never passes silently.
type flagSet struct {
	fs   *flag.FlagSet
	errs []error
}

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &flagSet{fs: fs}
}

func (f *flagSet) env(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

func (f *flagSet) usage(usage, env string) string {
	if env == "" {
		return usage
	}
	return usage + " [$" + env + "]"
}

func (f *flagSet) str(p *string, name, env, usage string) {
	if v, ok := f.env(env); ok {
		*p = v
	}
	f.fs.StringVar(p, name, *p, f.usage(usage, env))
}

func (f *flagSet) list(p *[]string, name, env, usage string) {
	if v, ok := f.env(env); ok {
		*p = splitList(v)
	}
	f.fs.Func(name, f.usage(usage, env)+" (comma-separated)", func(s string) error {
		*p = splitList(s)
		return nil
	})
}

func (f *flagSet) dur(p *time.Duration, name, env, usage string) {
	fromEnv(f, p, env, time.ParseDuration, "a duration such as 30s or 24h")
	f.fs.DurationVar(p, name, *p, f.usage(usage, env))
}

func (f *flagSet) int(p *int, name, env, usage string) {
	fromEnv(f, p, env, strconv.Atoi, "an integer")
	f.fs.IntVar(p, name, *p, f.usage(usage, env))
}

func (f *flagSet) int64(p *int64, name, env, usage string) {
	fromEnv(f, p, env, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }, "an integer")
	f.fs.Int64Var(p, name, *p, f.usage(usage, env))
}

// fromEnv sets *p from the environment variable env when it is set; a value
// parse refuses is kept for Err, described as want.
func fromEnv[T any](f *flagSet, p *T, env string, parse func(string) (T, error), want string) {
	v, ok := f.env(env)
	if !ok {
		return
	}
	x, err := parse(v)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("%s=%q: want %s", env, v, want))
		return
	}
	*p = x
}

// Err reports bad environment values.
func (f *flagSet) Err() error { return errors.Join(f.errs...) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// registerCommon adds the flags every command takes.
func (c *Config) registerCommon(f *flagSet) {
	f.str(&c.DatabaseURL, "database-url", "DATABASE_URL", "PostgreSQL connection string, postgres://user:password@host:5432/dbname")
	f.str(&c.LogLevel, "log-level", "PGFEED_LOG_LEVEL", "log level: debug, info, warn, error")
	f.str(&c.LogFormat, "log-format", "PGFEED_LOG_FORMAT", "log format: auto (console on a terminal, else JSON), json, console")
}

// registerServe adds the flags of `pgfeed serve` and `pgfeed dev`.
func (c *Config) registerServe(f *flagSet) {
	f.str(&c.Addr, "addr", "PGFEED_ADDR", "HTTP and WebSocket listen address")
	f.str(&c.AuthMode, "auth-mode", "PGFEED_AUTH_MODE", "authentication: public, handshake or strict")
	f.str(&c.JWTSecret, "jwt-secret", "PGFEED_JWT_SECRET", "HS256 secret that signs access tokens")
	f.str(&c.JWTPublicKey, "jwt-public-key", "PGFEED_JWT_PUBLIC_KEY", "PEM file of public keys (or certificates) that verify access tokens signed with RS256, PS256, ES256, EdDSA and kin")
	f.str(&c.JWKSURL, "jwks-url", "PGFEED_JWKS_URL", "URL of a JSON Web Key Set that verifies access tokens signed with RS256, PS256, ES256, EdDSA and kin (fetched at start, and again for a new key id)")
	f.str(&c.TokenCookie, "token-cookie", "PGFEED_TOKEN_COOKIE", "cookie that may carry an access token at upgrade")
	f.str(&c.Permissions, "permissions", "PGFEED_PERMISSIONS", "JSON file of what each role may read (collections, fields, rows); empty means every client reads every tracked table whole")
	f.list(&c.AllowedOrigins, "allowed-origins", "PGFEED_ALLOWED_ORIGINS", "origins allowed to open a WebSocket; empty means the server's own host, * means any")
	f.dur(&c.AuthTimeout, "auth-timeout", "PGFEED_AUTH_TIMEOUT", "time a client has to authenticate")
	f.dur(&c.Heartbeat, "heartbeat", "PGFEED_HEARTBEAT", "server ping period; a client silent for two periods is closed")
	f.int(&c.MaxConns, "max-conns", "PGFEED_MAX_CONNS", "maximum WebSocket connections")
	f.int64(&c.MaxFrameBytes, "max-frame-bytes", "PGFEED_MAX_FRAME_BYTES", "largest inbound frame; larger ones close the connection with 1009")
	f.int(&c.MaxSubsPerConn, "max-subscriptions", "PGFEED_MAX_SUBSCRIPTIONS", "subscriptions per connection")
	f.int(&c.QueueBytes, "queue-bytes", "PGFEED_QUEUE_BYTES", "outbound bytes queued per connection before it is closed as slow (1013)")
	f.int(&c.RatePerSec, "rate", "PGFEED_RATE", "messages per second a client may send")
	f.int(&c.Workers, "workers", "PGFEED_WORKERS", "goroutines serving readable sockets; 0 means 4 per CPU")
	f.int(&c.Snapshots, "snapshots", "PGFEED_SNAPSHOTS", "concurrent init snapshot reads (each takes two database connections); 0 means 2")
	f.int(&c.SnapshotLimit, "snapshot-limit", "PGFEED_SNAPSHOT_LIMIT", "rows in an init snapshot when query.limit is absent")
	f.int(&c.MaxSnapshot, "max-snapshot", "PGFEED_MAX_SNAPSHOT", "largest query.limit a client may ask for")
	f.dur(&c.Retention, "retention", "PGFEED_RETENTION", "how long the journal keeps changes for resuming clients")
	f.int64(&c.RetentionBytes, "retention-bytes", "PGFEED_RETENTION_BYTES", "bound on the journal's size: older changes beyond about the newest this many bytes of rows are pruned however young; 0 means no bound")
	f.dur(&c.Poll, "poll", "PGFEED_POLL", "fallback journal poll period when no wake-up arrives")
	f.dur(&c.LeaderTimeout, "leader-timeout", "PGFEED_LEADER_TIMEOUT", "how long the sequencing instance may be frozen or cut off from the database before another takes over, and a frozen instance's snapshot may hold up the others' steps")
	f.str(&c.Name, "name", "PGFEED_NAME", "this instance's name in pgfeed.readers")
	f.dur(&c.ShutdownGrace, "shutdown-grace", "PGFEED_SHUTDOWN_GRACE", "time to close clients on shutdown")
}

// registerDev adds the flags of `pgfeed dev`.
func (c *Config) registerDev(f *flagSet) {
	f.str(&c.DevDir, "dir", "PGFEED_DEV_DIR", "folder for the development PostgreSQL cluster (used when DATABASE_URL is empty)")
	f.int(&c.DevPGPort, "pg-port", "PGFEED_DEV_PG_PORT", "TCP port of the development cluster on 127.0.0.1; 0 picks a free one")
}
