package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/query"
	"github.com/pgfeed/pgfeed/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// TestAgreeWithPostgres checks, for a few hundred random filters over a few
// hundred random rows, that the rows Match accepts are exactly the rows
// PostgreSQL returns for the filter's SQL.
func TestAgreeWithPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := storetest.NewMigratedDB(t)
	// The enum's labels are declared out of their text order.
	storetest.Exec(t, u, `CREATE EXTENSION citext;
		CREATE TYPE mood AS ENUM ('sad', 'ok', 'Happy', 'é', 'a b');
		CREATE DOMAIN label AS text CHECK (VALUE <> 'forbidden');
		CREATE DOMAIN small AS int4 CHECK (VALUE BETWEEN -100 AND 100);
		CREATE DOMAIN feeling AS mood;
		CREATE DOMAIN tags AS text[];
		CREATE TABLE agree (
		id int PRIMARY KEY, i int4, big int8, n numeric, f4 float4, f8 float8,
		s text, v varchar(20), c char(6), b bool, ts timestamptz, tl timestamp,
		d date, u uuid, j jsonb, jj json, a int4[], ta text[],
		e mood, fe feeling, ea mood[], ds label, di small, dt tags, tm time, tms time[], ci citext)`)
	storetest.Exec(t, u, `SELECT pgfeed.track('agree')`)
	tables, err := storetest.Open(t, u).Tables(ctx)
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables = %v, %v", tables, err)
	}
	tbl := &tables[0]

	seed := time.Now().UnixNano()
	if s := os.Getenv("PGFEED_QUERY_SEED"); s != "" { // to replay a failure
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (set PGFEED_QUERY_SEED to repeat)", seed)
	g := &gen{rnd: rand.New(rand.NewSource(seed))}

	// Rows are read in one time zone and filtered in another: neither
	// side may depend on the session's TimeZone.
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["timezone"] = "Asia/Kolkata"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	const nrows = 300
	for id := 1; id <= nrows; id++ {
		vals := []any{id}
		for _, c := range tbl.Columns[1:] {
			vals = append(vals, g.cell(c.Name))
		}
		_, err := conn.Exec(ctx, `INSERT INTO agree VALUES ($1, $2::int4, $3::int8, $4::numeric, $5::float4,
			$6::float8, $7::text, $8::varchar, $9::char(6), $10::bool, $11::timestamptz, $12::timestamp,
			$13::date, $14::uuid, $15::jsonb, $16::json, $17::int4[], $18::text[],
			$19::mood, $20::feeling, $21::mood[], $22::label, $23::small, $24::tags, $25::time, $26::time[], $27::citext)`, vals...)
		if err != nil {
			t.Fatalf("insert %v: %v", vals, err)
		}
	}
	rows, err := conn.Query(ctx, `SELECT id, row_to_json(t)::text FROM agree t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id  int
		obj string
	}
	data, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.id, &x.obj)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET timezone = 'America/St_Johns'`); err != nil {
		t.Fatal(err)
	}

	env := query.Env{CurrentUser: "é", Now: time.Date(2026, 3, 4, 5, 6, 7, 891234000, time.UTC)}
	var r query.Row
	const nfilters = 500
	checked, matchedSome := 0, 0
	// check returns the ids of the rows f matches, failing the test unless
	// PostgreSQL returns the same for f's SQL.
	check := func(tbl *query.Table, fj []byte, f *query.Filter) []int {
		t.Helper()
		var got []int
		for _, d := range data {
			if err := r.Reset(tbl, []byte(d.obj)); err != nil {
				t.Fatalf("Reset(%s): %v", d.obj, err)
			}
			if f.Match(&r) {
				got = append(got, d.id)
			}
		}
		where, args := f.SQL(nil)
		rows, err := conn.Query(ctx, `SELECT id FROM agree t WHERE `+where+` ORDER BY id`, args...)
		if err != nil {
			t.Fatalf("filter %s: SQL %s %q: %v", fj, where, args, err)
		}
		want, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatalf("filter %s: SQL %s %q: %v", fj, where, args, err)
		}
		if !slices.Equal(got, want) {
			var diff []string
			for _, d := range data {
				if slices.Contains(got, d.id) != slices.Contains(want, d.id) {
					diff = append(diff, fmt.Sprintf("  go=%v sql=%v %s", slices.Contains(got, d.id), slices.Contains(want, d.id), d.obj))
				}
			}
			t.Errorf("filter %s (FoldASCII %v)\nSQL %s %q\ndisagree on:\n%s", fj, tbl.FoldASCII, where, args, strings.Join(diff, "\n"))
		}
		return got
	}
	asciiTbl := new(query.Table)
	*asciiTbl = *tbl
	asciiTbl.FoldASCII = true
	foldedOtherwise := 0

	// Filters checked whatever the seed, which must parse: enums and
	// domains compare as their labels and base types.
	fixed := []string{`{"e":{"_eq":"Happy"}}`, `{"fe":{"_in":["sad","é","nope"]}}`, `{"e":{"_istarts_with":"HA"}}`,
		`{"e":{"_neq":"nope"}}`, `{"ea":{"_contains":"a b"}}`, `{"ds":{"_lt":"b"}}`, `{"di":{"_between":[-1,42]}}`, `{"dt":{"_ncontains":"a"}}`,
		`{"tm":{"_gte":"12:00"}}`, `{"tms":{"_contains":"24:00"}}`,
		`{"ci":{"_eq":"ÉB"}}`, `{"ci":{"_starts_with":"a"}}`, `{"ci":{"_lt":"b"}}`,
		`{"s":{"_ieq":"aB"}}`, `{"ci":{"_nieq":"é"}}`, `{"e":{"_ieq":"happy"}}`}
	for checked < nfilters {
		fj, err := json.Marshal(g.filter(tbl, 0))
		if checked < len(fixed) {
			fj = []byte(fixed[checked])
		}
		if err != nil {
			t.Fatal(err)
		}
		f, err := query.ParseFilter(tbl, fj, env, query.Limits{})
		if err != nil {
			if checked < len(fixed) {
				t.Fatalf("ParseFilter(%s): %v", fj, err)
			}
			if _, ok := err.(*query.Error); !ok {
				t.Fatalf("ParseFilter(%s) = %v, want *query.Error", fj, err)
			}
			continue // e.g. a float8 constant out of float4's range
		}
		checked++
		got := check(tbl, fj, f)
		if len(got) > 0 && len(got) < nrows {
			matchedSome++
		}
		// The same filter where the database cannot fold non-ASCII letters.
		f, err = query.ParseFilter(asciiTbl, fj, env, query.Limits{})
		if err != nil {
			t.Fatalf("ParseFilter(%s) with FoldASCII: %v", fj, err)
		}
		if !slices.Equal(check(asciiTbl, fj, f), got) {
			foldedOtherwise++
		}
	}
	// Searches (query.search), over every field or all but one.
	searchedSome := 0
	for i := 0; i < 100; i++ {
		s := g.search()
		var readable func(string) bool
		if i%2 == 1 {
			hidden := tbl.Columns[g.rnd.Intn(len(tbl.Columns))].Name
			readable = func(f string) bool { return f != hidden }
		}
		got := check(tbl, []byte(strconv.Quote(s)), query.SearchFilter(tbl, s, readable))
		if len(got) > 0 && len(got) < nrows {
			searchedSome++
		}
	}
	if searchedSome < 30 {
		t.Fatalf("only %d of 100 searches selected a proper subset of the rows", searchedSome)
	}

	// A snapshot query as the protocol layer builds it from a Spec runs
	// and returns matching rows in the requested order.
	spec, err := query.Parse(tbl, []byte(`{"fields":"id,s","filter":{"big":{"_gte":0}},"sort":["-b","id"],"limit":7,"offset":3}`), env, query.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	where, args := spec.Filter.SQL(nil)
	rows, err = conn.Query(ctx, fmt.Sprintf(`SELECT id, b FROM agree t WHERE %s ORDER BY %s LIMIT %d OFFSET %d`,
		where, spec.OrderBy, spec.Limit, spec.Offset), args...)
	if err != nil {
		t.Fatalf("snapshot query: %v", err)
	}
	type idb struct {
		id int
		b  *bool
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (idb, error) {
		var x idb
		return x, r.Scan(&x.id, &x.b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != spec.Limit || spec.Limit != 7 || spec.Offset != 3 {
		t.Fatalf("snapshot returned %d rows, limit %d offset %d", len(page), spec.Limit, spec.Offset)
	}
	for i := 1; i < len(page); i++ {
		prev, cur := page[i-1], page[i]
		rank := func(b *bool) int { // DESC puts NULLs first, then true, then false
			switch {
			case b == nil:
				return 0
			case *b:
				return 1
			}
			return 2
		}
		if rank(prev.b) > rank(cur.b) || (rank(prev.b) == rank(cur.b) && prev.id >= cur.id) {
			t.Fatalf("snapshot order %v then %v violates %s", prev, cur, spec.OrderBy)
		}
	}

	// The test is only as good as its filters: most should select some
	// but not all rows.
	if matchedSome < nfilters/3 {
		t.Fatalf("only %d of %d filters selected a proper subset of the rows", matchedSome, nfilters)
	}
	if foldedOtherwise == 0 {
		t.Fatal("no filter matched other rows when folding ASCII letters only")
	}
	t.Logf("%d filters, %d selected a proper subset, %d matched other rows folding ASCII letters only; %d of 100 searches selected a proper subset",
		checked, matchedSome, foldedOtherwise, searchedSome)
}

type gen struct{ rnd *rand.Rand }

func (g *gen) pick(xs ...string) string { return xs[g.rnd.Intn(len(xs))] }

var alphabet = []string{"a", "A", "b", "B", "é", "É", "ö", "Ö", "σ", "Σ", "ς", " ", "%", "_", `\`, `"`, "'", "ǅ", "ǆ", "İ", "i", "ß", "ẞ", "😀", "x", "\u212A", "k"}

func (g *gen) text(max int) string {
	var b strings.Builder
	for n := g.rnd.Intn(max + 1); n > 0; n-- {
		b.WriteString(alphabet[g.rnd.Intn(len(alphabet))])
	}
	return b.String()
}

var zones = []*time.Location{time.UTC, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -(3*3600 + 30*60)), time.FixedZone("", 14*3600)}

func (g *gen) instant() time.Time {
	// Mostly near one day, so that comparisons are close calls.
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var t time.Time
	switch g.rnd.Intn(3) {
	case 0:
		t = base.Add(time.Duration(g.rnd.Intn(7200)-3600) * time.Second)
	case 1:
		t = base.AddDate(0, 0, g.rnd.Intn(20)-10).Add(time.Duration(g.rnd.Intn(1000)) * time.Microsecond)
	default:
		t = time.Date(1700+g.rnd.Intn(400), time.Month(1+g.rnd.Intn(12)), 1+g.rnd.Intn(28), g.rnd.Intn(24), g.rnd.Intn(60), g.rnd.Intn(60), g.rnd.Intn(1e6)*1000, time.UTC)
	}
	return t.In(zones[g.rnd.Intn(len(zones))])
}

var (
	numerics = []string{"0", "-0.000", "1", "1.5", "1.50", "-2.25", "123456789012345678901234567890.123456789", "123456789012345678901234567890.123456788", "0.00000000000000000001", "-99999999999999999999999999999", "1e-20", "NaN", "Infinity", "-Infinity"}
	floats   = []string{"0", "-0", "1.1", "2.5", "-3.75", "1e30", "1e-7", "3.4028235e38", "16777217", "NaN", "Infinity", "-Infinity", "0.1"}
	ints     = []string{"0", "1", "-1", "42", "2147483647", "-2147483648"}
	bigs     = []string{"0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9007199254740993"}
	uuids    = []string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "7f000000-0000-0000-0000-000000000001"}
	jsons    = []string{`{"a": 1}`, `{"a": 1.0}`, `[1, 2]`, `"x"`, `"é\"q"`, `null`, `1`, `{"b": [1, {"c": "é"}], "a": 1}`, `[]`, `{}`, `true`, `{"a": 1, "a": 2}`}
	arrays   = []string{"{}", "{1,2}", "{NULL}", "{{1,2},{3,4}}", "{2,NULL}", "{42}", "{-1,0,1}"}
	moods    = []string{"sad", "ok", "Happy", "é", "a b"}
)

// clock is a random time of day, mostly near noon.
func (g *gen) clock() string {
	switch g.rnd.Intn(4) {
	case 0:
		return g.pick("00:00:00", "24:00:00", "23:59:59.999999", "12:00:00")
	case 1:
		return fmt.Sprintf("%02d:%02d:%02d", g.rnd.Intn(24), g.rnd.Intn(60), g.rnd.Intn(60))
	}
	return fmt.Sprintf("12:%02d:%02d.%06d", g.rnd.Intn(3), g.rnd.Intn(60), g.rnd.Intn(1000)*1000)
}

// cell is a random value (as SQL text) for a column of the agree table.
func (g *gen) cell(col string) any {
	if g.rnd.Intn(7) == 0 {
		return nil
	}
	switch col {
	case "i":
		return g.pick(ints...)
	case "big":
		return g.pick(bigs...)
	case "n":
		return g.pick(numerics...)
	case "f4", "f8":
		return g.pick(floats...)
	case "s", "v", "ci":
		return g.text(6)
	case "c":
		return g.text(3) + g.pick("", " ", "  ")
	case "b":
		return g.pick("true", "false")
	case "ts":
		if g.rnd.Intn(20) == 0 {
			return g.pick("infinity", "-infinity", "0044-03-15 10:00:00+00 BC")
		}
		return g.instant().Format("2006-01-02 15:04:05.999999-07:00")
	case "tl":
		if g.rnd.Intn(20) == 0 {
			return g.pick("infinity", "0044-03-15 10:00:00 BC")
		}
		return g.instant().Format("2006-01-02 15:04:05.999999")
	case "d":
		if g.rnd.Intn(20) == 0 {
			return g.pick("-infinity", "0044-03-15 BC")
		}
		return g.instant().Format("2006-01-02")
	case "u":
		return g.pick(uuids...)
	case "j", "jj":
		return g.pick(jsons...)
	case "a":
		return g.pick(arrays...)
	case "e", "fe":
		return g.pick(moods...)
	case "ea":
		return g.pick("{}", "{sad}", "{ok,NULL}", `{Happy,"a b"}`, "{é,sad,ok}")
	case "ds":
		return g.text(4)
	case "tm":
		return g.clock()
	case "tms":
		return "{" + g.clock() + "," + g.clock() + "}"
	case "di":
		return g.pick("-100", "-1", "0", "1", "42", "100")
	case "ta", "dt":
		var els []string
		for n := g.rnd.Intn(4); n > 0; n-- {
			if g.rnd.Intn(6) == 0 {
				els = append(els, "NULL")
				continue
			}
			e := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(g.text(1))
			els = append(els, `"`+e+`"`)
		}
		return "{" + strings.Join(els, ",") + "}"
	}
	panic(col)
}

// search is a random query.search: text, a number or a uuid.
func (g *gen) search() string {
	switch g.rnd.Intn(4) {
	case 0:
		return g.pick(append(append(ints, bigs...), "1.5", "-2.25", "2.5", "0.1", "1.50", "16777217")...)
	case 1:
		return g.pick(uuids...)
	}
	return g.text(2)
}

// constant is a random filter constant for column col.
func (g *gen) constant(col string) any {
	num := func(s string) any {
		if g.rnd.Intn(2) == 0 || strings.ContainsAny(s, "NI") {
			return s
		}
		return json.Number(s)
	}
	switch col {
	case "i", "a", "di":
		return num(g.pick(append(ints, "43", "-5", "2", "3")...))
	case "tm", "tms":
		return g.pick(g.clock(), g.clock()[:5], "24:00", " 12:00:00 ", "00:00:00.0000009")
	case "e", "fe", "ea":
		if g.rnd.Intn(3) == 0 {
			return g.text(2) // mostly not a label
		}
		return g.pick(append(moods, "happy", "a")...)
	case "ta", "dt":
		return g.text(1)
	case "big", "id":
		return num(g.pick(append(bigs, "150", "9223372036854775806")...))
	case "n":
		return num(g.pick(append(numerics, "1.2e29", "1.23456789012345678901234567890123456789e29", "1.49999999999999999999999")...))
	case "f4", "f8":
		return num(g.pick(append(floats, "1.1000000238418579", "2.4999999999999996", "1e39")...))
	case "s", "v", "c", "ds", "ci":
		if g.rnd.Intn(15) == 0 {
			return "$CURRENT_USER"
		}
		return g.text(2)
	case "b":
		if g.rnd.Intn(2) == 0 {
			return g.pick("true", "false")
		}
		return g.rnd.Intn(2) == 0
	case "ts", "tl":
		switch g.rnd.Intn(8) {
		case 0:
			return g.pick("$NOW", "$NOW(-1 hour)", "$NOW(+2 days)", "$NOW(-1 month)", "infinity", "-infinity")
		case 1:
			return g.instant().Format("2006-01-02")
		case 2:
			return g.instant().Format("2006-01-02 15:04:05")
		}
		return g.instant().Format(time.RFC3339Nano)
	case "d":
		if g.rnd.Intn(8) == 0 {
			return g.pick("$NOW", "$NOW(-3 days)", "infinity", "0044-03-15 BC")
		}
		return g.instant().Format("2006-01-02")
	case "u":
		u := g.pick(uuids...)
		if g.rnd.Intn(2) == 0 {
			u = strings.ToUpper(u)
		}
		return u
	case "j", "jj":
		var v any
		s := g.pick(jsons...)
		if s == "null" {
			s = `{"a": 1}`
		}
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			panic(err)
		}
		return v
	}
	panic(col)
}

var (
	ordered  = []string{"_eq", "_neq", "_lt", "_lte", "_gt", "_gte", "_in", "_nin", "_between", "_nbetween", "_null", "_nnull"}
	textOps  = append(slices.Clone(ordered), "_contains", "_ncontains", "_icontains", "_nicontains", "_starts_with", "_nstarts_with", "_istarts_with", "_nistarts_with", "_ends_with", "_nends_with", "_iends_with", "_niends_with", "_ieq", "_nieq", "_empty", "_nempty")
	equalOps = []string{"_eq", "_neq", "_in", "_nin", "_null", "_nnull"}
	// An enum takes the string operators, not the ordering ones.
	enumOps   = slices.DeleteFunc(slices.Clone(textOps), func(op string) bool { return slices.Contains(ordered, op) && !slices.Contains(equalOps, op) })
	arrayOps  = []string{"_null", "_nnull", "_empty", "_nempty", "_contains", "_ncontains"}
	opsByName = map[string][]string{
		"id": ordered, "i": ordered, "big": ordered, "n": ordered, "f4": ordered, "f8": ordered,
		"s": textOps, "v": textOps, "c": textOps, "b": equalOps, "ts": ordered, "tl": ordered,
		"d": ordered, "u": ordered, "j": equalOps, "jj": equalOps, "a": arrayOps, "ta": arrayOps,
		"e": enumOps, "fe": enumOps, "ea": arrayOps, "ds": textOps, "di": ordered, "dt": arrayOps, "tm": ordered, "tms": arrayOps, "ci": textOps,
	}
)

// filter is a random filter object.
func (g *gen) filter(tbl *query.Table, depth int) map[string]any {
	if depth < 3 && g.rnd.Intn(4) == 0 {
		var list []any
		for n := 1 + g.rnd.Intn(3); n > 0; n-- {
			list = append(list, g.filter(tbl, depth+1))
		}
		return map[string]any{g.pick("_and", "_or"): list}
	}
	m := map[string]any{}
	for n := 1 + g.rnd.Intn(2); n > 0; n-- {
		col := tbl.Columns[g.rnd.Intn(len(tbl.Columns))].Name
		if g.rnd.Intn(3) == 0 { // text has the most operators
			col = g.pick("s", "v", "c", "ci")
		}
		op := g.pick(opsByName[col]...)
		var v any
		switch op {
		case "_null", "_nnull", "_empty", "_nempty":
			v = g.rnd.Intn(4) != 0
		case "_in", "_nin":
			var list []any
			for k := g.rnd.Intn(4); k > 0; k-- {
				list = append(list, g.constant(col))
			}
			v = list
		case "_between", "_nbetween":
			v = []any{g.constant(col), g.constant(col)}
		default:
			v = g.constant(col)
		}
		m[col] = map[string]any{op: v}
	}
	return m
}
