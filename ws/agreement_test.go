package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestSnapshotStreamAgreement subscribes clients while writers change the
// table: each client's copy, built from init data and then events, must
// equal the table at the end, with no change seen twice (a create of a row
// it has, an update or delete of a row it lacks) and none missed.
func TestSnapshotStreamAgreement(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	// Writers stop between statements: a cancelled statement could still
	// commit after the end marker below.
	var stop atomic.Bool
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			for !stop.Load() {
				id := rng.IntN(60) + 1
				var sql string
				switch rng.IntN(5) {
				case 0, 1:
					sql = fmt.Sprintf(`INSERT INTO items VALUES (%d, 'n%d', %d) ON CONFLICT (id) DO UPDATE SET qty = items.qty + 1`, id, id, rng.IntN(100))
				case 2:
					sql = fmt.Sprintf(`UPDATE items SET qty = qty + 7, name = name || '.' WHERE id = %d`, id)
				case 3:
					sql = fmt.Sprintf(`DELETE FROM items WHERE id = %d`, id)
				case 4:
					sql = fmt.Sprintf(`UPDATE items SET qty = (qty * 3) %% 100 WHERE id %% 7 = %d`, id%7)
				}
				_, err := e.db.Pool().Exec(ctx, sql)
				// Two of the many-row UPDATEs can lock the same rows in
				// different orders: PostgreSQL rolls one back, as it would
				// an application's, and nothing of it may reach a client.
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "40P01" {
					continue
				}
				if err != nil {
					t.Errorf("writer: %v", err)
					return
				}
			}
		}(uint64(w))
	}

	var subs []*agreeSub
	filters := []struct{ filter, where string }{
		{``, `true`},
		{`,"query":{"filter":{"qty":{"_gt":50}},"limit":1000}`, `qty > 50`},
		{`,"query":{"filter":{"_or":[{"qty":{"_lt":20}},{"id":{"_in":[1,2,3]}}]},"limit":1000}`, `qty < 20 OR id IN (1,2,3)`},
	}
	subscribe := func(s *agreeSub, since string) {
		s.c = e.dial(t, nil)
		s.c.send(`{"type":"subscribe","collection":"pairs","event":"create","uid":"marker"}`)
		s.c.expectPrefix(`{"type":"subscription","event":"init","uid":"marker"`)
		s.c.send(`{"type":"subscribe","collection":"items","uid":"x"` + since + s.filter + `}`)
	}
	for i := 0; i < 15; i++ {
		time.Sleep(100 * time.Millisecond) // spread subscriptions over the writes
		f := filters[i%len(filters)]
		s := &agreeSub{t: t, n: i, filter: f.filter, where: f.where, rows: map[string]json.RawMessage{}}
		subscribe(s, "")
		subs = append(subs, s)
	}
	// Some clients drop their connection while the writes go on and resume
	// from their last cursor.
	for _, s := range subs {
		if s.n%5 != 3 {
			continue
		}
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			raw, err := s.c.next(time.Until(deadline))
			if err != nil {
				break
			}
			s.apply(raw)
		}
		s.c.nc.Close()
		time.Sleep(100 * time.Millisecond)
		s.resumed = true
		subscribe(s, `,"since":"`+s.cursor+`"`)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	e.exec(`INSERT INTO pairs VALUES (0, 'end', '')`)

	for n, s := range subs {
		for !s.apply(s.c.read()) {
		}
		events := s.events
		history := s.history
		want := map[string]any{}
		rows, err := e.db.Pool().Query(context.Background(), `SELECT id::text, to_jsonb(t) FROM items t WHERE `+s.where)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var v map[string]any
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			want[id] = normalize(v)
		}
		rows.Close()
		got := map[string]any{}
		for id, r := range s.rows {
			var v map[string]any
			if err := json.Unmarshal(r, &v); err != nil {
				t.Fatal(err)
			}
			got[id] = normalize(v)
		}
		if !reflect.DeepEqual(got, want) {
			for id := range want {
				if !reflect.DeepEqual(got[id], want[id]) {
					t.Logf("row %s: got %v, want %v", id, got[id], want[id])
					for _, h := range history {
						if strings.Contains(h, `"id":`+id+`,`) || strings.Contains(h, `[`+id+`]`) {
							t.Logf("  %s", h)
						}
					}
					journal(t, e, id)
				}
			}
			t.Fatalf("sub %d (%s): copy differs from the table\ngot  %v\nwant %v", n, s.where, got, want)
		}
		t.Logf("sub %d: %d rows, %d messages, resumed %v", n, len(got), events, s.resumed)
	}
}

// agreeSub is one client's copy of the table.
type agreeSub struct {
	t       *testing.T
	n       int
	c       *client
	filter  string
	where   string
	rows    map[string]json.RawMessage
	cursor  string
	events  int
	history []string
	resumed bool
}

// apply applies one message to the copy, checking that it is possible,
// and reports whether it is the end marker.
func (s *agreeSub) apply(raw string) bool {
	t := s.t
	var m struct {
		Event     string            `json:"event"`
		Data      []json.RawMessage `json:"data"`
		UID       string            `json:"uid"`
		Cursor    string            `json:"cursor"`
		Recovered *bool             `json:"recovered"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("message %s: %v", raw, err)
	}
	if m.UID == "marker" {
		return true
	}
	s.history = append(s.history, raw)
	if m.Cursor != "" {
		s.cursor = m.Cursor
	}
	if m.Event == "init" && s.resumed && (m.Recovered == nil || !*m.Recovered) {
		t.Fatalf("sub %d: resumed without recovery: %s", s.n, raw)
	}
	for _, d := range m.Data {
		switch m.Event {
		case "init":
			s.rows[idOf(t, d)] = d
		case "create":
			id := idOf(t, d)
			if _, ok := s.rows[id]; ok {
				t.Fatalf("sub %d: create of row %s it already has (%s)", s.n, id, raw)
			}
			s.rows[id] = d
		case "update":
			id := idOf(t, d)
			if _, ok := s.rows[id]; !ok && s.filter == "" {
				t.Fatalf("sub %d: update of row %s it lacks (%s)", s.n, id, raw)
			}
			s.rows[id] = d
		case "delete":
			id := string(d)
			if _, ok := s.rows[id]; !ok {
				t.Fatalf("sub %d: delete of row %s it lacks (%s)", s.n, id, raw)
			}
			delete(s.rows, id)
		default:
			t.Fatalf("sub %d: unexpected %s", s.n, raw)
		}
	}
	s.events++
	return false
}

func idOf(t *testing.T, row json.RawMessage) string {
	var r struct {
		ID json.Number `json:"id"`
	}
	if err := json.Unmarshal(row, &r); err != nil {
		t.Fatalf("row %s: %v", row, err)
	}
	return string(r.ID)
}

// journal logs the journal entries of one row of items.
func journal(t *testing.T, e *testEnv, id string) {
	rows, err := e.db.Pool().Query(context.Background(), `
		SELECT t.pos, c.id, c.op, coalesce(c.data::text, ''), coalesce(c.old::text, '')
		FROM pgfeed.changes c LEFT JOIN pgfeed.txlog t ON c.xid = ANY (t.xids)
		WHERE c.collection = 'items' AND (c.data::jsonb @> $1::jsonb OR c.old::jsonb @> $1::jsonb) ORDER BY c.id`,
		`[{"id":`+id+`}]`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pos *int64
		var jid int64
		var op, data, old string
		if err := rows.Scan(&pos, &jid, &op, &data, &old); err != nil {
			t.Fatal(err)
		}
		p := int64(-1)
		if pos != nil {
			p = *pos
		}
		t.Logf("  journal tx pos %d id %d %s new=%.200s old=%.200s", p, jid, op, data, old)
	}
}

// normalize makes numbers from JSON and from pgx comparable.
func normalize(v map[string]any) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		out[k] = fmt.Sprint(x)
	}
	return out
}
