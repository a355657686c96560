package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// A run of writers alternates between two tables on the same connections:
// phases of equal length, in the order A B B A A B B A ..., so that a slow
// spell of the machine (it is shared, and its speed drifts by tens of
// percent within a minute) falls on both tables alike, and a drift within a
// block of four phases cancels out. Each writer sends the statement as
// pgbench's default (simple) protocol does, the text parsed each time, and
// the sockets are driven as pgbench drives them (see rawConn), so that the
// writers cost the machine about what pgbench would.
//
// Connections are opened once and warmed up on both tables before any
// phase counts: a fresh set of connections runs at about half its speed
// for the first seconds.

// phaseResult is what the writers did in one phase.
type phaseResult struct {
	table int           // index into the tables
	tx    int64         // statements committed (counted in the phase they began)
	cpu   time.Duration // busy CPU time of the whole machine, if known
}

// writers runs clients connections, each committing stmts[table] in a
// loop, through warmup and then phases phases of length phase.
func writers(ctx context.Context, url string, stmts [2]string, clients int, warmup, phase time.Duration, phases int) ([]phaseResult, error) {
	conns := make([]*rawConn, clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	for i := range conns {
		c, err := dialRaw(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("writer connection: %w", err)
		}
		conns[i] = c
	}
	var queries [2][]byte
	for t, sql := range stmts {
		q, err := (&pgproto3.Query{String: sql}).Encode(nil) // simple protocol
		if err != nil {
			return nil, err
		}
		queries[t] = q
	}

	// The current phase: the warm-up's phases are numbered below 0 and not
	// counted; phases when done.
	warm := int64((warmup + phase - 1) / phase)
	var current atomic.Int64
	current.Store(-warm)
	counts := make([]atomic.Int64, phases)
	tableOf := func(p int64) int {
		// A B B A: the table of phase p is bit 0 of p XOR bit 1 of p (for
		// warm-up phases too, which alternate as well).
		return int((p ^ p>>1) & 1)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := func() ([]byte, int64, bool) {
		p := current.Load()
		if p >= int64(phases) || ctx.Err() != nil {
			return nil, 0, true
		}
		return queries[tableOf(p)], p, false
	}
	done := func(p int64) {
		if p >= 0 {
			counts[p].Add(1)
		}
	}
	// Two threads, as pgbench -j 2, each with its share of the connections.
	threads := min(clients, 2)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + threads))
	var wg sync.WaitGroup
	errc := make(chan error, threads)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // poll(2) blocks the thread
			defer runtime.UnlockOSThread()
			if err := drive(conns[t*clients/threads:(t+1)*clients/threads], next, done); err != nil {
				errc <- err
				cancel()
			}
		}()
	}

	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	var err error
	results := make([]phaseResult, phases)
	var cpu time.Duration
	for p := -warm; p < int64(phases) && err == nil; p++ {
		current.Store(p)
		if p == 0 {
			cpu = busyCPU()
		}
		err = wait(phase)
		if p >= 0 {
			now := busyCPU()
			results[p] = phaseResult{table: tableOf(p), cpu: now - cpu}
			cpu = now
		}
	}
	current.Store(int64(phases))
	cancel()
	wg.Wait()
	select {
	case werr := <-errc:
		return nil, fmt.Errorf("writer: %w", werr)
	default:
	}
	if err != nil {
		return nil, err
	}
	for p := range results {
		results[p].tx = counts[p].Load()
	}
	return results, nil
}

// busyCPU is the machine's CPU time spent not idle since boot, from
// /proc/stat (0 where there is none): it tells what each transaction costs
// the machine, a figure less sensitive to a slow spell than throughput.
func busyCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	// user nice system idle iowait irq softirq: all but idle and iowait.
	d, err := ticks(append(f[1:4:4], f[6:8]...))
	if err != nil {
		return 0
	}
	return d
}

// ticks adds up CPU times given in /proc in clock ticks (USER_HZ, 100 a
// second).
func ticks(fields []string) (time.Duration, error) {
	var n int64
	for _, s := range fields {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		n += v
	}
	return time.Duration(n) * time.Second / 100, nil
}

// summary adds up the phases of each table: transactions per second and
// machine CPU time per transaction.
func summary(results []phaseResult, phase time.Duration) (tps [2]float64, cpuPerTx [2]time.Duration, err error) {
	var tx [2]int64
	var cpu [2]time.Duration
	var n [2]int
	for _, r := range results {
		tx[r.table] += r.tx
		cpu[r.table] += r.cpu
		n[r.table]++
	}
	for t := range tps {
		if tx[t] == 0 {
			return tps, cpuPerTx, errors.New("a table committed no transaction")
		}
		tps[t] = float64(tx[t]) / (float64(n[t]) * phase.Seconds())
		cpuPerTx[t] = cpu[t] / time.Duration(tx[t])
	}
	return tps, cpuPerTx, nil
}
