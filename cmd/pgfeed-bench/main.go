// Command pgfeed-bench measures what change capture costs writers and how
// fast changes reach the stream, on a PostgreSQL it starts itself (or the one
// at -database-url).
//
// Throughput: pgbench runs the same INSERT script against a tracked and an
// untracked table, side by side in one run (alternating, each configuration
// -rounds times, median reported), with 1, 8 and 32 clients, single-row
// transactions and 100-row statements, while a pgfeed stream follows the
// journal as it would in production.
//
// Latency: a writer commits single-row inserts at a steady rate; the time
// from the commit's acknowledgement to the stream emitting the Change is
// reported as p50/p99/max.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/rs/zerolog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pgfeed-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	url      string
	duration time.Duration
	warmup   time.Duration
	rounds   int
	clients  []int
	rows     []int
	rate     int
	latFor   time.Duration
	durable  bool
	noStream bool
	busy     time.Duration
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pgfeed-bench", flag.ContinueOnError)
	var cfg config
	var clients, rows string
	fs.StringVar(&cfg.url, "database-url", "", "database to use (default: start a local cluster)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each pgbench run, after its warm-up")
	fs.DurationVar(&cfg.warmup, "warmup", 10*time.Second, "first part of each pgbench run, not counted")
	fs.IntVar(&cfg.rounds, "rounds", 3, "runs of each configuration (the median is reported)")
	fs.StringVar(&clients, "clients", "1,8,32", "pgbench client counts")
	fs.StringVar(&rows, "rows", "1,100", "rows per INSERT statement")
	fs.IntVar(&cfg.rate, "rate", 1000, "changes per second for the latency run")
	fs.DurationVar(&cfg.latFor, "latency-duration", 10*time.Second, "length of the latency run")
	fs.BoolVar(&cfg.durable, "durable", true, "local cluster with fsync on (as in production)")
	fs.DurationVar(&cfg.busy, "busy", 0, "the stream's Busy interval (0: its default)")
	fs.BoolVar(verbose, "v", false, "print each run's steps and wake-ups")
	fs.BoolVar(&cfg.noStream, "no-stream", false, "measure the triggers alone, with no stream following the journal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.clients, err = intList("clients", clients); err != nil {
		return err
	}
	if cfg.rows, err = intList("rows", rows); err != nil {
		return err
	}

	if cfg.url == "" {
		dir, err := os.MkdirTemp("", "pgfeed-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cluster, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Durable: cfg.durable,
			Settings: map[string]string{"max_connections": "200"}})
		if err != nil {
			return err
		}
		defer cluster.Close()
		cfg.url = cluster.URL("postgres")
	}
	if err := setup(ctx, cfg.url); err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.url)
	if err != nil {
		return err
	}
	defer db.Close()

	lat := &latencySink{}
	stream := cdc.NewStream(db, lat, cdc.Options{Name: "bench", StartAtHead: true, Busy: cfg.busy,
		Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel)})
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if !cfg.noStream {
		wg.Add(1)
		go func() { defer wg.Done(); stream.Run(sctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	for !cfg.noStream && !stream.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if len(cfg.clients) > 0 {
		if err := throughput(ctx, cfg, stream); err != nil {
			return err
		}
	}
	if cfg.latFor <= 0 {
		return nil
	}
	fmt.Printf("\n# commit-to-stream latency at %d changes/s for %v\n\n", cfg.rate, cfg.latFor)
	p50, p99, max, n, err := measureLatency(ctx, cfg, lat)
	if err != nil {
		return fmt.Errorf("%w (stream: %+v)", err, stream.Stats())
	}
	fmt.Println("| changes | p50 | p99 | max |")
	fmt.Println("| ---: | ---: | ---: | ---: |")
	fmt.Printf("| %d | %s | %s | %s |\n", n, ms(p50), ms(p99), ms(max))
	return nil
}

func throughput(ctx context.Context, cfg config, stream *cdc.Stream) error {
	fmt.Printf("# capture overhead: pgbench tps, median of %d runs of %v each after %v of warm-up\n\n",
		cfg.rounds, cfg.duration, cfg.warmup)
	fmt.Println("| statement | clients | untracked tps | tracked tps | ratio |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for _, rows := range cfg.rows {
		for _, clients := range cfg.clients {
			var plain, tracked []float64
			for r := 0; r < cfg.rounds; r++ {
				// Alternate which goes first, so drift favours neither.
				order := []string{"bench_plain", "bench_tracked"}
				if r%2 == 1 {
					order[0], order[1] = order[1], order[0]
				}
				for _, table := range order {
					before := stream.Stats()
					tps, err := pgbench(ctx, cfg, table, rows, clients)
					if err != nil {
						return err
					}
					after := stream.Stats()
					if *verbose {
						fmt.Fprintf(os.Stderr, "%s rows=%d clients=%d: %.0f tps, %d steps, %d reads, %d wake-ups\n",
							table, rows, clients, tps, after.Steps-before.Steps, after.Reads-before.Reads, after.Wakeups-before.Wakeups)
					}
					if table == "bench_plain" {
						plain = append(plain, tps)
					} else {
						tracked = append(tracked, tps)
					}
				}
			}
			p, t := median(plain), median(tracked)
			stmt := "1-row INSERT"
			if rows > 1 {
				stmt = fmt.Sprintf("%d-row INSERT", rows)
			}
			fmt.Printf("| %s | %d | %.0f | %.0f | %.2f |\n", stmt, clients, p, t, t/p)
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func setup(ctx context.Context, url string) error {
	m, err := store.NewMigrator(url)
	if err != nil {
		return err
	}
	if err := m.Up(); err != nil {
		m.Close()
		return err
	}
	m.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		DROP TABLE IF EXISTS bench_plain, bench_tracked, bench_latency;
		CREATE TABLE bench_plain (id bigserial PRIMARY KEY, a int, b text, at timestamptz DEFAULT now());
		CREATE TABLE bench_tracked (LIKE bench_plain INCLUDING ALL);
		CREATE TABLE bench_latency (id bigint PRIMARY KEY, at timestamptz DEFAULT now());
		SELECT pgfeed.track('bench_tracked'), pgfeed.track('bench_latency');`)
	return err
}

var verbose = new(bool)

// progressRe matches pgbench's per-second progress lines:
// "progress: 7.0 s, 6012.9 tps, lat 5.321 ms stddev 2.107, 0 failed".
var progressRe = regexp.MustCompile(`(?m)^progress: ([0-9.]+) s, ([0-9.]+) tps`)

// pgbench runs script against table for cfg.warmup plus cfg.duration and
// returns the transactions per second after the warm-up. New connections
// are slow for their first seconds (each server process maps shared memory
// as it first touches it), and applications keep theirs open, so the
// warm-up is left out. Each run starts from a checkpoint, so that none
// lands in the middle of one run and not of another.
func pgbench(ctx context.Context, cfg config, table string, rows, clients int) (float64, error) {
	bin, err := pglocal.BinDir()
	if err != nil {
		return 0, err
	}
	if err := checkpoint(ctx, cfg.url); err != nil {
		return 0, err
	}
	script := fmt.Sprintf("INSERT INTO %s (a, b) VALUES (1, 'bench payload');\n", table)
	if rows > 1 {
		script = fmt.Sprintf("INSERT INTO %s (a, b) SELECT g, 'bench payload' FROM generate_series(1, %d) g;\n", table, rows)
	}
	f := filepath.Join(os.TempDir(), fmt.Sprintf("pgfeed-bench-%d.sql", os.Getpid()))
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		return 0, err
	}
	defer os.Remove(f)
	jobs := clients
	if jobs > 2 {
		jobs = 2
	}
	secs := int((cfg.warmup + cfg.duration).Seconds())
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(jobs),
		"-T", strconv.Itoa(secs), "-P", "1", "-f", f, cfg.url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("pgbench: %w: %s", err, out.String())
	}
	var sum float64
	var n int
	for _, m := range progressRe.FindAllSubmatch(out.Bytes(), -1) {
		at, _ := strconv.ParseFloat(string(m[1]), 64)
		tps, _ := strconv.ParseFloat(string(m[2]), 64)
		if at > cfg.warmup.Seconds() {
			sum += tps
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("pgbench printed no progress after the warm-up: %s", out.String())
	}
	return sum / float64(n), nil
}

// checkpoint runs CHECKPOINT, which needs a superuser or pg_checkpoint.
func checkpoint(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint before a run (the role needs pg_checkpoint): %w", err)
	}
	return nil
}

// intList parses a comma-separated list of numbers given to flag name.
func intList(name, list string) ([]int, error) {
	var v []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("bad -%s: %w", name, err)
		}
		v = append(v, n)
	}
	return v, nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// latencySink records when each change of bench_latency reaches the stream.
type latencySink struct {
	mu   sync.Mutex
	seen map[int64]time.Time
}

func (s *latencySink) Publish(batch []cdc.Change) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		return
	}
	for _, c := range batch {
		if c.Collection != "bench_latency" {
			continue
		}
		for _, row := range c.New {
			// Rows look like {"id":123,"at":"..."}.
			i := bytes.Index(row, []byte(`"id":`))
			if i < 0 {
				continue
			}
			i += 5
			for i < len(row) && row[i] == ' ' {
				i++
			}
			j := i
			for j < len(row) && row[j] >= '0' && row[j] <= '9' {
				j++
			}
			id, _ := strconv.ParseInt(string(row[i:j]), 10, 64)
			s.seen[id] = now
		}
	}
}

func measureLatency(ctx context.Context, cfg config, sink *latencySink) (p50, p99, max time.Duration, n int, err error) {
	sink.mu.Lock()
	sink.seen = map[int64]time.Time{}
	sink.mu.Unlock()
	// Several connections share the rate, since one synchronous commit
	// (with fsync) can take longer than the interval between changes.
	const writers = 4
	var (
		mu        sync.Mutex
		committed = map[int64]time.Time{}
		nextID    int64
		wg        sync.WaitGroup
		errs      = make(chan error, writers)
	)
	interval := time.Second * writers / time.Duration(cfg.rate)
	end := time.Now().Add(cfg.latFor)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, cfg.url)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			time.Sleep(interval * time.Duration(w) / writers) // spread the writers over the interval
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for time.Now().Before(end) {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				mu.Lock()
				nextID++
				id := nextID
				mu.Unlock()
				if _, err := conn.Exec(ctx, `INSERT INTO bench_latency (id) VALUES ($1)`, id); err != nil {
					errs <- err
					return
				}
				at := time.Now()
				mu.Lock()
				committed[id] = at
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, 0, 0, 0, err
	default:
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		got := len(sink.seen)
		sink.mu.Unlock()
		if got >= len(committed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var lat []time.Duration
	for id, c := range committed {
		s, ok := sink.seen[id]
		if !ok {
			return 0, 0, 0, 0, fmt.Errorf("change %d never reached the stream", id)
		}
		d := s.Sub(c)
		if d < 0 {
			d = 0 // emitted before the client saw its commit acknowledged
		}
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pick := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	return pick(0.50), pick(0.99), lat[len(lat)-1], len(lat), nil
}
