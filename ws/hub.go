package ws

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/query"
)

// subscription is one subscribe of one connection.
type subscription struct {
	c    *conn
	uid  json.RawMessage // as the client sent it; nil when absent
	key  string          // name within the connection
	name string          // collection as the client named it
	mask uint8           // events wanted
	old  bool
	// since is the cursor the client resumes from; since.after is -1 when
	// none.
	since cursor
	query json.RawMessage
	item  json.RawMessage
	// The connection's identity when the subscription was made: its
	// token's subject ($CURRENT_USER) and role ("" without a token).
	user, role string

	// Set before the subscription is registered with the hub.
	coll   string // canonical collection name
	table  *query.Table
	proj   *query.Projection
	filter *query.Filter
	perm   *query.Filter // the role's row filter (part of filter); nil when it reads every row

	// Hub state, under hub.mu.
	state     subState
	after     int64        // live: changes at or below it were delivered already (the stream may lag a snapshot)
	buf       []cdc.Change // changes published while the subscription catches up
	group     *group
	idx       int // index in group.subs or in collection.pending
	cancelled atomic.Bool
}

type subState uint8

const (
	subNew subState = iota
	subPending
	subLive
	subRemoved
)

// hub indexes live subscriptions by collection and, within a collection, by
// projection, so that a change costs nothing for other collections and each
// projection is encoded once per change.
type hub struct {
	s *Server

	mu     sync.Mutex
	pos    int64  // position of the last published change
	tag    uint32 // its tag, 0 when there is none
	posSet bool
	ready  chan struct{} // closed by setPosition
	colls  map[string]*collection
	r      renderer // Publish's renderer, under mu
}

type collection struct {
	table   *query.Table
	groups  []*group
	byProj  map[string]*group
	pending []*subscription
	n       int
}

type group struct {
	proj *query.Projection
	key  string
	subs []*subscription
	idx  int // index in collection.groups
}

func newHub(s *Server) *hub {
	return &hub{s: s, ready: make(chan struct{}), colls: make(map[string]*collection)}
}

func (h *hub) setPosition(at cdc.Mark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.posSet {
		h.posSet = true
		if at.Pos > h.pos {
			h.pos, h.tag = at.Pos, at.Tag
		}
		close(h.ready)
	}
}

func (h *hub) position() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// waitReady waits until the stream position is known.
func (h *hub) waitReady(ctx context.Context) error {
	select {
	case <-h.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish delivers a batch of changes to the live subscriptions and buffers
// it for those catching up.
func (h *hub) publish(batch []cdc.Change) {
	var dropped, overflowed []*subscription
	h.mu.Lock()
	var last *cdc.Change // the change at h.pos, when this batch moved it
	for i := range batch {
		ch := &batch[i]
		if ch.Pos > h.pos {
			h.pos, last = ch.Pos, ch
		}
		coll := h.colls[ch.Collection]
		if coll == nil {
			continue
		}
		for i := 0; i < len(coll.pending); i++ {
			p := coll.pending[i]
			if len(p.buf) >= maxPending {
				overflowed = append(overflowed, p)
				h.removeLocked(p) // moves the last pending subscription to i
				i--
				continue
			}
			p.buf = append(p.buf, *ch)
		}
		if ch.Op == cdc.OpDrop {
			for len(coll.groups) > 0 {
				g := coll.groups[len(coll.groups)-1]
				sub := g.subs[len(g.subs)-1]
				dropped = append(dropped, sub)
				h.removeLocked(sub)
			}
			continue
		}
		if len(coll.groups) == 0 {
			continue
		}
		h.r.prepare(coll.table, ch)
		for _, g := range coll.groups {
			h.r.project(g.proj)
			for _, sub := range g.subs {
				h.r.deliver(sub)
			}
		}
	}
	if last != nil {
		h.tag = last.Tag()
	}
	h.r.flush(h.s)
	h.mu.Unlock()
	h.s.stats.changes.Add(int64(len(batch)))
	for _, sub := range dropped {
		h.s.dropped(sub)
	}
	for _, sub := range overflowed {
		sub.c.replyError("subscribe", newError(codeServiceUnavailable,
			"the collection changed faster than the subscription could start; subscribe again"), sub.uid)
		sub.c.dropSubscription(sub)
	}
}

// maxPending bounds the changes buffered for a subscription that is still
// starting (reading its snapshot or replaying from its cursor).
const maxPending = 100000

// addPending registers sub to buffer changes from now on and returns the
// position it starts after. ok is false when sub was cancelled meanwhile.
func (h *hub) addPending(sub *subscription) (at cdc.Mark, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sub.cancelled.Load() || sub.state != subNew {
		return cdc.Mark{}, false
	}
	coll := h.colls[sub.coll]
	if coll == nil {
		coll = &collection{byProj: make(map[string]*group)}
		h.colls[sub.coll] = coll
	}
	coll.table = sub.table
	sub.idx = len(coll.pending)
	coll.pending = append(coll.pending, sub)
	coll.n++
	sub.state = subPending
	h.s.stats.subs.Add(1)
	return cdc.Mark{Pos: h.pos, Tag: h.tag}, true
}

// catchUp delivers the changes buffered for sub after position last, then
// makes it live. It returns errDropped if its collection went away.
func (h *hub) catchUp(sub *subscription, r *renderer, last int64) error {
	for {
		h.mu.Lock()
		if sub.state != subPending {
			h.mu.Unlock()
			return nil
		}
		buf := sub.buf
		sub.buf = nil
		if len(buf) == 0 {
			sub.after = last
			h.makeLiveLocked(sub)
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock()
		for i := range buf {
			ch := &buf[i]
			if ch.Pos <= last {
				continue
			}
			if err := deliverOne(r, sub, ch); err != nil {
				r.flush(h.s)
				return err
			}
			last = ch.Pos
		}
		r.flush(h.s)
	}
}

// deliverOne renders one change for one subscription that is not live.
func deliverOne(r *renderer, sub *subscription, ch *cdc.Change) error {
	if ch.Collection != sub.coll || sub.cancelled.Load() {
		return nil
	}
	if ch.Op == cdc.OpDrop {
		return errDropped(sub.coll)
	}
	r.prepare(sub.table, ch)
	r.project(sub.proj)
	r.deliver(sub)
	return nil
}

func errDropped(coll string) error {
	return newError(codeInvalidCollection, "collection %q is no longer tracked", coll)
}

func (h *hub) makeLiveLocked(sub *subscription) {
	coll := h.colls[sub.coll]
	h.unpendLocked(coll, sub)
	key := sub.proj.Key()
	g := coll.byProj[key]
	if g == nil {
		g = &group{proj: sub.proj, key: key, idx: len(coll.groups)}
		coll.byProj[key] = g
		coll.groups = append(coll.groups, g)
	}
	sub.group = g
	sub.idx = len(g.subs)
	g.subs = append(g.subs, sub)
	sub.state = subLive
}

func (h *hub) unpendLocked(coll *collection, sub *subscription) {
	last := coll.pending[len(coll.pending)-1]
	coll.pending[sub.idx] = last
	last.idx = sub.idx
	coll.pending[len(coll.pending)-1] = nil
	coll.pending = coll.pending[:len(coll.pending)-1]
}

// remove unregisters sub; it is idempotent and also stops a subscription
// that has not reached the hub yet.
func (h *hub) remove(sub *subscription) {
	h.mu.Lock()
	h.removeLocked(sub)
	h.mu.Unlock()
}

func (h *hub) removeLocked(sub *subscription) {
	sub.cancelled.Store(true)
	if sub.state != subPending && sub.state != subLive {
		// Not registered: its fields may still be being filled in.
		sub.state = subRemoved
		return
	}
	coll := h.colls[sub.coll]
	switch sub.state {
	case subPending:
		h.unpendLocked(coll, sub)
		sub.buf = nil
	case subLive:
		g := sub.group
		last := g.subs[len(g.subs)-1]
		g.subs[sub.idx] = last
		last.idx = sub.idx
		g.subs[len(g.subs)-1] = nil
		g.subs = g.subs[:len(g.subs)-1]
		if len(g.subs) == 0 {
			lg := coll.groups[len(coll.groups)-1]
			coll.groups[g.idx] = lg
			lg.idx = g.idx
			coll.groups[len(coll.groups)-1] = nil
			coll.groups = coll.groups[:len(coll.groups)-1]
			delete(coll.byProj, g.key)
		}
		sub.group = nil
	}
	sub.state = subRemoved
	h.s.stats.subs.Add(-1)
	coll.n--
	if coll.n == 0 {
		delete(h.colls, sub.coll)
	}
}
