package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Run generates the load and prints the report.
func (m *Main) Run(ctx context.Context) error {
	c := &m.Config
	if c.Child {
		return m.runChild(ctx)
	}
	if c.DB == "" {
		c.DB = os.Getenv("DATABASE_URL")
	}
	if c.DB == "" {
		return errors.New("no database: pass -db or set DATABASE_URL")
	}
	pcfg, err := pgxpool.ParseConfig(c.DB)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	pcfg.MaxConns = writers
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	if c.Setup {
		if err := setup(ctx, pool, c.collections()); err != nil {
			return err
		}
	}

	rssBefore := rss(c.ServerPID)
	children, err := m.startChildren(ctx)
	if err != nil {
		return err
	}
	defer func() {
		for _, ch := range children {
			ch.stop()
		}
	}()
	connectStart := time.Now()
	conns, failed := 0, 0
	for _, ch := range children {
		r, err := ch.next()
		if err != nil {
			return err
		}
		conns += r.Conns
		failed += r.Failed
	}
	connectTime := time.Since(connectStart)
	rssAfter := rss(c.ServerPID)
	fmt.Fprintf(m.Out, "connected %d subscribers (%d failed) over %d collections in %s\n", conns, failed, c.collections(), connectTime.Round(time.Millisecond))

	inserts, skipped, writeTime, err := write(ctx, pool, c)
	if err != nil {
		return err
	}
	// Let the last changes arrive, then stop the children.
	drain := time.NewTimer(2 * time.Second)
	select {
	case <-drain.C:
	case <-ctx.Done():
	}
	rssEnd := rss(c.ServerPID)
	total := newHistogram()
	var msgs int64
	closed := 0
	for _, ch := range children {
		ch.stop()
		r, err := ch.next()
		if err != nil {
			return err
		}
		total.Merge(r.Latency)
		msgs += r.Messages
		closed += r.Closed
		if err := ch.wait(); err != nil {
			return err
		}
	}
	want := inserts * int64(c.Per)
	if rem := c.N % c.Per; rem != 0 {
		want = 0 // uneven collections: expected count not computed
	}
	fmt.Fprintf(m.Out, "wrote %d rows in %s (%.0f/s; %d skipped because the database was behind the rate)\n",
		inserts, writeTime.Round(time.Millisecond), float64(inserts)/writeTime.Seconds(), skipped)
	fmt.Fprintf(m.Out, "delivered %d messages (expected %d): %.0f messages/s; %d connections closed by the server\n",
		msgs, want, float64(msgs)/writeTime.Seconds(), closed)
	fmt.Fprintf(m.Out, "latency commit->client: p50 %s  p99 %s  max %s\n",
		total.Quantile(0.50).Round(10*time.Microsecond), total.Quantile(0.99).Round(10*time.Microsecond),
		(time.Duration(total.Max) * time.Microsecond).Round(10*time.Microsecond))
	if c.ServerPID != 0 && conns > 0 {
		fmt.Fprintf(m.Out, "server VmRSS: %d KiB before, %d KiB connected, %d KiB at the end: %.1f KiB per connection\n",
			rssBefore, rssAfter, rssEnd, float64(rssAfter-rssBefore)/float64(conns))
	}
	return nil
}

// setup creates and tracks the load tables.
func setup(ctx context.Context, pool *pgxpool.Pool, n int) error {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("load_%d", i)
		_, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+pgx.Identifier{name}.Sanitize()+
			` (id bigserial PRIMARY KEY, sent_at timestamptz NOT NULL, body text)`)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		_, err = pool.Exec(ctx, `SELECT pgfeed.track($1::regclass) WHERE NOT EXISTS
			(SELECT 1 FROM pgfeed.tracked WHERE rel = $1::regclass)`, name)
		if err != nil {
			return fmt.Errorf("track %s: %w", name, err)
		}
	}
	return nil
}

// writers is how many inserts run at once.
const writers = 32

// write inserts rows at the configured rate, round-robin over the
// collections, for the configured duration. Inserts the database cannot
// take at that rate are skipped and counted, not queued.
func write(ctx context.Context, pool *pgxpool.Pool, c *Config) (inserted, skipped int64, elapsed time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	body := strings.Repeat("x", c.Body)
	colls := c.collections()
	jobs := make(chan int, writers)
	errs := make(chan error, writers)
	done := make(chan int64, writers)
	for w := 0; w < writers; w++ {
		go func() {
			var n int64
			for coll := range jobs {
				if ctx.Err() != nil {
					continue // past the duration: drain without writing
				}
				_, err := pool.Exec(context.Background(), `INSERT INTO load_`+strconv.Itoa(coll)+` (sent_at, body) VALUES (clock_timestamp(), $1)`, body)
				if err != nil {
					errs <- err
					break
				}
				n++
			}
			done <- n
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var issued int64
	var werr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case werr = <-errs:
			break loop
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds() * float64(c.Rate))
		for ; issued < due; issued++ {
			select {
			case jobs <- int(issued % int64(colls)):
			default: // writers are behind: skip rather than queue without bound
				skipped++
			}
		}
	}
	close(jobs)
	for w := 0; w < writers; w++ {
		inserted += <-done
	}
	elapsed = time.Since(start)
	if werr != nil {
		return inserted, skipped, elapsed, fmt.Errorf("insert: %w", werr)
	}
	return inserted, skipped, elapsed, nil
}

// rss returns the VmRSS of pid in KiB, or 0.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// child is a connection-holding process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func (m *Main) startChildren(ctx context.Context) ([]*child, error) {
	c := &m.Config
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	var children []*child
	per := (c.N + c.Procs - 1) / c.Procs
	for first := 0; first < c.N; first += per {
		n := min(per, c.N-first)
		cmd := exec.CommandContext(ctx, exe, "-child", "-url", c.URL, "-n", strconv.Itoa(n), "-first", strconv.Itoa(first),
			"-per", strconv.Itoa(c.Per), "-sources", strconv.Itoa(c.Sources), "-procs", "1")
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start child: %w", err)
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		children = append(children, &child{cmd: cmd, stdin: stdin, out: sc})
	}
	return children, nil
}

func (ch *child) next() (*childReport, error) {
	if !ch.out.Scan() {
		if err := ch.out.Err(); err != nil {
			return nil, fmt.Errorf("read child: %w", err)
		}
		return nil, errors.New("child exited early")
	}
	var r childReport
	if err := json.Unmarshal(ch.out.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("child report: %w", err)
	}
	if r.Latency == nil {
		r.Latency = newHistogram()
	}
	return &r, nil
}

func (ch *child) stop() { ch.stdin.Close() }

func (ch *child) wait() error {
	if err := ch.cmd.Wait(); err != nil {
		return fmt.Errorf("child: %w", err)
	}
	return nil
}
