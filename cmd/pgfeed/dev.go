package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
)

// The demo table `pgfeed dev` creates and tracks. The statements live here
// rather than in store because only the demo uses them.
const (
	demoTable  = "public.messages"
	demoCreate = `CREATE TABLE IF NOT EXISTS public.messages (
		id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		text       text NOT NULL,
		author     text,
		created_at timestamptz NOT NULL DEFAULT now()
	)`
	demoInsert = `INSERT INTO public.messages (text, author) VALUES ($1, $2) RETURNING id`
	maxDemoLen = 1000
)

// dev serves the demo: a local PostgreSQL cluster under DevDir unless
// DATABASE_URL is set, pgfeed installed in it, a tracked messages table, and
// the demo page.
func (m *Main) dev(ctx context.Context) error {
	dbURL := m.Config.DatabaseURL
	psqlURL := `"$DATABASE_URL"`
	if dbURL == "" {
		c, err := m.startDevCluster(ctx)
		if err != nil {
			return err
		}
		dbURL = c.URL("postgres")
		psqlURL = `"` + dbURL + `"`
	}
	if err := m.installDemo(ctx, dbURL); err != nil {
		return err
	}
	return m.serve(ctx, dbURL, &serveHooks{
		routes: func(db *store.DB) map[string]http.Handler {
			return map[string]http.Handler{"POST /demo/messages": demoPost(db)}
		},
		listened: func(addr net.Addr) {
			fmt.Fprintf(m.Stdout, "\npgfeed dev is serving the demo at %s\n", demoURL(addr))
			fmt.Fprintf(m.Stdout, "WebSocket endpoint: %s (auth mode %s)\n", wsURL(addr), m.Config.AuthMode)
			fmt.Fprintf(m.Stdout, "Add a message from another terminal:\n  psql %s -c \"INSERT INTO messages(text) VALUES ('hi')\"\n\n", psqlURL)
		},
	})
}

// startDevCluster starts (initialising on first use) the cluster under
// DevDir/pg, listening on 127.0.0.1 so that psql can reach it.
func (m *Main) startDevCluster(ctx context.Context) (*pglocal.Cluster, error) {
	port := m.Config.DevPGPort
	if port == 0 {
		var err error
		if port, err = pglocal.FreePort(); err != nil {
			return nil, fmt.Errorf("pick a port for PostgreSQL: %w", err)
		}
	}
	dir := filepath.Join(m.Config.DevDir, "pg")
	if err := reachableByServer(dir); err != nil {
		return nil, err
	}
	m.log.Info().Str("component", "dev").Str("dir", dir).Int("port", port).Msg("starting local PostgreSQL")
	c, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Port: port, Durable: true})
	if err != nil {
		return nil, fmt.Errorf("start local PostgreSQL in %s: %w", dir, err)
	}
	m.onClose(c.Close)
	return c, nil
}

// installDemo migrates the database and creates and tracks the demo table;
// each step is skipped when already done.
func (m *Main) installDemo(ctx context.Context, dbURL string) error {
	mg, err := store.NewMigrator(dbURL)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	err = mg.Up()
	mg.Close()
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	db, err := store.Open(ctx, dbURL, m.Config.LeaderTimeout)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Pool().Exec(ctx, demoCreate); err != nil {
		return fmt.Errorf("create demo table: %w", err)
	}
	tables, err := db.Tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Schema+"."+t.Name == demoTable {
			return nil
		}
	}
	if _, err := db.Track(ctx, demoTable); err != nil {
		return err
	}
	m.log.Info().Str("component", "dev").Str("table", demoTable).Msg("tracking demo table")
	return nil
}

// demoPost inserts a message: POST /demo/messages {"text":"hi","author":"me"}
// → 201 {"id":1}. It exists only in dev mode.
func demoPost(db *store.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Text   string  `json:"text"`
			Author *string `json:"author"`
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			httpError(w, http.StatusBadRequest, "body must be JSON like {\"text\":\"hi\"}")
			return
		}
		in.Text = strings.TrimSpace(in.Text)
		if in.Text == "" || len(in.Text) > maxDemoLen {
			httpError(w, http.StatusBadRequest, "text must have 1 to 1000 bytes")
			return
		}
		var id int64
		if err := db.Pool().QueryRow(r.Context(), demoInsert, in.Text, in.Author).Scan(&id); err != nil {
			httpError(w, http.StatusServiceUnavailable, "insert failed: "+oneLine(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]int64{"id": id})
	})
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// reachableByServer checks, when pgfeed runs as root (and so PostgreSQL
// runs as an unprivileged user), that every folder above dir lets others
// through; otherwise initdb would fail with a less helpful message.
func reachableByServer(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("PostgreSQL runs as an unprivileged user when pgfeed runs as root, and it cannot enter %s (mode %v); choose a folder it can reach with --dir or PGFEED_DEV_DIR, e.g. PGFEED_DEV_DIR=/tmp/pgfeed-dev, or set DATABASE_URL", p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func hostPort(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	host := "localhost"
	if !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func demoURL(addr net.Addr) string { return "http://" + hostPort(addr) + "/" }
func wsURL(addr net.Addr) string   { return "ws://" + hostPort(addr) + "/websocket" }
