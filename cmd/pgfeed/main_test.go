package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestMainLifecycle drives Main in-process as the binary does: ParseFlags,
// Run until the context ends, Close (twice: Close is idempotent).
func TestMainLifecycle(t *testing.T) {
	logs := lifecycle(t, storetest.NewMigratedDB(t))
	if !strings.Contains(logs, `"message":"shutting down"`) {
		t.Fatalf("logs have no shutdown line:\n%s", logs)
	}
	if strings.Contains(logs, noFoldWarning) {
		t.Fatalf("logs warn of no C.utf8 collation where there is one:\n%s", logs)
	}
}

const noFoldWarning = "the database has no C.utf8 collation: case-insensitive filters (_icontains and friends) fold ASCII letters only"

// TestServeWarnsWithoutCUTF8 checks that serve says so where the database
// cannot fold every letter for the case-insensitive filters.
func TestServeWarnsWithoutCUTF8(t *testing.T) {
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `DROP COLLATION pg_catalog."C.utf8"`)
	logs := lifecycle(t, u)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"message":"`+noFoldWarning+`"`) && strings.Contains(line, `"level":"warn"`) {
			return
		}
	}
	t.Fatalf("logs have no warning of the missing collation:\n%s", logs)
}

// lifecycle runs serve over the database at u, checks /healthz and a clean
// shutdown, and returns the logs.
func lifecycle(t *testing.T, u string) string {
	t.Helper()
	m := NewMain()
	logs := &syncBuilder{}
	m.Stdout, m.Stderr = io.Discard, logs
	listening := make(chan net.Addr, 1)
	m.OnListen = func(a net.Addr) { listening <- a }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.ParseFlags(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--auth-mode", "public",
		"--database-url", u, "--log-format", "json"}); err != nil {
		t.Fatalf("ParseFlags: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	var addr net.Addr
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not listening after 30s")
	}
	res, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", res.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	return logs.String()
}

// syncBuilder collects log lines written from several goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
