package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal during the graceful shutdown kills the process
	}()

	m := NewMain()
	if err := m.ParseFlags(ctx, os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "pgfeed: "+oneLine(err))
		os.Exit(2)
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgfeed: "+oneLine(err))
		os.Exit(1)
	}
}

const usage = `pgfeed streams PostgreSQL changes to WebSocket clients (Directus realtime protocol).

Usage:
  pgfeed serve   [flags]           serve /websocket, the demo page, /healthz, /readyz, /metrics
  pgfeed dev     [flags]           start a local PostgreSQL (unless DATABASE_URL is set), a demo table, and serve
  pgfeed migrate up|down|version   install, remove or show pgfeed's schema in the database
  pgfeed track   TABLE...          capture changes of tables (schema.table or table)
  pgfeed untrack TABLE...          stop capturing changes of tables
  pgfeed tables                    list tracked tables

Run "pgfeed COMMAND -h" for the flags of a command. Every flag has an
environment variable, shown in brackets.
`

// Main is the pgfeed program: ParseFlags, then Run, then Close.
type Main struct {
	Config Config
	Stdout io.Writer // command output: tables, URLs
	Stderr io.Writer // logs and usage
	// OnListen, when set, is called with the address serve and dev listen
	// on, once they accept connections (tests use it with --addr :0).
	OnListen func(addr net.Addr)

	cmd  string
	args []string
	log  zerolog.Logger

	closers []func() error // run by Close in reverse order
}

// NewMain returns a Main with the default configuration writing to the
// process's standard streams.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Stdout: os.Stdout, Stderr: os.Stderr, log: zerolog.Nop()}
}

// ParseFlags reads the command, its flags and the environment.
func (m *Main) ParseFlags(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(m.Stderr, usage)
		return flag.ErrHelp
	}
	m.cmd, args = args[0], args[1:]
	var err error
	f := newFlagSet("pgfeed " + m.cmd)
	f.fs.SetOutput(m.Stderr)
	m.Config.registerCommon(f)
	serving := false
	switch m.cmd {
	case "serve":
		m.Config.registerServe(f)
		serving = true
	case "dev":
		m.Config.AuthMode = "public"
		m.Config.AllowedOrigins = []string{"*"}
		m.Config.registerServe(f)
		m.Config.registerDev(f)
		serving = true
	case "migrate", "track", "untrack", "tables":
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("unknown command %q", m.cmd)
	}
	if m.args, err = parseInterspersed(f.fs, args); err != nil {
		return err
	}
	if err := f.Err(); err != nil {
		return err
	}
	if err := m.checkArgs(); err != nil {
		return err
	}
	if err := m.Config.Validate(serving); err != nil {
		return err
	}
	m.log = newLogger(m.Stderr, m.Config.LogLevel, m.Config.LogFormat)
	return nil
}

func (m *Main) checkArgs() error {
	switch m.cmd {
	case "migrate":
		if len(m.args) != 1 || (m.args[0] != "up" && m.args[0] != "down" && m.args[0] != "version") {
			return errors.New("usage: pgfeed migrate up|down|version")
		}
	case "track", "untrack":
		if len(m.args) == 0 {
			return fmt.Errorf("usage: pgfeed %s TABLE [TABLE ...]", m.cmd)
		}
	default:
		if len(m.args) != 0 {
			return fmt.Errorf("pgfeed %s takes no arguments, got %q", m.cmd, m.args[0])
		}
	}
	if m.cmd != "dev" && m.Config.DatabaseURL == "" {
		return errors.New("no database: set DATABASE_URL or --database-url")
	}
	return nil
}

// Run runs the command. Servers run until ctx is done, then shut down
// gracefully.
func (m *Main) Run(ctx context.Context) error {
	switch m.cmd {
	case "serve":
		return m.serve(ctx, m.Config.DatabaseURL, nil)
	case "dev":
		return m.dev(ctx)
	case "migrate":
		return m.migrate(ctx, m.args[0])
	case "track":
		return m.track(ctx, m.args)
	case "untrack":
		return m.untrack(ctx, m.args)
	case "tables":
		return m.tables(ctx)
	}
	return fmt.Errorf("unknown command %q", m.cmd)
}

// Close releases what Run opened, in reverse order, and returns the first
// error. It is safe to call more than once.
func (m *Main) Close() error {
	var first error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	return first
}

func (m *Main) onClose(f func() error) { m.closers = append(m.closers, f) }

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (pgfeed migrate up --database-url ...), and returns
// the positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
