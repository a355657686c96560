package query

import (
	"fmt"
	"testing"
)

// BenchmarkMatch10k matches one change (a decoded Row) against 10,000
// subscriptions' filters on one collection, as the fan-out hub does per
// change; ns/sub is the cost per subscription. Each filter differs.
func BenchmarkMatch10k(b *testing.B) {
	const subs = 10_000
	kinds := map[string]func(i int) string{
		"int_eq":  func(i int) string { return fmt.Sprintf(`{"i":{"_eq":%d}}`, i) },
		"text_eq": func(i int) string { return fmt.Sprintf(`{"s":{"_eq":"user-%d"}}`, i) },
		"mixed": func(i int) string {
			switch i % 8 {
			case 0:
				return fmt.Sprintf(`{"i":{"_eq":%d}}`, i)
			case 1:
				return fmt.Sprintf(`{"i":{"_between":[%d,%d]}}`, i, i+100)
			case 2:
				return fmt.Sprintf(`{"s":{"_eq":"user-%d"}}`, i)
			case 3:
				return fmt.Sprintf(`{"s":{"_starts_with":"Hello-%d"}}`, i)
			case 4:
				return fmt.Sprintf(`{"n":{"_gt":"%d.5"}}`, i)
			case 5:
				return fmt.Sprintf(`{"ts":{"_lt":"2026-01-%02dT00:00:00Z"}}`, 1+i%28)
			case 6:
				return fmt.Sprintf(`{"b":{"_eq":true},"i":{"_in":[%d,%d,%d]}}`, i, i+1, i+2)
			default:
				return fmt.Sprintf(`{"_or":[{"u":{"_eq":"a0eebc99-9c0b-4ef8-bb6d-%012x"}},{"f8":{"_lt":%d}}]}`, i, i)
			}
		},
		"icontains": func(i int) string { return fmt.Sprintf(`{"s":{"_icontains":"wörld-%d"}}`, i) },
	}
	for _, name := range []string{"int_eq", "text_eq", "mixed", "icontains"} {
		b.Run(name, func(b *testing.B) {
			fs := make([]*Filter, subs)
			for i := range fs {
				fs[i] = mustFilter(b, testTable, kinds[name](i))
			}
			r := mustRow(b, testTable, rowFull)
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				for _, f := range fs {
					if f.Match(r) {
						n++
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subs, "ns/sub")
			if n < 0 {
				b.Fatal(n)
			}
		})
	}
}

// BenchmarkRowReset decodes one 17-column change row (once per change).
func BenchmarkRowReset(b *testing.B) {
	var r Row
	obj := []byte(rowFull)
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Reset(testTable, obj); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProjectionAppend writes one projected row (once per change and
// distinct projection).
func BenchmarkProjectionAppend(b *testing.B) {
	r := mustRow(b, testTable, rowFull)
	for _, fields := range [][]string{{"s", "i"}, nil} {
		p, _ := NewProjection(testTable, fields)
		b.Run(fmt.Sprintf("%dfields", len(p.Fields())), func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = p.Append(buf[:0], r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
