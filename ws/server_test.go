package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/rs/zerolog"
)

// TestCloseGoingAway: Close sends every client 1001 and returns once they
// are gone; Serve returns.
func TestCloseGoingAway(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	a := e.dial(t, nil)
	b := e.dial(t, nil)
	b.send(`{"type":"subscribe","collection":"items","uid":1}`)
	b.expectPrefix(`{"type":"subscription","event":"init"`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close took %s", d)
	}
	a.expectClose(closeGoingAway)
	b.expectClose(closeGoingAway)
	if n := e.srv.Stats().Conns; n != 0 {
		t.Fatalf("conns=%d after close, want 0", n)
	}
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := dialWS(e.addr, "/websocket", nil); err == nil {
		t.Fatal("dial after close succeeded")
	}
}

// TestUpgradeOnKeptAliveConnection: a client that fetched a page and then
// upgrades on the same connection is served.
func TestUpgradeOnKeptAliveConnection(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "page") })
	e := newEnv(t, Config{HTTP: mux}, itemsSetup)
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "page" {
		t.Fatalf("body %q", body)
	}
	io.WriteString(nc, "GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	c := &client{t: t, nc: nc, br: br}
	c.alive()
}

// TestHTTPPaths: requests to other paths reach Config.HTTP with their
// bodies intact, also when pipelined on one connection.
func TestHTTPPaths(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	e := newEnv(t, Config{HTTP: mux}, itemsSetup)
	resp, err := http.Post("http://"+e.addr+"/echo", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST hello" {
		t.Fatalf("got %q", b)
	}
}

// TestNotReady: before the stream reports its position, a subscribe waits
// and then gets SERVICE_UNAVAILABLE; the connection keeps serving.
func TestNotReady(t *testing.T) {
	_, db := storetest.OpenMigrated(t, itemsSetup)
	srv, err := NewServer(Config{AuthMode: AuthPublic}, cdc.Journal{DB: db}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close(context.Background())
	c, err := dialWS(ln.Addr().String(), "/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	defer c.nc.Close()
	c.send(`{"type":"subscribe","collection":"items","uid":"w"}`)
	c.alive()
	m, err := c.next(readyTimeout + 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"subscribe","status":"error","error":{"code":"SERVICE_UNAVAILABLE","message":"the change stream is not ready yet; try again shortly"},"uid":"w"}`; m != want {
		t.Fatalf("got  %s\nwant %s", m, want)
	}
	srv.SetPosition(cdc.Mark{})
	c.send(`{"type":"subscribe","collection":"items","uid":"w"}`)
	c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":3,"name":"c","qty":30}],"uid":"w"`)
}

// TestPartialFrame: a client that sends half a frame and stalls does not
// hold the (single) worker: others are served, and the frame completes
// later.
func TestPartialFrame(t *testing.T) {
	e := newEnv(t, Config{Workers: 1}, itemsSetup)
	a := e.dial(t, nil)
	b := e.dial(t, nil)
	var frame bytes.Buffer
	if err := ws.WriteFrame(&frame, ws.MaskFrame(ws.NewTextFrame([]byte(`{"type":"ping","uid":"`+strings.Repeat("a", 40000)+`"}`)))); err != nil {
		t.Fatal(err)
	}
	raw := frame.Bytes()
	half := len(raw) / 2
	if _, err := a.nc.Write(raw[:half]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b.alive()
	}
	if _, err := a.nc.Write(raw[half:]); err != nil {
		t.Fatal(err)
	}
	if got := a.read(); !strings.HasPrefix(got, `{"type":"pong","uid":"aaa`) || len(got) != 40000+len(`{"type":"pong","uid":""}`) {
		t.Fatalf("pong of %d bytes: %.40s", len(got), got)
	}
	a.alive()
}
