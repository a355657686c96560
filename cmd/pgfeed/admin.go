package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgfeed/pgfeed/store"
)

// migrate installs (up), removes (down) or reports (version) pgfeed's schema.
func (m *Main) migrate(ctx context.Context, action string) error {
	mg, err := store.NewMigrator(m.Config.DatabaseURL)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", action, err)
	}
	defer mg.Close()
	switch action {
	case "up":
		if err := mg.Up(); err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
	case "down":
		if err := mg.Down(); err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
	}
	v, dirty, err := mg.Version()
	if err != nil {
		return fmt.Errorf("migrate %s: %w", action, err)
	}
	switch {
	case dirty:
		fmt.Fprintf(m.Stdout, "pgfeed schema version %d (dirty: a migration failed halfway; fix it, then run migrate again)\n", v)
	case v == 0:
		fmt.Fprintln(m.Stdout, "pgfeed is not installed (schema version 0)")
	default:
		fmt.Fprintf(m.Stdout, "pgfeed schema version %d\n", v)
	}
	return nil
}

// openDB opens the configured database and closes it with m.
func (m *Main) openDB(ctx context.Context, url string) (*store.DB, error) {
	db, err := store.Open(ctx, url, m.Config.LeaderTimeout)
	if err != nil {
		return nil, err
	}
	m.onClose(func() error { db.Close(); return nil })
	return db, nil
}

// track installs change capture on each table, stopping at the first error.
func (m *Main) track(ctx context.Context, tables []string) error {
	return m.eachTable(ctx, tables, (*store.DB).Track, "tracking %[1]s as collection %[2]q\n")
}

// untrack removes change capture from each table, stopping at the first
// error.
func (m *Main) untrack(ctx context.Context, tables []string) error {
	return m.eachTable(ctx, tables, (*store.DB).Untrack, "stopped tracking collection %[2]q\n")
}

// eachTable applies do to each table, stopping at the first error, and
// reports each with format (%[1]s the table, %[2]q its collection).
func (m *Main) eachTable(ctx context.Context, tables []string,
	do func(*store.DB, context.Context, string) (string, error), format string) error {
	db, err := m.openDB(ctx, m.Config.DatabaseURL)
	if err != nil {
		return err
	}
	// track tells in a notice what only the table's owner can do (make
	// capture fire for replicated writes too).
	db.OnNotice(func(n *pgconn.Notice) {
		line := "pgfeed: " + n.Message
		if n.Hint != "" {
			line += "; " + n.Hint
		}
		fmt.Fprintln(m.Stderr, line)
	})
	for _, t := range tables {
		c, err := do(db, ctx, t)
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, format, t, c)
	}
	return nil
}

// tables prints the tracked tables, one a line.
func (m *Main) tables(ctx context.Context) error {
	db, err := m.openDB(ctx, m.Config.DatabaseURL)
	if err != nil {
		return err
	}
	ts, err := db.Tables(ctx)
	if err != nil {
		return err
	}
	capture, err := db.CaptureStates(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "COLLECTION\tTABLE\tKEY\tCAPTURE\tCOLUMNS")
	for _, t := range ts {
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name + " " + c.Type
		}
		fmt.Fprintf(w, "%s\t%s.%s\t%s\t%s\t%s\n", t.Collection, t.Schema, t.Name,
			strings.Join(t.Key, ","), capture[t.Collection], strings.Join(cols, ", "))
	}
	return w.Flush()
}
