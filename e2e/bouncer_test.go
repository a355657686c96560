package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestThroughPgBouncer: pgfeed works through PgBouncer in session mode, as
// the README says. PgBouncer refuses most settings in a connection's
// startup packet, so pgfeed SETs its own once connected: migrate, track
// and serve connect, a subscriber gets its snapshot and the changes, and
// rows render as they do without the pooler (bytea as hex, floats exact).
func TestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	cluster := storetest.NewCluster(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bouncer, err := cluster.StartBouncer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bouncer.Close() })
	direct, via := cluster.URL("postgres"), bouncer.URL("postgres")

	mustRun(t, via, "migrate", "up")
	storetest.Exec(t, direct, `CREATE TABLE readings (id int PRIMARY KEY, raw bytea, v float8);
		INSERT INTO readings VALUES (1, '\x00ff', 0.1::float8 + 0.2::float8)`)
	mustRun(t, via, "track", "readings")
	s := startServer(t, via, "--auth-mode", "public")
	s.waitReady(t)

	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": "readings", "uid": "r"})
	m := c.read(10 * time.Second)
	if m["event"] != "init" {
		t.Fatalf("subscribe reply = %v", m)
	}
	jsonEqual(t, "init data", m["data"], `[{"id":1,"raw":"\\x00ff","v":0.30000000000000004}]`)
	storetest.Exec(t, direct, `INSERT INTO readings VALUES (2, '\x01', 1.5)`)
	expectEvent(t, c, "r", "create", `[{"id":2,"raw":"\\x01","v":1.5}]`)
	if got := metricValue(t, s, "pgfeed_stream_leader"); got != "1" {
		t.Errorf("leader = %s, want 1: the sequencer's session holds its lock through the pooler", got)
	}
}
