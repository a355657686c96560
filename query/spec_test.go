package query

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		desc    string
		query   string
		fields  []string
		all     bool
		orderBy string
		limit   int
		offset  int
		filter  bool
	}{
		{"absent", ``, nil, true, "", 100, 0, false},
		{"null", `null`, nil, true, "", 100, 0, false},
		{"fields array", `{"fields":["s","i"]}`, []string{"id", "i", "s"}, false, "", 100, 0, false},
		{"fields comma string", `{"fields":"s, i"}`, []string{"id", "i", "s"}, false, "", 100, 0, false},
		{"fields star", `{"fields":"*"}`, nil, true, "", 100, 0, false},
		{"filter object", `{"filter":{"i":{"_eq":1}}}`, nil, true, "", 100, 0, true},
		{"filter string", `{"filter":"{\"i\":{\"_eq\":1}}"}`, nil, true, "", 100, 0, true},
		{"sort array", `{"sort":["-s","i"]}`, nil, true, `t."s" DESC, t."i" ASC, t."id" ASC`, 100, 0, false},
		{"sort string", `{"sort":"-id"}`, nil, true, `t."id" DESC`, 100, 0, false},
		{"limit", `{"limit":5,"offset":"10"}`, nil, true, "", 5, 10, false},
		{"limit capped", `{"limit":5000}`, nil, true, "", 1000, 0, false},
		{"limit -1 is the cap", `{"limit":-1}`, nil, true, "", 1000, 0, false},
		{"page", `{"limit":20,"page":3}`, nil, true, "", 20, 40, false},
		{"unknown keys ignored", `{"meta":"total_count"}`, nil, true, "", 100, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := Parse(testTable, []byte(tc.query), testEnv, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			fields := tc.fields
			if fields == nil {
				fields = (&Projection{}).Fields()
				for _, c := range testTable.Columns {
					fields = append(fields, c.Name)
				}
			}
			if got := s.Projection.Fields(); !reflect.DeepEqual(got, fields) {
				t.Errorf("fields = %v, want %v", got, fields)
			}
			if s.AllFields != tc.all {
				t.Errorf("AllFields = %v, want %v", s.AllFields, tc.all)
			}
			if s.OrderBy != tc.orderBy {
				t.Errorf("OrderBy = %q, want %q", s.OrderBy, tc.orderBy)
			}
			if s.Limit != tc.limit || s.Offset != tc.offset {
				t.Errorf("limit, offset = %d, %d, want %d, %d", s.Limit, s.Offset, tc.limit, tc.offset)
			}
			if (s.Filter != nil) != tc.filter {
				t.Errorf("filter = %v, want present %v", s.Filter, tc.filter)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ desc, query, field, msg string }{
		{"not an object", `[1]`, "", "must be an object"},
		{"unknown field", `{"fields":["id","nope"]}`, "nope", "no such field"},
		{"fields of numbers", `{"fields":[1]}`, "", "array of field names"},
		{"bad filter", `{"filter":{"i":{"_eq":"x"}}}`, "i", "expects an integer"},
		{"bad filter string", `{"filter":"{"}`, "", "not valid JSON"},
		{"sort unknown", `{"sort":["-nope"]}`, "nope", "cannot sort"},
		{"negative limit", `{"limit":-2}`, "", "limit"},
		{"negative offset", `{"offset":-1}`, "", "offset"},
		{"search of an object", `{"search":{"s":"x"}}`, "", "query.search must be a string"},
		{"search with NUL", `{"search":"a\u0000"}`, "", "NUL"},
		{"deep", `{"deep":{}}`, "", "query.deep is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse(testTable, []byte(tc.query), testEnv, Limits{})
			qe, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse(%s) = %v, want *Error", tc.query, err)
			}
			if qe.Field != tc.field || !strings.Contains(qe.Message, tc.msg) {
				t.Fatalf("error = %#v, want field %q and %q", qe, tc.field, tc.msg)
			}
		})
	}
}

func TestKeyFilter(t *testing.T) {
	tests := []struct {
		desc string
		tbl  *Table
		item string
		row  string
		want bool
	}{
		{"int key", testTable, `1`, rowFull, true},
		{"int key as string", testTable, `"1"`, rowFull, true},
		{"other key", testTable, `2`, rowFull, false},
		{"composite object", compositeTable, `{"a":1,"b":"x"}`, `{"a": 1, "b": "x"}`, true},
		{"composite array in key order", compositeTable, `["x",1]`, `{"a": 1, "b": "x"}`, true},
		{"composite mismatch", compositeTable, `{"a":2,"b":"x"}`, `{"a": 1, "b": "x"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			f, err := KeyFilter(tc.tbl, []byte(tc.item))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(mustRow(t, tc.tbl, tc.row)); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		tbl         *Table
		item, field string
	}{
		{testTable, `"abc"`, "id"},
		{testTable, `null`, "id"},
		{testTable, `[1]`, "id"},
		{compositeTable, `{"a":1}`, "b"},
		{compositeTable, `{"a":1,"b":"x","c":2}`, "c"},
		{compositeTable, `{"a":"one","b":"x"}`, "a"},
		{compositeTable, `[1]`, ""},
	} {
		_, err := KeyFilter(tc.tbl, []byte(tc.item))
		if qe, ok := err.(*Error); !ok || qe.Field != tc.field {
			t.Errorf("KeyFilter(%s) = %v, want *Error for field %q", tc.item, err, tc.field)
		}
	}
}

func TestAnd(t *testing.T) {
	if And() != nil || And(nil, nil) != nil {
		t.Fatal("And of nothing is not nil")
	}
	a := mustFilter(t, testTable, `{"i":{"_eq":42}}`)
	if And(nil, a) != a {
		t.Fatal("And of one filter is not that filter")
	}
	b := mustFilter(t, testTable, `{"b":{"_eq":false}}`)
	r := mustRow(t, testTable, rowFull)
	if And(a, b).Match(r) || !And(a, nil).Match(r) {
		t.Fatal("And does not combine")
	}
	if got := And(a, b).Fields(); !reflect.DeepEqual(got, []string{"i", "b"}) {
		t.Fatalf("Fields = %v", got)
	}
	var nilFilter *Filter
	if !nilFilter.Match(r) {
		t.Fatal("nil filter does not match")
	}
	if s, args := nilFilter.SQL(nil); s != "TRUE" || len(args) != 0 {
		t.Fatalf("nil SQL = %q %v", s, args)
	}
}

func TestSQLPlaceholders(t *testing.T) {
	f := mustFilter(t, testTable, `{"s":{"_ends_with":"x'; DROP TABLE t; --"},"i":{"_in":[1,2]}}`)
	sql, args := f.SQL([]any{"prior"})
	want := `(t."i" IN ($2::int8, $3::int8) AND right(t."s" COLLATE "C", length($4::text)) = $4::text)`
	if sql != want {
		t.Fatalf("SQL = %s\nwant  %s", sql, want)
	}
	if !reflect.DeepEqual(args, []any{"prior", "1", "2", "x'; DROP TABLE t; --"}) {
		t.Fatalf("args = %v", args)
	}
}
