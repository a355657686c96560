package ws

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestBadInput sends each kind of bad input and checks the PROTOCOL.md
// error, and that the connection keeps serving.
func TestBadInput(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	cases := []struct {
		desc string
		send string
		want string // exact reply, or a prefix ending in "..."
	}{
		{"not JSON", `hello`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"the message is not valid JSON"}}`},
		{"truncated JSON", `{"type":"subscribe"`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"the message is not valid JSON"}}`},
		{"JSON array", `[1,2]`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"a message must be a JSON object with a \"type\""}}`},
		{"JSON string", `"subscribe"`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"a message must be a JSON object with a \"type\""}}`},
		{"no type", `{"uid":"x"}`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"a message must have a string \"type\""}}`},
		{"type not a string", `{"type":5}`,
			`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"a message must have a string \"type\""}}`},
		{"unknown type", `{"type":"launch","uid":7}`,
			`{"type":"launch","status":"error","error":{"code":"INVALID_PAYLOAD","message":"unknown message type \"launch\"; expected auth, subscribe, unsubscribe, ping or pong"},"uid":7}`},
		{"uid an object", `{"type":"ping","uid":{"a":1}}`,
			`{"type":"ping","status":"error","error":{"code":"INVALID_PAYLOAD","message":"uid must be a string or a number"}}`},
		{"missing collection", `{"type":"subscribe","uid":"m"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"collection is required and must be a string"},"uid":"m"}`},
		{"collection not a string", `{"type":"subscribe","collection":["items"],"uid":"m"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"collection is required and must be a string"},"uid":"m"}`},
		{"unknown collection", `{"type":"subscribe","collection":"nope","uid":"m"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"nope\" does not exist or is not tracked"},"uid":"m"}`},
		{"untracked pgfeed table", `{"type":"subscribe","collection":"pgfeed.changes","uid":"m"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"pgfeed.changes\" does not exist or is not tracked"},"uid":"m"}`},
		{"injection in collection", `{"type":"subscribe","collection":"items; DROP TABLE items; --","uid":"m"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"items; DROP TABLE items; --\" does not exist or is not tracked"},"uid":"m"}`},
		{"injection in fields", `{"type":"subscribe","collection":"items","uid":"m","query":{"fields":["id\"; DROP TABLE items; --"]}}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":...`},
		{"injection in filter field", `{"type":"subscribe","collection":"items","uid":"m","query":{"filter":{"1=1) OR (true":{"_eq":1}}}}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":...`},
		{"injection in sort", `{"type":"subscribe","collection":"items","uid":"m","query":{"sort":["id; DROP TABLE items"]}}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":...`},
		{"unknown field", `{"type":"subscribe","collection":"items","uid":"m","query":{"fields":["nope"]}}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":"field \"nope\": no such field in \"items\""},"uid":"m"}`},
		{"bad operator", `{"type":"subscribe","collection":"items","uid":"m","query":{"filter":{"qty":{"_like":1}}}}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":...`},
		{"query not an object", `{"type":"subscribe","collection":"items","uid":"m","query":5}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":"query must be an object"},"uid":"m"}`},
		{"bad event", `{"type":"subscribe","collection":"items","uid":"m","event":"insert"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"event must be create, update or delete"},"uid":"m"}`},
		{"bad since", `{"type":"subscribe","collection":"items","uid":"m","since":"abc"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"since must be a cursor from an earlier event"},"uid":"m"}`},
		{"bad item", `{"type":"subscribe","collection":"items","uid":"m","item":"x"}`,
			`{"type":"subscribe","status":"error","error":{"code":"INVALID_QUERY","message":...`},
		{"auth without token", `{"type":"auth","email":"a@b.c","password":"secret"}`,
			`{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"only access_token authentication is supported"}}`},
		{"auth refresh token", `{"type":"auth","refresh_token":"r"}`,
			`{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"only access_token authentication is supported"}}`},
		{"auth bad token", `{"type":"auth","access_token":"not.a.jwt","uid":1}`,
			`{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"the access token is not valid"},"uid":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c.t = t
			c.send(tc.send)
			got := c.read()
			if p, ok := strings.CutSuffix(tc.want, "..."); ok {
				if !strings.HasPrefix(got, p) || !strings.HasSuffix(got, `"},"uid":"m"}`) {
					t.Fatalf("got  %s\nwant %s", got, tc.want)
				}
			} else if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			c.alive()
		})
	}
	c.t = t
	t.Run("binary frame", func(t *testing.T) {
		c.t = t
		c.writeFrame(ws.NewBinaryFrame([]byte(`{"type":"ping"}`)))
		c.expect(`{"type":"server","status":"error","error":{"code":"INVALID_PAYLOAD","message":"binary frames are not supported; send JSON text frames"}}`)
		c.alive()
	})
	t.Run("fragmented message", func(t *testing.T) {
		c.t = t
		f1 := ws.NewFrame(ws.OpText, false, []byte(`{"type":"ping",`))
		f2 := ws.NewFrame(ws.OpContinuation, true, []byte(`"uid":"frag"}`))
		c.writeFrame(f1)
		c.writeFrame(ws.NewPingFrame([]byte("p"))) // control frames may come in between
		c.writeFrame(f2)
		c.expect(`{"type":"pong","uid":"frag"}`)
	})
	// The table survived every injection attempt.
	e.exec(`SELECT count(*) FROM items`)
}

// TestOversizedFrame closes a connection that sends a frame over the limit
// with 1009, and leaves others alone.
func TestOversizedFrame(t *testing.T) {
	e := newEnv(t, Config{MaxFrameBytes: 64 << 10}, itemsSetup)
	other := e.dial(t, nil)
	c := e.dial(t, nil)
	c.send(`{"type":"ping","uid":"` + strings.Repeat("x", 70<<10) + `"}`)
	c.expectClose(closeTooBig)
	// Just under the limit is fine.
	c2 := e.dial(t, nil)
	c2.send(`{"type":"ping","uid":"` + strings.Repeat("x", 60<<10) + `"}`)
	if got := c2.read(); len(got) < 60<<10 {
		t.Fatalf("pong of %d bytes", len(got))
	}
	other.alive()
}

// TestBurst sends 10,000 subscribe messages as fast as possible: the server
// answers each with a subscription, LIMIT_EXCEEDED or REQUESTS_EXCEEDED,
// keeps the connection, and other clients are not affected.
func TestBurst(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	other := e.dial(t, nil)
	other.send(`{"type":"subscribe","collection":"items","event":"create","uid":"o"}`)
	other.expectPrefix(`{"type":"subscription","event":"init"`)

	c := e.dial(t, nil)
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			f := ws.MaskFrame(ws.NewTextFrame([]byte(fmt.Sprintf(`{"type":"subscribe","collection":"items","uid":%d,"query":{"fields":["id"]}}`, i))))
			if err := ws.WriteFrame(c.nc, f); err != nil {
				return
			}
		}
	}()
	var inits, limited, rated, other2 int
	for inits+limited+rated+other2 < n {
		m, err := c.next(20 * time.Second)
		if err != nil {
			t.Fatalf("after %d replies: %v", inits+limited+rated, err)
		}
		switch {
		case strings.HasPrefix(m, `{"type":"subscription","event":"init"`):
			inits++
		case strings.Contains(m, `"code":"LIMIT_EXCEEDED"`):
			limited++
		case strings.Contains(m, `"code":"REQUESTS_EXCEEDED"`):
			rated++
		default:
			other2++
			t.Errorf("unexpected reply %s", m)
		}
	}
	wg.Wait()
	if inits != 100 || limited == 0 || rated == 0 {
		t.Fatalf("inits=%d limited=%d rated=%d, want 100 subscriptions, some over the limit, some over the rate", inits, limited, rated)
	}
	t.Logf("replies: %d subscriptions, %d LIMIT_EXCEEDED, %d REQUESTS_EXCEEDED", inits, limited, rated)
	e.exec(`INSERT INTO items VALUES (1, 'a', 1)`)
	other.expectPrefix(`{"type":"subscription","event":"create","data":[{"id":1,"name":"a","qty":1}],"uid":"o"`)
	for i := 0; i < 100; i++ {
		c.expectPrefix(`{"type":"subscription","event":"create","data":[{"id":1}]`)
	}
	waitFor(t, "rate limit refill", func() bool { c.send(`{"type":"ping"}`); return c.read() == `{"type":"pong"}` })
}

// TestSlowConsumer: a client that never reads is closed with 1013 once its
// queue overflows, and other clients get every event on time.
func TestSlowConsumer(t *testing.T) {
	e := newEnv(t, Config{QueueBytes: 256 << 10}, itemsSetup)
	slow := e.dial(t, nil)
	slow.send(`{"type":"subscribe","collection":"items","event":"create","uid":"s"}`)
	slow.expectPrefix(`{"type":"subscription","event":"init"`)
	fast := e.dial(t, nil)
	fast.send(`{"type":"subscribe","collection":"items","event":"create","uid":"f","query":{"fields":["id"]}}`)
	fast.expectPrefix(`{"type":"subscription","event":"init"`)

	var got atomic.Int64
	done := make(chan error, 1)
	const rows = 200
	go func() {
		for got.Load() < rows {
			if _, err := fast.next(20 * time.Second); err != nil {
				done <- err
				return
			}
			got.Add(1)
		}
		done <- nil
	}()
	// 200 statements inserting a row of 64 KiB each: more than the socket
	// buffers and the queue hold.
	var sql strings.Builder
	for i := 0; i < rows; i++ {
		fmt.Fprintf(&sql, "INSERT INTO items VALUES (%d, repeat('x', 65536), 0);\n", 100+i)
	}
	inserted := make(chan error, 1)
	go func() {
		_, err := e.db.Pool().Exec(context.Background(), sql.String())
		inserted <- err
	}()
	waitFor(t, "the slow client to be closed", func() bool { return e.srv.Stats().SlowClosed == 1 })
	// The slow client, reading now (within the close grace period), finds
	// the close frame after what the server had written.
	ce := slow.expectClose(closeTryAgainLater)
	if !strings.Contains(ce.reason, "slow consumer") {
		t.Fatalf("close reason %q", ce.reason)
	}
	if err := <-inserted; err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("fast client: %v after %d events", err, got.Load())
	}
	fast.alive()
}

// TestUpgradeAnswers checks the HTTP answers of the upgrade and the other
// paths.
func TestUpgradeAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	e := newEnv(t, Config{MaxConns: 2, AllowedOrigins: []string{"https://app.example"}, HTTP: mux}, itemsSetup)

	status, body := rawHTTP(t, e.addr, "GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n")
	if status != 400 || !strings.Contains(body, "Upgrade") {
		t.Fatalf("plain GET /websocket: %d %q, want 400 with a reason", status, body)
	}
	upgrade := "GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if status, _ := rawHTTP(t, e.addr, upgrade+"Origin: https://evil.example\r\n\r\n"); status != 403 {
		t.Fatalf("forbidden origin: %d, want 403", status)
	}
	if status, _ := rawHTTP(t, e.addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); status != 200 {
		t.Fatalf("/healthz: %d, want 200", status)
	}
	if status, _ := rawHTTP(t, e.addr, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"); status != 404 {
		t.Fatalf("/nope: %d, want 404", status)
	}
	a := e.dial(t, http.Header{"Origin": {"https://app.example"}})
	b := e.dial(t, nil)
	if _, err := dialWS(e.addr, "/websocket", nil); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("third connection: %v, want 503", err)
	}
	a.alive()
	b.alive()
	a.nc.Close()
	waitFor(t, "a connection slot", func() bool { return e.srv.Stats().Conns < 2 })
	e.dial(t, nil).alive()

	// Same-host default: an Origin naming another host is refused.
	e2 := newEnv(t, Config{}, itemsSetup)
	if _, err := dialWS(e2.addr, "/websocket", http.Header{"Origin": {"http://other.example"}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("cross-origin: %v, want 403", err)
	}
	e2.dial(t, http.Header{"Origin": {"http://" + e2.addr}}).alive()
}

// TestAuth covers the handshake and strict modes.
func TestAuth(t *testing.T) {
	t.Run("handshake", func(t *testing.T) {
		e := newEnv(t, Config{AuthMode: AuthHandshake, AuthTimeout: 500 * time.Millisecond}, itemsSetup)
		c := e.dial(t, nil)
		c.send(`{"type":"subscribe","collection":"items","uid":1}`)
		c.expect(`{"type":"subscribe","status":"error","error":{"code":"AUTH_FAILED","message":"authenticate first: send {\"type\":\"auth\",\"access_token\":\"...\"}"},"uid":1}`)
		c.send(`{"type":"auth","access_token":"` + token(t, "u1", time.Now().Add(-time.Minute)) + `"}`)
		c.expect(`{"type":"auth","status":"error","error":{"code":"TOKEN_EXPIRED","message":"the access token has expired"}}`)
		c.send(`{"type":"auth","access_token":"` + token(t, "u1", time.Now().Add(time.Hour)) + `","uid":"a"}`)
		c.expect(`{"type":"auth","status":"ok","uid":"a"}`)
		c.send(`{"type":"subscribe","collection":"items","uid":1,"event":"create"}`)
		c.expectPrefix(`{"type":"subscription","event":"init","uid":1`)

		// A token signed with another secret.
		bad := e.dial(t, nil)
		other, _ := jwtWithSecret("u2", []byte("other"))
		bad.send(`{"type":"auth","access_token":"` + other + `"}`)
		bad.expect(`{"type":"auth","status":"error","error":{"code":"AUTH_FAILED","message":"the access token is not valid"}}`)

		// No auth within the timeout.
		idle := e.dial(t, nil)
		idle.expect(`{"type":"auth","status":"error","error":{"code":"AUTH_TIMEOUT","message":"no valid auth message within 500ms"}}`)
		idle.expectClose(closePolicy)
		c.alive()

		// A token given at the upgrade authenticates.
		q, err := dialWS(e.addr, "/websocket?access_token="+token(t, "u3", time.Time{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		q.t = t
		defer q.nc.Close()
		q.send(`{"type":"subscribe","collection":"items","uid":1,"event":"create"}`)
		q.expectPrefix(`{"type":"subscription","event":"init","uid":1`)
	})
	t.Run("expiry", func(t *testing.T) {
		e := newEnv(t, Config{AuthMode: AuthHandshake, AuthTimeout: 2 * time.Second}, itemsSetup)
		c := e.dial(t, nil)
		exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
		c.send(`{"type":"auth","access_token":"` + token(t, "u1", exp) + `"}`)
		c.expect(`{"type":"auth","status":"ok"}`)
		c.send(`{"type":"subscribe","collection":"items","uid":1,"event":"create","query":{"fields":["id"]}}`)
		c.expectPrefix(`{"type":"subscription","event":"init","uid":1`)
		c.expect(`{"type":"auth","status":"error","error":{"code":"TOKEN_EXPIRED","message":"the access token expired; send a fresh auth message"}}`)
		e.exec(`INSERT INTO items VALUES (1, 'paused', 0)`)
		waitFor(t, "the insert to be published", func() bool { return e.srv.Stats().Changes > 0 })
		c.send(`{"type":"auth","access_token":"` + token(t, "u1", time.Now().Add(time.Hour)) + `"}`)
		c.expect(`{"type":"auth","status":"ok"}`)
		e.exec(`INSERT INTO items VALUES (2, 'resumed', 0)`)
		c.expectPrefix(`{"type":"subscription","event":"create","data":[{"id":2}],"uid":1`)
	})
	t.Run("strict", func(t *testing.T) {
		e := newEnv(t, Config{AuthMode: AuthStrict, TokenCookie: "sess"}, itemsSetup)
		if _, err := dialWS(e.addr, "/websocket", nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("no token: %v, want 401", err)
		}
		if _, err := dialWS(e.addr, "/websocket?access_token=bad", nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("bad token: %v, want 401", err)
		}
		for _, h := range []http.Header{
			{"Authorization": {"Bearer " + token(t, "u", time.Now().Add(time.Hour))}},
			{"Cookie": {"a=b; sess=" + token(t, "u", time.Now().Add(time.Hour))}},
		} {
			c := e.dial(t, h)
			c.send(`{"type":"subscribe","collection":"items","uid":1,"event":"create"}`)
			c.expectPrefix(`{"type":"subscription","event":"init","uid":1`)
		}
	})
}

func jwtWithSecret(sub string, secret []byte) (string, error) {
	return signed(sub, secret)
}

// TestHeartbeat: the server pings each period; a client that answers stays,
// one that sends nothing is closed.
func TestHeartbeat(t *testing.T) {
	e := newEnv(t, Config{Heartbeat: 200 * time.Millisecond}, itemsSetup)
	live := e.dial(t, nil)
	silent := e.dial(t, nil)
	start := time.Now()
	for i := 0; i < 4; i++ {
		live.expect(`{"type":"ping"}`)
		live.send(`{"type":"pong"}`)
	}
	ce := silent.expectClose(closeNormal)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("silent client closed after %s", d)
	}
	if !strings.Contains(ce.reason, "heartbeat") {
		t.Fatalf("reason %q", ce.reason)
	}
	live.send(`{"type":"ping","uid":"x"}`)
	for {
		m := live.read()
		if m == `{"type":"ping"}` {
			continue
		}
		if m != `{"type":"pong","uid":"x"}` {
			t.Fatalf("got %s", m)
		}
		break
	}
}

// TestLargeInit: an init larger than the queue bound is delivered; the
// bound is on frames waiting, not on one frame's size.
func TestLargeInit(t *testing.T) {
	e := newEnv(t, Config{QueueBytes: 64 << 10}, itemsSetup)
	e.exec(`INSERT INTO items SELECT i, repeat('y', 10000), i FROM generate_series(10, 29) i`)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","uid":"big"}`)
	got := c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":3,`)
	if len(got) < 200000 {
		t.Fatalf("init of %d bytes", len(got))
	}
	c.alive()
	if n := e.srv.Stats().SlowClosed; n != 0 {
		t.Fatalf("slow closed %d", n)
	}
}
