package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// newMessagesDB is a database with pgfeed installed and a tracked messages
// table, as a user sets it up.
func newMessagesDB(t *testing.T) string {
	t.Helper()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE TABLE messages (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			text text NOT NULL,
			author text,
			created_at timestamptz NOT NULL DEFAULT now());
		SELECT pgfeed.track('public.messages')`)
	return u
}

// expectEvent reads the next message and checks it is a subscription event
// of the given kind whose data equals wantData, with a cursor.
func expectEvent(t *testing.T, c *wsClient, uid, event, wantData string) string {
	t.Helper()
	m := c.read(10 * time.Second)
	if m["type"] != "subscription" || m["event"] != event || m["uid"] != uid {
		t.Fatalf("got %v, want a %q subscription event for uid %q", m, event, uid)
	}
	jsonEqual(t, event+" data", m["data"], wantData)
	cursor, ok := m["cursor"].(string)
	if !ok || cursor == "" {
		t.Fatalf("%s event %v has no cursor", event, m)
	}
	for k := range m {
		switch k {
		case "type", "event", "uid", "data", "cursor":
		default:
			t.Fatalf("%s event has unexpected field %q: %v", event, k, m)
		}
	}
	return cursor
}

// TestServe runs `pgfeed serve` on a database, subscribes with a plain
// WebSocket client, writes with SQL, checks the probes and metrics, and
// stops the server with SIGTERM: clients get close code 1001.
func TestServe(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('before', 'ann')`)
	s := startServer(t, u, "--auth-mode", "public")

	if code, body := get(t, s.httpURL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	s.waitReady(t)

	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "m",
		"query": map[string]any{"fields": []string{"id", "text"}}})
	init := c.read(10 * time.Second)
	if init["type"] != "subscription" || init["event"] != "init" || init["uid"] != "m" {
		t.Fatalf("first reply = %v, want an init", init)
	}
	jsonEqual(t, "init data", init["data"], `[{"id":1,"text":"before"}]`)
	initCursor, _ := init["cursor"].(string)
	if initCursor == "" {
		t.Fatalf("init %v has no cursor", init)
	}

	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('hi', 'bob')`)
	c1 := expectEvent(t, c, "m", "create", `[{"id":2,"text":"hi"}]`)
	storetest.Exec(t, u, `UPDATE messages SET text = 'hello' WHERE id = 2`)
	c2 := expectEvent(t, c, "m", "update", `[{"id":2,"text":"hello"}]`)
	storetest.Exec(t, u, `DELETE FROM messages WHERE id = 1`)
	expectEvent(t, c, "m", "delete", `[1]`)
	// One statement, one message.
	storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('a'), ('b'), ('c')`)
	c4 := expectEvent(t, c, "m", "create", `[{"id":3,"text":"a"},{"id":4,"text":"b"},{"id":5,"text":"c"}]`)
	if !increasing(t, initCursor, c1, c2, c4) {
		t.Fatalf("cursors %s, %s, %s, %s do not increase", initCursor, c1, c2, c4)
	}

	// A second client resumes from the first create's cursor: it gets
	// exactly what came after.
	r := dial(t, s.wsURL(), nil)
	r.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "r", "since": c1,
		"query": map[string]any{"fields": "id,text"}})
	resumed := r.read(10 * time.Second)
	if resumed["event"] != "init" || resumed["recovered"] != true {
		t.Fatalf("resume reply = %v, want init with recovered true", resumed)
	}
	expectEvent(t, r, "r", "update", `[{"id":2,"text":"hello"}]`)
	expectEvent(t, r, "r", "delete", `[1]`)
	expectEvent(t, r, "r", "create", `[{"id":3,"text":"a"},{"id":4,"text":"b"},{"id":5,"text":"c"}]`)

	code, metrics := get(t, s.httpURL()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"pgfeed_stream_position " + cursorPos(c4), "pgfeed_ws_connections 2", "pgfeed_stream_ready 1", "pgfeed_ws_subscriptions 2"} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics has no line %q", want)
		}
	}

	// SIGTERM: every client is told the server is going away.
	exit := make(chan int, 1)
	go func() { exit <- s.stop(20 * time.Second) }()
	for _, cl := range []*wsClient{c, r} {
		if code, reason := cl.expectClose(10 * time.Second); code != ws.StatusGoingAway {
			t.Errorf("close code = %d %q, want 1001", code, reason)
		}
	}
	if code := <-exit; code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}
}

// cursorPos is the position a cursor holds: what comes before its tag.
func cursorPos(cursor string) string {
	pos, _, _ := strings.Cut(cursor, ":")
	return pos
}

// increasing reports whether the cursors' positions increase.
func increasing(t *testing.T, cursors ...string) bool {
	t.Helper()
	prev := int64(-1)
	for _, c := range cursors {
		n, err := strconv.ParseInt(cursorPos(c), 10, 64)
		if err != nil || n <= prev {
			return false
		}
		prev = n
	}
	return true
}

// TestServeDemoPage checks the page and probes a user opens first.
func TestServeDemoPage(t *testing.T) {
	t.Parallel()
	s := startServer(t, newMessagesDB(t), "--auth-mode", "public")
	code, body := get(t, s.httpURL()+"/")
	if code != http.StatusOK || !strings.Contains(body, "<title>pgfeed demo</title>") {
		t.Fatalf("GET / = %d %.200q", code, body)
	}
	if code, body := get(t, s.httpURL()+"/app.js"); code != http.StatusOK || !strings.Contains(body, "/websocket") {
		t.Fatalf("GET /app.js = %d %.200q", code, body)
	}
	// Adding messages from the page is a dev-mode feature only.
	res, err := http.Post(s.httpURL()+"/demo/messages", "application/json", strings.NewReader(`{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusCreated {
		t.Fatalf("POST /demo/messages on pgfeed serve = %d, want it refused", res.StatusCode)
	}
	if code, body := get(t, s.httpURL()+"/websocket"); code != http.StatusBadRequest {
		t.Fatalf("GET /websocket without upgrade = %d %q, want 400", code, body)
	}
}
