package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestWritersCountEveryCommit: the writers alternate tables A B B A, and
// the transactions counted per phase add up to the rows each table holds.
func TestWritersCountEveryCommit(t *testing.T) {
	u := storetest.NewDB(t)
	storetest.Exec(t, u, `CREATE TABLE a (id serial PRIMARY KEY); CREATE TABLE b (id serial PRIMARY KEY)`)
	ctx := context.Background()
	results, err := writers(ctx, u, [2]string{"INSERT INTO a DEFAULT VALUES", "INSERT INTO b DEFAULT VALUES"},
		3, 0, 100*time.Millisecond, 8)
	if err != nil {
		t.Fatal(err)
	}
	var counted [2]int64
	var order []int
	for _, r := range results {
		if r.tx == 0 {
			t.Fatalf("a phase committed nothing: %+v", results)
		}
		counted[r.table] += r.tx
		order = append(order, r.table)
	}
	if got := fmt.Sprint(order); got != "[0 1 1 0 0 1 1 0]" {
		t.Fatalf("phase order %s, want [0 1 1 0 0 1 1 0]", got)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, table := range []string{"a", "b"} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != counted[i] {
			t.Fatalf("table %s holds %d rows, the writers counted %d", table, n, counted[i])
		}
	}
}

// TestWritersReportServerErrors: a statement the server refuses stops the
// writers with the server's message.
func TestWritersReportServerErrors(t *testing.T) {
	u := storetest.NewDB(t)
	_, err := writers(context.Background(), u, [2]string{"INSERT INTO missing DEFAULT VALUES", "SELECT 1"},
		2, 0, 50*time.Millisecond, 4)
	if err == nil || !strings.Contains(err.Error(), `relation "missing" does not exist`) {
		t.Fatalf("got %v, want the server's error", err)
	}
}
