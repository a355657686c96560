package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store/storetest"
)

// metricValue returns the value of an unlabelled metric on /metrics.
func metricValue(t *testing.T, s *server, name string) string {
	t.Helper()
	_, body := get(t, s.httpURL()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics of %s has no %s", s.addr, name)
	return ""
}

// TestTwoInstances runs two pgfeed instances on one database, as behind a
// load balancer: exactly one runs the sequencer, both deliver every change
// with the same cursor, and a client resumes on one instance with a cursor
// from the other; when the sequencer's instance stops, the other takes
// over.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	a := startServer(t, u, "--auth-mode", "public", "--name", "a")
	b := startServer(t, u, "--auth-mode", "public", "--name", "b")
	a.waitReady(t)
	b.waitReady(t)
	for deadline := time.Now().Add(10 * time.Second); ; {
		la, lb := metricValue(t, a, "pgfeed_stream_leader"), metricValue(t, b, "pgfeed_stream_leader")
		if la+lb == "10" || la+lb == "01" {
			break
		}
		if la+lb == "11" || time.Now().After(deadline) {
			t.Fatalf("leaders: a=%s b=%s, want exactly one", la, lb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	leader, follower := a, b
	if metricValue(t, b, "pgfeed_stream_leader") == "1" {
		leader, follower = b, a
	}
	if got := metricValue(t, follower, "pgfeed_sequencer_steps_total"); got != "0" {
		t.Errorf("the follower took %s sequencing steps, want 0", got)
	}
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, leader, "pgfeed_sequencer_steps_total") == "0"; {
		if time.Now().After(deadline) {
			t.Fatal("the leader took no sequencing step")
		}
		time.Sleep(20 * time.Millisecond)
	}

	sub := map[string]any{"type": "subscribe", "collection": "messages", "uid": "x",
		"query": map[string]any{"fields": []string{"id", "text"}}}
	ca, cb := subscribeOn(t, sub, a), subscribeOn(t, sub, b)
	storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('one')`)
	curA := expectEvent(t, ca, "x", "create", `[{"id":1,"text":"one"}]`)
	curB := expectEvent(t, cb, "x", "create", `[{"id":1,"text":"one"}]`)
	if curA != curB {
		t.Fatalf("cursor for the same change: a=%s b=%s", curA, curB)
	}
	storetest.Exec(t, u, `UPDATE messages SET text = 'two' WHERE id = 1`)
	if x, y := expectEvent(t, ca, "x", "update", `[{"id":1,"text":"two"}]`), expectEvent(t, cb, "x", "update", `[{"id":1,"text":"two"}]`); x != y {
		t.Fatalf("cursor for the same change: a=%s b=%s", x, y)
	}

	// Resume on b with a's first cursor: exactly the update follows.
	r := dial(t, b.wsURL(), nil)
	resume := map[string]any{"since": curA}
	for k, v := range sub {
		resume[k] = v
	}
	r.send(resume)
	if m := r.read(10 * time.Second); m["event"] != "init" || m["recovered"] != true {
		t.Fatalf("resume reply = %v, want init with recovered true", m)
	}
	expectEvent(t, r, "x", "update", `[{"id":1,"text":"two"}]`)

	// The sequencer's instance stops: the other takes over and its
	// clients keep receiving changes.
	leader, follower, fc := a, b, cb
	if metricValue(t, b, "pgfeed_stream_leader") == "1" {
		leader, follower, fc = b, a, ca
	}
	if code := leader.stop(20 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
	storetest.Exec(t, u, `DELETE FROM messages WHERE id = 1`)
	expectEvent(t, fc, "x", "delete", `[1]`) // sequenced by the remaining instance
	if got := metricValue(t, follower, "pgfeed_stream_leader"); got != "1" {
		t.Fatalf("remaining instance leader = %s, want 1", got)
	}
}

// subscribeOn dials s, sends sub and waits for its init.
func subscribeOn(t *testing.T, sub map[string]any, s *server) *wsClient {
	t.Helper()
	c := dial(t, s.wsURL(), nil)
	c.send(sub)
	if m := c.read(10 * time.Second); m["event"] != "init" {
		t.Fatalf("subscribe reply = %v", m)
	}
	return c
}

// waitMetric polls s's /metrics until the unlabelled metric name reads want.
func waitMetric(t *testing.T, s *server, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for got := metricValue(t, s, name); got != want; got = metricValue(t, s, name) {
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s = %s after %v, want %s", name, s.addr, got, timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFrozenLeader: the sequencing instance freezes (SIGSTOP here; a paused
// VM or a lost network alike) and so keeps its database sessions, and the
// leader lock, open. The server ends its sequencer session after
// --leader-timeout, the other instance takes over and its clients keep
// receiving changes; the frozen one, once it resumes, follows, and both give
// the same cursor to the same change.
func TestFrozenLeader(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	a := startServer(t, u, "--auth-mode", "public", "--name", "a", "--leader-timeout", "2s")
	waitMetric(t, a, "pgfeed_stream_leader", "1", 10*time.Second)
	b := startServer(t, u, "--auth-mode", "public", "--name", "b", "--leader-timeout", "2s")
	b.waitReady(t)
	sub := map[string]any{"type": "subscribe", "collection": "messages", "uid": "x",
		"query": map[string]any{"fields": []string{"id", "text"}}}
	ca, cb := subscribeOn(t, sub, a), subscribeOn(t, sub, b)

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			a.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the process is stopped
	frozen := time.Now()
	storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('one')`)
	one := expectEvent(t, cb, "x", "create", `[{"id":1,"text":"one"}]`)
	t.Logf("the change reached the other instance's client %v after the leader froze", time.Since(frozen).Round(time.Millisecond))
	if got := metricValue(t, b, "pgfeed_stream_leader"); got != "1" {
		t.Fatalf("remaining instance leader = %s, want 1", got)
	}

	resume()
	storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('two')`)
	two := expectEvent(t, cb, "x", "create", `[{"id":2,"text":"two"}]`)
	if got := expectEvent(t, ca, "x", "create", `[{"id":1,"text":"one"}]`); got != one {
		t.Errorf("cursor of the first change: resumed instance %s, other %s", got, one)
	}
	if got := expectEvent(t, ca, "x", "create", `[{"id":2,"text":"two"}]`); got != two {
		t.Errorf("cursor of the second change: resumed instance %s, other %s", got, two)
	}
	waitMetric(t, a, "pgfeed_stream_leader", "0", 10*time.Second)
	if got := metricValue(t, b, "pgfeed_stream_leader"); got != "1" {
		t.Fatalf("after the resume, leaders: a=0 b=%s, want b", got)
	}
}

// TestFilteredSubscription subscribes through the binary with a filter:
// init holds exactly the rows SQL selects, and updates that move rows in
// and out of the filter arrive as update and as delete with reason leave.
func TestFilteredSubscription(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('a1', 'ann'), ('b1', 'bob'), ('a2', 'ann')`)
	s := servePublic(t, u)
	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "ann",
		"query": map[string]any{"fields": []string{"id", "text"}, "filter": map[string]any{"author": map[string]any{"_eq": "ann"}}, "sort": []string{"id"}}})
	m := c.read(10 * time.Second)
	if m["event"] != "init" {
		t.Fatalf("subscribe reply = %v", m)
	}
	jsonEqual(t, "init data", m["data"], `[{"id":1,"text":"a1"},{"id":3,"text":"a2"}]`)

	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('b2', 'bob'), ('a3', 'ann')`)
	expectEvent(t, c, "ann", "create", `[{"id":5,"text":"a3"}]`)
	storetest.Exec(t, u, `UPDATE messages SET author = 'ann' WHERE id = 2`) // enters
	expectEvent(t, c, "ann", "update", `[{"id":2,"text":"b1"}]`)
	storetest.Exec(t, u, `UPDATE messages SET author = 'bob' WHERE id = 1`) // leaves
	m = c.read(10 * time.Second)
	if m["event"] != "delete" || m["reason"] != "leave" {
		t.Fatalf("update out of the filter = %v, want delete with reason leave", m)
	}
	jsonEqual(t, "leave data", m["data"], `[1]`)
	storetest.Exec(t, u, `DELETE FROM messages WHERE author = 'bob'`) // none of ann's
	storetest.Exec(t, u, `DELETE FROM messages WHERE id = 3`)
	expectEvent(t, c, "ann", "delete", `[3]`)
}
