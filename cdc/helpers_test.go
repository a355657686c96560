package cdc_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) {
	if u := os.Getenv(snapshotLoopEnv); u != "" {
		snapshotLoop(u)
		return
	}
	storetest.Main(m)
}

// collector is a Sink that keeps everything it is given.
type collector struct {
	mu      sync.Mutex
	changes []cdc.Change
	start   cdc.Mark // where the stream started: Pos -1 until it does
	changed chan struct{}
}

func newCollector() *collector {
	return &collector{changed: make(chan struct{}, 1), start: cdc.Mark{Pos: -1}}
}

func (c *collector) SetPosition(at cdc.Mark) {
	c.mu.Lock()
	c.start = at
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

// started is where the stream started (Pos -1 until it does).
func (c *collector) started() cdc.Mark {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start
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
		return c.start.Pos
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

// startStream runs a stream over db, logging its warnings to the test,
// until stop is called or the test ends; done receives what Run returned.
func startStream(tb testing.TB, db *store.DB, sink cdc.Sink, opts cdc.Options) (s *cdc.Stream, stop context.CancelFunc, done <-chan error) {
	tb.Helper()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)
	s = cdc.NewStream(db, sink, opts)
	ctx, cancel := context.WithCancel(context.Background())
	result, ended := make(chan error, 1), make(chan struct{})
	go func() { result <- s.Run(ctx); close(ended) }()
	tb.Cleanup(func() { cancel(); <-ended })
	return s, cancel, result
}

// runStream runs a stream over db until the test ends, and fails the test
// if it ends otherwise.
func runStream(tb testing.TB, db *store.DB, sink cdc.Sink, opts cdc.Options) *cdc.Stream {
	tb.Helper()
	s, stop, done := startStream(tb, db, sink, opts)
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil && err != context.Canceled {
			tb.Errorf("stream: %v", err)
		}
	})
	return s
}

// newAppCluster starts a PostgreSQL cluster of the test's own (with extra
// settings), creates database app in it, migrates it and runs schema
// there; it returns the cluster and app's URL.
func newAppCluster(tb testing.TB, settings map[string]string, schema string) (*pglocal.Cluster, string) {
	tb.Helper()
	cluster := storetest.NewCluster(tb, settings)
	storetest.Exec(tb, cluster.URL("postgres"), `CREATE DATABASE app`)
	u := cluster.URL("app")
	storetest.Migrate(tb, u)
	storetest.Exec(tb, u, schema)
	return cluster, u
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
