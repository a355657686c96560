package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevLocalCluster runs `pgfeed dev` the way `make run` does on a fresh
// machine: no DATABASE_URL, so it starts PostgreSQL under .pgfeed/ in the
// working directory. The psql command it prints must work and its insert
// must reach a subscriber; a second start reuses the cluster and its data.
func TestDevLocalCluster(t *testing.T) {
	t.Parallel()
	// The cluster runs as an unprivileged user when the tests run as root,
	// so its folder must be reachable by that user.
	dir, err := os.MkdirTemp("", "pgfeed-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	s := startCommand(t, dir, cleanEnv(), "dev")
	if _, err := os.Stat(filepath.Join(dir, ".pgfeed", "pg", "data", "PG_VERSION")); err != nil {
		t.Fatalf("no cluster under .pgfeed/pg: %v", err)
	}
	line, _, err := s.stdout.waitFor(0, 10*time.Second, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "psql ") })
	if err != nil {
		t.Fatalf("pgfeed dev printed no psql command:\n%s", s.stdout)
	}
	s.waitReady(t)

	c := dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "1",
		"query": map[string]any{"fields": []string{"text"}}})
	if m := c.read(10 * time.Second); m["event"] != "init" {
		t.Fatalf("subscribe reply = %v, want init", m)
	}
	// Run the printed command as a user would paste it.
	if out, err := exec.Command("sh", "-c", strings.TrimSpace(line)).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	expectEvent(t, c, "1", "create", `[{"id":1,"text":"hi"}]`)

	if code := s.stop(30 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, ".pgfeed", "pg", "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("PostgreSQL still running after pgfeed dev stopped (postmaster.pid: %v)", err)
	}

	s = startCommand(t, dir, cleanEnv(), "dev")
	s.waitReady(t)
	c = dial(t, s.wsURL(), nil)
	c.send(map[string]any{"type": "subscribe", "collection": "messages", "uid": "2",
		"query": map[string]any{"fields": []string{"text"}}})
	m := c.read(10 * time.Second)
	jsonEqual(t, "init data after restart", m["data"], `[{"id":1,"text":"hi"}]`)
	if code := s.stop(30 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}
