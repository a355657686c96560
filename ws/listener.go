package ws

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gobwas/ws"
)

const (
	wsPath           = "/websocket"
	handshakeTimeout = 10 * time.Second
)

// handshake reads the request line of a new connection: /websocket is
// upgraded here, without net/http; any other path goes to the HTTP server.
func (s *Server) handshake(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(nc, 4096)
	line, err := peekLine(br)
	if err != nil {
		nc.Close()
		return
	}
	if requestPath(line) != wsPath {
		_ = nc.SetDeadline(time.Time{})
		select {
		case s.httpConns <- &peekedConn{Conn: nc, r: br}:
		case <-s.ctx.Done():
			nc.Close()
		}
		return
	}
	s.upgrade(nc, br)
}

// peekLine returns the first line of the request without consuming it.
func peekLine(br *bufio.Reader) ([]byte, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	for {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i], nil
		}
		if len(b) >= br.Size() {
			return nil, bufio.ErrBufferFull
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return nil, err
		}
	}
}

// requestPath returns the path of a request line "GET /path?query HTTP/1.1".
func requestPath(line []byte) string {
	_, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return ""
	}
	target, _, _ := bytes.Cut(rest, []byte{' '})
	target, _, _ = bytes.Cut(target, []byte{'?'})
	return string(target)
}

// upgradeRequest collects what the upgrade checks need from the request.
type upgradeRequest struct {
	host, origin string
	token        string
}

func reject(status int, reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

func (s *Server) upgrade(nc net.Conn, br *bufio.Reader) {
	var req upgradeRequest
	var claims *tokenClaims
	counted := false
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if _, q, ok := bytes.Cut(uri, []byte{'?'}); ok {
				if v, err := url.ParseQuery(string(q)); err == nil && v.Get("access_token") != "" {
					req.token = v.Get("access_token")
				}
			}
			return nil
		},
		OnHost: func(host []byte) error {
			req.host = string(host)
			return nil
		},
		OnHeader: func(key, value []byte) error {
			switch {
			case bytes.EqualFold(key, []byte("Origin")):
				req.origin = string(value)
			case bytes.EqualFold(key, []byte("Authorization")) && req.token == "":
				if len(value) > 7 && strings.EqualFold(string(value[:7]), "bearer ") {
					req.token = strings.TrimSpace(string(value[7:]))
				}
			case bytes.EqualFold(key, []byte("Cookie")) && req.token == "":
				req.token = cookieValue(string(value), s.cfg.TokenCookie)
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if !s.originAllowed(req.origin, req.host) {
				return nil, reject(http.StatusForbidden, "origin not allowed")
			}
			if req.token != "" {
				if cl, err := s.verifyToken(req.token); err == nil {
					claims = cl
				}
			}
			if s.cfg.AuthMode == AuthStrict && claims == nil {
				return nil, reject(http.StatusUnauthorized, "a valid access token is required")
			}
			if !s.connAdded() {
				return nil, reject(http.StatusServiceUnavailable, "too many connections")
			}
			counted = true
			return nil, nil
		},
	}
	_, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{br, nc})
	if err != nil {
		s.stats.rejected.Add(1)
		if counted {
			s.connDone()
		}
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c, err := newConn(s, nc)
	if err != nil {
		s.log.Error().Err(err).Msg("serve connection")
		s.connDone()
		nc.Close()
		return
	}
	c.start(claims)
	if err := s.poller.add(c); err != nil {
		s.log.Error().Err(err).Msg("serve connection")
		c.shutdown()
		return
	}
	if s.ctx.Err() != nil {
		c.closeWith(closeGoingAway, "server shutting down")
	}
}

// originAllowed checks the Origin header against the allow-list; with no
// list, only the request's own host (any scheme) may connect. Requests
// without Origin (not from a browser) are allowed.
func (s *Server) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	if len(s.cfg.AllowedOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, host)
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func cookieValue(header, name string) string {
	for _, part := range strings.Split(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return v
		}
	}
	return ""
}

// peekedConn is a connection whose first bytes sit in a bufio.Reader.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener feeds the HTTP server the connections handshake routed to it.
type chanListener struct{ s *Server }

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.httpConns:
		return c, nil
	case <-l.s.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error { return nil }

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// routeHTTP serves non-WebSocket paths with h. A WebSocket upgrade that
// arrives on a kept-alive HTTP connection is taken over and upgraded as if
// it had come on a new connection.
func (s *Server) routeHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wsPath {
			h.ServeHTTP(w, r)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot upgrade this connection", http.StatusBadRequest)
			return
		}
		nc, rw, err := hj.Hijack()
		if err != nil {
			return
		}
		var head bytes.Buffer
		head.WriteString(r.Method + " " + r.URL.RequestURI() + " " + r.Proto + "\r\nHost: " + r.Host + "\r\n")
		_ = r.Header.Write(&head)
		head.WriteString("\r\n")
		br := bufio.NewReaderSize(io.MultiReader(&head, rw.Reader), 4096)
		_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
		s.upgrade(nc, br)
	})
}
