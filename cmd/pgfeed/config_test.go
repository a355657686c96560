package main

import (
	"context"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, env map[string]string, args ...string) (*Main, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	m := NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	return m, m.ParseFlags(context.Background(), args)
}

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		desc  string
		env   map[string]string
		args  []string
		check func(c Config) bool
	}{
		{"defaults", nil, []string{"serve"}, func(c Config) bool {
			return c.Addr == ":8101" && c.AuthMode == "handshake" && c.Heartbeat == 30*time.Second && c.Retention == 24*time.Hour
		}},
		{"env sets", map[string]string{"PGFEED_ADDR": "127.0.0.1:9000", "PGFEED_HEARTBEAT": "5s", "PGFEED_ALLOWED_ORIGINS": "https://a.example, https://b.example"},
			[]string{"serve"}, func(c Config) bool {
				return c.Addr == "127.0.0.1:9000" && c.Heartbeat == 5*time.Second &&
					strings.Join(c.AllowedOrigins, " ") == "https://a.example https://b.example"
			}},
		{"flag beats env", map[string]string{"PGFEED_ADDR": "127.0.0.1:9000"}, []string{"serve", "--addr", ":9001"},
			func(c Config) bool { return c.Addr == ":9001" }},
		{"retention bytes", map[string]string{"PGFEED_RETENTION_BYTES": "1073741824"}, []string{"serve"},
			func(c Config) bool { return c.RetentionBytes == 1<<30 && c.Retention == 24*time.Hour }},
		{"dev is public", nil, []string{"dev"}, func(c Config) bool { return c.AuthMode == "public" }},
		{"dev mode can be changed", nil, []string{"dev", "--auth-mode", "handshake"}, func(c Config) bool { return c.AuthMode == "handshake" }},
		{"flags after arguments", nil, []string{"track", "a", "--log-level", "debug", "b"}, func(c Config) bool { return c.LogLevel == "debug" }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": "postgres://localhost/app", "PGFEED_JWT_SECRET": "s"}
			for k, v := range tt.env {
				env[k] = v
			}
			m, err := parse(t, env, tt.args...)
			if err != nil {
				t.Fatalf("ParseFlags(%v) = %v", tt.args, err)
			}
			if !tt.check(m.Config) {
				t.Fatalf("config after %v with %v = %+v", tt.args, tt.env, m.Config)
			}
		})
	}
}

func TestConfigArgs(t *testing.T) {
	m, err := parse(t, map[string]string{"DATABASE_URL": "postgres://localhost/app"}, "track", "a", "--log-level", "debug", "b", "--", "-c")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.args, " "); got != "a b -c" {
		t.Fatalf("args = %q, want %q", got, "a b -c")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		desc string
		env  map[string]string
		args []string
		want string
	}{
		{"bad env duration", map[string]string{"PGFEED_RETENTION": "forever"}, []string{"serve"}, `PGFEED_RETENTION="forever": want a duration`},
		{"bad env integer", map[string]string{"PGFEED_MAX_CONNS": "many"}, []string{"serve"}, `PGFEED_MAX_CONNS="many": want an integer`},
		{"bad env int64", map[string]string{"PGFEED_MAX_FRAME_BYTES": "1e6"}, []string{"serve"}, `PGFEED_MAX_FRAME_BYTES="1e6": want an integer`},
		{"negative retention bytes", nil, []string{"serve", "--retention-bytes", "-1"}, `retention bytes must be 0`},
		{"bad addr", nil, []string{"serve", "--addr", "8101"}, `addr "8101"`},
		{"bad origin", nil, []string{"serve", "--allowed-origins", "example.com"}, `allowed origin "example.com"`},
		{"zero heartbeat", nil, []string{"serve", "--heartbeat", "0s"}, "heartbeat must be positive"},
		{"leader timeout within polls", map[string]string{"PGFEED_LEADER_TIMEOUT": "500ms"}, []string{"serve"}, "leader timeout must be at least 4 times the poll (1s)"},
		{"snapshot limit above cap", nil, []string{"serve", "--snapshot-limit", "5000"}, "max snapshot must be at least the snapshot limit"},
		{"handshake without secret", nil, []string{"serve"}, "auth mode handshake needs a JWT secret"},
		{"bad log level", nil, []string{"tables", "--log-level", "loud"}, `log level "loud"`},
		{"unknown flag", nil, []string{"tables", "--verbose"}, "flag provided but not defined: -verbose"},
		{"migrate action", nil, []string{"migrate", "sideways"}, "usage: pgfeed migrate up|down|version"},
		{"tables takes no args", nil, []string{"tables", "x"}, `takes no arguments, got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			env := map[string]string{"DATABASE_URL": "postgres://localhost/app"}
			for k, v := range tt.env {
				env[k] = v
			}
			_, err := parse(t, env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseFlags(%v) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	got := oneLine(errorString("connect: failed to connect to `user=u database=x`:\n\t127.0.0.1:1: connection refused\n\t127.0.0.1:1: connection refused"))
	want := "connect: failed to connect to `user=u database=x`: 127.0.0.1:1: connection refused"
	if got != want {
		t.Fatalf("oneLine = %q, want %q", got, want)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestREADMEListsEveryFlag checks that the README's configuration table has
// a row for every flag, with its environment variable.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f := newFlagSet("pgfeed")
	c := DefaultConfig()
	c.registerCommon(f)
	c.registerServe(f)
	c.registerDev(f)
	envRe := regexp.MustCompile(`\[\$([A-Z_]+)\]`)
	n := 0
	f.fs.VisitAll(func(fl *flag.Flag) {
		n++
		env := envRe.FindStringSubmatch(fl.Usage)
		if env == nil {
			t.Errorf("flag --%s has no environment variable", fl.Name)
			return
		}
		row := regexp.MustCompile("(?m)^\\| `--" + regexp.QuoteMeta(fl.Name) + "`( \\(dev\\))? \\| `" + env[1] + "` \\|")
		if !row.Match(readme) {
			t.Errorf("README.md has no configuration row for --%s (%s)", fl.Name, env[1])
		}
	})
	if n < 25 {
		t.Fatalf("visited %d flags, want every one", n)
	}
}
