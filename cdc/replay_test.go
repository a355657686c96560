package cdc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/pgfeed/pgfeed/cdc"
	"github.com/pgfeed/pgfeed/store"
)

// replica is a client's copy of tracked tables, built by applying changes.
type replica struct {
	rows map[string]map[string]string // collection → key → row JSON
	// versions checks that every committed version of a row arrives once,
	// in order: collection/key → last version seen.
	versions map[string]int64
}

func newReplica() *replica {
	return &replica{rows: map[string]map[string]string{}, versions: map[string]int64{}}
}

type rowHead struct {
	ID      json.RawMessage `json:"id"`
	Version *int64          `json:"version"`
	Note    string          `json:"note"`
}

func head(tb testing.TB, b []byte) rowHead {
	tb.Helper()
	var h rowHead
	if err := json.Unmarshal(b, &h); err != nil {
		tb.Fatalf("row %s: %v", b, err)
	}
	return h
}

// apply applies c and checks version order for tables with a version column.
func (r *replica) apply(tb testing.TB, c cdc.Change) {
	tb.Helper()
	m := r.rows[c.Collection]
	if m == nil {
		m = map[string]string{}
		r.rows[c.Collection] = m
	}
	check := func(row []byte, create bool) {
		h := head(tb, row)
		if h.Note == "rollback" {
			tb.Fatalf("rolled-back change delivered at %d: %s", c.Pos, row)
		}
		if h.Version == nil {
			return
		}
		k := c.Collection + "/" + string(h.ID)
		last, seen := r.versions[k]
		switch {
		case create && seen:
			tb.Fatalf("%s created twice (at %d)", k, c.Pos)
		case !create && !seen:
			tb.Fatalf("%s updated before it was created (at %d)", k, c.Pos)
		case !create && *h.Version != last+1:
			tb.Fatalf("%s: version %d follows %d at position %d", k, *h.Version, last, c.Pos)
		}
		r.versions[k] = *h.Version
	}
	switch c.Op {
	case cdc.OpCreate:
		for _, row := range c.New {
			check(row, true)
			m[string(head(tb, row).ID)] = string(row)
		}
	case cdc.OpUpdate:
		if len(c.Old) != len(c.New) {
			tb.Fatalf("update at %d pairs %d old rows with %d new", c.Pos, len(c.Old), len(c.New))
		}
		for i, row := range c.New {
			check(row, false)
			if _, ok := m[string(head(tb, c.Old[i]).ID)]; !ok {
				tb.Fatalf("update at %d of a row the replica lacks: %s", c.Pos, c.Old[i])
			}
			m[string(head(tb, row).ID)] = string(row)
		}
	case cdc.OpDelete:
		for _, row := range c.Old {
			k := string(head(tb, row).ID)
			if _, ok := m[k]; !ok {
				tb.Fatalf("delete at %d of a row the replica lacks: %s", c.Pos, row)
			}
			delete(m, k)
			delete(r.versions, c.Collection+"/"+k)
		}
	}
}

// tableRows reads a table the way the journal encodes rows.
func tableRows(tb testing.TB, db *store.DB, table string) map[string]string {
	tb.Helper()
	rows, err := db.Pool().Query(context.Background(), fmt.Sprintf(`SELECT row_to_json(t) FROM %s t`, table))
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			tb.Fatal(err)
		}
		out[string(head(tb, b).ID)] = string(b)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// equalTable fails the test unless the replica's copy of collection equals
// the table.
func (r *replica) equalTable(tb testing.TB, db *store.DB, collection string) {
	tb.Helper()
	want := tableRows(tb, db, collection)
	got := r.rows[collection]
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("row %s: stream %s, table %s", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = diffs[:10]
		}
		tb.Fatalf("%s: replica differs from table (%d rows in table, %d in replica): %v", collection, len(want), len(got), diffs)
	}
}

// checkOrder checks positions are consecutive and each transaction's
// changes are contiguous.
func checkOrder(tb testing.TB, changes []cdc.Change, from int64) {
	tb.Helper()
	done := map[uint64]bool{}
	for i, c := range changes {
		if c.Pos != from+int64(i)+1 {
			tb.Fatalf("change %d has position %d, want %d", i, c.Pos, from+int64(i)+1)
		}
		if i > 0 && changes[i-1].XID != c.XID {
			if done[c.XID] {
				tb.Fatalf("transaction %d split around position %d", c.XID, c.Pos)
			}
			done[changes[i-1].XID] = true
		}
	}
}
