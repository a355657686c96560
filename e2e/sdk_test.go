package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// sdkLine is one line the Node client prints.
type sdkLine struct {
	Kind string         `json:"kind"`
	Code int            `json:"code"`
	Msg  map[string]any `json:"msg"`
}

// sdkClient runs e2e/node/sdk_client.mjs: a program on @directus/sdk's
// realtime client subscribed to messages.
type sdkClient struct {
	t    *testing.T
	p    *proc
	next int // index of the first stdout line not yet consumed
}

func startSDK(t *testing.T, url, authMode, token string, env ...string) *sdkClient {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "e2e", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@directus", "sdk")); err != nil {
		t.Fatalf("@directus/sdk is not installed: run `make deps` (npm ci in e2e/node): %v", err)
	}
	env = cleanEnv(append([]string{"PGFEED_URL=" + url, "PGFEED_AUTH_MODE=" + authMode, "PGFEED_TOKEN=" + token}, env...)...)
	return &sdkClient{t: t, p: startProc(t, env, dir, "node", "sdk_client.mjs")}
}

// expect waits for the next line that match accepts, skipping others.
func (c *sdkClient) expect(what string, match func(sdkLine) bool) sdkLine {
	c.t.Helper()
	var got sdkLine
	_, next, err := c.p.stdout.waitFor(c.next, 15*time.Second, func(s string) bool {
		var l sdkLine
		if json.Unmarshal([]byte(s), &l) != nil || !match(l) {
			return false
		}
		got = l
		return true
	})
	if err != nil {
		c.t.Fatalf("SDK client: waiting for %s: %v\nstdout:\n%s\nstderr:\n%s", what, err, c.p.stdout, c.p.stderr)
	}
	c.next = next
	return got
}

// expectEvent waits for a subscription event in the frames the server sent
// (raw) and, when yielded, in what the SDK's subscription generator yields
// (message); it returns the data.
func (c *sdkClient) expectEvent(kind, event string) any {
	c.t.Helper()
	l := c.expect(kind+" "+event, func(l sdkLine) bool {
		return l.Kind == kind && l.Msg["type"] == "subscription" && l.Msg["event"] == event
	})
	if _, ok := l.Msg["cursor"].(string); !ok && event != "unsubscribe" {
		c.t.Fatalf("%s event has no cursor: %v", event, l.Msg)
	}
	return l.Msg["data"]
}

// expectOpen waits until the SDK reports its connection open.
func (c *sdkClient) expectOpen(what string) {
	c.t.Helper()
	c.expect(what, func(l sdkLine) bool { return l.Kind == "open" })
}

// exit tells the client to disconnect and checks that it ends cleanly.
func (c *sdkClient) exit() {
	c.t.Helper()
	c.command("exit")
	if code := c.p.wait(10 * time.Second); code != 0 {
		c.t.Fatalf("SDK client exit code %d\nstderr:\n%s", code, c.p.stderr)
	}
}

func (c *sdkClient) command(cmd string) {
	c.t.Helper()
	if _, err := c.p.stdin.Write([]byte(cmd + "\n")); err != nil {
		c.t.Fatalf("SDK client: %v", err)
	}
}

func signToken(t *testing.T, secret string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":  "9f1c7c4e-0000-4000-8000-000000000001",
		"id":   "9f1c7c4e-0000-4000-8000-000000000001",
		"role": "reader",
		"iss":  "directus",
		"iat":  time.Now().Unix(),
		"exp":  time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestDirectusSDK runs the official @directus/sdk realtime client against
// pgfeed, unchanged: public mode, and handshake mode with an HS256 access
// token. It subscribes with fields, gets init and then create, update and
// delete from SQL writes; survives a server restart (the SDK reconnects and
// re-subscribes); and unsubscribes.
func TestDirectusSDK(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"public", "handshake"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			u := newMessagesDB(t)
			const jwtSecret = "e2e-jwt-secret-0123456789abcdef"
			args := []string{"--auth-mode", mode, "--jwt-secret", jwtSecret}
			s := startServer(t, u, args...)
			s.waitReady(t)
			token := ""
			if mode == "handshake" {
				token = signToken(t, jwtSecret)
			}
			lb := startProxy(t, s.addr)
			c := startSDK(t, "http://"+lb.addr(), mode, token)

			// In handshake mode the SDK reports the connection open only
			// after the server accepted its auth message.
			c.expectOpen("open")
			jsonEqual(t, "init data", c.expectEvent("message", "init"), `[]`)

			storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('hello', 'ann')`)
			jsonEqual(t, "create data", c.expectEvent("message", "create"), `[{"id":1,"text":"hello"}]`)
			storetest.Exec(t, u, `UPDATE messages SET text = 'hello again' WHERE id = 1`)
			jsonEqual(t, "update data", c.expectEvent("message", "update"), `[{"id":1,"text":"hello again"}]`)
			storetest.Exec(t, u, `DELETE FROM messages WHERE id = 1`)
			jsonEqual(t, "delete data", c.expectEvent("message", "delete"), `[1]`)

			// A rolling restart behind a load balancer: a second instance
			// starts on the same database, the balancer sends new
			// connections to it, and the first one stops. The SDK sees
			// 1001, reconnects, authenticates and re-sends its subscription.
			s2 := startServer(t, u, args...)
			s2.waitReady(t)
			lb.setTarget(s2.addr)
			if code := s.stop(20 * time.Second); code != 0 {
				t.Fatalf("server exit code = %d", code)
			}
			if l := c.expect("close", func(l sdkLine) bool { return l.Kind == "close" }); l.Code != 1001 {
				t.Fatalf("SDK saw close code %d, want 1001", l.Code)
			}
			c.expectOpen("reopen")
			jsonEqual(t, "init data after reconnect", c.expectEvent("raw", "init"), `[]`)
			// The SDK may re-send its subscription twice after a reconnect
			// (from its reconnect hook and from the subscription generator);
			// the same uid replaces the subscription, so the new row comes
			// either as a create or in the second init.
			storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('after restart')`)
			l := c.expect("the new row", func(l sdkLine) bool {
				if l.Kind != "raw" || l.Msg["type"] != "subscription" {
					return false
				}
				b, _ := json.Marshal(l.Msg["data"])
				return (l.Msg["event"] == "create" || l.Msg["event"] == "init") && strings.Contains(string(b), `"after restart"`)
			})
			if l.Msg["event"] == "create" {
				jsonEqual(t, "create after reconnect", l.Msg["data"], `[{"id":2,"text":"after restart"}]`)
			} else {
				jsonEqual(t, "init after reconnect", l.Msg["data"], `[{"id":2,"text":"after restart"}]`)
			}
			storetest.Exec(t, u, `UPDATE messages SET text = 'changed after restart' WHERE id = 2`)
			jsonEqual(t, "update after reconnect", c.expectEvent("message", "update"), `[{"id":2,"text":"changed after restart"}]`)

			c.command("unsubscribe")
			c.expectEvent("raw", "unsubscribe")
			storetest.Exec(t, u, `INSERT INTO messages (text) VALUES ('unheard')`)
			// A subscribed client gets an event within milliseconds; give
			// an unsubscribed one a full second to show it gets none.
			if _, _, err := c.p.stdout.waitFor(c.next, time.Second, func(s string) bool {
				var l sdkLine
				return json.Unmarshal([]byte(s), &l) == nil && l.Kind == "raw" && l.Msg["type"] == "subscription"
			}); err == nil {
				t.Fatalf("event after unsubscribe:\n%s", c.p.stdout)
			}
			if mode == "handshake" {
				// A token signed with another secret: the SDK's connect fails.
				bad := startSDK(t, "http://"+lb.addr(), mode, signToken(t, "not-the-secret-0123456789abcdef"))
				bad.expect("connect error", func(l sdkLine) bool { return l.Kind == "connect-error" })
				if code := bad.p.wait(10 * time.Second); code != 3 {
					t.Fatalf("SDK client with a bad token exit code %d, want 3", code)
				}
			}
			c.exit()
		})
	}
}

// TestDirectusSDKBackToBack checks the README's advice for Node: with the
// ws package delivering one frame per tick (allowSynchronousEvents off), the
// SDK's subscription generator yields every event of a transaction, though
// pgfeed sends them back to back.
func TestDirectusSDKBackToBack(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	s := servePublic(t, u)
	c := startSDK(t, s.httpURL(), "public", "", "PGFEED_PACED=1")
	c.expectOpen("open")
	jsonEqual(t, "init data", c.expectEvent("message", "init"), `[]`)

	storetest.Exec(t, u, `BEGIN;
		INSERT INTO messages (text) VALUES ('one');
		INSERT INTO messages (text) VALUES ('two');
		UPDATE messages SET text = 'three' WHERE id = 1;
		DELETE FROM messages WHERE id = 2;
		COMMIT`)
	jsonEqual(t, "first create", c.expectEvent("message", "create"), `[{"id":1,"text":"one"}]`)
	jsonEqual(t, "second create", c.expectEvent("message", "create"), `[{"id":2,"text":"two"}]`)
	jsonEqual(t, "update", c.expectEvent("message", "update"), `[{"id":1,"text":"three"}]`)
	jsonEqual(t, "delete", c.expectEvent("message", "delete"), `[2]`)
	c.exit()
}

// TestDirectusSDKSearch checks a query as the SDK sends it (each part
// turned into a string: fields comma-separated, the filter as JSON): a
// search with a filter, over the snapshot and the events.
func TestDirectusSDKSearch(t *testing.T) {
	t.Parallel()
	u := newMessagesDB(t)
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('apple', 'ann'), ('banana', 'ann'), ('apple pie', 'bob')`)
	s := servePublic(t, u)
	c := startSDK(t, s.httpURL(), "public", "", `PGFEED_QUERY={"fields":["id","text"],"search":"APP","filter":{"author":{"_nieq":"BOB"}}}`)
	c.expectOpen("open")
	jsonEqual(t, "init data", c.expectEvent("raw", "init"), `[{"id":1,"text":"apple"}]`)

	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('cherry', 'ann')`)    // id 4: no "app"
	storetest.Exec(t, u, `INSERT INTO messages (text, author) VALUES ('Pineapple', 'ann')`) // id 5
	jsonEqual(t, "create data", c.expectEvent("raw", "create"), `[{"id":5,"text":"Pineapple"}]`)
	storetest.Exec(t, u, `UPDATE messages SET text = 'pear' WHERE id = 1`)
	l := c.expect("leave", func(l sdkLine) bool { return l.Kind == "raw" && l.Msg["event"] == "delete" })
	if l.Msg["reason"] != "leave" {
		t.Fatalf("update out of the search: %v, want a delete with reason leave", l.Msg)
	}
	jsonEqual(t, "leave data", l.Msg["data"], `[1]`)
	c.exit()
}
