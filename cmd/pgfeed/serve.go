package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/ws"
	"github.com/rs/zerolog"
)

// serveHooks lets `pgfeed dev` add routes and learn the listen address.
type serveHooks struct {
	routes   func(db *store.DB) map[string]http.Handler
	listened func(addr net.Addr)
}

// serve runs the WebSocket server and the change stream over the database at
// dbURL until ctx ends, then closes every client with 1001 and stops.
func (m *Main) serve(ctx context.Context, dbURL string, hooks *serveHooks) error {
	c := m.Config
	perms, err := loadPermissions(c.Permissions)
	if err != nil {
		return err
	}
	keys, err := m.loadKeys(ctx)
	if err != nil {
		return err
	}
	db, err := m.openDB(ctx, dbURL)
	if err != nil {
		return err
	}
	db.OnNotice(func(n *pgconn.Notice) {
		level := zerolog.InfoLevel
		if n.Severity == "WARNING" {
			level = zerolog.WarnLevel
		}
		m.log.WithLevel(level).Str("component", "postgres").Str("detail", n.Detail).Msg(n.Message)
	})
	tables, err := db.Tables(ctx)
	if err != nil {
		return err
	}
	limits := query.Limits{DefaultLimit: c.SnapshotLimit, MaxLimit: c.MaxSnapshot}
	if err := m.checkPermissions(perms, tables, limits); err != nil {
		return fmt.Errorf("%s: %w", c.Permissions, err)
	}
	if ok, err := db.FoldsUnicode(ctx); err != nil {
		return err
	} else if !ok {
		m.log.Warn().Msg("the database has no C.utf8 collation: case-insensitive filters (_icontains and friends) fold ASCII letters only")
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	reg := newRegistry()
	var extra map[string]http.Handler
	if hooks != nil && hooks.routes != nil {
		extra = hooks.routes(db)
	}
	var stream *cdc.Stream // set below, before Serve accepts the first request
	srv, err := ws.NewServer(ws.Config{
		AuthMode:       c.AuthMode,
		JWTSecret:      []byte(c.JWTSecret),
		JWTKeys:        keys,
		TokenCookie:    c.TokenCookie,
		AllowedOrigins: c.AllowedOrigins,
		AuthTimeout:    c.AuthTimeout,
		Heartbeat:      c.Heartbeat,
		MaxConns:       c.MaxConns,
		MaxFrameBytes:  c.MaxFrameBytes,
		MaxSubsPerConn: c.MaxSubsPerConn,
		QueueBytes:     c.QueueBytes,
		RatePerSec:     c.RatePerSec,
		Workers:        c.Workers,
		Snapshots:      c.Snapshots,
		HTTP:           newHandler(readyFunc(func() bool { return stream != nil && stream.Ready() }), reg, extra),
		Limits:         limits,
		Permissions:    perms,
	}, cdc.Journal{DB: db}, m.log)
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	registerServerStats(reg, srv)
	stream = cdc.NewStream(db, newStreamMetrics(reg, srv), cdc.Options{
		Name:           c.Name,
		StartAtHead:    true,
		Poll:           c.Poll,
		Lease:          c.LeaderTimeout,
		Retention:      c.Retention,
		RetentionBytes: c.RetentionBytes,
		Logger:         m.log,
	})
	registerStreamState(reg, stream)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(4)
	go func() {
		defer wg.Done()
		watchCapture(ctx, db, m.log, captureEvery)
	}()
	go func() {
		defer wg.Done()
		m.reloadOnHangup(ctx, db, srv, limits)
	}()
	go func() {
		defer wg.Done()
		if err := stream.Run(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("change stream: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("serve: %w", err)
		}
	}()
	m.log.Info().Str("component", "http").Str("addr", ln.Addr().String()).
		Str("auth_mode", c.AuthMode).Msg("listening")
	if hooks != nil && hooks.listened != nil {
		hooks.listened(ln.Addr())
	}
	if m.OnListen != nil {
		m.OnListen(ln.Addr())
	}

	var runErr error
	select {
	case <-ctx.Done():
		m.log.Info().Msg("shutting down")
	case runErr = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer scancel()
	closeErr := srv.Close(sctx)
	cancel()
	wg.Wait()
	if runErr == nil && closeErr != nil && !errors.Is(closeErr, context.Canceled) {
		runErr = fmt.Errorf("close server: %w", closeErr)
	}
	return runErr
}

// loadPermissions reads the permissions file at path; none (nil) when path
// is empty.
func loadPermissions(path string) (*ws.Permissions, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	p, err := ws.ParsePermissions(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// reloadOnHangup reads the permissions file again on every SIGHUP until
// ctx ends, and gives the server the new rules once they pass the checks
// of the start; with an error it logs it and keeps the rules it has.
func (m *Main) reloadOnHangup(ctx context.Context, db *store.DB, srv *ws.Server, limits query.Limits) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	path := m.Config.Permissions
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if path == "" {
			m.log.Info().Msg("SIGHUP: there is no permissions file to read again (--permissions)")
			continue
		}
		perms, err := loadPermissions(path)
		if err == nil {
			var tables []query.Table
			if tables, err = db.Tables(ctx); err == nil {
				err = m.checkPermissions(perms, tables, limits)
			}
		}
		if err != nil {
			m.log.Error().Err(err).Str("file", path).Msg("SIGHUP: the permissions were not reloaded; the rules in use stay")
			continue
		}
		srv.SetPermissions(perms)
		m.log.Info().Str("file", path).Msg("permissions reloaded")
	}
}

// checkPermissions checks the rules against the tracked tables, and warns
// of the collections they name that are not tracked.
func (m *Main) checkPermissions(perms *ws.Permissions, tables []query.Table, limits query.Limits) error {
	untracked, err := perms.Check(tables, limits)
	if err != nil {
		return err
	}
	if len(untracked) > 0 {
		m.log.Warn().Strs("collections", untracked).Msg("the permissions name collections that are not tracked; their rules apply once they are")
	}
	return nil
}

// loadKeys reads the public keys that verify access tokens, from the PEM
// file or the JWKS URL; none (nil) when neither is set.
func (m *Main) loadKeys(ctx context.Context) (*ws.KeySet, error) {
	c := m.Config
	switch {
	case c.JWTPublicKey != "":
		data, err := os.ReadFile(c.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("jwt public key: %w", err)
		}
		keys, err := ws.ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("jwt public key %s: %w", c.JWTPublicKey, err)
		}
		return keys, nil
	case c.JWKSURL != "":
		return ws.FetchJWKS(ctx, c.JWKSURL, nil, m.log)
	}
	return nil, nil
}

type readyFunc func() bool

func (f readyFunc) Ready() bool { return f() }
