package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sys/unix"
)

// rawConn is a PostgreSQL connection that writers drive as pgbench drives
// its own: non-blocking sockets, a thread that poll(2)s several of them and
// answers each ready one with the next query. Through Go's network poller
// every answer would park and wake a goroutine, which costs the machine
// more than pgbench's client does (37 µs of CPU per single-row INSERT
// against 21 µs, measured side by side; 22 µs this way) and would thin the
// difference between the tables being compared. pgconn connects and
// authenticates; the socket is then taken over.
type rawConn struct {
	fd    int
	buf   []byte
	have  int   // bytes of buf read and not yet consumed
	fail  error // the server's error for the query in flight
	phase int64 // the writers' phase when the query in flight was sent
}

func dialRaw(ctx context.Context, url string) (*rawConn, error) {
	pc, err := pgconn.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return nil, err
	}
	defer hc.Conn.Close()
	sc, ok := hc.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("the writers need a connection without TLS (sslmode=disable)")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	if cerr := rc.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("dup socket: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &rawConn{fd: fd, buf: make([]byte, 8192)}, nil
}

// send writes a whole message. Queries are small and the socket's buffer
// empty between them, so a write that would block is only waited out.
func (c *rawConn) send(msg []byte) error {
	for len(msg) > 0 {
		n, err := unix.Write(c.fd, msg)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return err
		}
		msg = msg[n:]
	}
	return nil
}

// receive reads once what the socket holds (poll said it holds something)
// and consumes whole messages; done reports that ReadyForQuery ended the
// answer to the query in flight, whose error (if any) is then in c.fail.
func (c *rawConn) receive() (done bool, err error) {
	if c.have == len(c.buf) {
		c.buf = append(c.buf, make([]byte, len(c.buf))...)
	}
	n, err := unix.Read(c.fd, c.buf[c.have:])
	if err == unix.EINTR || err == unix.EAGAIN {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if n == 0 {
		return false, errors.New("server closed the connection")
	}
	c.have += n
	// A message is a type byte, then a length that counts itself.
	at, ready := 0, false
	for !ready && c.have-at >= 5 {
		size := 1 + int(binary.BigEndian.Uint32(c.buf[at+1:]))
		if c.have-at < size {
			break
		}
		typ := c.buf[at]
		if typ == 'E' {
			var e pgproto3.ErrorResponse
			if err := e.Decode(c.buf[at+5 : at+size]); err != nil {
				return false, err
			}
			c.fail = pgconn.ErrorResponseToPgError(&e)
		}
		at += size
		ready = typ == 'Z'
	}
	c.have = copy(c.buf, c.buf[at:c.have])
	return ready, nil
}

func (c *rawConn) close() {
	// Terminate, so that the server ends the session at once.
	if m, err := (&pgproto3.Terminate{}).Encode(nil); err == nil {
		unix.Write(c.fd, m)
	}
	unix.Close(c.fd)
}

// drive keeps a query in flight on each of conns until next says stop:
// next gives the query to send and the phase to count it in; done is
// called with that phase when the query commits.
func drive(conns []*rawConn, next func() (query []byte, phase int64, stop bool), done func(phase int64)) error {
	fds := make([]unix.PollFd, len(conns))
	busy := 0
	start := func(i int) error {
		q, p, stop := next()
		if stop {
			fds[i].Fd = -1 // poll ignores it
			return nil
		}
		conns[i].phase = p
		busy++
		return conns[i].send(q)
	}
	for i, c := range conns {
		fds[i] = unix.PollFd{Fd: int32(c.fd), Events: unix.POLLIN}
		if err := start(i); err != nil {
			return err
		}
	}
	for busy > 0 {
		if err := waitReady(fds); err != nil {
			return err
		}
		for i := range fds {
			if fds[i].Revents == 0 {
				continue
			}
			fds[i].Revents = 0
			c := conns[i]
			ok, err := c.receive()
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			busy--
			if c.fail != nil {
				return c.fail
			}
			done(c.phase)
			if err := start(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitReady blocks in ppoll(2) until one of fds is ready, without telling
// Go's scheduler: a thread that it sees blocked in a system call wakes its
// monitor every 20 µs and hands its processor to another thread, which
// costs more system calls than the writers make. The caller holds the
// thread, and writers gives the scheduler a processor more for each such
// thread.
func waitReady(fds []unix.PollFd) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), 0, 0, 0, 0)
	if e != 0 && e != unix.EINTR {
		return fmt.Errorf("poll: %w", e)
	}
	return nil
}
