package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// childReport is what a child prints, one JSON object per line.
type childReport struct {
	Ready    bool       `json:"ready,omitempty"`
	Conns    int        `json:"conns"`
	Failed   int        `json:"failed"`
	Closed   int        `json:"closed"` // connections the server closed during the run
	Messages int64      `json:"messages"`
	Latency  *Histogram `json:"latency,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// runChild opens this child's connections, subscribes each, reports ready,
// then records latencies until its stdin closes, and reports them.
func (m *Main) runChild(ctx context.Context) error {
	c := &m.Config
	out := json.NewEncoder(m.Out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
		cancel()
	}()

	var (
		mu      sync.Mutex
		total   = newHistogram()
		msgs    int64
		closed  int
		failed  int
		wg      sync.WaitGroup
		readyWG sync.WaitGroup
	)
	sem := make(chan struct{}, 64) // connections being set up at once
	for i := 0; i < c.N; i++ {
		idx := c.First + i
		wg.Add(1)
		readyWG.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			conn, br, err := m.subscribe(ctx, idx)
			<-sem
			readyWG.Done()
			if err != nil {
				mu.Lock()
				failed++
				if failed <= 3 {
					fmt.Fprintf(os.Stderr, "pgfeed-load: connection %d: %v\n", idx, err)
				}
				mu.Unlock()
				return
			}
			r := receive(ctx, conn, br)
			mu.Lock()
			total.Merge(r.h)
			msgs += r.messages
			if r.closed {
				closed++
			}
			mu.Unlock()
		}()
	}
	readyWG.Wait()
	mu.Lock()
	f := failed
	mu.Unlock()
	if err := out.Encode(childReport{Ready: true, Conns: c.N - f, Failed: f}); err != nil {
		return err
	}
	wg.Wait()
	return out.Encode(childReport{Conns: c.N - failed, Failed: failed, Closed: closed, Messages: msgs, Latency: total})
}

// subscribe connects connection idx from a 127.0.0.x address and
// subscribes it to its collection's create events.
func (m *Main) subscribe(ctx context.Context, idx int) (net.Conn, *bufio.Reader, error) {
	c := &m.Config
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+idx%c.Sources))}
	d := ws.Dialer{
		Timeout: 30 * time.Second,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: src, Timeout: 30 * time.Second}
			return nd.DialContext(ctx, network, addr)
		},
	}
	conn, br, _, err := d.Dial(ctx, c.URL)
	if err != nil {
		return nil, nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, 4096)
	}
	coll := idx / c.Per
	msg := fmt.Sprintf(`{"type":"subscribe","collection":"load_%d","event":"create","uid":"l","query":{"fields":["id","sent_at"]}}`, coll)
	if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewTextFrame([]byte(msg)))); err != nil {
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		f, err := readFrame(br)
		if err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("waiting for init: %w", err)
		}
		if f.Header.OpCode != ws.OpText {
			continue
		}
		if bytes.Contains(f.Payload, []byte(`"event":"init"`)) {
			break
		}
		if bytes.Contains(f.Payload, []byte(`"status":"error"`)) {
			conn.Close()
			return nil, nil, fmt.Errorf("subscribe: %s", f.Payload)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, br, nil
}

type received struct {
	h        *Histogram
	messages int64
	closed   bool
}

var sentAtKey = []byte(`"sent_at":"`)

// receive reads events until ctx ends, recording each row's latency.
func receive(ctx context.Context, conn net.Conn, br *bufio.Reader) received {
	r := received{h: newHistogram()}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	for {
		f, err := readFrame(br)
		if err != nil {
			r.closed = ctx.Err() == nil
			return r
		}
		now := time.Now()
		switch f.Header.OpCode {
		case ws.OpClose:
			r.closed = ctx.Err() == nil
			return r
		case ws.OpPing:
			_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewPongFrame(f.Payload)))
			continue
		case ws.OpText:
		default:
			continue
		}
		p := f.Payload
		if bytes.Equal(p, []byte(`{"type":"ping"}`)) {
			_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"pong"}`))))
			continue
		}
		counted := false
		for {
			i := bytes.Index(p, sentAtKey)
			if i < 0 {
				break
			}
			p = p[i+len(sentAtKey):]
			j := bytes.IndexByte(p, '"')
			if j < 0 {
				break
			}
			if t, err := time.Parse(time.RFC3339Nano, string(p[:j])); err == nil {
				r.h.Add(now.Sub(t))
				counted = true
			}
			p = p[j:]
		}
		if counted {
			r.messages++
		}
	}
}

// maxFrame bounds what a client of the load tool reads in one frame.
const maxFrame = 16 << 20

// readFrame reads one frame of at most maxFrame bytes.
func readFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	if h.Length > maxFrame {
		return ws.Frame{}, fmt.Errorf("frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return ws.Frame{}, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return ws.Frame{Header: h, Payload: p}, nil
}
