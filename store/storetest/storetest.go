// Package storetest gives tests a real PostgreSQL: PGFEED_TEST_DATABASE_URL
// when set; else a testcontainers-go container when a Docker engine answers;
// else a throwaway cluster from the local server binaries. Each test gets a
// database of its own, so tests may run in parallel.
package storetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgfeed/pgfeed/store"
	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

const template = "pgfeed_template"

var (
	once     sync.Once
	adminURL string
	setupErr error
	stop     func()
	counter  atomic.Int64
)

// Main runs a package's tests and then stops the server it started.
// Call it from TestMain: func TestMain(m *testing.M) { storetest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	switch {
	case os.Getenv("PGFEED_TEST_DATABASE_URL") != "":
		adminURL = os.Getenv("PGFEED_TEST_DATABASE_URL")
	case dockerAnswers():
		c, err := tcpostgres.Run(ctx, "postgres:15-alpine",
			tcpostgres.WithDatabase("postgres"), tcpostgres.WithUsername("postgres"),
			tcpostgres.WithPassword("postgres"), tcpostgres.BasicWaitStrategies())
		if err != nil {
			setupErr = fmt.Errorf("start postgres container: %w", err)
			return
		}
		stop = func() { testcontainers.TerminateContainer(c) }
		adminURL, setupErr = c.ConnectionString(ctx, "sslmode=disable")
		if setupErr != nil {
			return
		}
	default:
		c, err := pglocal.Start(ctx, pglocal.Options{})
		if err != nil {
			setupErr = err
			return
		}
		stop = func() { c.Close() }
		adminURL = c.URL("postgres")
	}
	setupErr = makeTemplate(ctx)
}

func dockerAnswers() bool {
	addr := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			return true
		}
		addr = strings.TrimPrefix(h, "unix://")
	}
	conn, err := net.DialTimeout("unix", addr, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func makeTemplate(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+template)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	m, err := store.NewMigrator(WithDB(adminURL, template))
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// WithDB returns u with its database name replaced by db.
func WithDB(u, db string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	p.Path = "/" + db
	return p.String()
}

// NewRole creates a login role without superuser rights, runs sql on the
// database at u (as u's user; %[1]s in it names the role), and returns u
// for that role. The role, and what it owns there, go when the test ends.
func NewRole(tb testing.TB, u, sql string) string {
	tb.Helper()
	role := fmt.Sprintf("pgfeed_role_%d_%d", os.Getpid(), counter.Add(1))
	Exec(tb, u, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN; `+sql, role))
	tb.Cleanup(func() { Exec(tb, u, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role)) })
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatal(err)
	}
	p.User = url.User(role)
	return p.String()
}

// AdminURL is the test server's maintenance database URL.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	once.Do(setup)
	if setupErr != nil {
		tb.Fatalf("test database: %v", setupErr)
	}
	return adminURL
}

// NewDB creates an empty database for this test and returns its URL. The
// database is dropped when the test ends.
func NewDB(tb testing.TB) string { return newDB(tb, "template0") }

// NewMigratedDB creates a database with pgfeed installed.
func NewMigratedDB(tb testing.TB) string { return newDB(tb, template) }

func newDB(tb testing.TB, from string) string {
	tb.Helper()
	admin := AdminURL(tb)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("connect to test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, from)); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return WithDB(admin, name)
}

// NewCluster starts a local cluster of the test's own, for tests that stop
// and restart the server or need server settings (name → value, nil for
// none). It is removed when the test ends.
func NewCluster(tb testing.TB, settings map[string]string) *pglocal.Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pglocal.Start(ctx, pglocal.Options{Settings: settings})
	if err != nil {
		tb.Fatalf("start local cluster: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Migrate installs pgfeed into the database at u.
func Migrate(tb testing.TB, u string) {
	tb.Helper()
	m, err := store.NewMigrator(u)
	if err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
}

// Exec runs SQL statements on the database at u, failing the test on error.
func Exec(tb testing.TB, u string, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("exec %q: %v", sql, err)
	}
}

// Open opens a store.DB on u, closed when the test ends.
func Open(tb testing.TB, u string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), u, 0)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(db.Close)
	return db
}

// OpenMigrated makes a fresh migrated database, runs sql in it (tables to
// create and track; none when empty), and returns its URL and a store.DB
// open on it.
func OpenMigrated(tb testing.TB, sql string) (string, *store.DB) {
	tb.Helper()
	u := NewMigratedDB(tb)
	if sql != "" {
		Exec(tb, u, sql)
	}
	return u, Open(tb, u)
}
