package cdc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// collector is a Sink that keeps everything it is given.
type collector struct {
	mu      sync.Mutex
	changes []cdc.Change
	start   int64
	changed chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1), start: -1} }

func (c *collector) SetPosition(pos int64) {
	c.mu.Lock()
	c.start = pos
	c.mu.Unlock()
}

func (c *collector) Publish(batch []cdc.Change) {
	c.mu.Lock()
	c.changes = append(c.changes, batch...)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *collector) all() []cdc.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cdc.Change(nil), c.changes...)
}

func (c *collector) last() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.changes) == 0 {
		return c.start
	}
	return c.changes[len(c.changes)-1].Pos
}

// waitFor waits until the collector holds position pos.
func (c *collector) waitFor(tb testing.TB, pos int64, timeout time.Duration) {
	tb.Helper()
	deadline := time.After(timeout)
	for c.last() < pos {
		select {
		case <-c.changed:
		case <-deadline:
			tb.Fatalf("stream reached position %d, want %d within %v", c.last(), pos, timeout)
		}
	}
}

// runStream runs a stream over db until the test ends.
func runStream(tb testing.TB, db *store.DB, sink cdc.Sink, opts cdc.Options) *cdc.Stream {
	tb.Helper()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)
	s := cdc.NewStream(db, sink, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			tb.Errorf("stream: %v", err)
		}
	})
	return s
}

// settle steps the sequencer directly and returns the journal head, so a
// test knows the last position its writes got.
func settle(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	pos, err := db.Step(context.Background())
	if err != nil {
		tb.Fatalf("step: %v", err)
	}
	return pos
}
