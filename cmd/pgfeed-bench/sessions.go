package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// sessionCPU is the CPU time each of pgfeed's database sessions (those named
// application_name 'pgfeed') has used so far, by backend pid. It reads
// /proc, so it works only when PostgreSQL runs on this machine: ok is false
// when a session's process cannot be read.
func sessionCPU(ctx context.Context, url string) (cpu map[int]time.Duration, ok bool, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgfeed'`)
	if err != nil {
		return nil, false, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, false, err
	}
	cpu = make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		d, err := processCPU(int(pid))
		if err != nil {
			return nil, false, nil
		}
		cpu[int(pid)] = d
	}
	return cpu, true, nil
}

// cpuSince adds up what the sessions in now used since before; a session
// that did not exist before counts from its start.
func cpuSince(before, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range now {
		d += t - before[pid]
	}
	return d
}

// processCPU is the user and system CPU time of process pid, from
// /proc/pid/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields that
	// follow it start with the state (field 3); utime and stime are fields
	// 14 and 15.
	var f []string
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
		f = strings.Fields(string(b[i+1:]))
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	d, err := ticks(f[11:13])
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return d, nil
}
