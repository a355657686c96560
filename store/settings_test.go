package store

import (
	"strings"
	"testing"
)

// TestSetSQLLiftsStatementTimeoutFirst: a database's statement_timeout
// applies to every SET pgfeed runs on a new connection until the one that
// lifts it, so that one comes first (a 1 ms limit, as
// TestStreamIgnoresDatabaseStatementTimeout sets, could cancel the others
// on a busy machine).
func TestSetSQLLiftsStatementTimeoutFirst(t *testing.T) {
	sql := setSQL(map[string]string{"bytea_output": "hex", "statement_timeout": "0", "jit": "off"},
		map[string]string{"application_name": "it's"})
	want := "SET statement_timeout = '0'; SET application_name = 'it''s'; SET bytea_output = 'hex'; SET jit = 'off'; "
	if sql != want {
		t.Fatalf("setSQL =\n%s\nwant\n%s", sql, want)
	}
	if sql := setSQL(map[string]string{"jit": "off"}, nil); !strings.HasPrefix(sql, "SET jit") {
		t.Fatalf("setSQL without statement_timeout = %s", sql)
	}
}
