package ws

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// conn is one WebSocket connection.
//
// Reading: the poller hands a readable connection to one worker at a time
// (one-shot epoll), which reads what is available without blocking, keeps a
// partial frame in in, handles whole frames and re-arms the connection.
//
// Writing: frames are appended to out under mu, bounded by Config.QueueBytes.
// A writer takes the whole queue and writes it in one call; a socket that
// cannot take it all gets a goroutine of its own until it drains, so no
// writer and no publisher ever waits for a slow client. A queue that
// overflows closes the connection with 1013.
type conn struct {
	s      *Server
	nc     net.Conn
	rc     syscall.RawConn
	fd     int
	remote string

	// Read side: owned by the worker currently serving the connection.
	// readMu is never contended (epoll reports a connection to one worker at
	// a time); it tells the race detector what the one-shot re-arm ensures.
	readMu  sync.Mutex
	in      []byte // partial frame carried between wake-ups
	frag    []byte // fragmented message being assembled
	fragOp  byte
	tokens  float64 // rate limiter bucket
	refill  time.Time
	readFn  func(fd uintptr) bool
	rbuf    []byte
	rn      int
	rerr    error
	writeFn func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error

	lastSeen atomic.Int64 // unix nanos of the last client message
	pingedAt atomic.Int64 // unix nanos of the last server ping
	paused   atomic.Bool  // token expired: events are not delivered

	mu          sync.Mutex
	out         []byte // frames queued, none of them started
	spare       []byte
	flushing    bool // a writer owns the socket's write side
	kickPending bool // frames were queued for a kick that has not come yet
	closing     bool // a close frame is queued: nothing more is accepted
	closed      bool
	slow        bool
	// Protocol state, also under mu.
	subs      map[string]*subscription
	anon      int // counter for subscriptions without uid
	authed    bool
	user      string
	role      string
	authTimer *time.Timer
	expTimer  *time.Timer
}

func newConn(s *Server, nc net.Conn) (*conn, error) {
	if p, ok := nc.(*peekedConn); ok {
		nc = p.Conn // taken over from the HTTP server: its reader is drained
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &conn{s: s, nc: nc, rc: rc, remote: nc.RemoteAddr().String(), subs: make(map[string]*subscription)}
	if err := rc.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		return nil, err
	}
	c.readFn = func(fd uintptr) bool {
		c.rn, c.rerr = unix.Read(int(fd), c.rbuf)
		return true
	}
	c.writeFn = func(fd uintptr) bool {
		c.wn, c.werr = unix.Write(int(fd), c.wbuf)
		return true
	}
	now := time.Now()
	c.lastSeen.Store(now.UnixNano())
	c.refill = now
	c.tokens = float64(2 * s.cfg.RatePerSec)
	return c, nil
}

// readNB reads what the socket holds into b without waiting.
func (c *conn) readNB(b []byte) (int, error) {
	c.rbuf = b
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, err
	}
	c.rbuf = nil
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.rn == 0 {
		return 0, errEOF
	}
	return c.rn, nil
}

var errEOF = errors.New("connection closed by peer")

// writeNB writes as much of b as the socket takes without waiting.
func (c *conn) writeNB(b []byte) (int, error) {
	if c.rc == nil {
		return len(b), nil // a connection without a socket (benchmarks)
	}
	c.wbuf = b
	if err := c.rc.Write(c.writeFn); err != nil {
		return 0, err
	}
	c.wbuf = nil
	if c.wn < 0 {
		c.wn = 0
	}
	return c.wn, c.werr
}

// send queues one text frame holding payload and wakes a writer. It never
// blocks; it reports false when the connection is closing.
func (c *conn) send(payload []byte) bool {
	ok, _ := c.enqueue(opText, payload, false)
	if ok {
		c.s.stats.delivered.Add(1)
	}
	return ok
}

func (c *conn) sendFrame(op byte, payload []byte) bool {
	ok, _ := c.enqueue(op, payload, false)
	return ok
}

// enqueue queues one frame. With deferred, it does not wake a writer:
// kick reports that the caller must call c.kick() once it has queued
// everything it has for this connection, so that the frames of a batch of
// changes go out in one write.
func (c *conn) enqueue(op byte, payload []byte, deferred bool) (ok, kick bool) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false, false
	}
	n := headerLen(len(payload)) + len(payload)
	// The client is slow when the frames still waiting reach the bound; a
	// frame is not refused for its own size (a large init must get through).
	if len(c.out) >= c.s.cfg.QueueBytes {
		c.slow = true
		c.out = c.out[:0] // frames not started are dropped: the client is behind anyway
		c.closeLocked(closeTryAgainLater, "slow consumer: outbound queue full; reconnect with your last cursor")
		c.mu.Unlock()
		c.s.stats.slowClosed.Add(1)
		return false, false
	}
	if cap(c.out)-len(c.out) < n {
		// Grow in large steps: a connection settles on two buffers (the
		// queue and the one being written) and then allocates no more.
		nb := make([]byte, len(c.out), max(2*cap(c.out), len(c.out)+n, minQueueBuffer))
		copy(nb, c.out)
		c.out = nb
	}
	c.out = appendHeader(c.out, op, len(payload))
	c.out = append(c.out, payload...)
	switch {
	case !deferred:
		c.scheduleLocked()
	case !c.flushing && !c.kickPending:
		c.kickPending = true
		kick = true
	}
	c.mu.Unlock()
	return true, kick
}

// kick wakes a writer for frames queued with enqueue(..., true).
func (c *conn) kick() {
	c.mu.Lock()
	c.kickPending = false
	if len(c.out) > 0 && !c.closed {
		c.scheduleLocked()
	}
	c.mu.Unlock()
}

func (c *conn) scheduleLocked() {
	if !c.flushing {
		c.flushing = true
		c.s.stats.queued.Add(1)
		c.s.flushq <- c // capacity covers every connection: never blocks
	}
}

// closeWith queues a close frame after the frames already queued, and
// closes the socket once it is written (or after a short grace period).
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

const closeGrace = 2 * time.Second

// minQueueBuffer is the smallest outbound buffer a connection allocates.
const minQueueBuffer = 512

func (c *conn) closeLocked(code int, reason string) {
	if c.closing || c.closed {
		return
	}
	c.closing = true
	var p [125]byte
	payload := appendClosePayload(p[:0], code, reason)
	c.out = appendHeader(c.out, opClose, len(payload))
	c.out = append(c.out, payload...)
	if c.nc != nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	}
	c.stopTimersLocked()
	c.scheduleLocked()
}

// flush writes the queue; called by a writer goroutine that owns the write
// side (flushing is true).
func (c *conn) flush() {
	for {
		buf, ok := c.nextOut()
		if !ok {
			return
		}
		n, err := c.writeNB(buf)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			c.writeFailed()
			return
		}
		if n < len(buf) {
			go c.flushSlow(buf, n)
			return
		}
		c.recycle(buf)
	}
}

// flushSlow finishes writing buf[n:] on a socket that is full, waiting for
// the peer, then keeps flushing in this goroutine until the queue is empty.
func (c *conn) flushSlow(buf []byte, n int) {
	for {
		if _, err := c.nc.Write(buf[n:]); err != nil {
			c.writeFailed()
			return
		}
		c.recycle(buf)
		var ok bool
		if buf, ok = c.nextOut(); !ok {
			return
		}
		n = 0
	}
}

// nextOut takes the queued bytes for writing. When the queue is empty it
// ends the flush, finishes a pending close, and returns false.
func (c *conn) nextOut() ([]byte, bool) {
	c.mu.Lock()
	buf := c.out
	if len(buf) == 0 {
		c.flushing = false
		c.s.stats.queued.Add(-1)
		done := c.closing
		c.mu.Unlock()
		if done {
			c.shutdown()
		}
		return nil, false
	}
	c.out = c.spare[:0]
	c.spare = nil
	c.mu.Unlock()
	return buf, true
}

// writeFailed gives up the write side of a connection whose socket failed
// and closes it.
func (c *conn) writeFailed() {
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	c.s.stats.queued.Add(-1)
	c.shutdown()
}

// recycle keeps a written buffer for the next swap unless it is large.
func (c *conn) recycle(buf []byte) {
	if cap(buf) > 64<<10 {
		return
	}
	c.mu.Lock()
	if c.spare == nil && !c.closed {
		c.spare = buf[:0]
	}
	c.mu.Unlock()
}

// shutdown closes the socket and drops every subscription. Idempotent.
func (c *conn) shutdown() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.closing = true
	subs := c.subs
	c.subs = nil
	c.out, c.spare = nil, nil
	c.stopTimersLocked()
	c.mu.Unlock()

	for _, sub := range subs {
		c.s.hub.remove(sub)
	}
	if c.nc != nil {
		c.s.poller.remove(c)
		c.nc.Close()
	}
	c.s.connDone()
}

func (c *conn) stopTimersLocked() {
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
	if c.expTimer != nil {
		c.expTimer.Stop()
		c.expTimer = nil
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// readable serves a connection the poller reported readable: it reads what
// is available (a bounded amount per wake-up, for fairness), handles whole
// frames, and re-arms the connection.
func (c *conn) readable(wbuf []byte) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for round := 0; round < 4; round++ {
		own := len(c.in) > 0
		buf := wbuf[:0]
		if own {
			buf = c.in
		}
		if cap(buf)-len(buf) < 4096 {
			nb := make([]byte, len(buf), 2*cap(buf)+4096)
			copy(nb, buf)
			buf, own = nb, true
		}
		n, err := c.readNB(buf[len(buf):cap(buf)])
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			c.shutdown()
			return
		}
		full := len(buf)+n == cap(buf)
		buf = buf[:len(buf)+n]
		used, need, stop := c.process(buf)
		if stop {
			return
		}
		rest := buf[used:]
		switch {
		case len(rest) == 0:
			c.in = nil
		case own && used == 0 && cap(buf) >= need:
			c.in = buf
		default:
			size := max(need, len(rest))
			nb := make([]byte, len(rest), size+4096)
			copy(nb, rest)
			c.in = nb
		}
		if !full {
			break
		}
	}
	if !c.isClosing() {
		c.s.poller.rearm(c)
	}
}

// process handles the whole frames at the start of buf. It returns the bytes
// used, the size of the incomplete frame that follows (0 when unknown), and
// whether the connection is closing.
func (c *conn) process(buf []byte) (used, need int, stop bool) {
	maxFrame := c.s.cfg.MaxFrameBytes
	for {
		h, ok := parseHeader(buf[used:])
		if !ok {
			return used, 0, false
		}
		switch {
		case h.rsv != 0:
			c.closeWith(closeProtocol, "reserved bits set without a negotiated extension")
			return used, 0, true
		case !h.masked:
			c.closeWith(closeProtocol, "client frames must be masked")
			return used, 0, true
		case h.length > maxFrame || (h.op == opContinuation && int64(len(c.frag))+h.length > maxFrame):
			c.closeWith(closeTooBig, "message larger than the server's limit")
			return used, 0, true
		case h.op >= opClose && (!h.fin || h.length > 125):
			c.closeWith(closeProtocol, "control frames must be final and at most 125 bytes")
			return used, 0, true
		}
		total := h.size + int(h.length)
		if len(buf)-used < total {
			return used, total, false
		}
		payload := buf[used+h.size : used+total]
		unmask(payload, h.mask)
		used += total
		switch h.op {
		case opPing:
			c.seen()
			c.sendFrame(opPong, payload)
		case opPong:
			c.seen()
		case opClose:
			code := closeNormal
			if len(payload) >= 2 {
				code = int(payload[0])<<8 | int(payload[1])
			}
			if code < 1000 || code == 1005 || code == 1006 || code >= 5000 {
				code = closeProtocol
			}
			c.closeWith(code, "")
			return used, 0, true
		case opText, opBinary:
			if c.fragOp != 0 {
				c.closeWith(closeProtocol, "a new message started before the fragmented one ended")
				return used, 0, true
			}
			if !h.fin {
				c.fragOp = h.op
				c.frag = append(c.frag[:0], payload...)
				continue
			}
			c.message(h.op, payload)
		case opContinuation:
			if c.fragOp == 0 {
				c.closeWith(closeProtocol, "continuation frame without a message to continue")
				return used, 0, true
			}
			c.frag = append(c.frag, payload...)
			if h.fin {
				op, msg := c.fragOp, c.frag
				c.fragOp, c.frag = 0, nil
				c.message(op, msg)
			}
		default:
			c.closeWith(closeProtocol, "unknown opcode")
			return used, 0, true
		}
		if c.isClosing() {
			return used, 0, true
		}
	}
}

func (c *conn) seen() { c.lastSeen.Store(time.Now().UnixNano()) }

// allow takes a token from the connection's rate limiter.
func (c *conn) allow() bool {
	now := time.Now()
	rate := float64(c.s.cfg.RatePerSec)
	c.tokens = min(2*rate, c.tokens+now.Sub(c.refill).Seconds()*rate)
	c.refill = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
