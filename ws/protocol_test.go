package ws

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const itemsSetup = `
CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
SELECT pgfeed.track('items');
CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
SELECT pgfeed.track('pairs');
INSERT INTO items VALUES (3, 'c', 30);
`

var cursorRe = regexp.MustCompile(`"cursor":"(\d+)"`)

func cursorOf(t testing.TB, msg string) int64 {
	t.Helper()
	m := cursorRe.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no cursor in %s", msg)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// TestSubscribeCombinations subscribes with every combination of event,
// fields (absent, array, comma string), item and uid, writes with SQL, and
// checks every message byte for byte.
func TestSubscribeCombinations(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	type row struct {
		id   int
		name string
		qty  int
	}
	projections := []struct {
		query string // raw query JSON, "" for none
		enc   func(r row) string
	}{
		{"", func(r row) string { return fmt.Sprintf(`{"id":%d,"name":%q,"qty":%d}`, r.id, r.name, r.qty) }},
		{`{"fields":["name"]}`, func(r row) string { return fmt.Sprintf(`{"id":%d,"name":%q}`, r.id, r.name) }},
		{`{"fields":"qty, id"}`, func(r row) string { return fmt.Sprintf(`{"id":%d,"qty":%d}`, r.id, r.qty) }},
		{`{"fields":"*"}`, func(r row) string { return fmt.Sprintf(`{"id":%d,"name":%q,"qty":%d}`, r.id, r.name, r.qty) }},
	}
	type combo struct {
		event string
		proj  int
		item  bool
		uid   string
		c     *client
		init  string
	}
	var combos []*combo
	for _, ev := range []string{"", "create", "update", "delete"} {
		for p := range projections {
			for _, item := range []bool{false, true} {
				for _, uid := range []string{"", `"u-1"`, `42`} {
					combos = append(combos, &combo{event: ev, proj: p, item: item, uid: uid})
				}
			}
		}
	}
	for _, cb := range combos {
		cb.c = e.dial(t, nil)
		msg := `{"type":"subscribe","collection":"items"`
		if cb.event != "" {
			msg += `,"event":"` + cb.event + `"`
		}
		if q := projections[cb.proj].query; q != "" {
			msg += `,"query":` + q
		}
		if cb.item {
			msg += `,"item":2`
		}
		if cb.uid != "" {
			msg += `,"uid":` + cb.uid
		}
		cb.c.send(msg + "}")
		cb.init = cb.c.read()
		cb.c.send(`{"type":"subscribe","collection":"pairs","event":"create","uid":"marker"}`)
		cb.c.expectPrefix(`{"type":"subscription","event":"init","uid":"marker"`)
	}

	e.exec(`INSERT INTO items VALUES (1, 'a', 10), (2, 'b', 20)`)
	e.exec(`UPDATE items SET qty = 11 WHERE id = 1`)
	e.exec(`DELETE FROM items WHERE id = 2`)
	e.exec(`INSERT INTO pairs VALUES (0, 'end', 'x')`)

	for _, cb := range combos {
		t.Run(fmt.Sprintf("event=%q/query=%s/item=%v/uid=%s", cb.event, projections[cb.proj].query, cb.item, cb.uid), func(t *testing.T) {
			cb.c.t = t
			enc := projections[cb.proj].enc
			uid := ""
			if cb.uid != "" {
				uid = `,"uid":` + cb.uid
			}
			start := cursorOf(t, cb.init)
			wantInit := `{"type":"subscription","event":"init"`
			if cb.event == "" {
				if cb.item {
					wantInit += `,"data":[]`
				} else {
					wantInit += `,"data":[` + enc(row{3, "c", 30}) + `]`
				}
			}
			wantInit += uid + fmt.Sprintf(`,"cursor":"%d"}`, start)
			if cb.init != wantInit {
				t.Fatalf("init\ngot  %s\nwant %s", cb.init, wantInit)
			}
			ev := func(event, data string, pos int64) string {
				return fmt.Sprintf(`{"type":"subscription","event":%q,"data":[%s]%s,"cursor":"%d"}`, event, data, uid, pos)
			}
			var want []string
			if cb.event == "" || cb.event == "create" {
				if cb.item {
					want = append(want, ev("create", enc(row{2, "b", 20}), start+1))
				} else {
					want = append(want, ev("create", enc(row{1, "a", 10})+","+enc(row{2, "b", 20}), start+1))
				}
			}
			if (cb.event == "" || cb.event == "update") && !cb.item {
				want = append(want, ev("update", enc(row{1, "a", 11}), start+2))
			}
			if cb.event == "" || cb.event == "delete" {
				want = append(want, ev("delete", "2", start+3))
			}
			want = append(want, fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"a":0,"b":"end","v":"x"}],"uid":"marker","cursor":"%d"}`, start+4))
			for _, w := range want {
				cb.c.expect(w)
			}
		})
	}
}

// TestCompositeKeys checks delete payloads and item for a two-column key.
func TestCompositeKeys(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	all := e.dial(t, nil)
	all.send(`{"type":"subscribe","collection":"pairs","uid":"all"}`)
	init := all.read()
	c := cursorOf(t, init)
	if want := fmt.Sprintf(`{"type":"subscription","event":"init","data":[],"uid":"all","cursor":"%d"}`, c); init != want {
		t.Fatalf("init\ngot  %s\nwant %s", init, want)
	}
	one := e.dial(t, nil)
	one.send(`{"type":"subscribe","collection":"public.pairs","item":{"b":"y","a":1},"uid":"one","query":{"fields":["v"]}}`)
	one.expect(fmt.Sprintf(`{"type":"subscription","event":"init","data":[],"uid":"one","cursor":"%d"}`, c))

	e.exec(`INSERT INTO pairs VALUES (1, 'x', 'v1'), (1, 'y', 'v2')`)
	e.exec(`UPDATE pairs SET v = 'v3' WHERE a = 1`)
	e.exec(`DELETE FROM pairs WHERE a = 1`)

	all.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"a":1,"b":"x","v":"v1"},{"a":1,"b":"y","v":"v2"}],"uid":"all","cursor":"%d"}`, c+1))
	all.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"a":1,"b":"x","v":"v3"},{"a":1,"b":"y","v":"v3"}],"uid":"all","cursor":"%d"}`, c+2))
	all.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[{"a":1,"b":"x"},{"a":1,"b":"y"}],"uid":"all","cursor":"%d"}`, c+3))
	one.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"a":1,"b":"y","v":"v2"}],"uid":"one","cursor":"%d"}`, c+1))
	one.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"a":1,"b":"y","v":"v3"}],"uid":"one","cursor":"%d"}`, c+2))
	one.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[{"a":1,"b":"y"}],"uid":"one","cursor":"%d"}`, c+3))
}

// TestColumnsNamedLikeAliases: a table whose columns have the names that
// pgfeed's SQL gives the rows it reads (the snapshot's t, the capture
// functions' pgfeed_row, pgfeed_new and pgfeed_old, and their subqueries'
// r, n, o and i) is captured and snapshotted like any other. A bare row
// alias would name the column instead: the snapshot failed, the journal
// recorded the column's values for rows, and updates failed.
func TestColumnsNamedLikeAliases(t *testing.T) {
	e := newEnv(t, Config{}, `
CREATE TABLE odd (id int PRIMARY KEY, t text, pgfeed_row int, pgfeed_new int, pgfeed_old int, r int, n int, o int, i int);
SELECT pgfeed.track('odd');
INSERT INTO odd VALUES (1, 'a', 1, 1, 1, 1, 1, 1, 1), (2, 'b', 2, 2, 2, 2, 2, 2, 2);
`)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"odd","uid":"o","query":{"filter":{"t":{"_neq":"a"}},"sort":["-t"]}}`)
	init := c.read()
	p := cursorOf(t, init)
	if want := fmt.Sprintf(`{"type":"subscription","event":"init","data":[{"id":2,"t":"b","pgfeed_row":2,"pgfeed_new":2,"pgfeed_old":2,"r":2,"n":2,"o":2,"i":2}],"uid":"o","cursor":"%d"}`, p); init != want {
		t.Fatalf("init\ngot  %s\nwant %s", init, want)
	}
	e.exec(`INSERT INTO odd VALUES (3, 'c', 3, 3, 3, 3, 3, 3, 3)`)
	e.exec(`UPDATE odd SET pgfeed_row = 4 WHERE id = 3`)
	e.exec(`DELETE FROM odd WHERE id = 3`)
	e.exec(`TRUNCATE odd`)
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"id":3,"t":"c","pgfeed_row":3,"pgfeed_new":3,"pgfeed_old":3,"r":3,"n":3,"o":3,"i":3}],"uid":"o","cursor":"%d"}`, p+1))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":3,"t":"c","pgfeed_row":4,"pgfeed_new":3,"pgfeed_old":3,"r":3,"n":3,"o":3,"i":3}],"uid":"o","cursor":"%d"}`, p+2))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[3],"uid":"o","cursor":"%d"}`, p+3))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[2],"uid":"o","cursor":"%d"}`, p+4))
}

// TestFilterLeaveAndOld checks filtered events: rows leaving the filter
// arrive as deletes with reason "leave", rows entering as updates, and
// "old" carries previous values.
func TestFilterLeaveAndOld(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","old":true,"uid":"f","query":{"filter":{"qty":{"_gt":15}},"fields":["qty"]}}`)
	init := c.read()
	p := cursorOf(t, init)
	if want := fmt.Sprintf(`{"type":"subscription","event":"init","data":[{"id":3,"qty":30}],"uid":"f","cursor":"%d"}`, p); init != want {
		t.Fatalf("init\ngot  %s\nwant %s", init, want)
	}
	upd := e.dial(t, nil)
	upd.send(`{"type":"subscribe","collection":"items","event":"update","uid":"u","query":{"filter":"{\"qty\":{\"_gt\":15}}"}}`)
	upd.expectPrefix(`{"type":"subscription","event":"init","uid":"u"`)

	e.exec(`INSERT INTO items VALUES (4, 'd', 5), (5, 'e', 50)`) // p+1: only 5 matches
	e.exec(`UPDATE items SET qty = 1 WHERE id = 3`)              // p+2: 3 leaves
	e.exec(`UPDATE items SET qty = 40 WHERE id = 4`)             // p+3: 4 enters
	e.exec(`UPDATE items SET qty = 2 WHERE id = 1`)              // p+4: no such row: nothing
	e.exec(`DELETE FROM items WHERE id IN (3, 4)`)               // p+5: only 4 matched
	e.exec(`UPDATE items SET qty = qty + 1`)                     // p+6: 5 stays in

	c.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"id":5,"qty":50}],"uid":"f","cursor":"%d"}`, p+1))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[3],"old":[{"id":3,"qty":30}],"reason":"leave","uid":"f","cursor":"%d"}`, p+2))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":4,"qty":40}],"old":[{"id":4,"qty":5}],"uid":"f","cursor":"%d"}`, p+3))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[4],"old":[{"id":4,"qty":40}],"uid":"f","cursor":"%d"}`, p+4))
	c.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":5,"qty":51}],"old":[{"id":5,"qty":50}],"uid":"f","cursor":"%d"}`, p+5))

	upd.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":4,"name":"d","qty":40}],"uid":"u","cursor":"%d"}`, p+3))
	upd.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":5,"name":"e","qty":51}],"uid":"u","cursor":"%d"}`, p+5))
}

// TestUnsubscribeAndReplace covers uid replacement and unsubscribe with and
// without uid.
func TestUnsubscribeAndReplace(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","event":"create","uid":1}`)
	c.expectPrefix(`{"type":"subscription","event":"init","uid":1,`)
	// Same uid (as a string): replaces the first.
	c.send(`{"type":"subscribe","collection":"items","event":"delete","uid":"1"}`)
	c.expectPrefix(`{"type":"subscription","event":"init","uid":"1",`)
	c.send(`{"type":"subscribe","collection":"items","event":"delete","uid":"2"}`)
	c.expectPrefix(`{"type":"subscription","event":"init","uid":"2",`)
	e.exec(`INSERT INTO items VALUES (7, 'g', 70)`)
	e.exec(`DELETE FROM items WHERE id = 7`)
	got := []string{c.read(), c.read()}
	for i, uid := range []string{`"1"`, `"2"`} {
		if !strings.HasPrefix(got[i], `{"type":"subscription","event":"delete","data":[7],"uid":`+uid) {
			t.Fatalf("message %d: %s", i, got[i])
		}
	}
	c.send(`{"type":"unsubscribe","uid":"1"}`)
	c.expect(`{"type":"subscription","event":"unsubscribe","uid":"1"}`)
	c.send(`{"type":"unsubscribe","uid":"1"}`)
	c.expect(`{"type":"unsubscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"no subscription with this uid"},"uid":"1"}`)
	c.send(`{"type":"unsubscribe"}`)
	c.expect(`{"type":"subscription","event":"unsubscribe"}`)
	e.exec(`INSERT INTO items VALUES (8, 'h', 80)`)
	e.exec(`DELETE FROM items WHERE id = 8`)
	c.alive() // nothing arrived before the pong
	if n := e.srv.Stats().Subscriptions; n != 0 {
		t.Fatalf("subscriptions=%d, want 0", n)
	}
}

// TestSinceReplay resumes from a cursor: the missed changes arrive, then
// live ones; a cursor older than the journal gets a fresh snapshot.
func TestSinceReplay(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","uid":"s","query":{"fields":["name"]}}`)
	p := cursorOf(t, c.read())
	e.exec(`INSERT INTO items VALUES (1, 'a', 10)`)
	c.expectPrefix(`{"type":"subscription","event":"create"`)
	c.nc.Close()

	e.exec(`UPDATE items SET name = 'b' WHERE id = 1`) // p+2
	e.exec(`INSERT INTO pairs VALUES (1, 'x', 'y')`)   // p+3, other collection
	e.exec(`DELETE FROM items WHERE id = 3`)           // p+4
	waitFor(t, "stream to pass the writes", func() bool { return e.srv.Stats().Position >= p+4 })

	r := e.dial(t, nil)
	r.send(fmt.Sprintf(`{"type":"subscribe","collection":"items","uid":"s","since":"%d","query":{"fields":["name"]}}`, p+1))
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"init","uid":"s","cursor":"%d","recovered":true}`, p+1))
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":1,"name":"b"}],"uid":"s","cursor":"%d"}`, p+2))
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[3],"uid":"s","cursor":"%d"}`, p+4))
	e.exec(`INSERT INTO items VALUES (9, 'z', 1)`)
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"id":9,"name":"z"}],"uid":"s","cursor":"%d"}`, p+5))

	// A cursor below the pruned position: a fresh snapshot, recovered false.
	e.exec(`UPDATE pgfeed.sequencer SET pruned_pos = $1`, p+3)
	old := e.dial(t, nil)
	old.send(fmt.Sprintf(`{"type":"subscribe","collection":"items","uid":"o","since":"%d","query":{"fields":["name"]}}`, p))
	got := old.read()
	want := fmt.Sprintf(`{"type":"subscription","event":"init","data":[{"id":1,"name":"b"},{"id":9,"name":"z"}],"uid":"o","cursor":"%d","recovered":false}`, cursorOf(t, got))
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	// A cursor above the journal's head was not given by this database (it
	// was restored to an earlier state, or the cursor is made up): a fresh
	// snapshot, recovered false, and the live stream from there.
	ahead := e.dial(t, nil)
	ahead.send(fmt.Sprintf(`{"type":"subscribe","collection":"items","uid":"a","since":"%d","query":{"fields":["name"]}}`, p+100))
	got = ahead.read()
	want = fmt.Sprintf(`{"type":"subscription","event":"init","data":[{"id":1,"name":"b"},{"id":9,"name":"z"}],"uid":"a","cursor":"%d","recovered":false}`, cursorOf(t, got))
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	e.exec(`INSERT INTO items VALUES (10, 'y', 1)`)
	ahead.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"id":10,"name":"y"}],"uid":"a","cursor":"%d"}`, cursorOf(t, got)+1))
}

// TestSinceTagged: a cursor names its change by position and tag. With the
// tag of the change at its position a client resumes; with another (the
// database went back to an earlier state and gave the position to another
// change: cdc's TestRewoundDatabaseStopsTheStream makes that happen) it
// gets a fresh snapshot, recovered false, and the live stream from there.
func TestSinceTagged(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","uid":"s","query":{"fields":["name"]}}`)
	c.read()
	e.exec(`INSERT INTO items VALUES (1, 'a', 10)`)
	created, err := c.next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"cursor":"(\d+:[0-9a-z]{6})"`).FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("create event without a tagged cursor: %s", created)
	}
	tagged, _ := parseCursor(m[1])
	e.exec(`UPDATE items SET name = 'b' WHERE id = 1`)
	waitFor(t, "stream to pass the update", func() bool { return e.srv.Stats().Position > tagged.after })

	const sub = `{"type":"subscribe","collection":"items","uid":"s","query":{"fields":["name"]},"since":"%s"}`
	r := e.dial(t, nil)
	r.send(fmt.Sprintf(sub, m[1]))
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"init","uid":"s","cursor":"%d","recovered":true}`, tagged.after))
	r.expect(fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":1,"name":"b"}],"uid":"s","cursor":"%d"}`, tagged.after+1))

	other := tagged
	other.tag ^= 1 << 29
	o := e.dial(t, nil)
	o.send(fmt.Sprintf(sub, other))
	got := o.read()
	if want := fmt.Sprintf(`{"type":"subscription","event":"init","data":[{"id":1,"name":"b"},{"id":3,"name":"c"}],"uid":"s","cursor":"%d","recovered":false}`,
		cursorOf(t, got)); got != want {
		t.Fatalf("resumed with another change's tag:\ngot  %s\nwant %s", got, want)
	}
	e.exec(`DELETE FROM items WHERE id = 3`)
	o.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[3],"uid":"s","cursor":"%d"}`, cursorOf(t, got)+1))
}

// TestSinceBetweenUpdateAndLeave resumes a filtered subscription whose
// client got the update of a statement but not the leave delete of the same
// statement: the resumed stream starts with that leave delete, and nothing
// the client had is sent again.
func TestSinceBetweenUpdateAndLeave(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	e.exec(`INSERT INTO items VALUES (1, 'a', 10), (2, 'b', 20)`)
	const sub = `{"type":"subscribe","collection":"items","uid":"f","query":{"fields":["qty"],"filter":{"qty":{"_lt":50}}}`
	c := e.dial(t, nil)
	c.send(sub + `}`)
	c.expectPrefix(`{"type":"subscription","event":"init","data":[{"id":1,"qty":10},{"id":2,"qty":20},{"id":3,"qty":30}]`)
	// Rows 1 and 2 stay in the filter, row 3 leaves it: one change, two
	// messages.
	e.exec(`UPDATE items SET qty = qty * 2 WHERE id IN (1, 2, 3)`)
	update := c.read()
	p := cursorOf(t, c.read()) // the leave delete
	want := fmt.Sprintf(`{"type":"subscription","event":"update","data":[{"id":1,"qty":20},{"id":2,"qty":40}],"uid":"f","cursor":"%d.1"}`, p)
	if update != want {
		t.Fatalf("got  %s\nwant %s", update, want)
	}
	c.nc.Close()
	e.exec(`INSERT INTO items VALUES (4, 'd', 1)`)
	waitFor(t, "stream to pass the insert", func() bool { return e.srv.Stats().Position >= p+1 })

	for _, since := range []string{fmt.Sprintf("%d.1", p), fmt.Sprintf("%d", p)} {
		r := e.dial(t, nil)
		r.send(sub + `,"since":"` + since + `"}`)
		r.expect(`{"type":"subscription","event":"init","uid":"f","cursor":"` + since + `","recovered":true}`)
		if strings.HasSuffix(since, ".1") {
			r.expect(fmt.Sprintf(`{"type":"subscription","event":"delete","data":[3],"reason":"leave","uid":"f","cursor":"%d"}`, p))
		}
		r.expect(fmt.Sprintf(`{"type":"subscription","event":"create","data":[{"id":4,"qty":1}],"uid":"f","cursor":"%d"}`, p+1))
		r.nc.Close()
	}

	// Malformed part cursors and tags are refused.
	for _, bad := range []string{"0.1", "1.2", ".1", "-1.1", "1.1.1", "1:", "1:abc", "1:abcdefg", "1:000000", "1:ABCDEF", "1:ilouil", ":abcdef", "1:abcdef:abcdef"} {
		b := e.dial(t, nil)
		b.send(`{"type":"subscribe","collection":"items","uid":"b","since":"` + bad + `"}`)
		b.expect(`{"type":"subscribe","status":"error","error":{"code":"INVALID_PAYLOAD","message":"since must be a cursor from an earlier event"},"uid":"b"}`)
		b.nc.Close()
	}
}

// TestUntrack tells subscribers of a collection that stops being tracked.
func TestUntrack(t *testing.T) {
	e := newEnv(t, Config{}, itemsSetup)
	c := e.dial(t, nil)
	c.send(`{"type":"subscribe","collection":"items","uid":"a"}`)
	c.expectPrefix(`{"type":"subscription","event":"init"`)
	c.send(`{"type":"subscribe","collection":"pairs","uid":"b","event":"create"}`)
	c.expectPrefix(`{"type":"subscription","event":"init"`)
	e.exec(`SELECT pgfeed.untrack('items')`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"items\" is no longer tracked"},"uid":"a"}`)
	e.exec(`INSERT INTO pairs VALUES (1, 'x', 'y')`)
	c.expectPrefix(`{"type":"subscription","event":"create","data":[{"a":1,"b":"x","v":"y"}],"uid":"b"`)
	c.send(`{"type":"subscribe","collection":"items","uid":"c"}`)
	c.expect(`{"type":"subscribe","status":"error","error":{"code":"INVALID_COLLECTION","message":"collection \"items\" does not exist or is not tracked"},"uid":"c"}`)
	// Tracked again (and a new table tracked after start) can be subscribed.
	e.exec(`SELECT pgfeed.track('items'); CREATE TABLE later (id int PRIMARY KEY); SELECT pgfeed.track('later')`)
	reloadable := time.Now().Add(reloadEvery)
	waitFor(t, "the catalog reload interval", func() bool { return time.Now().After(reloadable) })
	c.send(`{"type":"subscribe","collection":"later","uid":"d"}`)
	c.expectPrefix(`{"type":"subscription","event":"init","data":[],"uid":"d"`)
}
