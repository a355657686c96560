package query

import (
	"slices"
	"testing"
)

func TestSearchFilter(t *testing.T) {
	const (
		text   = `{"id": 1, "s": "Hello, Wörld", "v": "x", "i": 42, "n": 1.5, "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}`
		number = `{"id": 7, "s": "nothing", "i": 15, "f8": 2.5, "n": 3}`
		nulls  = `{"id": 2, "s": null, "i": null}`
	)
	every := func(string) bool { return true }
	tests := []struct {
		desc, search string
		readable     func(string) bool
		row          string
		want         bool
	}{
		{"a string column contains it, ignoring case", "wöRLD", nil, text, true},
		{"no string column contains it", "planet", nil, text, false},
		{"an integer column equals it", "42", nil, text, true},
		{"the key is searched too", "7", nil, number, true},
		{"a float column equals it", "2.5", nil, number, true},
		{"a numeric column equals it", "1.5", nil, text, true},
		{"a number appears in no numeric column", "43", nil, text, false},
		{"a number is also text", "15", nil, `{"id": 3, "s": "room 15"}`, true},
		{"only numbers written as JavaScript prints them", "1.50", nil, text, false},
		{"a uuid column equals it", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", nil, text, true},
		{"NULLs match nothing", "x", nil, nulls, false},
		{"unreadable fields are not searched", "hello", func(f string) bool { return f != "s" }, text, false},
		{"readable ones are", "x", func(f string) bool { return f != "s" }, text, true},
		{"every field readable", "hello", every, text, true},
		{"no field readable matches nothing", "1", func(string) bool { return false }, text, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			f := SearchFilter(testTable, tc.search, tc.readable)
			if got := f.Match(mustRow(t, testTable, tc.row)); got != tc.want {
				t.Fatalf("search %q on %s = %v, want %v", tc.search, tc.row, got, tc.want)
			}
		})
	}
	if f := SearchFilter(testTable, "", nil); f != nil {
		t.Fatalf("empty search = %v, want nil", f)
	}
	// Which columns a search looks in, by type.
	for _, tc := range []struct {
		search string
		fields []string
	}{
		{"ab", []string{"s", "v", "c", "ci"}},
		{"12", []string{"id", "i", "n", "f4", "f8", "s", "v", "c", "ci", "p"}},
		{"-0.25", []string{"n", "f4", "f8", "s", "v", "c", "ci", "p"}},
		{"9223372036854775808", []string{"n", "f4", "f8", "s", "v", "c", "ci", "p"}},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", []string{"s", "v", "c", "u", "ci"}},
	} {
		got := SearchFilter(testTable, tc.search, nil).Fields()
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.fields))
		if !slices.Equal(got, want) {
			t.Errorf("search %q looks in %v, want %v", tc.search, got, want)
		}
	}
}
