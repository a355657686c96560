package ws

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var testSecret = []byte("test-secret")

// testEnv is a database with pgfeed installed, a server on a loopback port,
// and a pump that sequences the journal and publishes it to the server.
type testEnv struct {
	t    testing.TB
	url  string
	db   *store.DB
	srv  *Server
	addr string
}

// newEnv creates the database, runs setup (SQL creating and tracking
// tables), and starts a server with cfg.
func newEnv(t testing.TB, cfg Config, setup string) *testEnv {
	t.Helper()
	u, db := storetest.OpenMigrated(t, setup)
	if cfg.JWTSecret == nil {
		cfg.JWTSecret = testSecret
	}
	if cfg.AuthMode == "" {
		cfg.AuthMode = AuthPublic
	}
	srv, err := NewServer(cfg, cdc.Journal{DB: db}, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	e := &testEnv{t: t, url: u, db: db, srv: srv, addr: ln.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		e.pump(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := srv.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
		wg.Wait()
	})
	return e
}

// pump plays the role of the change stream: it sequences the journal and
// publishes what it reads, in order.
func (e *testEnv) pump(ctx context.Context) {
	j := cdc.Journal{DB: e.db}
	pos, err := e.db.Step(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.t.Errorf("pump: %v", err)
		}
		return
	}
	at, err := j.MarkAt(ctx, pos)
	if err != nil {
		if ctx.Err() == nil {
			e.t.Errorf("pump: %v", err)
		}
		return
	}
	e.srv.SetPosition(at)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := e.db.Step(ctx); err != nil {
			if ctx.Err() == nil {
				e.t.Errorf("pump step: %v", err)
			}
			return
		}
		for {
			batch, err := j.ReadAfter(ctx, pos, 100)
			if err != nil {
				if ctx.Err() == nil {
					e.t.Errorf("pump read: %v", err)
				}
				return
			}
			if len(batch) == 0 {
				break
			}
			e.srv.Publish(batch)
			pos = batch[len(batch)-1].Pos
		}
	}
}

func (e *testEnv) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Pool().Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("exec %q: %v", sql, err)
	}
}

// client is a minimal WebSocket client for tests.
type client struct {
	t       testing.TB
	nc      net.Conn
	br      *bufio.Reader
	mu      sync.Mutex   // serialises writes
	journal *cdc.Journal // to check cursors' tags against, when known
}

func (e *testEnv) dial(t testing.TB, header http.Header) *client {
	t.Helper()
	c, err := dialWS(e.addr, "/websocket", header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.t, c.journal = t, &cdc.Journal{DB: e.db}
	t.Cleanup(func() { c.nc.Close() })
	return c
}

func dialWS(addr, path string, header http.Header) (*client, error) {
	d := ws.Dialer{Timeout: 5 * time.Second}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	nc, br, _, err := d.Dial(context.Background(), "ws://"+addr+path)
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReader(nc)
	}
	return &client{nc: nc, br: br}, nil
}

func (c *client) send(msg string) {
	c.t.Helper()
	c.writeFrame(ws.NewTextFrame([]byte(msg)))
}

func (c *client) writeFrame(f ws.Frame) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteFrame(c.nc, ws.MaskFrame(f)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closeError is what next returns when the server closed the connection.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("closed %d %q", e.code, e.reason) }

// next returns the next text message, answering pings; a close frame comes
// back as *closeError.
func (c *client) next(timeout time.Duration) (string, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	for {
		f, err := readFrame(c.br)
		if err != nil {
			return "", err
		}
		switch f.Header.OpCode {
		case ws.OpText:
			return string(f.Payload), nil
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(f.Payload)
			return "", &closeError{code: int(code), reason: reason}
		case ws.OpPing:
			c.writeFrame(ws.NewPongFrame(f.Payload))
		}
	}
}

// read returns the next text message or fails the test, with the tags
// of its cursors checked and removed (see untag).
func (c *client) read() string {
	c.t.Helper()
	m, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return c.untag(m)
}

var cursorField = regexp.MustCompile(`"cursor":"(\d+(?:\.1)?)(?::([^"]*))?"`)

// untag checks the cursors in msg against the journal (when the client
// knows it): a cursor has the tag of the change at its position, and none
// where there is no change, unless it is the client's own cursor given
// back (init with "recovered":true). It returns msg with the tags removed,
// so that tests compare messages whose tags they cannot know.
func (c *client) untag(msg string) string {
	c.t.Helper()
	return cursorField.ReplaceAllStringFunc(msg, func(field string) string {
		m := cursorField.FindStringSubmatch(field)
		cur, err := parseCursor(m[1])
		if m[2] != "" {
			cur, err = parseCursor(m[1] + ":" + m[2])
		}
		if err != nil {
			c.t.Fatalf("cursor in %s: %v", msg, err)
		}
		if c.journal == nil || (m[2] == "" && strings.Contains(msg, `"recovered":true`)) {
			return `"cursor":"` + m[1] + `"`
		}
		marked := cur.marked()
		want, err := c.journal.MarkAt(context.Background(), marked.Pos)
		if err != nil {
			c.t.Fatalf("read the journal at %d: %v", marked.Pos, err)
		}
		if marked.Tag != want.Tag {
			c.t.Fatalf("cursor in %s: tag %d, want %d (that of the journal's change at %d)", msg, marked.Tag, want.Tag, marked.Pos)
		}
		return `"cursor":"` + m[1] + `"`
	})
}

// expect reads the next message and compares it byte for byte.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// expectPrefix reads the next message and checks its start.
func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	got := c.read()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got  %s\nwant a message starting with %s", got, prefix)
	}
	return got
}

// expectClose reads until the server's close frame and checks its code.
func (c *client) expectClose(code int) *closeError {
	c.t.Helper()
	for {
		m, err := c.next(5 * time.Second)
		var ce *closeError
		if errors.As(err, &ce) {
			if ce.code != code {
				c.t.Fatalf("close code %d (%q), want %d", ce.code, ce.reason, code)
			}
			return ce
		}
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
		_ = m
	}
}

// alive checks that the connection still answers a ping.
func (c *client) alive() {
	c.t.Helper()
	c.send(`{"type":"ping","uid":"alive"}`)
	c.expect(`{"type":"pong","uid":"alive"}`)
}

func token(t testing.TB, sub string, exp time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "role": "reader"}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func signed(sub string, secret []byte) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}).SignedString(secret)
}

// rawHTTP sends a raw HTTP request and returns the status line and body.
func rawHTTP(t testing.TB, addr, req string) (status int, body string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readFrame reads one server frame of at most 64 MiB.
func readFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	if h.Length > 64<<20 {
		return ws.Frame{}, fmt.Errorf("frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return ws.Frame{}, err
	}
	return ws.Frame{Header: h, Payload: p}, nil
}
