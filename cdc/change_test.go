package cdc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgfeed/pgfeed/store"
)

func TestSplitArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: an error
	}{
		{`[]`, []string{}},
		{` [ ] `, []string{}},
		{`[{"id":1}]`, []string{`{"id":1}`}},
		{`[{"id":1}, {"id":2}]`, []string{`{"id":1}`, `{"id":2}`}},
		{"[{\"id\":1},\n {\"id\":2}\n]", []string{`{"id":1}`, `{"id":2}`}},
		// Brackets, braces, commas and escaped quotes inside strings.
		{`[{"s":"a,b}]{["},{"s":"\"}"}]`, []string{`{"s":"a,b}]{["}`, `{"s":"\"}"}`}},
		{`[{"s":"\\"},{"t":"x\\\"y"}]`, []string{`{"s":"\\"}`, `{"t":"x\\\"y"}`}},
		// Nested arrays and objects (jsonb, arrays of composite values).
		{`[{"a":[1,[2,{"b":[]}]],"c":{"d":{}}},{"e":null}]`, []string{`{"a":[1,[2,{"b":[]}]],"c":{"d":{}}}`, `{"e":null}`}},
		{`[1,"x",null]`, []string{`1`, `"x"`, `null`}},
		{`{"id":1}`, nil},
		{`[{"id":1}`, nil},
		{`[{"id":1},]`, nil},
		{`[{"id":1}{"id":2}]`, nil},
		{`[{"s":"unterminated}]`, nil},
		{`[{"a":1}}]`, nil},
	} {
		got, err := splitArray([]byte(tc.in))
		if tc.want == nil {
			if err == nil {
				t.Errorf("splitArray(%s) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("splitArray(%s): %v", tc.in, err)
			continue
		}
		gotS := make([]string, len(got))
		for i, g := range got {
			gotS[i] = string(g)
		}
		if fmt.Sprintf("%q", gotS) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitArray(%s) = %q, want %q", tc.in, gotS, tc.want)
		}
	}
}

// journalData is a journal row's data as a tracked table's capture trigger
// writes it: n rows of the benchmark table's shape.
func journalData(n int) []byte {
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf(`{"id":%d,"a":%d,"b":"bench payload","at":"2026-11-23T04:35:22.%06d+00:00"}`, 1000000+i, i, i)
	}
	return []byte("[" + strings.Join(rows, ", \n ") + "]")
}

// BenchmarkDecode decodes journal entries of single-row statements and of
// 100-row statements; b.SetBytes counts the data decoded.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 100} {
		e := store.Entry{Pos: 1, XID: 1, Collection: "messages", Op: 'c', Data: journalData(n)}
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(e.Data)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := Decode(e)
				if err != nil || len(c.New) != n {
					b.Fatalf("decoded %d rows (%v), want %d", len(c.New), err, n)
				}
			}
		})
	}
}
