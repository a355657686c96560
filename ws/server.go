package ws

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/rs/zerolog"
)

// Server serves the WebSocket protocol on listeners given to Serve and fans
// out the changes given to Publish.
type Server struct {
	cfg     Config
	methods []string // token signing methods with a key (see tokenMethods)
	perms   atomic.Pointer[Permissions]
	backend Backend
	log     zerolog.Logger

	poller  *poller
	flushq  chan *conn
	hub     *hub
	catalog *catalog
	snaps   chan struct{} // semaphore for concurrent snapshots

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server started

	httpConns chan net.Conn
	httpSrv   *http.Server
	stopWrite chan struct{} // closed when every connection is gone

	mu        sync.Mutex
	listeners []net.Listener
	closed    bool
	closeErr  error
	conns     atomic.Int64
	connsDone sync.Cond // signalled when conns drops

	stats counters
}

var _ cdc.Sink = (*Server)(nil)

// Stats are the server's counters, for metrics.
type Stats struct {
	Conns         int64 // open WebSocket connections
	Subscriptions int64 // live and starting subscriptions
	Changes       int64 // changes published
	Delivered     int64 // frames queued to clients
	SlowClosed    int64 // connections closed because their queue overflowed
	Rejected      int64 // upgrades refused (400, 401, 403, 503)
	Position      int64 // stream position of the last published change
	Queued        int64 // connections with outbound frames not yet written
	// Errors counts the error replies sent, by code, in the order of
	// ErrorCodes.
	Errors [len(ErrorCodes)]int64
}

type counters struct {
	changes, delivered, slowClosed, rejected, subs atomic.Int64
	queued                                         atomic.Int64 // connections with frames waiting for a writer
	errors                                         [len(ErrorCodes)]atomic.Int64
}

// NewServer starts the event loop, the workers and the writers. Serve
// accepts connections; Close stops everything.
func NewServer(cfg Config, b Backend, log zerolog.Logger) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := newPoller(cfg.Workers * 4)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		methods:   tokenMethods(&cfg),
		backend:   b,
		log:       log.With().Str("component", "ws").Logger(),
		poller:    p,
		flushq:    make(chan *conn, cfg.MaxConns+cfg.Workers+64),
		catalog:   newCatalog(b),
		snaps:     make(chan struct{}, cfg.Snapshots),
		httpConns: make(chan net.Conn),
		stopWrite: make(chan struct{}),
	}
	s.connsDone.L = &s.mu
	s.perms.Store(cfg.Permissions)
	s.hub = newHub(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := p.run(); err != nil {
			s.log.Error().Err(err).Msg("event loop stopped")
		}
	}()
	for i := 0; i < cfg.Workers; i++ {
		s.wg.Add(2)
		go s.reader()
		go s.writer()
	}
	s.wg.Add(1)
	go s.heartbeat()

	handler := cfg.HTTP
	if handler == nil {
		handler = http.NotFoundHandler()
	}
	s.httpSrv = &http.Server{
		Handler:           s.routeHTTP(handler),
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          stdlog.New(s.log, "http: ", 0),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.httpSrv.Serve(&chanListener{s: s})
	}()
	return s, nil
}

// reader serves readable connections.
func (s *Server) reader() {
	defer s.wg.Done()
	buf := make([]byte, 0, 32<<10)
	for c := range s.poller.ready {
		c.readable(buf)
	}
}

// writer flushes connection queues.
func (s *Server) writer() {
	defer s.wg.Done()
	for {
		select {
		case c := <-s.flushq:
			c.flush()
		case <-s.stopWrite:
			return
		}
	}
}

// Publish fans a batch of changes out to subscribers. It never waits for a
// client. It implements cdc.Sink.
func (s *Server) Publish(batch []cdc.Change) { s.hub.publish(batch) }

// SetPosition tells the server the stream position it starts after, and
// the tag of the change there. Subscriptions wait for it.
func (s *Server) SetPosition(at cdc.Mark) { s.hub.setPosition(at) }

// Stats returns the current counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Conns:         s.conns.Load(),
		Subscriptions: s.stats.subs.Load(),
		Changes:       s.stats.changes.Load(),
		Delivered:     s.stats.delivered.Load(),
		SlowClosed:    s.stats.slowClosed.Load(),
		Rejected:      s.stats.rejected.Load(),
		Position:      s.hub.position(),
		Queued:        s.stats.queued.Load(),
	}
	for i := range st.Errors {
		st.Errors[i] = s.stats.errors[i].Load()
	}
	return st
}

// ErrServerClosed is returned by Serve when the server was closed before it
// started.
var ErrServerClosed = errors.New("ws: server closed")

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handshake(nc)
		}()
	}
}

// connAdded counts a new connection unless the limit is reached.
func (s *Server) connAdded() bool {
	if s.conns.Add(1) > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		return false
	}
	return true
}

func (s *Server) connDone() {
	s.conns.Add(-1)
	s.mu.Lock()
	s.connsDone.Broadcast()
	s.mu.Unlock()
}

// Close closes the listeners, sends every client a close frame with 1001,
// waits for them to go (at most until ctx ends), and stops every goroutine.
// It is idempotent and returns the first error.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	s.closed = true
	s.cancel()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()

	s.poller.each(func(c *conn) { c.closeWith(closeGoingAway, "server shutting down") })
	// Wait for clients to be written their close frames (bounded by the
	// close grace period of each socket and by ctx).
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.conns.Load() > 0 && ctx.Err() == nil {
			s.connsDone.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.poller.each(func(c *conn) { c.shutdown() })
		s.mu.Lock()
		s.connsDone.Broadcast()
		s.mu.Unlock()
		<-done
	}
	if e := s.httpSrv.Shutdown(ctx); e != nil && err == nil {
		err = e
	}
	s.poller.close()
	close(s.stopWrite)
	s.wg.Wait()
	s.poller.release()
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}
