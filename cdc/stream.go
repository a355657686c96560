package cdc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgfeed/pgfeed/store"
	"github.com/rs/zerolog"
)

// leaderKey is the advisory lock the sequencing instance holds on its
// sequencer session (with the gate, when idle); the step lock itself is
// pgfeed.lock_key().
const leaderKey = 1885824620

// gateKey is pgfeed.gate_key(): held by the idle sequencer, tried by writers.
const gateKey = 1885824613

// Notification channels: the sequencer announces new positions on
// chanPositions; writers wake an idle sequencer on chanWake.
const (
	chanPositions = "pgfeed"
	chanWake      = "pgfeed_wake"
)

// Options configure a Stream.
type Options struct {
	// Name identifies this reader in pgfeed.readers, so that pruning keeps
	// what it has not read. Default "pgfeed".
	Name string
	// From is the position to start after. Negative (the default through
	// NewStream's zero value handling, see StartAtHead) means the journal
	// head at start: only changes committed from then on are emitted.
	From int64
	// StartAtHead ignores From and starts at the journal head.
	StartAtHead bool
	// Poll bounds how long a missed wake-up can delay a change. Default 250ms.
	Poll time.Duration
	// Busy is how often the sequencer steps while changes keep coming.
	// Under heavy load it steps less often, up to maxBusyFactor times Busy
	// (see busyInterval). Default 2ms.
	Busy time.Duration
	// Linger is how long the sequencer keeps polling at the Busy interval
	// after the last change before it goes idle and asks writers for a
	// NOTIFY. Default 100ms.
	Linger time.Duration
	// Lease is how long the sequencing instance's database session may stay
	// silent before the server ends it, releasing the leader lock so that
	// another instance takes over: what a frozen leader (a stopped process,
	// a paused VM, a lost network) costs the stream. The session steps or
	// tries the lock at least every Poll, so Lease is raised to at least
	// 4*Poll. Default 10s.
	Lease time.Duration
	// BatchTx is the most transactions read per journal query. Default 256.
	BatchTx int
	// Retention is how long journal entries are kept; 0 keeps them forever.
	Retention time.Duration
	// RetentionBytes bounds the journal's size: the oldest entries beyond
	// about the newest RetentionBytes of rows (their data as stored) are
	// pruned, however young. 0 sets no bound.
	RetentionBytes int64
	// PruneEvery is how often the sequencer prunes. Default 1 minute.
	PruneEvery time.Duration
	Logger     zerolog.Logger
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "pgfeed"
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = store.DefaultLease
	}
	o.Lease = max(o.Lease, 4*o.Poll)
	if o.Busy <= 0 {
		o.Busy = 2 * time.Millisecond
	}
	if o.Linger <= 0 {
		o.Linger = 100 * time.Millisecond
	}
	if o.BatchTx <= 0 {
		o.BatchTx = 256
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Minute
	}
}

// Positioner is an optional Sink capability: the Stream tells it the
// position it starts after, and the tag of the change there (0 when there
// is none), before the first Publish.
type Positioner interface {
	SetPosition(at Mark)
}

// Stream follows the journal and hands every committed change, exactly once
// and in stream order, to its Sink.
type Stream struct {
	db   *store.DB
	sink Sink
	opts Options
	log  zerolog.Logger

	pos     atomic.Int64 // last position published
	head    atomic.Int64 // last position known to exist
	ready   atomic.Bool
	leader  atomic.Bool
	started bool
	idle    atomic.Bool  // the sequencer holds the gate: writers NOTIFY
	wakeups atomic.Int64 // NOTIFYs from writers
	steps   atomic.Int64 // sequencing steps taken
	reads   atomic.Int64 // journal reads
	// As of the last prune this instance made: the highest pruned position,
	// and the size of the journal rows kept.
	pruned, journalBytes atomic.Int64
	readSig              chan struct{} // something new may be in the journal
	wakeSig              chan struct{} // a writer asked the idle sequencer to step
	probe                atomic.Bool   // the reader should read until it finds nothing new

	// The stamp of the entry at pos, zero while none is known (reader's;
	// Run's between sessions).
	last store.Stamp

	// Entries the sequencer's steps returned, for the reader to publish
	// without reading them back.
	mu     sync.Mutex
	handed []store.Entry
}

// ErrRewound means that the journal went back under a running stream: the
// database was restored to an earlier state, or failed over to a replica
// that lacked the latest transactions (or pgfeed was uninstalled and
// installed again), and positions this stream has published are gone or
// now hold other changes. The stream cannot go on
// without misleading its sink: pgfeed must start again from the journal's
// head (its clients then resume, and those with cursors beyond that head
// get a fresh snapshot).
var ErrRewound = errors.New("the database went back to an earlier state (a restore, a failover to a replica " +
	"that lacked the latest transactions, or pgfeed installed again); start pgfeed again to follow it from its head")

// maxHanded bounds the entries waiting in Stream.handed: past it, a step
// returns none and the reader reads them from the journal.
const maxHanded = 1024

// NewStream creates a stream over db that publishes to sink.
func NewStream(db *store.DB, sink Sink, opts Options) *Stream {
	opts.setDefaults()
	return &Stream{
		db:      db,
		sink:    sink,
		opts:    opts,
		log:     opts.Logger.With().Str("component", "cdc").Logger(),
		readSig: make(chan struct{}, 1),
		wakeSig: make(chan struct{}, 1),
	}
}

// Position is the last position published to the sink.
func (s *Stream) Position() int64 { return s.pos.Load() }

// Ready reports whether the stream is connected and caught up.
func (s *Stream) Ready() bool { return s.ready.Load() }

// Stats are counters for monitoring.
type Stats struct {
	Position int64 // last position published
	Head     int64 // last position known to exist
	Leader   bool  // this instance runs the sequencer
	Idle     bool  // the sequencer waits for a writer's NOTIFY
	Steps    int64 // sequencing steps taken by this instance
	Wakeups  int64 // NOTIFYs received from writers
	Reads    int64 // journal reads (the sequencer hands its steps' entries to its own reader)
	// As of the last prune this instance made (as the sequencer, as it
	// takes the lead and every PruneEvery): the highest pruned position,
	// and the size of the journal's rows kept (their data as stored).
	Pruned, JournalBytes int64
}

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	return Stats{Position: s.pos.Load(), Head: s.head.Load(), Leader: s.leader.Load(), Idle: s.idle.Load(),
		Steps: s.steps.Load(), Wakeups: s.wakeups.Load(), Reads: s.reads.Load(),
		Pruned: s.pruned.Load(), JournalBytes: s.journalBytes.Load()}
}

// Leader reports whether this stream currently runs the sequencer.
func (s *Stream) Leader() bool { return s.leader.Load() }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run follows the journal until ctx ends. Lost connections and restarted
// servers are retried with backoff; Run returns ctx's error, or an error
// that retrying cannot fix (pgfeed not installed).
func (s *Stream) Run(ctx context.Context) error {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.db.ForgetReader(ctx, s.opts.Name)
	}()
	backoff := newBackoff(50*time.Millisecond, 5*time.Second)
	for {
		began := time.Now()
		err := s.session(ctx)
		if time.Since(began) > 10*time.Second {
			backoff.reset()
		}
		s.ready.Store(false)
		s.leader.Store(false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, store.ErrNotInstalled) || errors.Is(err, ErrRewound) {
			return err
		}
		d := backoff.next()
		s.log.Warn().Err(err).Dur("retry_in", d).Msg("change stream interrupted")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// session is one connected period: a LISTEN connection, the sequencer if
// this instance holds the leader lock, and the reader.
func (s *Stream) session(ctx context.Context) error {
	l, err := s.db.Listen(ctx, chanPositions, chanWake)
	if err != nil {
		return err
	}
	defer l.Close()
	if !s.started {
		if err := s.start(ctx); err != nil {
			return err
		}
	} else if err := s.checkHistory(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	for _, run := range []func(context.Context) error{
		func(ctx context.Context) error { return s.listen(ctx, l) },
		s.read,
		s.sequence,
	} {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- run(ctx) }()
	}
	first := <-errc
	cancel()
	wg.Wait()
	return first
}

func (s *Stream) start(ctx context.Context) error {
	head, _, err := s.db.Head(ctx)
	if err != nil {
		return err
	}
	from := s.opts.From
	if s.opts.StartAtHead || from < 0 {
		from = head
	}
	// The change at the start, if there is one, is what the stream has seen
	// so far (see checkHistory).
	at := Mark{Pos: from}
	if st, ok, err := s.db.StampAt(ctx, from); err != nil {
		return err
	} else if ok {
		s.last, at.Tag = st, tag(st)
	}
	s.pos.Store(from)
	s.head.Store(head)
	if p, ok := s.sink.(Positioner); ok {
		p.SetPosition(at)
	}
	s.started = true
	s.log.Info().Int64("position", from).Msg("change stream started")
	return nil
}

// checkHistory makes sure, as a session begins, that the journal still
// holds what the stream has seen: its head is not behind the highest
// position the stream knows of, the stream's position is not inside a jump
// (it came from the history a new timeline left behind), and the entry at
// the stream's position (if not pruned) is the one it published.
func (s *Stream) checkHistory(ctx context.Context) error {
	head, _, err := s.db.Head(ctx)
	if err != nil {
		return err
	}
	if known := s.head.Load(); head < known {
		return fmt.Errorf("the journal's head is position %d, and this instance has seen %d: %w", head, known, ErrRewound)
	}
	pos := s.pos.Load()
	if inside, err := s.db.InsideJump(ctx, pos); err != nil {
		return err
	} else if inside {
		return fmt.Errorf("the database went on from before position %d on a new timeline, and this instance published up to it: %w", pos, ErrRewound)
	}
	if s.last.XID == 0 {
		return nil
	}
	st, ok, err := s.db.StampAt(ctx, pos)
	if err != nil {
		return err
	}
	if ok && (st.XID != s.last.XID || !st.At.Equal(s.last.At)) {
		return fmt.Errorf("position %d of the journal now holds transaction %d, not %d: %w", pos, st.XID, s.last.XID, ErrRewound)
	}
	return nil
}

// listen owns the LISTEN connection: it turns notifications into signals,
// and ticks the fallback poll.
func (s *Stream) listen(ctx context.Context, l *store.Session) error {
	positions := true // listening on chanPositions
	for {
		if positions && s.leader.Load() {
			// The sequencer's steps send the position NOTIFYs, for the
			// other instances: this one learns its positions from its own
			// steps, and need not be woken by each of them.
			if err := l.Unlisten(ctx, chanPositions); err != nil {
				return fmt.Errorf("unlisten: %w", err)
			}
			positions = false
		}
		n, err := l.Wait(ctx, s.opts.Poll)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n == nil {
			// Fallback poll for the reader of a following instance. The
			// sequencer polls on its own, and every step tells this
			// instance's reader the head.
			if !s.leader.Load() {
				s.probe.Store(true)
				signal(s.readSig)
			}
			continue
		}
		switch n.Channel {
		case chanPositions:
			if s.leader.Load() {
				// Sent before this instance stopped listening; a
				// snapshot's step is seen by the next step.
				continue
			}
			if head, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
				s.advanceHead(head)
			} else {
				s.probe.Store(true)
			}
			signal(s.readSig)
		case chanWake:
			s.wakeups.Add(1)
			signal(s.wakeSig)
		}
	}
}

// read publishes journal entries after the current position whenever
// signalled, until it has caught up.
func (s *Stream) read(ctx context.Context) error {
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	if err := s.db.ReportReader(ctx, s.opts.Name, s.pos.Load()); err != nil {
		return err
	}
	s.probe.Store(true)
	for {
		if err := s.catchUp(ctx); err != nil {
			return err
		}
		s.ready.Store(true)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.readSig:
		case <-report.C:
			if err := s.db.ReportReader(ctx, s.opts.Name, s.pos.Load()); err != nil {
				return err
			}
		}
	}
}

// catchUp publishes what the sequencer handed over, then reads the journal
// up to the head; on a probe (a fallback poll, a start), until a read finds
// nothing. Steps that end while it publishes hand over more entries, so it
// takes those before reading the journal for what it still lacks.
func (s *Stream) catchUp(ctx context.Context) error {
	probe := s.probe.Swap(false)
	for {
		took, err := s.publishHanded(ctx)
		if err != nil {
			return err
		}
		from := s.pos.Load()
		if !probe && from >= s.head.Load() {
			return nil
		}
		if took {
			continue
		}
		read := 0
		err = s.db.EachAfter(ctx, from, s.opts.BatchTx, maxPublish, func(entries []store.Entry) error {
			read += len(entries)
			return s.publish(ctx, entries)
		})
		if err != nil {
			return err
		}
		s.reads.Add(1)
		if read == 0 {
			return nil
		}
	}
}

// publishHanded publishes the entries the sequencer handed over, if they
// follow the position, and reports whether there were any.
func (s *Stream) publishHanded(ctx context.Context) (bool, error) {
	s.mu.Lock()
	handed := s.handed
	s.handed = nil
	s.mu.Unlock()
	// Entries at or below the position were read already; past a gap (a
	// step this instance did not take, as a snapshot's), read.
	for len(handed) > 0 && handed[0].Pos <= s.pos.Load() {
		handed = handed[1:]
	}
	if len(handed) == 0 || handed[0].Pos != s.pos.Load()+1 {
		return false, nil
	}
	return true, s.publish(ctx, handed)
}

// publish decodes entries that follow the position without a gap (or across
// a jump of the sequencer's, see store.DB.JumpAfter) and hands them to the
// sink.
func (s *Stream) publish(ctx context.Context, entries []store.Entry) error {
	from := s.pos.Load()
	batch := make([]Change, 0, len(entries))
	for _, e := range entries {
		if e.Pos != from+1 {
			next, jumped, err := s.db.JumpAfter(ctx, from)
			if err != nil {
				return err
			}
			if !jumped || next != e.Pos {
				return fmt.Errorf("journal gap: position %d follows %d", e.Pos, from)
			}
		}
		c, err := Decode(e)
		if err != nil {
			return err
		}
		batch = append(batch, c)
		from = e.Pos
	}
	s.sink.Publish(batch)
	s.last = entries[len(entries)-1].Stamp()
	s.pos.Store(from)
	s.advanceHead(from)
	return nil
}

// advanceHead records that positions up to head exist.
func (s *Stream) advanceHead(head int64) {
	for {
		h := s.head.Load()
		if head <= h || s.head.CompareAndSwap(h, head) {
			return
		}
	}
}

// sequence runs while this instance holds the leader lock. While
// transactions keep committing it steps every Busy interval (less often
// under heavy load, see busyInterval), and writers stay silent. When the
// journal has been quiet for Linger it takes the gate lock (see the
// migration's "Wake-ups"), steps once more, and then waits: the next writer
// sends a NOTIFY, and the fallback poll bounds the wait if one is ever lost.
//
// The gate is taken only when it is free, that is when every silent writer
// has ended, and never waited for: while a request for it waits, every
// writer's try of it fails, so each writer transaction would send a NOTIFY
// for as long as one that wrote earlier stays open (a session left idle in
// a transaction, a prepared transaction). While such a transaction keeps
// the gate, the sequencer stays busy and steps ever less often while
// nothing comes, down to every Busy times maxHeldFactor: a change committed
// meanwhile waits that long at most, as writers stay silent.
func (s *Stream) sequence(ctx context.Context) error {
	seq, err := s.db.Sequencer(ctx, s.opts.Lease)
	if err != nil {
		return err
	}
	defer func() {
		seq.Close() // ending the session releases the leader lock and opens the gate
		s.idle.Store(false)
	}()
	// Trying the lock every Poll keeps the session busy, as stepping does
	// once it is held (see Options.Lease).
	endStuck := true
	for {
		ok, err := seq.TryLock(ctx, leaderKey)
		if err != nil {
			return fmt.Errorf("leader lock: %w", err)
		}
		if ok {
			break
		}
		if endStuck {
			if endStuck, err = s.endStuckLeader(ctx, seq); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.opts.Poll):
		}
	}
	s.log.Info().Msg("this instance runs the sequencer")
	if ok, err := seq.ReportsTimeline(ctx); err != nil {
		return err
	} else if !ok {
		s.log.Warn().Msg("the database does not report its WAL timeline (pg_walfile_name is refused): " +
			"after a failover to a replica that lacked the latest transactions, positions are not skipped, " +
			"and only their tags tell clients' cursors from the lost history (see \"Restores and failovers\" in the README)")
	}
	s.leader.Store(true)
	// Pruning as it takes the lead gives the journal's figures (Stats) at
	// once.
	if err := s.prune(ctx, seq); err != nil {
		return err
	}
	prune := time.NewTicker(s.opts.PruneEvery)
	defer prune.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	idle := false
	lastWork, empty := time.Now(), 0
	held := 0 // tries of the gate that found it held since the last work
	// Other instances learn the head from the steps' NOTIFYs. While none
	// reads, steps send none (see pgfeed.step_read): an instance that
	// starts is seen within othersEvery, and until then finds new changes
	// by its fallback poll.
	var others bool
	var othersAt time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-prune.C:
			if err := s.prune(ctx, seq); err != nil {
				return err
			}
			continue
		case <-timer.C:
		case <-s.wakeSig:
			if idle {
				// Open the gate first, so writers stop sending NOTIFYs,
				// then step: the step sees every commit made so far.
				if err := seq.Unlock(ctx, gateKey); err != nil {
					return fmt.Errorf("open gate: %w", err)
				}
				idle, lastWork, empty = false, time.Now(), 0
				s.idle.Store(false)
			}
		}
		// Go idle only after several empty steps and Linger without work, so
		// that slow steps on a loaded server do not make writers NOTIFY.
		if !idle && empty >= 3 && time.Since(lastWork) >= s.opts.Linger {
			ok, err := seq.TryLock(ctx, gateKey)
			if err != nil {
				return fmt.Errorf("take gate: %w", err)
			}
			if ok {
				idle, held = true, 0
				s.idle.Store(true)
			} else {
				held++
			}
		}
		s.mu.Lock()
		room := maxHanded - len(s.handed)
		s.mu.Unlock()
		if time.Since(othersAt) >= othersEvery {
			if others, err = s.db.OtherReaders(ctx, s.opts.Name); err != nil {
				return err
			}
			othersAt = time.Now()
		}
		entries, pos, err := seq.StepRead(ctx, room, others)
		if err != nil {
			return err
		}
		s.steps.Add(1)
		if len(entries) > 0 {
			s.mu.Lock()
			s.handed = append(s.handed, entries...)
			s.mu.Unlock()
		}
		wait := s.opts.Busy
		if head := s.head.Load(); pos > head {
			wait = busyInterval(s.opts.Busy, pos-head)
			s.advanceHead(pos)
			signal(s.readSig)
			lastWork, empty, held = time.Now(), 0, 0
			if idle {
				// The step after taking the gate found work: stay busy.
				if err := seq.Unlock(ctx, gateKey); err != nil {
					return fmt.Errorf("open gate: %w", err)
				}
				idle = false
				s.idle.Store(false)
			}
		} else {
			empty++
		}
		switch {
		case idle:
			timer.Reset(s.opts.Poll)
		case held > 0:
			timer.Reset(s.opts.Busy * time.Duration(min(1<<min(held, 5), maxHeldFactor)))
		default:
			timer.Reset(wait)
		}
	}
}

// endStuckLeader ends the sequencing instance's session when it has been
// blocked for Lease sending results its process does not read (see
// store.Session.EndStuckHolder), so that this instance can take over. A
// live leader reads a step's results as they come, at most maxHanded
// entries, in far less than a Lease. It reports whether to go on checking:
// not when this instance may not end the leader's session.
func (s *Stream) endStuckLeader(ctx context.Context, seq *store.Session) (bool, error) {
	pid, err := seq.EndStuckHolder(ctx, leaderKey, s.opts.Lease)
	if store.IsInsufficientPrivilege(err) {
		s.log.Warn().Err(err).Msg("this instance may not end the session of a sequencing instance that stopped reading " +
			"its results, and will wait for it; grant pgfeed's role pg_signal_backend to let it")
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check the leader's session: %w", err)
	}
	if pid != 0 {
		s.log.Warn().Int32("pid", pid).Dur("lease", s.opts.Lease).Msg("ended the sequencing instance's database session: " +
			"it had been blocked sending results its process did not read for longer than the lease (a frozen process)")
	}
	return true, nil
}

// maxPublish is the most journal entries the reader publishes at once: it
// publishes a large transaction in pieces, in order, as it reads them, so
// that its memory does not grow with the transaction.
const maxPublish = 1000

// othersEvery is how often the sequencer looks for other instances'
// readers, to which its steps send the head.
const othersEvery = time.Second

// maxHeldFactor times Busy is the longest wait between steps while a
// writer's open transaction keeps the gate: with the default Busy, 50 ms.
// While such a transaction (a session left idle in it, say) stays open,
// pgfeed and its session then use about 3% of a core together, against 1%
// idle and 9-10% stepping every 10 ms.
const maxHeldFactor = 25

// Under heavy load the sequencer waits longer between steps: a step that
// stamped more than stepEntries journal entries is followed by a wait of
// Busy times entries/stepEntries, at most maxBusyFactor times Busy.
const (
	stepEntries   = 16
	maxBusyFactor = 5
)

// busyInterval is the wait before the next step after one that stamped n
// journal entries. At moderate rates a change waits at most busy for its
// step; under heavy load a step's fixed costs (its commit, its round trip,
// waking this process and its reader) are shared by more transactions, and
// the writers keep more of the server.
func busyInterval(busy time.Duration, n int64) time.Duration {
	d := busy * time.Duration(n) / stepEntries
	return min(max(d, busy), maxBusyFactor*busy)
}

// prune prunes by the retention options (with none, it only reads the
// journal's figures) and records the figures.
func (s *Stream) prune(ctx context.Context, seq *store.Session) error {
	pruned, kept, err := seq.Prune(ctx, s.opts.Retention, s.opts.RetentionBytes, s.pos.Load())
	if err != nil {
		return err
	}
	s.pruned.Store(pruned)
	s.journalBytes.Store(kept)
	s.log.Debug().Int64("pruned_upto", pruned).Msg("journal pruned")
	return nil
}

// backoff doubles a delay up to a maximum.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
