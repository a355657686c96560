package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store/storetest"
)

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, url)
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %q after 30s, want %d", url, code, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeDatabaseRestart stops PostgreSQL under a running pgfeed:
// /readyz turns 503 while the database is away and 200 when it is back,
// clients stay connected, and changes flow again without a resubscribe.
func TestServeDatabaseRestart(t *testing.T) {
	t.Parallel()
	c := storetest.NewCluster(t, nil)
	u := c.URL("postgres")
	storetest.Migrate(t, u)
	storetest.Exec(t, u, `
		CREATE TABLE messages (id int PRIMARY KEY, text text);
		SELECT pgfeed.track('messages')`)
	s := servePublic(t, u)

	cl := dial(t, s.wsURL(), nil)
	cl.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "m"})
	if m := cl.read(10 * time.Second); m["event"] != "init" {
		t.Fatalf("subscribe reply = %v", m)
	}
	storetest.Exec(t, u, `INSERT INTO messages VALUES (1, 'before')`)
	expectEvent(t, cl, "m", "create", `[{"id":1,"text":"before"}]`)

	if err := c.Stop("immediate"); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	waitStatus(t, s.httpURL()+"/readyz", http.StatusServiceUnavailable)
	if code, _ := get(t, s.httpURL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d while the database is away, want 200 (the process is alive)", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Restart(ctx, "fast"); err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	waitStatus(t, s.httpURL()+"/readyz", http.StatusOK)
	storetest.Exec(t, u, `INSERT INTO messages VALUES (2, 'after')`)
	expectEvent(t, cl, "m", "create", `[{"id":2,"text":"after"}]`)
}
