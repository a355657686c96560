package pglocal

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Bouncer is PgBouncer in session mode in front of a Cluster, as some
// deployments put one between pgfeed and PostgreSQL.
type Bouncer struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

// StartBouncer starts PgBouncer (pgbouncer on PATH, else
// /usr/sbin/pgbouncer) in session mode on a free TCP port of 127.0.0.1, in
// front of every database of the cluster, running as the server's user.
// Close stops it.
func (c *Cluster) StartBouncer(ctx context.Context) (*Bouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		bin = "/usr/sbin/pgbouncer"
	}
	dir := filepath.Join(c.dir, "pgbouncer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := c.own(dir); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	host := c.dir
	if c.opts.Port != 0 {
		host = "127.0.0.1"
	}
	files := map[string]string{
		"users.txt": `"postgres" ""` + "\n",
		"pgbouncer.ini": fmt.Sprintf(`[databases]
* = host=%s port=%d
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = session
max_client_conn = 500
default_pool_size = 200
logfile = %s
`, host, c.port(), port, filepath.Join(dir, "users.txt"), filepath.Join(dir, "pgbouncer.log")),
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, err
		}
		if err := c.own(path); err != nil {
			return nil, err
		}
	}
	b := &Bouncer{cmd: exec.Command(bin, filepath.Join(dir, "pgbouncer.ini")), port: port, done: make(chan struct{})}
	if c.cred != nil {
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	for {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			return nil, fmt.Errorf("pgbouncer exited: %s", lastLines(string(log), 5))
		case <-ctx.Done():
			b.Close()
			return nil, fmt.Errorf("pgbouncer did not start: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is a connection string for database db through the bouncer, as the
// superuser "postgres".
func (b *Bouncer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, db)
}

// Close stops the bouncer.
func (b *Bouncer) Close() error {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	return nil
}
