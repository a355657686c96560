package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Config is the load to generate.
type Config struct {
	URL       string        // WebSocket endpoint
	DB        string        // PostgreSQL URL the writer inserts into
	Setup     bool          // create and track the load tables first
	N         int           // subscriber connections
	Per       int           // subscribers per collection
	Rate      int           // inserts per second, spread over the collections
	Duration  time.Duration // how long to write
	Procs     int           // processes holding the connections
	Sources   int           // 127.0.0.x source addresses to spread over
	ServerPID int           // pgfeed's pid, for VmRSS; 0: not reported
	Body      int           // bytes of text per row

	// Set in child processes.
	Child bool
	First int // index of the child's first connection
}

// Main is the program; tests drive it as the command line does.
type Main struct {
	Config Config
	Out    io.Writer
}

// ParseFlags reads the command line.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("pgfeed-load", flag.ContinueOnError)
	c := &m.Config
	fs.StringVar(&c.URL, "url", "ws://127.0.0.1:8101/websocket", "pgfeed WebSocket endpoint")
	fs.StringVar(&c.DB, "db", "", "PostgreSQL URL (default $DATABASE_URL)")
	fs.BoolVar(&c.Setup, "setup", false, "create and track the load tables")
	fs.IntVar(&c.N, "n", 2000, "subscriber connections")
	fs.IntVar(&c.Per, "per", 100, "subscribers per collection")
	fs.IntVar(&c.Rate, "rate", 1000, "inserts per second")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to write")
	fs.IntVar(&c.Procs, "procs", 1, "processes holding the connections (at most ~19000 sockets each)")
	fs.IntVar(&c.Sources, "sources", 8, "127.0.0.x source addresses to spread connections over")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "pid of the pgfeed server, to report its memory")
	fs.IntVar(&c.Body, "body", 100, "bytes of text per inserted row")
	fs.BoolVar(&c.Child, "child", false, "internal: run as a connection-holding child")
	fs.IntVar(&c.First, "first", 0, "internal: index of the child's first connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c.Validate()
}

// Validate checks the settings.
func (c *Config) Validate() error {
	switch {
	case c.N <= 0 || c.Per <= 0:
		return errors.New("-n and -per must be positive")
	case c.Procs <= 0 || c.Sources <= 0 || c.Sources > 250:
		return errors.New("-procs must be positive and -sources between 1 and 250")
	case c.N/c.Procs > 19000:
		return fmt.Errorf("%d connections per process is more than a process can open here; raise -procs", c.N/c.Procs)
	case !c.Child && (c.Rate <= 0 || c.Duration <= 0):
		return errors.New("-rate and -duration must be positive")
	}
	return nil
}

// collections is how many load tables the subscribers spread over.
func (c *Config) collections() int { return (c.N + c.Per - 1) / c.Per }
