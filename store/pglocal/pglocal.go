// Package pglocal starts a throwaway PostgreSQL cluster from the server
// binaries installed on the machine (initdb, pg_ctl, postgres). pgfeed uses it
// for `pgfeed dev` and for tests when no database is configured.
//
// When the calling process runs as root, the cluster runs as an unprivileged
// user ("postgres" if it exists, else "nobody"), because initdb refuses root.
package pglocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configure a cluster.
type Options struct {
	// Dir holds the data directory and the socket. Empty means a new
	// temporary directory that Close removes; a given Dir is kept, and an
	// existing cluster in it is reused.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 means unix socket only.
	Port int
	// Durable keeps fsync on. Throwaway clusters run with fsync off.
	Durable bool
	// Settings are extra server settings (name → value).
	Settings map[string]string
	// Log receives the server log; nil writes it to Dir/postgres.log only.
	Log io.Writer
}

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	opts    Options
	bin     string
	dir     string
	temp    bool
	cred    *syscall.Credential
	running bool
	private string // while Rewind's before runs: the only socket's directory
}

// BinDir finds the directory holding initdb and pg_ctl: PATH first, then
// the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			// Follow links, so that pgbench and postgres are found beside it.
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (initdb, pg_ctl on PATH or under /usr/lib/postgresql/*/bin); install the postgresql package or set DATABASE_URL")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises (if needed) and starts a cluster.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, bin: bin, dir: opts.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "pgfeed-pg-"); err != nil {
			return nil, err
		}
		c.temp = true
	} else if c.dir, err = filepath.Abs(c.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(); err != nil {
			return nil, err
		}
		if err := c.own(c.dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err != nil {
		if err := c.initdb(ctx); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) to run PostgreSQL as")
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// SocketDir is the directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.dir }

// Dir is the directory holding the cluster.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) port() int {
	if c.opts.Port != 0 {
		return c.opts.Port
	}
	return 5432
}

// URL is a connection string for database db as the superuser "postgres".
func (c *Cluster) URL(db string) string {
	if c.private != "" {
		return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, c.private, c.port())
	}
	if c.opts.Port != 0 {
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.opts.Port, db)
	}
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, c.dir, c.port())
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := c.command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(lastLines(out.String(), 5)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *Cluster) initdb(ctx context.Context) error {
	return c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
}

func (c *Cluster) settings() []string {
	s := map[string]string{
		"listen_addresses":        "''",
		"unix_socket_directories": "'" + c.dir + "'",
		"port":                    strconv.Itoa(c.port()),
		"max_connections":         "400",
		"shared_buffers":          "256MB",
		"timezone":                "'UTC'",
		"log_min_messages":        "warning",
	}
	if c.opts.Port != 0 {
		s["listen_addresses"] = "'127.0.0.1'"
	}
	if c.private != "" {
		s["listen_addresses"] = "''"
		s["unix_socket_directories"] = "'" + c.private + "'"
	}
	if !c.opts.Durable {
		// Survives a killed server, not a crashed machine. Commits stay
		// synchronous: with synchronous_commit off a transaction is visible
		// before its commit record is written, and a killed server could
		// forget a transaction pgfeed already delivered.
		s["fsync"] = "off"
		s["full_page_writes"] = "off"
	}
	for k, v := range c.opts.Settings {
		s[k] = v
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		args = append(args, "-c "+k+"="+s[k])
	}
	return args
}

func (c *Cluster) start(ctx context.Context) error {
	logFile := filepath.Join(c.dir, "postgres.log")
	err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", logFile,
		"-o", strings.Join(c.settings(), " "))
	if err != nil {
		if b, rerr := os.ReadFile(logFile); rerr == nil {
			err = fmt.Errorf("%w\n%s", err, lastLines(string(b), 10))
		}
		return err
	}
	c.running = true
	return nil
}

// Stop stops the server. Mode is "smart", "fast" or "immediate".
func (c *Cluster) Stop(mode string) error {
	if !c.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.run(ctx, "pg_ctl", "stop", "-w", "-D", c.dataDir(), "-m", mode); err != nil {
		return err
	}
	c.running = false
	return nil
}

// Restart stops the server with the given mode and starts it again.
func (c *Cluster) Restart(ctx context.Context, mode string) error {
	if err := c.Stop(mode); err != nil {
		return err
	}
	return c.start(ctx)
}

// Save stops the server, copies its data directory into dir (a cold
// backup; dir must not exist), and starts it again.
func (c *Cluster) Save(ctx context.Context, dir string) error {
	if err := c.Stop("fast"); err != nil {
		return err
	}
	if err := copyTree(ctx, c.dataDir(), dir); err != nil {
		return err
	}
	return c.start(ctx)
}

// copyTree copies directory from to to, keeping owners and modes.
func copyTree(ctx context.Context, from, to string) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s to %s: %w: %s", from, to, err, bytes.TrimSpace(out))
	}
	return nil
}

// Rewind stops the server at once and puts back the data directory Save
// copied into dir: the database goes back to that state, as after a
// restore from a backup, or a failover to a replica that lacked what was
// written since. With before, the server first runs on a socket of its
// own, which URL gives while before runs and which connection strings
// taken earlier do not reach: what the rewound database does before its
// old clients find it again.
func (c *Cluster) Rewind(ctx context.Context, dir string, before func() error) error {
	if err := c.Stop("immediate"); err != nil {
		return err
	}
	if err := os.RemoveAll(c.dataDir()); err != nil {
		return err
	}
	if err := copyTree(ctx, dir, c.dataDir()); err != nil {
		return err
	}
	if before != nil {
		private, err := os.MkdirTemp(c.dir, "private-")
		if err != nil {
			return err
		}
		if err := c.own(private); err != nil {
			return err
		}
		c.private = private
		err = c.start(ctx)
		if err == nil {
			err = before()
			if serr := c.Stop("fast"); err == nil {
				err = serr
			}
		}
		c.private = ""
		if err != nil {
			return err
		}
	}
	return c.start(ctx)
}

// Standby copies the cluster with pg_basebackup into opts.Dir (which must
// be given) and starts the copy there as a standby that replays what it
// copied but does not follow the cluster: promoted (pg_promote), it is
// what a replica that lagged becomes after a failover, on a new timeline.
func (c *Cluster) Standby(ctx context.Context, opts Options) (*Cluster, error) {
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := c.own(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	signal := filepath.Join(data, "standby.signal")
	if err := c.run(ctx, "pg_basebackup", "-D", data, "-h", c.dir, "-p", strconv.Itoa(c.port()), "-U", "postgres", "-X", "stream", "-c", "fast"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return nil, err
	}
	if err := c.own(signal); err != nil {
		return nil, err
	}
	opts.Dir = dir
	return Start(ctx, opts)
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// own gives path to the user the server runs as, when pgfeed runs as root.
func (c *Cluster) own(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

// Close stops the server and removes a temporary cluster's files.
func (c *Cluster) Close() error {
	err := c.Stop("fast")
	if err != nil {
		err = c.Stop("immediate")
	}
	c.cleanup()
	return err
}

func (c *Cluster) cleanup() {
	if c.temp {
		os.RemoveAll(c.dir)
	}
}
