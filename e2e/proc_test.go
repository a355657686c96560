package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lines collects the lines a process writes and lets tests wait for one.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{} // closed and replaced on every new line
	eof     chan struct{} // closed when the writer closed its end
}

func newLines() *lines { return &lines{changed: make(chan struct{}), eof: make(chan struct{})} }

func (l *lines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	defer close(l.eof)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
}

// snapshot returns the lines so far and a channel closed on the next one.
func (l *lines) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...), l.changed
}

func (l *lines) String() string {
	all, _ := l.snapshot()
	return strings.Join(all, "\n")
}

// waitFor returns the first line at index from or later that match accepts,
// and the index after it. It gives up at the timeout or when the process
// closes its output.
func (l *lines) waitFor(from int, timeout time.Duration, match func(string) bool) (string, int, error) {
	deadline := time.After(timeout)
	eof := false
	for {
		all, changed := l.snapshot()
		for i := from; i < len(all); i++ {
			if match(all[i]) {
				return all[i], i + 1, nil
			}
		}
		if eof {
			return "", len(all), errors.New("output ended")
		}
		select {
		case <-changed:
		case <-l.eof:
			eof = true // look once more at what came before the end
		case <-deadline:
			return "", len(all), errors.New("timed out")
		}
	}
}

// proc is a running pgfeed (or node) process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *lines
	stderr *lines
	done   chan struct{}
	err    error
}

// cleanEnv is the environment without pgfeed's own variables, so that the
// developer's shell settings do not leak into tests.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "PGFEED_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func startProc(t testing.TB, env []string, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: newLines(), stderr: newLines(), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	outR, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.stdout.read(outR) }()
	go func() { defer wg.Done(); p.stderr.read(errR) }()
	go func() {
		wg.Wait()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(15 * time.Second)
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p
}

// stop sends SIGTERM, waits up to timeout (then kills), and returns the exit
// code.
func (p *proc) stop(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.exitCode()
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Errorf("%s did not stop within %v of SIGTERM; killing it", p.cmd.Path, timeout)
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.exitCode()
}

// wait waits for the process to exit on its own and returns the exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v", p.cmd.Path, timeout)
		return -1
	}
}

func (p *proc) exitCode() int {
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// runPgfeed runs a pgfeed command to completion.
func runPgfeed(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pgfeedBin(t), args...)
	cmd.Env = cleanEnv(env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pgfeed %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// server is a running `pgfeed serve` or `pgfeed dev`.
type server struct {
	*proc
	addr string // host:port it listens on
}

func (s *server) httpURL() string { return "http://" + s.addr }
func (s *server) wsURL() string   { return "ws://" + s.addr + "/websocket" }

// startServer runs `pgfeed serve` on a free port of 127.0.0.1 against the
// database at dbURL and waits until it listens.
func startServer(t testing.TB, dbURL string, args ...string) *server {
	t.Helper()
	return startCommand(t, "", cleanEnv("DATABASE_URL="+dbURL), "serve", args...)
}

// servePublic starts `pgfeed serve` in public auth mode on dbURL and waits
// until it is ready.
func servePublic(t testing.TB, dbURL string) *server {
	t.Helper()
	s := startServer(t, dbURL, "--auth-mode", "public")
	s.waitReady(t)
	return s
}

func startCommand(t testing.TB, dir string, env []string, command string, args ...string) *server {
	t.Helper()
	args = append([]string{command, "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, args...)
	p := startProc(t, env, dir, pgfeedBin(t), args...)
	addr, err := listenAddr(p, 90*time.Second)
	if err != nil {
		t.Fatalf("pgfeed %s: %v\nstderr:\n%s", command, err, p.stderr)
	}
	return &server{proc: p, addr: addr}
}

// listenAddr waits for the "listening" log line and returns its address.
func listenAddr(p *proc, timeout time.Duration) (string, error) {
	var addr string
	_, _, err := p.stderr.waitFor(0, timeout, func(line string) bool {
		var e struct {
			Message string `json:"message"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Message == "listening" {
			addr = e.Addr
			return true
		}
		return false
	})
	if err != nil {
		select {
		case <-p.done:
			return "", fmt.Errorf("exited with code %d before listening", p.exitCode())
		case <-time.After(5 * time.Second):
		}
	}
	return addr, err
}

// get fetches a URL and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitReady polls /readyz until the change stream is caught up.
func (s *server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, s.httpURL()+"/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q after 30s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
