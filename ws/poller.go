package ws

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// poller watches idle connections with epoll. Each registration is one-shot:
// when a socket turns readable, the poller hands its connection to a worker
// and does not report it again until the worker re-arms it, so a connection
// is served by at most one worker at a time and an idle connection holds no
// goroutine.
type poller struct {
	epfd   int
	wakefd int // eventfd that interrupts EpollWait on close

	mu    sync.RWMutex
	conns []*conn // indexed by file descriptor

	ready chan *conn // readable connections, consumed by workers
}

func newPoller(queue int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll create: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll add eventfd: %w", err)
	}
	return &poller{epfd: epfd, wakefd: wakefd, ready: make(chan *conn, queue)}, nil
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// add registers c and arms it.
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	for len(p.conns) <= c.fd {
		p.conns = append(p.conns, nil)
	}
	p.conns[c.fd] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.forget(c)
		return fmt.Errorf("epoll add: %w", err)
	}
	return nil
}

// rearm asks for the next readiness report of c.
func (p *poller) rearm(c *conn) {
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd)}
	// An error means the connection was removed meanwhile: nothing to do.
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
}

// remove unregisters c; call it before closing c's socket.
func (p *poller) remove(c *conn) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.forget(c)
}

func (p *poller) forget(c *conn) {
	p.mu.Lock()
	if c.fd < len(p.conns) && p.conns[c.fd] == c {
		p.conns[c.fd] = nil
	}
	p.mu.Unlock()
}

// each calls f for every registered connection, outside the lock.
func (p *poller) each(f func(*conn)) {
	p.mu.RLock()
	list := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		if c != nil {
			list = append(list, c)
		}
	}
	p.mu.RUnlock()
	for _, c := range list {
		f(c)
	}
}

// run reports readable connections on p.ready until close is called.
func (p *poller) run() error {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("epoll wait: %w", err)
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == p.wakefd {
				close(p.ready)
				return nil
			}
			p.mu.RLock()
			var c *conn
			if fd < len(p.conns) {
				c = p.conns[fd]
			}
			p.mu.RUnlock()
			if c != nil {
				p.ready <- c
			}
		}
	}
}

// close stops run; the ready channel is closed when run returns.
func (p *poller) close() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:])
}

// release frees the descriptors once run has returned.
func (p *poller) release() {
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
