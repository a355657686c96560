package ws

import (
	"bytes"
	"context"
	"testing"

	"github.com/gobwas/ws"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
	"github.com/rs/zerolog"
)

// memBackend serves one fixed table without a database.
type memBackend struct{ t query.Table }

func (b *memBackend) Tables(context.Context) ([]query.Table, error) {
	return []query.Table{b.t}, nil
}

func (b *memBackend) Snapshot(context.Context, *query.Table, string, []any, string, int, int) ([][]byte, cdc.Mark, error) {
	return [][]byte{[]byte(`{"id":1,"name":"a","qty":2}`)}, cdc.Mark{}, nil
}

func (b *memBackend) ReadAfter(context.Context, int64, int) ([]cdc.Change, error) { return nil, nil }

func (b *memBackend) Resumable(context.Context, int64, cdc.Mark) (bool, error) { return true, nil }

func fuzzServer(f *testing.F) *Server {
	b := &memBackend{t: query.Table{Collection: "items", Schema: "public", Name: "items", Key: []string{"id"},
		Columns: []query.Column{{Name: "id", Type: "int4"}, {Name: "name", Type: "text"}, {Name: "qty", Type: "int4"}}}}
	srv, err := NewServer(Config{AuthMode: AuthPublic, RatePerSec: 1 << 30}, b, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	srv.SetPosition(cdc.Mark{})
	f.Cleanup(func() { srv.Close(context.Background()) })
	return srv
}

// fuzzConn is a connection without a socket whose queue no writer drains.
func fuzzConn(srv *Server) *conn {
	srv.connAdded()
	return &conn{s: srv, subs: map[string]*subscription{}, tokens: 1e9, flushing: true}
}

// FuzzMessage feeds arbitrary text messages to a connection: none may
// panic, and every one that is not a pong gets an answer.
func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","collection":"items","query":{"fields":"id,name","filter":{"qty":{"_gt":1}}},"uid":1}`,
		`{"type":"subscribe","collection":"items","item":1,"event":"update","old":true,"since":"0"}`,
		`{"type":"unsubscribe","uid":"x"}`, `{"type":"auth","access_token":"a.b.c"}`, `{"type":"ping","uid":[1]}`,
		`{"type":"pong"}`, `[]`, `nul`, `{"type":"subscribe","collection":"items","query":"{\"filter\":1}"}`,
	} {
		f.Add([]byte(s))
	}
	srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := fuzzConn(srv)
		c.message(opText, msg)
		// Subscriptions answer from a goroutine of their own; the rest at once.
		c.mu.Lock()
		n := len(c.out)
		c.mu.Unlock()
		if n == 0 && !bytes.Contains(msg, []byte(`subscribe`)) && !bytes.Contains(msg, []byte(`pong`)) {
			t.Fatalf("no answer to %q", msg)
		}
		c.shutdown()
	})
}

// FuzzFrames feeds arbitrary bytes to the frame reader: it must consume
// whole frames only, or close the connection, and never panic.
func FuzzFrames(f *testing.F) {
	var b bytes.Buffer
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"ping"}`))))
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewPingFrame([]byte("x"))))
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(ws.OpText, false, []byte(`{"type":`))))
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(ws.OpContinuation, true, []byte(`"ping"}`))))
	f.Add(b.Bytes())
	f.Add([]byte{0x81, 0xfe, 0xff, 0xff, 1, 2, 3, 4})
	f.Add([]byte{0x88, 0x80, 0, 0, 0, 0})
	srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := fuzzConn(srv)
		used, _, stop := c.process(append([]byte(nil), data...))
		if used < 0 || used > len(data) {
			t.Fatalf("used %d of %d bytes", used, len(data))
		}
		if !stop && used < len(data) {
			if _, ok := parseHeader(data[used:]); ok {
				h, _ := parseHeader(data[used:])
				if int64(len(data)-used) >= int64(h.size)+h.length {
					t.Fatalf("a whole frame was left unread at %d", used)
				}
			}
		}
		c.shutdown()
	})
}
