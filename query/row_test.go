package query

import (
	"testing"
)

var compositeTable = &Table{
	Collection: "app.pairs", Schema: "app", Name: "pairs",
	Key:     []string{"b", "a"},
	Columns: columns("a", "int4", "b", "text", `we"ird`, "text", "v", "jsonb"),
}

func TestRowReset(t *testing.T) {
	tests := []struct {
		desc string
		obj  string
		col  string
		want string // raw JSON, "" for absent
	}{
		{"jsonb key order", `{"a": 1, "b": "x", "v": {"k": [1, 2]}}`, "v", `{"k": [1, 2]}`},
		{"compact", `{"v":[1,{"a":"}"}],"a":2}`, "v", `[1,{"a":"}"}]`},
		{"whitespace everywhere", " {\n \"a\" :\t7 ,\"b\":\"y\" } ", "a", "7"},
		{"escaped key", `{"we\"ird": "q", "a": 1}`, `we"ird`, `"q"`},
		{"unicode-escaped key", `{"w\u0065\"ird": "q"}`, `we"ird`, `"q"`},
		{"unknown keys ignored", `{"zz": [1, "]"], "a": 3}`, "a", "3"},
		{"absent column", `{"a": 3}`, "b", ""},
		{"null", `{"b": null}`, "b", "null"},
		{"empty object", `{}`, "a", ""},
	}
	var r Row // reused on purpose
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if err := r.Reset(compositeTable, []byte(tc.obj)); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			c, _ := compositeTable.Column(tc.col)
			if got := string(r.Value(c)); got != tc.want {
				t.Fatalf("Value(%s) = %q, want %q", tc.col, got, tc.want)
			}
		})
	}
}

// A key given twice keeps its last value, as in jsonb; the earlier value
// leaves nothing behind (an escaped string decoded into scratch space).
func TestRowDuplicateKeyLastWins(t *testing.T) {
	for _, tc := range []struct{ desc, obj, filter string }{
		{"escaped then plain", `{"s": "\u00e9", "s": "abcdefghijklmnop"}`, `{"s":{"_eq":"abcdefghijklmnop"}}`},
		{"plain then escaped", `{"s": "abcdefghijklmnop", "s": "\u00e9"}`, `{"s":{"_eq":"é"}}`},
		{"bpchar escaped then plain", `{"c": "\u00e9  ", "c": "abcdefghijklmnop  "}`, `{"c":{"_eq":"abcdefghijklmnop"}}`},
		{"value then null", `{"s": "\u00e9", "s": null}`, `{"s":{"_null":true}}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := mustRow(t, testTable, tc.obj)
			if !mustFilter(t, testTable, tc.filter).Match(r) {
				t.Fatalf("%s does not match %s", tc.filter, tc.obj)
			}
		})
	}
}

func TestRowResetErrors(t *testing.T) {
	for _, obj := range []string{``, `[]`, `{"a" 1}`, `{"a": 1,}`, `{"a": 1`, `{"a": "x}`, `{a: 1}`, `{"a": [1, 2}`} {
		var r Row
		if err := r.Reset(compositeTable, []byte(obj)); err == nil {
			t.Errorf("Reset(%q) = nil, want an error", obj)
		}
	}
}

func TestRowAppendKey(t *testing.T) {
	r := mustRow(t, testTable, `{"s": "x", "id": 12345678901234567890}`)
	if got := string(r.AppendKey(nil)); got != "12345678901234567890" {
		t.Fatalf("key = %s", got)
	}
	r = mustRow(t, compositeTable, `{"a": 1, "b": "x\"y"}`)
	if got, want := string(r.AppendKey([]byte("k:"))), `k:{"b":"x\"y","a":1}`; got != want {
		t.Fatalf("key = %s, want %s", got, want)
	}
	r = mustRow(t, compositeTable, `{"a": 1}`)
	if got, want := string(r.AppendKey(nil)), `{"b":null,"a":1}`; got != want {
		t.Fatalf("key = %s, want %s", got, want)
	}
}

func TestRowResetDoesNotAllocate(t *testing.T) {
	var r Row
	objs := [][]byte{[]byte(rowFull), []byte(rowNulls), []byte(rowEmpty)}
	for _, o := range objs {
		if err := r.Reset(testTable, o); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, o := range objs {
			r.Reset(testTable, o)
		}
	})
	if allocs != 0 {
		t.Fatalf("Reset allocates %v times per run, want 0", allocs)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	filters := []string{
		`{"i":{"_eq":42}}`,
		`{"n":{"_gt":"1e20"}}`,
		`{"f8":{"_between":[1,3]}}`,
		`{"s":{"_icontains":"wörld"}}`,
		`{"s":{"_iends_with":"σασ"}}`,
		`{"v":{"_contains":"y\\"}}`,
		`{"ts":{"_lt":"$NOW(+1 day)"}}`,
		`{"u":{"_in":["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]}}`,
		`{"j":{"_eq":{"k":[1,2.5],"z":null}}}`,
		`{"_or":[{"b":{"_eq":false}},{"a":{"_nempty":true}}]}`,
	}
	r := mustRow(t, testTable, rowFull)
	for _, s := range filters {
		f := mustFilter(t, testTable, s)
		if !f.Match(r) {
			t.Errorf("%s does not match", s)
		}
		if allocs := testing.AllocsPerRun(100, func() { f.Match(r) }); allocs != 0 {
			t.Errorf("Match(%s) allocates %v times, want 0", s, allocs)
		}
	}
}

func TestRowResetAcrossTablesDoesNotAllocate(t *testing.T) {
	var r Row
	a, b := []byte(rowFull), []byte(`{"a": 1, "b": "x", "v": {"k": 1}}`)
	r.Reset(testTable, a)
	r.Reset(compositeTable, b)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(testTable, a)
		r.Reset(compositeTable, b)
	})
	if allocs != 0 {
		t.Fatalf("Reset allocates %v times per run, want 0", allocs)
	}
	if got := string(r.AppendKey(nil)); got != `{"b":"x","a":1}` {
		t.Fatalf("key = %s", got)
	}
}

// TestMatchConcurrently matches one Row from several goroutines, as a hub
// with worker goroutines may; run with -race.
func TestMatchConcurrently(t *testing.T) {
	r := mustRow(t, testTable, rowFull)
	f := mustFilter(t, testTable, `{"s":{"_icontains":"wörld"},"n":{"_gt":1},"j":{"_neq":1}}`)
	done := make(chan bool)
	for i := 0; i < 4; i++ {
		go func() {
			ok := true
			for j := 0; j < 1000; j++ {
				ok = ok && f.Match(r)
			}
			done <- ok
		}()
	}
	for i := 0; i < 4; i++ {
		if !<-done {
			t.Fatal("a concurrent Match returned false")
		}
	}
}
