package query

import (
	"errors"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/.

func FuzzParseFilter(f *testing.F) {
	rows := []string{rowFull, rowNulls, rowEmpty, rowAbsent}
	f.Fuzz(func(t *testing.T, raw []byte) {
		flt, err := ParseFilter(testTable, raw, testEnv, Limits{})
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("ParseFilter(%q) = %T %v, want *Error", raw, err, err)
			}
			return
		}
		sql, args := flt.SQL([]any{"x"})
		if flt != nil && (sql == "" || len(args) < 1) {
			t.Fatalf("SQL = %q, %v", sql, args)
		}
		var r Row
		for _, obj := range rows {
			if err := r.Reset(testTable, []byte(obj)); err != nil {
				t.Fatal(err)
			}
			flt.Match(&r)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Parse(testTable, raw, testEnv, Limits{})
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q) = %T %v, want *Error", raw, err, err)
			}
			return
		}
		if s.Limit < 0 || s.Limit > 1000 || s.Offset < 0 {
			t.Fatalf("limit, offset = %d, %d", s.Limit, s.Offset)
		}
		if !s.Projection.Has("id") {
			t.Fatal("projection lacks the primary key")
		}
	})
}

func FuzzKeyFilter(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, tbl := range []*Table{testTable, compositeTable} {
			flt, err := KeyFilter(tbl, raw)
			if err != nil {
				var qe *Error
				if !errors.As(err, &qe) {
					t.Fatalf("KeyFilter(%q) = %T %v, want *Error", raw, err, err)
				}
				continue
			}
			if flt == nil {
				t.Fatal("KeyFilter gave a nil filter, which matches every row")
			}
			flt.SQL(nil)
		}
	})
}

// FuzzRowReset feeds arbitrary bytes as rows: Reset may reject them but
// must not panic, and whatever it accepts can be matched and projected.
func FuzzRowReset(f *testing.F) {
	filters := []*Filter{
		mustFilter(f, testTable, `{"s":{"_icontains":"é"}}`),
		mustFilter(f, testTable, `{"j":{"_eq":{"k":[1,2.5],"z":null}}}`),
		mustFilter(f, testTable, `{"n":{"_gt":1},"ts":{"_lt":"$NOW"},"u":{"_nnull":true},"a":{"_empty":true},"c":{"_iends_with":"b"}}`),
		mustFilter(f, testTable, `{"_or":[{"a":{"_contains":2}},{"a":{"_ncontains":3}}]}`),
	}
	p, _ := NewProjection(testTable, nil)
	f.Fuzz(func(t *testing.T, obj []byte) {
		var r Row
		if err := r.Reset(testTable, obj); err != nil {
			return
		}
		for _, flt := range filters {
			flt.Match(&r)
		}
		p.Append(nil, &r)
		r.AppendKey(nil)
	})
}
