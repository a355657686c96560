package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/storetest"
	"github.com/pgfeed/pgfeed/ws"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) {
	// The load tool runs copies of itself; in a test, that is this binary.
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		main()
		return
	}
	storetest.Main(m)
}

// TestLoad runs the tool against a server and a stream in this process:
// every subscriber gets every row of its collection.
func TestLoad(t *testing.T) {
	u, db := storetest.OpenMigrated(t, "")
	srv, err := ws.NewServer(ws.Config{AuthMode: ws.AuthPublic}, cdc.Journal{DB: db}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ln)
	defer srv.Close(context.Background())
	stream := cdc.NewStream(db, srv, cdc.Options{Name: "load-test", StartAtHead: true, Poll: 50 * time.Millisecond, Logger: zerolog.Nop()})
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	var out bytes.Buffer
	m := &Main{Out: &out}
	err = m.ParseFlags([]string{"-db", u, "-url", "ws://" + ln.Addr().String() + "/websocket", "-setup",
		"-n", "200", "-per", "50", "-rate", "50", "-duration", "2s", "-procs", "2", "-sources", "4",
		"-server-pid", strconv.Itoa(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	if !bytes.Contains(out.Bytes(), []byte("connected 200 subscribers (0 failed) over 4 collections")) {
		t.Fatalf("report:\n%s", out.String())
	}
	rows := regexp.MustCompile(`wrote (\d+) rows`).FindSubmatch(out.Bytes())
	got := regexp.MustCompile(`delivered (\d+) messages \(expected (\d+)\)`).FindSubmatch(out.Bytes())
	if rows == nil || got == nil || string(got[1]) != string(got[2]) || string(got[1]) == "0" {
		t.Fatalf("report:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(string(rows[1])); n < 50 {
		t.Fatalf("wrote %d rows in 2s at 50/s", n)
	}
	if !regexp.MustCompile(`latency commit->client: p50 \S+ +p99 \S+ +max \S+`).Match(out.Bytes()) ||
		!regexp.MustCompile(`KiB per connection`).Match(out.Bytes()) {
		t.Fatalf("report:\n%s", out.String())
	}
}
