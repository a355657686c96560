package query_test

import (
	"context"
	"testing"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store/storetest"
)

// TestLowerAgreesWithPostgres checks the premise of the case-insensitive
// operators: for every Unicode code point, PostgreSQL's lower() under
// COLLATE "C.utf8" gives what Go's unicode.ToLower gives.
func TestLowerAgreesWithPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storetest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT cp, ascii(lower(chr(cp) COLLATE "C.utf8"))
		FROM generate_series(1, 1114111) cp
		WHERE (cp < 55296 OR cp > 57343) AND lower(chr(cp) COLLATE "C.utf8") <> chr(cp)`)
	if err != nil {
		t.Fatal(err)
	}
	pg := map[rune]rune{}
	var from, to int32
	if _, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error {
		pg[from] = to
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(pg) < 1000 {
		t.Fatalf("PostgreSQL lower-cases only %d code points: is C.utf8 a UTF-8 locale here?", len(pg))
	}
	bad := 0
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		want, ok := pg[r]
		if !ok {
			want = r
		}
		if got := unicode.ToLower(r); got != want {
			if bad++; bad <= 20 {
				t.Errorf("lower(%U) = %U in Go, %U in PostgreSQL", r, got, want)
			}
		}
	}
}
