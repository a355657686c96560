package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pgfeed/pgfeed/store/pglocal"
	"github.com/pgfeed/pgfeed/store/storetest"
)

const secret = "s3cret-pw"

// mustRun runs a pgfeed command that must succeed and returns its stdout.
func mustRun(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	out, errOut, code := runPgfeed(t, []string{"DATABASE_URL=" + dbURL}, args...)
	if code != 0 {
		t.Fatalf("pgfeed %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

func TestCLIMigrate(t *testing.T) {
	t.Parallel()
	u := storetest.NewDB(t)

	if got := mustRun(t, u, "migrate", "version"); !strings.Contains(got, "not installed") {
		t.Fatalf("version before up = %q, want it to say pgfeed is not installed", got)
	}
	if got := mustRun(t, u, "migrate", "up"); got != "pgfeed schema version 1\n" {
		t.Fatalf("migrate up = %q, want %q", got, "pgfeed schema version 1\n")
	}
	// Flags may follow the action, and a second up changes nothing.
	if out, errOut, code := runPgfeed(t, nil, "migrate", "up", "--database-url", u); code != 0 || out != "pgfeed schema version 1\n" {
		t.Fatalf("second migrate up = %q, %q, exit %d", out, errOut, code)
	}
	if got := mustRun(t, u, "migrate", "version"); got != "pgfeed schema version 1\n" {
		t.Fatalf("version after up = %q", got)
	}
	if got := mustRun(t, u, "tables"); strings.TrimSpace(got) != "COLLECTION  TABLE  KEY  CAPTURE  COLUMNS" {
		t.Fatalf("tables on a fresh install = %q, want only the header", got)
	}
	if got := mustRun(t, u, "migrate", "down"); !strings.Contains(got, "not installed") {
		t.Fatalf("migrate down = %q, want it to say pgfeed is not installed", got)
	}
	_, errOut, code := runPgfeed(t, []string{"DATABASE_URL=" + u}, "tables")
	if code != 1 || !strings.Contains(errOut, "pgfeed migrate up") {
		t.Fatalf("tables after down: exit %d, stderr %q; want exit 1 and advice to run pgfeed migrate up", code, errOut)
	}
}

func TestCLITrack(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE SCHEMA shop;
		CREATE TABLE messages (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, text text);
		CREATE TABLE shop.orders (tenant int, id int, total numeric, PRIMARY KEY (tenant, id))`)

	got := mustRun(t, u, "track", "public.messages", "shop.orders")
	want := "tracking public.messages as collection \"messages\"\ntracking shop.orders as collection \"shop.orders\"\n"
	if got != want {
		t.Fatalf("track = %q, want %q", got, want)
	}
	got = mustRun(t, u, "tables")
	for _, line := range []string{
		"messages     public.messages  id         always   id int8, text text",
		"shop.orders  shop.orders      tenant,id  always   tenant int4, id int4, total numeric",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Fatalf("tables =\n%s\nwant a line %q", got, line)
		}
	}
	if got := mustRun(t, u, "untrack", "shop.orders"); got != "stopped tracking collection \"shop.orders\"\n" {
		t.Fatalf("untrack = %q", got)
	}
	if got := mustRun(t, u, "tables"); strings.Contains(got, "shop.orders") || !strings.Contains(got, "public.messages") {
		t.Fatalf("tables after untrack =\n%s", got)
	}
	// Tracking from SQL, as in an application's own migrations.
	storetest.Exec(t, u, `SELECT pgfeed.track('shop.orders')`)
	if got := mustRun(t, u, "tables"); !strings.Contains(got, "shop.orders") {
		t.Fatalf("tables after pgfeed.track() =\n%s", got)
	}
}

// TestCLITrackByAnotherRole: a role that may track a table but does not own
// it cannot make capture fire for replicated writes (ENABLE ALWAYS needs the
// owner); pgfeed track still tracks it, and says on stderr what the owner
// must run.
func TestCLITrackByAnotherRole(t *testing.T) {
	t.Parallel()
	u := storetest.NewMigratedDB(t)
	tracker := limitedRole(t, u)
	name := strings.Split(strings.TrimPrefix(tracker, "postgres://"), ":")[0]
	storetest.Exec(t, u, fmt.Sprintf(`
		CREATE TABLE messages (id int PRIMARY KEY);
		GRANT USAGE, CREATE ON SCHEMA pgfeed TO %[1]s;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgfeed TO %[1]s;
		GRANT SELECT, TRIGGER ON messages TO %[1]s;`, name))
	out, errOut, code := runPgfeed(t, []string{"DATABASE_URL=" + tracker}, "track", "messages")
	if code != 0 || out != "tracking messages as collection \"messages\"\n" {
		t.Fatalf("track by another role: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "session_replication_role = replica") ||
		!strings.Contains(errOut, "as the owner, run: ALTER TABLE messages ENABLE ALWAYS TRIGGER pgfeed_capture_ins") {
		t.Fatalf("stderr %q, want the notice and the owner's ALTER TABLE", errOut)
	}
	if got := mustRun(t, u, "tables"); !strings.Contains(got, "origin") {
		t.Fatalf("tables =\n%s\nwant messages capturing origin writes only", got)
	}
}

var roles atomic.Int64

// limitedRole creates a login role without privileges and returns u with
// that role (and a password) as its user.
func limitedRole(t *testing.T, u string) string {
	t.Helper()
	name := fmt.Sprintf("limited_%d", roles.Add(1))
	storetest.Exec(t, storetest.AdminURL(t), fmt.Sprintf(`DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s'`, name, name, secret))
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(name, secret)
	return p.String()
}

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	port, err := pglocal.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestCLIErrors checks that every mistake a person can make gets one line
// that says what is wrong, a non-zero exit, and never a stack trace or a
// password.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	empty := storetest.NewDB(t)
	u := storetest.NewMigratedDB(t)
	storetest.Exec(t, u, `
		CREATE TABLE tracked (id int PRIMARY KEY);
		CREATE TABLE "MixedCase" (id int PRIMARY KEY);
		CREATE TABLE nokey (v text);
		CREATE VIEW aview AS SELECT 1 AS id;
		CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
		SELECT pgfeed.track('tracked')`)
	limitedEmpty := limitedRole(t, empty)
	limited := limitedRole(t, u)
	unreachable := fmt.Sprintf("postgres://someone:%s@127.0.0.1:%d/app?sslmode=disable", secret, closedPort(t))
	permsFile := func(rules string) string {
		f := filepath.Join(t.TempDir(), "permissions.json")
		if err := os.WriteFile(f, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	serveWith := func(perms string) []string {
		return []string{"serve", "--addr", "127.0.0.1:0", "--auth-mode", "public", "--permissions", perms}
	}

	tests := []struct {
		desc     string
		env      []string
		args     []string
		wantCode int
		want     string // in the one line of stderr
	}{
		{"no command", nil, nil, 2, "Usage"},
		{"unknown command", nil, []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"no database", nil, []string{"tables"}, 2, "set DATABASE_URL"},
		{"migrate without action", []string{"DATABASE_URL=" + u}, []string{"migrate"}, 2, "usage: pgfeed migrate up|down|version"},
		{"track without table", []string{"DATABASE_URL=" + u}, []string{"track"}, 2, "usage: pgfeed track TABLE"},
		{"bad duration in env", []string{"DATABASE_URL=" + u, "PGFEED_HEARTBEAT=soon"}, []string{"serve"}, 2, `PGFEED_HEARTBEAT="soon"`},
		{"bad auth mode", []string{"DATABASE_URL=" + u}, []string{"serve", "--auth-mode", "open"}, 2, `auth mode "open"`},
		{"strict without secret", []string{"DATABASE_URL=" + u}, []string{"serve", "--auth-mode", "strict"}, 2, "needs a JWT secret"},
		{"default mode without secret", []string{"DATABASE_URL=" + u}, []string{"serve"}, 2, "auth mode handshake needs a JWT secret"},
		{"bad url", []string{"DATABASE_URL=postgres://someone:" + secret + " x@db:99999/app"}, []string{"tables"}, 1, "parse database url"},
		{"bad url scheme for migrate", []string{"DATABASE_URL=mysql://someone:" + secret + "@db/app"}, []string{"migrate", "up"}, 1, "database url must look like postgres://"},
		{"unreachable tables", []string{"DATABASE_URL=" + unreachable}, []string{"tables"}, 1, "connection refused"},
		{"unreachable migrate", []string{"DATABASE_URL=" + unreachable}, []string{"migrate", "up"}, 1, "connection refused"},
		{"unreachable track", []string{"DATABASE_URL=" + unreachable}, []string{"track", "tracked"}, 1, "connection refused"},
		{"unreachable serve", []string{"DATABASE_URL=" + unreachable}, []string{"serve", "--addr", "127.0.0.1:0", "--auth-mode", "public"}, 1, "connection refused"},
		{"not installed", []string{"DATABASE_URL=" + empty}, []string{"tables"}, 1, "pgfeed is not installed in this database; run `pgfeed migrate up` first"},
		{"serve not installed", []string{"DATABASE_URL=" + empty}, []string{"serve", "--addr", "127.0.0.1:0", "--auth-mode", "public"}, 1, "pgfeed is not installed"},
		{"public key file missing", []string{"DATABASE_URL=" + u}, []string{"serve", "--jwt-public-key", "/nonexistent/key.pem"}, 1, "jwt public key: open /nonexistent/key.pem: no such file or directory"},
		{"public key file without a key", []string{"DATABASE_URL=" + u}, []string{"serve", "--jwt-public-key", permsFile("not a key")}, 1, "no PEM public key or certificate found"},
		{"jwks unreachable", []string{"DATABASE_URL=" + u}, []string{"serve", "--jwks-url", fmt.Sprintf("http://127.0.0.1:%d/jwks.json", closedPort(t))}, 1, "jwks: Get"},
		{"jwks not a URL", []string{"DATABASE_URL=" + u}, []string{"serve", "--jwks-url", "keys.json"}, 2, `jwks url "keys.json": want an http:// or https:// URL`},
		{"both kinds of public key", []string{"DATABASE_URL=" + u}, []string{"serve", "--jwks-url", "https://idp.example/jwks.json", "--jwt-public-key", "key.pem"}, 2, "not both"},
		{"permissions file missing", []string{"DATABASE_URL=" + u}, serveWith("/nonexistent/permissions.json"), 1, "permissions: open /nonexistent/permissions.json: no such file or directory"},
		{"permissions not JSON", []string{"DATABASE_URL=" + u}, serveWith(permsFile(`{"public": `)), 1, "permissions: want an object of roles"},
		{"permissions with bad fields", []string{"DATABASE_URL=" + u}, serveWith(permsFile(`{"public": {"tracked": {"fields": "id"}}}`)), 1, `role "public", collection "tracked": fields must be "*" or an array of field names`},
		{"permissions naming a missing field", []string{"DATABASE_URL=" + u}, serveWith(permsFile(`{"public": {"tracked": {"fields": ["id", "nope"]}}}`)), 1, `role "public", collection "tracked": no field "nope"`},
		{"permissions with a bad filter", []string{"DATABASE_URL=" + u}, serveWith(permsFile(`{"public": {"tracked": {"filter": {"id": {"_like": 1}}}}, "member": {"tracked": {"filter": {"id": {"_eq": "x"}}}}}`)), 1, `role "member", collection "tracked": filter:`},
		{"migrate without privileges", []string{"DATABASE_URL=" + limitedEmpty}, []string{"migrate", "up"}, 1, "permission denied"},
		{"track without privileges", []string{"DATABASE_URL=" + limited}, []string{"track", "nokey"}, 1, "permission denied"},
		{"missing table", []string{"DATABASE_URL=" + u}, []string{"track", "public.nope"}, 1, `relation "public.nope" does not exist`},
		{"unquoted mixed-case name", []string{"DATABASE_URL=" + u}, []string{"track", "MixedCase"}, 1, `relation "mixedcase" does not exist (names are folded to lower case unless quoted; did you mean public."MixedCase"?)`},
		{"view", []string{"DATABASE_URL=" + u}, []string{"track", "aview"}, 1, "only ordinary and partitioned tables"},
		{"no primary key", []string{"DATABASE_URL=" + u}, []string{"track", "nokey"}, 1, "has no primary key"},
		{"already tracked", []string{"DATABASE_URL=" + u}, []string{"track", "tracked"}, 1, "already tracked"},
		{"partition", []string{"DATABASE_URL=" + u}, []string{"track", "parted_low"}, 1, "it is a partition of parted"},
		{"untrack not tracked", []string{"DATABASE_URL=" + u}, []string{"untrack", "nokey"}, 1, "is not tracked"},
		{"injection-looking name", []string{"DATABASE_URL=" + u}, []string{"track", "tracked; DROP TABLE tracked"}, 1, "invalid name syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := runPgfeed(t, tt.env, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, tt.want)
			}
			if strings.Contains(errOut, secret) {
				t.Errorf("stderr %q shows the password", errOut)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
				t.Errorf("stderr has a stack trace: %q", errOut)
			}
			if tt.wantCode == 1 {
				if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "pgfeed: ") {
					t.Errorf("stderr = %q, want one line starting with \"pgfeed: \"", errOut)
				}
			}
		})
	}
	// Nothing was changed by the failed commands.
	if got := mustRun(t, u, "tables"); strings.Count(got, "\n") != 2 || !strings.Contains(got, "public.tracked") {
		t.Fatalf("tables after the failures =\n%s", got)
	}
}
