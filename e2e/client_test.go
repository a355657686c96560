package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsClient is a plain WebSocket client speaking pgfeed's JSON protocol.
type wsClient struct {
	t    testing.TB
	conn net.Conn
}

func dial(t testing.TB, url string, header http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header)}
	conn, _, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(msg any) {
	c.t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(c.conn, b); err != nil {
		c.t.Fatalf("send %s: %v", b, err)
	}
}

// readRaw returns the next text message that is not a server ping (pings
// are answered with pong, as a live client does).
func (c *wsClient) readRaw(timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		c.conn.SetReadDeadline(deadline)
		b, op, err := wsutil.ReadServerData(c.conn)
		if err != nil {
			return nil, err
		}
		if op != ws.OpText {
			continue
		}
		var env struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &env) == nil && env.Type == "ping" {
			c.send(map[string]string{"type": "pong"})
			continue
		}
		return b, nil
	}
}

// read returns the next message, decoded.
func (c *wsClient) read(timeout time.Duration) map[string]any {
	c.t.Helper()
	b, err := c.readRaw(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("message %s is not a JSON object: %v", b, err)
	}
	return m
}

// expectClose reads until the server closes the connection and returns
// the close code and reason.
func (c *wsClient) expectClose(timeout time.Duration) (ws.StatusCode, string) {
	c.t.Helper()
	for {
		_, err := c.readRaw(timeout)
		if err == nil {
			continue
		}
		var ce wsutil.ClosedError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		c.t.Fatalf("connection ended without a close frame: %v", err)
	}
}

// jsonEqual compares a decoded value with the JSON text want.
func jsonEqual(t testing.TB, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s = %s, want %s", what, gb, wb)
	}
}
