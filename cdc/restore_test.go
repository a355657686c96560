package cdc_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestRestoredIntoAnotherCluster: a database restored with pg_dump and
// pg_restore into another cluster brings pgfeed's state along: journal,
// positions, and the other cluster's transaction ids. Into a cluster whose
// ids are ahead, history stays: the changes stamped before the dump keep
// their positions, and the one not yet stamped is stamped once. Into one
// whose ids are behind, the journal is dropped (positions go on, older ones
// are pruned), and every write made from then on is stamped exactly once.
func TestRestoredIntoAnotherCluster(t *testing.T) {
	t.Parallel()
	const burn = `DO $$ BEGIN FOR i IN 1..3000 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`
	for _, tc := range []struct {
		name  string
		ahead bool // the restoring cluster's transaction ids are ahead
		want  []string
	}{
		{"ids ahead", true, []string{`1 [{"id":1} {"id":2}]`, `2 [{"id":3}]`, `3 [{"id":4}]`, `4 [{"id":5}]`, `5 [{"id":6} {"id":7}]`}},
		{"ids behind", false, []string{`3 [{"id":5}]`, `4 [{"id":6} {"id":7}]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, dst := storetest.NewCluster(t, nil), storetest.NewCluster(t, nil)
			storetest.Exec(t, src.URL("postgres"), `CREATE DATABASE app`)
			storetest.Exec(t, dst.URL("postgres"), `CREATE DATABASE app`)
			if tc.ahead {
				storetest.Exec(t, dst.URL("app"), burn)
			} else {
				storetest.Exec(t, src.URL("postgres"), burn)
			}
			from, to := src.URL("app"), dst.URL("app")
			storetest.Migrate(t, from)
			storetest.Exec(t, from, `CREATE TABLE w (id int PRIMARY KEY); SELECT pgfeed.track('w')`)
			storetest.Exec(t, from, `INSERT INTO w VALUES (1), (2)`)
			storetest.Exec(t, from, `INSERT INTO w VALUES (3)`)
			if head := settle(t, storetest.Open(t, from)); head != 2 {
				t.Fatalf("head before the dump: %d, want 2", head)
			}
			storetest.Exec(t, from, `INSERT INTO w VALUES (4)`) // not stamped when dumped
			restore(t, from, to)

			db := storetest.Open(t, to)
			var warned atomic.Int32
			db.OnNotice(func(n *pgconn.Notice) {
				if n.Severity == "WARNING" && strings.Contains(n.Message, "journal was restored from a cluster") {
					warned.Add(1)
				}
			})
			first := settle(t, db) // the first step after the restore
			if want := map[bool]int32{true: 0, false: 1}[tc.ahead]; warned.Load() != want {
				t.Fatalf("%d warnings that the journal was dropped, want %d", warned.Load(), want)
			}
			if _, pruned, err := db.Head(context.Background()); err != nil {
				t.Fatal(err)
			} else if want := map[bool]int64{true: 0, false: 2}[tc.ahead]; pruned != want {
				t.Fatalf("pruned up to %d after the restore, want %d", pruned, want)
			}
			sink := newCollector()
			runStream(t, db, sink, cdc.Options{From: map[bool]int64{true: 0, false: first}[tc.ahead], Poll: 50 * time.Millisecond})
			storetest.Exec(t, to, `INSERT INTO w VALUES (5)`)
			storetest.Exec(t, to, `INSERT INTO w VALUES (6), (7)`)
			last := int64(len(tc.want))
			if !tc.ahead {
				last += 2
			}
			sink.waitFor(t, last, 10*time.Second)
			if head := settle(t, db); head != last {
				t.Fatalf("head %d after the writes, want %d", head, last)
			}
			var got []string
			for _, c := range sink.all() {
				got = append(got, fmt.Sprintf("%d %s", c.Pos, c.New))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("stream:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}

			// The restored table has new oids and its functions their old
			// names: it still shows as captured, and untrack removes capture.
			ctx := context.Background()
			var capture string
			if err := db.Pool().QueryRow(ctx, `SELECT capture FROM pgfeed.tables WHERE collection = 'w'`).Scan(&capture); err != nil {
				t.Fatal(err)
			}
			if capture != "always" {
				t.Fatalf("capture of the restored table: %s, want always", capture)
			}
			storetest.Exec(t, to, `SELECT pgfeed.untrack('w')`)
			var triggers int
			if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'w'::regclass`).Scan(&triggers); err != nil {
				t.Fatal(err)
			}
			if triggers != 0 {
				t.Fatalf("%d triggers left on w after untrack", triggers)
			}
		})
	}
}

// restore copies the database at from into the one at to with pg_dump and
// pg_restore.
func restore(tb testing.TB, from, to string) {
	tb.Helper()
	bin, err := pglocal.BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	dump := filepath.Join(tb.TempDir(), "app.dump")
	for _, args := range [][]string{
		{"pg_dump", "-Fc", "-f", dump, "-d", from},
		{"pg_restore", "-d", to, dump},
	} {
		if out, err := exec.Command(filepath.Join(bin, args[0]), args[1:]...).CombinedOutput(); err != nil {
			tb.Fatalf("%s: %v\n%s", args[0], err, out)
		}
	}
}
