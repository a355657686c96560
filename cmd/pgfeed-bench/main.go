// Command pgfeed-bench measures what change capture costs writers and how
// fast changes reach the stream, on a PostgreSQL it starts itself (or the one
// at -database-url).
//
// Throughput: writers commit the same INSERT into a tracked and an untracked
// table, side by side in one run (alternating every -phase on the same
// connections, see writers.go), with 1, 8 and 32 writers, single-row
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
	"os/signal"
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
	phase    time.Duration
	clients  []int
	rows     []int
	rate     int
	latFor   time.Duration
	durable  bool
	noStream bool
	busy     time.Duration
	runs     int
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pgfeed-bench", flag.ContinueOnError)
	var cfg config
	var clients, rows string
	fs.StringVar(&cfg.url, "database-url", "", "database to use (default: start a local cluster)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "measured time of each configuration, after its warm-up")
	fs.DurationVar(&cfg.warmup, "warmup", 10*time.Second, "time each configuration's connections write before any phase counts")
	fs.DurationVar(&cfg.phase, "phase", time.Second, "how long the writers stay on one table before they switch")
	fs.StringVar(&clients, "clients", "1,8,32", "concurrent writers (one connection each)")
	fs.StringVar(&rows, "rows", "1,100", "rows per INSERT statement")
	fs.IntVar(&cfg.rate, "rate", 1000, "changes per second for the latency run")
	fs.DurationVar(&cfg.latFor, "latency-duration", 10*time.Second, "length of the latency run")
	fs.BoolVar(&cfg.durable, "durable", true, "local cluster with fsync on (as in production)")
	fs.DurationVar(&cfg.busy, "busy", 0, "the stream's Busy interval (0: its default)")
	fs.BoolVar(verbose, "v", false, "print each configuration's phases, CPU time per transaction, steps and wake-ups, and the latency run's steps and its database sessions' CPU time")
	fs.BoolVar(&cfg.noStream, "no-stream", false, "measure the triggers alone, with no stream following the journal")
	fs.IntVar(&cfg.runs, "runs", 1, "times every configuration is measured; above 1 the table gives medians and each run's ratio")
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
	if cfg.runs < 1 {
		return fmt.Errorf("-runs must be at least 1, not %d", cfg.runs)
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
	db, err := store.Open(ctx, cfg.url, 0)
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
	steps := stream.Stats().Steps
	var sessions map[int]time.Duration
	local := false
	if *verbose {
		if sessions, local, err = sessionCPU(ctx, cfg.url); err != nil {
			return err
		}
	}
	p50, p99, max, n, err := measureLatency(ctx, cfg, lat)
	if err != nil {
		return fmt.Errorf("%w (stream: %+v)", err, stream.Stats())
	}
	fmt.Println("| changes | p50 | p99 | max |")
	fmt.Println("| ---: | ---: | ---: | ---: |")
	fmt.Printf("| %d | %s | %s | %s |\n", n, ms(p50), ms(p99), ms(max))
	if *verbose && local && n > 0 {
		now, _, err := sessionCPU(ctx, cfg.url)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "latency run: %d steps; pgfeed's database sessions used %.1f ms of CPU time per 1,000 changes\n",
			stream.Stats().Steps-steps, float64((cpuSince(sessions, now)*1000/time.Duration(n)).Microseconds())/1000)
	}
	return nil
}

func throughput(ctx context.Context, cfg config, stream *cdc.Stream) error {
	phases := int(cfg.duration / cfg.phase)
	phases -= phases % 4 // whole A B B A blocks
	if phases < 4 {
		return fmt.Errorf("-duration must hold at least four phases of %v", cfg.phase)
	}
	note, column, rule := "", "", ""
	if cfg.runs > 1 {
		note, column, rule = fmt.Sprintf("; medians of %d runs", cfg.runs), " ratio of each run |", " --- |"
	}
	fmt.Printf("# capture overhead: tx/s over %d alternating phases of %v per configuration, after %v of warm-up%s\n\n",
		phases, cfg.phase, cfg.warmup, note)
	fmt.Println("| statement | clients | untracked tx/s | tracked tx/s | ratio |" + column)
	fmt.Println("| --- | ---: | ---: | ---: | ---: |" + rule)
	type configuration struct {
		rows, clients int
		tps           [][2]float64 // untracked and tracked, one pair per run
	}
	var configs []*configuration
	for _, rows := range cfg.rows {
		for _, clients := range cfg.clients {
			configs = append(configs, &configuration{rows: rows, clients: clients})
		}
	}
	// Each run measures every configuration in turn, so that a slow spell of
	// the machine does not fall on one configuration's runs alone.
	for run := 1; run <= cfg.runs; run++ {
		for _, c := range configs {
			tps, err := overhead(ctx, cfg, stream, c.rows, c.clients, phases)
			if err != nil {
				return err
			}
			c.tps = append(c.tps, tps)
			if cfg.runs == 1 {
				fmt.Printf("| %d-row INSERT | %d | %.0f | %.0f | %.2f |\n", c.rows, c.clients, tps[0], tps[1], tps[1]/tps[0])
			} else {
				fmt.Fprintf(os.Stderr, "run %d: %d-row INSERT, %d clients: %.2f\n", run, c.rows, c.clients, tps[1]/tps[0])
			}
		}
	}
	if cfg.runs == 1 {
		return nil
	}
	for _, c := range configs {
		var plain, tracked, ratios []float64
		var each []string
		for _, tps := range c.tps {
			plain, tracked, ratios = append(plain, tps[0]), append(tracked, tps[1]), append(ratios, tps[1]/tps[0])
			each = append(each, fmt.Sprintf("%.2f", tps[1]/tps[0]))
		}
		fmt.Printf("| %d-row INSERT | %d | %.0f | %.0f | %.2f | %s |\n",
			c.rows, c.clients, median(plain), median(tracked), median(ratios), strings.Join(each, " "))
	}
	return nil
}

// overhead measures one configuration: tx/s of the untracked and the tracked
// table with clients writers of rows-row statements.
func overhead(ctx context.Context, cfg config, stream *cdc.Stream, rows, clients, phases int) ([2]float64, error) {
	// A single row as an application inserts one; more as one statement.
	insert := "INSERT INTO %s (a, b) VALUES (1, 'bench payload')"
	if rows > 1 {
		insert = "INSERT INTO %s (a, b) SELECT g, 'bench payload' FROM generate_series(1, " + strconv.Itoa(rows) + ") g"
	}
	stmts := [2]string{fmt.Sprintf(insert, "bench_plain"), fmt.Sprintf(insert, "bench_tracked")}
	// From a checkpoint, so that none lands in one configuration and not in
	// another.
	if err := checkpoint(ctx, cfg.url); err != nil {
		return [2]float64{}, err
	}
	before := stream.Stats()
	results, err := writers(ctx, cfg.url, stmts, clients, cfg.warmup, cfg.phase, phases)
	if err != nil {
		return [2]float64{}, err
	}
	tps, cpu, err := summary(results, cfg.phase)
	if err != nil {
		return [2]float64{}, err
	}
	if *verbose {
		after := stream.Stats()
		fmt.Fprintf(os.Stderr, "%d-row INSERT, %d clients: CPU per tx untracked %v, tracked %v; %d steps, %d reads, %d wake-ups\n",
			rows, clients, cpu[0].Round(time.Microsecond), cpu[1].Round(time.Microsecond),
			after.Steps-before.Steps, after.Reads-before.Reads, after.Wakeups-before.Wakeups)
		for p, r := range results {
			fmt.Fprintf(os.Stderr, "  phase %2d %s %.0f tx/s\n", p, []string{"untracked", "tracked  "}[r.table], float64(r.tx)/cfg.phase.Seconds())
		}
	}
	return tps, nil
}

// median returns the middle value of v (the mean of the two middle ones
// when there is an even number).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
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
