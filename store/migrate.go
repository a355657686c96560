package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/pgfeed/pgfeed/migrations"
)

// MigrationsTable is where pgfeed records its schema version, apart from an
// application's own golang-migrate table.
const MigrationsTable = "pgfeed_schema_migrations"

// Migrator applies pgfeed's embedded migrations.
type Migrator struct{ m *migrate.Migrate }

// NewMigrator prepares migrations for the database at dbURL.
func NewMigrator(dbURL string) (*Migrator, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	u, err := migrateURL(dbURL)
	if err != nil {
		return nil, err
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, u)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", cleanMigrateErr(err))
	}
	return &Migrator{m: m}, nil
}

func migrateURL(dbURL string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("database url must look like postgres://user:password@host:5432/dbname")
	}
	u.Scheme = "pgx5"
	q := u.Query()
	q.Set("x-migrations-table", MigrationsTable)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Up applies every pending migration.
func (m *Migrator) Up() error { return m.run(m.m.Up) }

// Down reverts every migration, removing pgfeed from the database.
func (m *Migrator) Down() error { return m.run(m.m.Down) }

func (m *Migrator) run(f func() error) error {
	if err := f(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return cleanMigrateErr(err)
	}
	return nil
}

// Version is the applied schema version, 0 when none.
func (m *Migrator) Version() (version uint, dirty bool, err error) {
	v, d, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, d, cleanMigrateErr(err)
}

// Close releases the migrator's connection.
func (m *Migrator) Close() error {
	serr, derr := m.m.Close()
	return errors.Join(serr, derr)
}

// cleanMigrateErr strips the connection string golang-migrate puts in some
// errors, which may hold a password.
func cleanMigrateErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "pgx5://"); i >= 0 {
		msg = msg[:i] + "<database>" + afterURL(msg[i:])
	}
	return errors.New(msg)
}

func afterURL(s string) string {
	if i := strings.IndexAny(s, " \"'"); i >= 0 {
		return s[i:]
	}
	return ""
}
