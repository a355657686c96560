package query

import (
	"reflect"
	"testing"
)

func TestProjectionAppend(t *testing.T) {
	r := mustRow(t, testTable, rowFull)
	tests := []struct {
		desc   string
		fields []string
		want   string
	}{
		{"table order, key added", []string{"s", "b"}, `{"id":1,"s":"Hello, Wörld ΣΑΣ","b":true}`},
		{"raw values copied", []string{"j", "n", "v"}, `{"id":1,"n":123456789012345678901234567890.5,"v":"x\"y\\z","j":{"k": [1, 2.50], "z": null}}`},
		{"star", []string{"*", "s"}, ""},
		{"missing columns omitted", []string{"s"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := NewProjection(testTable, tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			switch tc.desc {
			case "star":
				if got := len(p.Fields()); got != len(testTable.Columns) {
					t.Fatalf("fields = %d, want %d", got, len(testTable.Columns))
				}
				return
			case "missing columns omitted":
				r := mustRow(t, testTable, `{"id": 3}`)
				if got := string(p.Append(nil, r)); got != `{"id":3}` {
					t.Fatalf("Append = %s", got)
				}
				return
			}
			if got := string(p.Append(nil, r)); got != tc.want {
				t.Fatalf("Append = %s\nwant     %s", got, tc.want)
			}
		})
	}
}

func TestProjectionKeyAndRestrict(t *testing.T) {
	p1, _ := NewProjection(testTable, []string{"s", "i"})
	p2, _ := NewProjection(testTable, []string{"i", "s", "id", "i"})
	p3, _ := NewProjection(testTable, []string{"s"})
	if p1.Key() != p2.Key() {
		t.Fatalf("equal field sets have keys %q and %q", p1.Key(), p2.Key())
	}
	if p1.Key() == p3.Key() {
		t.Fatalf("different field sets share key %q", p1.Key())
	}
	if got, want := p1.Fields(), []string{"id", "i", "s"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Fields = %v, want %v", got, want)
	}
	all, _ := NewProjection(testTable, nil)
	if got, want := all.Restrict([]string{"s", "secret-not-a-column"}).Fields(), []string{"id", "s"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Restrict = %v, want %v", got, want)
	}
	if !p1.Has("s") || p1.Has("b") {
		t.Fatal("Has is wrong")
	}
}

func TestProjectionErrors(t *testing.T) {
	for _, tc := range []struct{ field, msg string }{{"nope", "no such field"}, {"author.name", "relational"}, {"*.*", "relational"}} {
		_, err := NewProjection(testTable, []string{"id", tc.field})
		qe, ok := err.(*Error)
		if !ok || qe.Field != tc.field {
			t.Fatalf("NewProjection(%s) = %v, want *Error for the field", tc.field, err)
		}
	}
}

func TestProjectionAppendDoesNotAllocate(t *testing.T) {
	r := mustRow(t, testTable, rowFull)
	p, _ := NewProjection(testTable, []string{"s", "n", "j"})
	buf := make([]byte, 0, 1024)
	if allocs := testing.AllocsPerRun(100, func() { buf = p.Append(buf[:0], r) }); allocs != 0 {
		t.Fatalf("Append allocates %v times, want 0", allocs)
	}
}
